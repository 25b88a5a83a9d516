"""The evaluation classifier: a small CNN whose softmax and penultimate features the
metrics look through. It has to be good for the metrics to mean anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers

from mnist_gan.core.config import ClassifierConfig
from mnist_gan.core.errors import UnfitClassifierError, restore_hint, unreadable
from mnist_gan.core.files import atomic_path, require_finite, write_json
from mnist_gan.data.splits import IMAGE_SHAPE, NUM_CLASSES, Split

FEATURES_LAYER = "features"
WEIGHTS_FILE = "classifier.weights.h5"
CONFIG_FILE = "classifier.json"
CLASSIFIER_FILES = (WEIGHTS_FILE, CONFIG_FILE)


def build_classifier() -> keras.Model:
    """images float32 [B, 28, 28, 1] in [-1, 1] -> class logits float32 [B, 10].

    The layer named "features" (128 units, after ReLU) is the feature space of FID.
    Random shifts of up to 2 pixels augment training only (they are off at inference);
    their effect on test accuracy is in docs/history/.
    """
    images = keras.Input(IMAGE_SHAPE, name="images")
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant", fill_value=-1.0)(images)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    features = layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.4)(features)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(images, logits, name="classifier")


MAX_EPOCHS = 100  # a tiny split does not get a thousand epochs (each scores the test set)


def epochs_for(budget_images: int, split_size: int) -> int:
    """Whole epochs closest to `budget_images` images seen on a split of `split_size`
    images, 1..MAX_EPOCHS: 12 for 150,000 on 12,699, 3 on 50,000."""
    return min(MAX_EPOCHS, max(1, round(budget_images / max(1, split_size))))


def train_classifier(
    model: keras.Model,
    train: Split,
    config: ClassifierConfig,
    report: Split | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> None:
    """Fit `model` on `train` in place (Adam, cross-entropy, seeded shuffling). With
    `report`, its loss and accuracy are computed after every epoch (Keras' val_loss,
    val_accuracy) for the curves only: nothing is selected on them, and the weights are
    the same as without."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        train.images,
        train.labels.astype(np.int32),
        batch_size=config.batch_size,
        epochs=epochs_for(config.budget_images, len(train.labels)),
        shuffle=True,
        validation_data=None if report is None else (report.images, report.labels.astype(np.int32)),
        validation_batch_size=1000,
        callbacks=list(callbacks),
        verbose=2,
    )


def accuracy(model: keras.Model, split: Split, batch_size: int = 1000) -> float:
    """Fraction of `split` whose argmax logit is its label, in [0, 1]."""
    logits = model.predict(split.images, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == split.labels))


def feature_model(model: keras.Model) -> keras.Model:
    """images -> (features float32 [B, 128], probabilities float32 [B, 10])."""
    probabilities = layers.Softmax()(model.output)
    return keras.Model(model.input, [model.get_layer(FEATURES_LAYER).output, probabilities])


def save_classifier(model: keras.Model, folder: Path, summary: dict) -> None:
    """Write the weights (byte-for-byte reproducible .h5) and a JSON description."""
    folder = Path(folder)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        model.save_weights(tmp)
    write_json(folder / CONFIG_FILE, summary)


def check_fit_to_measure(test_accuracy: float, floor: float, source: object) -> None:
    """UnfitClassifierError unless `test_accuracy` reaches `floor` (fractions; the
    param classifier.min_test_accuracy), naming the classifier and the fix."""
    if not test_accuracy >= floor:  # NaN fails too
        raise UnfitClassifierError(
            f"{source}: the evaluation classifier's test accuracy is {test_accuracy:.2%}, "
            f"below classifier.min_test_accuracy ({floor:.2%}): the metrics would measure "
            "nothing; train it better (a lower classifier.learning_rate or a larger "
            "classifier.budget_images), then `dvc repro classifier`"
        )


def load_classifier(folder: Path) -> keras.Model:
    """Rebuild the architecture in code and load weights: no deserialized code runs.
    InputFileError naming the file if the weights are missing, damaged or not finite."""
    fix = restore_hint(folder, "classifier")
    model = build_classifier()
    path = Path(folder) / WEIGHTS_FILE
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a bad file
        raise unreadable(path, error, fix) from None
    require_finite(model.get_weights(), path, fix)
    return model
