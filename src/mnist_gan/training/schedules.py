"""Learning-rate schedules, chosen by `train.lr_schedule`.

Each schedule maps the optimizer's initial learning rate and the number of updates it
will make in the whole run to what Keras' Adam takes as `learning_rate`: a float, or a
`keras.optimizers.schedules.LearningRateSchedule` of the optimizer's own update
counter. That counter is in the checkpoint, so a resumed run continues the schedule
where it stopped. Adding a schedule is one function and one entry of `SCHEDULES`.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

LearningRate = float | keras.optimizers.schedules.LearningRateSchedule
Schedule = Callable[[float, int], LearningRate]


def constant(learning_rate: float, updates: int) -> LearningRate:
    """The same rate for every update (DCGAN's)."""
    return learning_rate


def linear(learning_rate: float, updates: int) -> LearningRate:
    """Straight down from `learning_rate` at the first update to 0 after the last."""
    return keras.optimizers.schedules.PolynomialDecay(
        learning_rate, decay_steps=updates, end_learning_rate=0.0, power=1.0
    )


def cosine(learning_rate: float, updates: int) -> LearningRate:
    """Half a cosine from `learning_rate` to 0 after the last update (Loshchilov &
    Hutter 2017, without restarts)."""
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=updates)


COOLDOWN_FRACTION = 0.2  # of the run's updates, at its end


class _Cooldown(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate` until the last `cooldown` updates, then straight down to 0."""

    def __init__(self, learning_rate: float, updates: int, cooldown: int):
        self.learning_rate, self.updates, self.cooldown = learning_rate, updates, cooldown

    def __call__(self, step):
        left = keras.ops.cast(self.updates, "float32") - keras.ops.cast(step, "float32")
        factor = keras.ops.clip(left / self.cooldown, 0.0, 1.0)
        return self.learning_rate * factor

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "updates": self.updates,
                "cooldown": self.cooldown}  # fmt: skip


def cooldown(learning_rate: float, updates: int) -> LearningRate:
    """Constant, then linear to 0 over the last COOLDOWN_FRACTION of the updates (the
    warmup-stable-decay schedule's decay, without the warm-up): the run keeps its full
    rate while it is still improving and settles only at the end."""
    return _Cooldown(learning_rate, updates, max(1, round(COOLDOWN_FRACTION * updates)))


SCHEDULES: dict[str, Schedule] = {
    "constant": constant,
    "linear": linear,
    "cosine": cosine,
    "cooldown": cooldown,
}
