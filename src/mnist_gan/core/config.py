"""The typed schema of `params.yaml`: the one place every parameter is declared.

Each section is a frozen pydantic model with `extra="forbid"` and strict types, so a
typo'd key, a string where a number belongs or a negative batch size fails at load
time, before any stage does real work, with a message naming the key, the value and
what is allowed.

Names that pick a registry entry (`model.arch`, `train.loss`, `train.lr_schedule`,
the keys of `train.penalties`, `train.augment`) are plain strings here: the
registries (models.ARCHITECTURES, losses.LOSSES, schedules.SCHEDULES,
penalties.PENALTIES, augment.AUGMENTATIONS) are the only lists of what exists, and
`trainer.check_choices` validates these names against them before training, so
this module imports no TensorFlow and adding a loss touches one file.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from mnist_gan.core.errors import QUOTE_CHARS, ParamsError, quote

# An error message lists at most this many problems, however many params.yaml holds.
LISTED_ERRORS = 20

OFFICIAL_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _plain_file_name(name: str) -> str:
    """A bare file name: no folders, so it can never escape the folder it is written to."""
    bad = (
        not name
        or name in {".", ".."}
        or "\x00" in name
        or PurePosixPath(name).name != name
        or PureWindowsPath(name).name != name
    )
    if bad:
        raise ValueError(f"must be a plain file name without folders, got {quote(name)}")
    return name


def _mirror(location: str) -> str:
    """An http(s):// or file:// URL, or a local folder path."""
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", location)
    if scheme and scheme.group(1).lower() not in {"http", "https", "file"}:
        raise ValueError(
            f"unsupported scheme {quote(scheme.group(1))} in {quote(location)}: "
            "use an http(s):// URL, a file:// URL or a local folder"
        )
    if not location.strip():
        raise ValueError("an empty mirror location")
    return location


FileName = Annotated[str, AfterValidator(_plain_file_name)]
Md5 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Mirror = Annotated[str, AfterValidator(_mirror)]
# Every number that sizes memory or time has an upper bound (tests/test_config.py
# checks that none is unbounded), so a typo'd extra digit fails here, not hours later.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
Steps = Annotated[int, Field(ge=1, le=10_000_000)]
LearningRate = Annotated[float, Field(gt=0, le=1)]
Width = Annotated[int, Field(ge=1, le=1024)]
Side = Annotated[int, Field(ge=1, le=64)]  # cells of a picture's row or column


class FileEntry(_Section):
    name: FileName
    md5: Md5


class DataFiles(_Section):
    train_images: FileEntry
    train_labels: FileEntry
    test_images: FileEntry
    test_labels: FileEntry

    def entries(self) -> list[FileEntry]:
        return [self.train_images, self.train_labels, self.test_images, self.test_labels]


class DataConfig(_Section):
    """Where the raw gzip IDX files come from (download stage)."""

    mirrors: Annotated[list[Mirror], Field(min_length=1)] = list(OFFICIAL_MIRRORS)
    files: DataFiles
    # Network errors are retried this many times per mirror, with backoff doubling
    # from `backoff_seconds`; a checksum mismatch or HTTP 4xx moves to the next mirror.
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_seconds: Annotated[float, Field(ge=0, le=600)] = 1.0
    # The longest wait between two tries, however many retries came before.
    max_backoff_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # Per network read: a mirror silent for this long counts as failed (retried).
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    # Per file and try: a mirror still sending after this long, or sending more than
    # max_file_megabytes (MNIST's largest file is 9.9 MB), is given up on (the next
    # mirror is tried). Both bound the time and disk a slow or hostile mirror can take.
    file_deadline_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    max_file_megabytes: Annotated[int, Field(ge=1, le=4096)] = 64


class NormalizeConfig(_Section):
    """How the parsed data is split (normalize stage)."""

    # The last `holdout` training images are held out of every model: the evaluate
    # stage measures them as the real-data ceiling. Match it to `sample.count`, since
    # FID is biased by sample size.
    holdout: Annotated[int, Field(ge=0, le=1_000_000)] = 10000


class ClassifierConfig(_Section):
    """The evaluation CNN that the metrics look through (classifier stage)."""

    # Images to train on in total, whatever the size of the train split, so the stage's
    # time does not grow with the data: epochs = round(budget / split size), 1 to 100.
    # The default is 12 epochs of the offline subset's 12,699 images (99.07% on the
    # official test set; the per-epoch test curve first reaches 99.0% at epoch 11) and
    # 3 epochs of the 50,000 of full MNIST.
    budget_images: Annotated[int, Field(ge=1, le=10_000_000)] = 150_000
    batch_size: Annotated[int, Field(ge=1, le=8192)] = 128
    learning_rate: LearningRate = 1e-3
    seed: Seed = 0


class ModelConfig(_Section):
    """The GAN's architecture (train stage; saved next to the weights)."""

    # A key of models.ARCHITECTURES: mlp ("GANs in Action" ch. 3) or dcgan.
    arch: str = "dcgan"
    z_dim: Width = 100
    # G and D take the digit as a second input (projection discriminator).
    conditional: bool = True
    # mlp: width of the one hidden layer (128 in the book).
    hidden_units: Annotated[int, Field(ge=1, le=8192)] = 128
    # dcgan: channels at 14x14 (7x7 has twice as many), extra 3x3 convolutions per
    # resolution, and the normalization after hidden layers. One extra convolution in
    # D beat none at equal time on coverage (0.894 against 0.873 over three seeds, with
    # 36% fewer steps; README: "The tenth sweep"); in G it lost.
    g_width: Width = 32
    d_width: Width = 32
    g_depth: Annotated[int, Field(ge=0, le=8)] = 0
    d_depth: Annotated[int, Field(ge=0, le=8)] = 1
    # dcgan: the resolutions of D that get its `d_depth` extra convolutions: all (both),
    # or only 14x14 or only 7x7, at about half the price per step (the two cost the same:
    # 14x14 x w and 7x7 x 2w channels).
    d_depth_at: Literal["all", "14x14", "7x7"] = "all"
    # dcgan: each of those extra convolutions adds its input to its output (an identity
    # skip, He et al. 2016), so the gradient reaches the layers before it by a path
    # around it; the same weights and cost.
    residual: bool = False
    # class_layer: layer normalization whose gain and shift are learned per digit
    # (conditional normalization, as BigGAN's); needs `conditional`.
    g_norm: Literal["batch", "layer", "class_layer", "none"] = "layer"
    # dcgan: how G doubles its resolution: a 4x4 stride-2 transposed convolution
    # (DCGAN), or nearest/bilinear upsampling then a 3x3 convolution, which cannot
    # make checkerboard artefacts (Odena et al. 2016).
    g_upsample: Literal["transposed", "nearest", "bilinear"] = "transposed"
    d_norm: Literal["none", "layer", "batch"] = "none"
    # Spectral normalization of every discriminator weight (Miyato et al. 2018).
    spectral_norm: bool = False
    # dcgan: D appends the standard deviation of its features over groups of this many
    # images as one more channel before its last resolution (ProGAN's minibatch
    # standard deviation, 4 in Karras et al. 2018), so it can see a batch's lack of
    # variety (0: off).
    d_minibatch_std: Annotated[int, Field(ge=0, le=64)] = 0

    @model_validator(mode="after")
    def _class_norm_needs_classes(self) -> ModelConfig:
        if self.g_norm == "class_layer" and not self.conditional:
            raise ValueError(
                "model.g_norm = 'class_layer' learns a gain per digit, so it needs "
                "model.conditional: true; or use model.g_norm 'layer'"
            )
        return self


class Adam(_Section):
    """One network's Adam optimizer."""

    learning_rate: LearningRate = 4e-4
    beta_1: Annotated[float, Field(ge=0, lt=1)] = 0.0
    beta_2: Annotated[float, Field(ge=0, lt=1)] = 0.99


class TrainConfig(_Section):
    """The GAN's training run (train stage)."""

    # A key of losses.LOSSES.
    loss: str = "non_saturating"
    # Batch 32: at equal time on a 2-core CPU, smaller batches and more steps beat 64 x
    # 14,000 and 128 x 8,000 (README, "Quality levers, measured"). 14,400 steps with
    # D's extra convolution take the time of 22,600 without it (1.57x a step).
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32
    steps: Steps = 14400
    seed: Seed = 0
    # Adam for each network: 4e-4 with beta_1 0 and beta_2 0.99 by default (StyleGAN's
    # betas, for R1-regularized training; DCGAN's were 0.5 and 0.999, and the book used
    # Keras' defaults, 1e-3, 0.9 and 0.999, for both).
    g_adam: Adam = Adam()
    d_adam: Adam = Adam()
    # Discriminator updates per generator update, each on its own batch.
    d_steps: Annotated[int, Field(ge=1, le=10)] = 1
    # How the two updates of a step meet: alternating (D's update, then G's on new
    # fakes, scored by the updated D), shared_fakes (the same, G's update on the fakes
    # D's update saw, as PyTorch's DCGAN example: one G forward fewer per step) or
    # simultaneous (both from one pass of G and D over the same fakes, Mescheder et al.
    # 2017's simultaneous gradient descent: one G forward and one D forward on fakes
    # fewer per step). The last two make one D update per G update (d_steps 1).
    updates: str = "alternating"
    # Learning-rate schedule of both optimizers over the run, a key of
    # schedules.SCHEDULES: constant, linear (to 0 at the last step), cosine (to 0) or
    # cooldown (constant, then linear to 0 over the last 20% of the updates).
    lr_schedule: str = "constant"
    # Weight of each discriminator regularizer of penalties.PENALTIES (absent or 0:
    # off): gradient_penalty is WGAN-GP's lambda, r1 is R1's gamma.
    penalties: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = {
        "gradient_penalty": 0.0,
        "r1": 1.0,
    }
    # Lazy regularization (StyleGAN2, Karras et al. 2020): the penalties are computed
    # on every N-th D update only, weighted N times, so they cost 1/N as much (16 in
    # the paper; 1: every update).
    penalty_every: Annotated[int, Field(ge=1, le=1000)] = 16
    # Differentiable augmentation (DiffAugment) of what D sees, real and fake, in both
    # updates: names of augment.AUGMENTATIONS applied in order ([]: off). The paper's
    # small-data policy: [brightness, contrast, translation, cutout].
    augment: Annotated[list[str], Field(max_length=8)] = []
    # Top-k training (Sinha et al. 2020): G's update learns only from the fakes D
    # rates most real, a fraction of its batch that starts at 1 and shrinks by
    # `top_k_decay` per pass over the training set, down to `top_k` (1: off; the
    # paper: 0.5 and 0.99). The default's 14,400 steps are 36 passes over the offline
    # subset, and 0.975 ** 36 = 0.40 reaches the floor of 0.4 at the end: FID 1.66
    # against 1.70 for 0.5 and 0.98 over three seeds (README: "The twelfth sweep").
    top_k: Annotated[float, Field(gt=0, le=1)] = 0.4
    top_k_decay: Annotated[float, Field(gt=0, le=1)] = 0.975
    # Exponential moving average of the generator's weights, the generator the sample
    # stage draws from (0: off, use the raw weights). Its batch-norm statistics are
    # recomputed for the averaged weights. 0.998 (a 500-step horizon) beat 0.999 on
    # each of three seeds, by 0.03 to 0.05 FID over five draws (README: "The sixth
    # sweep"); 0.9995 lags further behind a generator still improving at the end.
    ema: Annotated[float, Field(ge=0, lt=1)] = 0.998
    log_every: Steps = 1000
    sample_every: Steps = 1000
    # A cheap FID and classifier score on `eval_samples` fixed-latent samples.
    eval_every: Steps = 2000
    eval_samples: Annotated[int, Field(ge=2, le=60_000)] = 2000
    # Steps run inside one compiled call: more means less Python overhead per step.
    steps_per_call: Annotated[int, Field(ge=1, le=10_000)] = 100
    # XLA compilation of the training loop: true, false, or "auto" (off on a GPU, where
    # XLA under op determinism can fail or vary: runtime.use_xla; on a CPU, as the
    # architecture's registry entry says: see models.ARCHITECTURES).
    jit: bool | Literal["auto"] = "auto"
    # Compute precision. The mixed policies compute in 16 bits and keep float32
    # weights (for GPUs with tensor cores; on a CPU they are slower); float16 adds
    # dynamic loss scaling so small gradients do not underflow.
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    # Devices (tf.distribute): one_device, mirrored (the GPUs of one machine),
    # multi_worker (machines listed in TF_CONFIG) or auto. batch_size is the global
    # batch, split evenly across replicas.
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker"] = "auto"
    # Save a resumable checkpoint this often (a multiple of log_every); a killed run
    # resumes from the last one. The last is kept (a persisted DVC output): a finished
    # run forced to rerun with the same params and data goes straight to saving.
    checkpoint_every: Steps = 2000

    def active_penalties(self) -> dict[str, float]:
        """The penalties with a positive weight, in the order params.yaml lists them."""
        return {name: weight for name, weight in self.penalties.items() if weight > 0}

    @model_validator(mode="after")
    def _checkpoints_on_log_boundaries(self) -> TrainConfig:
        if self.checkpoint_every % self.log_every:
            raise ValueError(
                f"train.checkpoint_every = {self.checkpoint_every} must be a multiple of "
                f"train.log_every = {self.log_every}"
            )
        return self


class SampleConfig(_Section):
    """What the sample stage draws from the trained generator."""

    # At most 50,000: evaluate's nearest-neighbour blocks are 2,000 x count float64
    # (0.8 GB at 50,000), and FID needs no more.
    count: Annotated[int, Field(ge=1, le=50_000)] = 10000
    seed: Seed = 0
    grid_rows: Side = 4
    grid_cols: Side = 4
    # Conditional models: class_grid.png has one row per digit, this many columns.
    class_grid_cols: Side = 10
    # Latent-space walks: rows of `interpolation_steps` images between two latents.
    interpolation_rows: Side = 8
    interpolation_steps: Annotated[int, Field(ge=2, le=64)] = 10
    # Frame time of the training-progress animation, in milliseconds.
    gif_frame_ms: Annotated[int, Field(ge=1, le=60_000)] = 200


class EvaluateConfig(_Section):
    """How the evaluate stage scores samples."""

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    # A class counts as covered when it holds at least this fraction of samples.
    coverage_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.02
    # KID: mean and spread of unbiased MMD^2 over random subsets of each set.
    kid_subsets: Annotated[int, Field(ge=1, le=1000)] = 100
    kid_subset_size: Annotated[int, Field(ge=2, le=10_000)] = 1000
    # Nearest-neighbour k of precision/recall (Kynkaanniemi et al.: 3) and of
    # density/coverage (Naeem et al.: 5).
    k_precision_recall: Annotated[int, Field(ge=1, le=100)] = 3
    k_density_coverage: Annotated[int, Field(ge=1, le=100)] = 5
    seed: Seed = 0


class CpuConfig(_Section):
    """How TensorFlow computes on a CPU (every stage that runs a network)."""

    # Same bytes on every x86-64 CPU with AVX2, not only on this machine: oneDNN's and
    # XLA's kernels capped at AVX2 (what they pick depends on the instruction set) and
    # `threads` fixed (how work is split changes float sums). Off: each CPU uses its
    # widest instructions and all its cores, and reruns match on the same machine only.
    portable: bool = True
    # TensorFlow's threads per op when portable (results depend on the number, not on
    # the cores: keep it to compare bytes with another run).
    threads: Annotated[int, Field(ge=1, le=256)] = 2


class Params(_Section):
    cpu: CpuConfig = CpuConfig()
    data: DataConfig
    normalize: NormalizeConfig = NormalizeConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @model_validator(mode="after")
    def _penalties_without_batch_norm(self) -> Params:
        # A gradient penalty is per image; batch norm mixes images within a batch,
        # so the penalized gradient is not the one of D(x) (Gulrajani et al. 2017, 4).
        penalized = self.train.active_penalties()
        if penalized and self.model.arch == "dcgan" and self.model.d_norm == "batch":
            raise ValueError(
                "model.d_norm = 'batch' does not work with a gradient penalty "
                f"(train.penalties: {penalized}): use model.d_norm 'layer' or 'none', or set "
                "those penalties to 0"
            )
        return self


def _format_errors(source: str, error: ValidationError) -> str:
    """One line per problem (at most LISTED_ERRORS), each naming the key, the value (cut
    short) and the rule."""
    items = error.errors()
    lines = [f"{source}: {len(items)} invalid parameter(s):"]
    for item in items[:LISTED_ERRORS]:
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        key = key if len(key) <= QUOTE_CHARS else quote(key)
        message = item["msg"].removeprefix("Value error, ")[: 2 * QUOTE_CHARS]
        if item["type"] == "missing":
            lines.append(f"  {key}: missing; add it to {source}")
        elif item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (a typo?); remove it or fix its name")
        elif isinstance(item["input"], dict):  # a rule across keys names them itself
            lines.append(f"  {key}: {message}")
        else:
            lines.append(f"  {key} = {quote(item['input'])}: {message}")
    if len(items) > LISTED_ERRORS:
        lines.append(f"  ... and {len(items) - LISTED_ERRORS} more")
    return "\n".join(lines)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded YAML mapping. Raises ParamsError naming every bad key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_format_errors(source, error)) from None


def load_params(path: Path) -> Params:
    """Read and validate params.yaml. Raises ParamsError with a message for the user."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ParamsError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
    return parse_params(raw, str(path))
