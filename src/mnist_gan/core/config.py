"""The typed schema of `params.yaml`: the one place every parameter is declared.

Each section is a frozen pydantic model with `extra="forbid"` and strict types, so a
typo'd key, a string where a number belongs or a negative batch size fails at load
time, before any stage does real work, with a message naming the key, the value and
what is allowed.

Each field's docstring says what it means: the one source from which the reference
in docs/configuration.md and the comments in params.yaml are generated
(`python -m mnist_gan.core.reference`).

Names that pick a registry entry (`model.arch`, `train.loss`, `train.updates`,
`train.lr_schedule`, the keys of `train.penalties`, `train.augment`) are plain strings
here: the registries are the only lists of what exists, and
`training.choices.check_choices` validates these names against them before training,
so this module imports no TensorFlow and adding a loss touches one file.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from mnist_gan.core.errors import QUOTE_CHARS, ParamsError, quote

# An error message lists at most this many problems, however many params.yaml holds.
LISTED_ERRORS = 20

OFFICIAL_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class _Section(BaseModel):
    # Each field's docstring is its description: the one text of what it means, from
    # which docs/configuration.md and params.yaml's comments are generated.
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )


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
    """File name on the mirror and in data/raw/ (no folders)."""
    md5: Md5
    """The file's md5; a download that does not match is never kept."""


class DataFiles(_Section):
    train_images: FileEntry
    """The training images (gzip IDX)."""
    train_labels: FileEntry
    """The training labels (gzip IDX)."""
    test_images: FileEntry
    """The test images (gzip IDX)."""
    test_labels: FileEntry
    """The test labels (gzip IDX)."""

    def entries(self) -> list[FileEntry]:
        return [self.train_images, self.train_labels, self.test_images, self.test_labels]


class DataConfig(_Section):
    """Where the raw gzip IDX files come from (download stage)."""

    mirrors: Annotated[list[Mirror], Field(min_length=1)] = list(OFFICIAL_MIRRORS)
    """Places tried in order for each file. Each is an http(s):// URL, a file:// URL or
    a local folder in the official layout; a relative folder is relative to the project
    root, in queued experiments too."""
    files: DataFiles
    """The four files, each with its name and md5."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Retries per mirror on network errors. A checksum mismatch or HTTP 4xx moves on to
    the next mirror instead."""
    backoff_seconds: Annotated[float, Field(ge=0, le=600)] = 1.0
    """First wait before a retry, in seconds. It doubles with each retry."""
    max_backoff_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """Longest wait between two tries, in seconds."""
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Per network read, in seconds. A mirror silent this long counts as failed."""
    file_deadline_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    """Per file and try, in seconds. A mirror still sending after this long is given
    up on, so a slow mirror cannot hold the stage."""
    max_file_megabytes: Annotated[int, Field(ge=1, le=4096)] = 64
    """Per file, in MB. A larger body is given up on (MNIST's largest file is 9.9 MB)."""
    min_bytes_per_second: Annotated[int, Field(ge=0, le=1_000_000_000)] = 1024
    """Slowest transfer kept, in bytes/s. A mirror averaging less over a
    speed_window_seconds span is given up on for the next (curl's --speed-limit); 0
    turns the check off."""
    speed_window_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Span the transfer speed is averaged over, in seconds (curl's --speed-time)."""


class NormalizeConfig(_Section):
    """How the parsed data is split (normalize stage)."""

    holdout: Annotated[int, Field(ge=0, le=1_000_000)] = 10000
    """Last N training images, held out of every model. The evaluate stage scores them
    like samples as the real-data ceiling; match it to sample.count, since FID is biased
    by sample size."""


class ClassifierConfig(_Section):
    """The evaluation CNN that the metrics look through (classifier stage)."""

    budget_images: Annotated[int, Field(ge=1, le=10_000_000)] = 150_000
    """Images to train on in total, whatever the split's size. Epochs are
    round(budget / split size), 1 to 100, so the stage's time does not grow with the
    data."""
    batch_size: Annotated[int, Field(ge=1, le=8192)] = 128
    """Images per training step."""
    learning_rate: LearningRate = 1e-3
    """Adam's learning rate."""
    seed: Seed = 0
    """Seed of the weights, the shuffling and the random shifts."""
    min_test_accuracy: Annotated[float, Field(ge=0, le=1)] = 0.95
    """Test accuracy (a fraction) below which the classifier and evaluate stages refuse
    the classifier. Through a near-chance classifier, FID, coverage and the classifier
    score measure nothing and can look perfect."""


class ModelConfig(_Section):
    """The GAN's architecture (train stage; saved next to the weights)."""

    arch: str = "dcgan"
    """The architecture. mlp is the book's ("GANs in Action" ch. 3), dcgan a DCGAN for
    28x28."""
    z_dim: Width = 100
    """Size of the latent vector z."""
    conditional: bool = True
    """G and D also take the digit (a projection discriminator). The sample stage then
    also writes a per-digit grid."""
    hidden_units: Annotated[int, Field(ge=1, le=8192)] = 128
    """mlp: width of the one hidden layer (128 in the book)."""
    g_width: Width = 32
    """dcgan: G's channels at 14x14 (twice as many at 7x7)."""
    d_width: Width = 32
    """dcgan: D's channels at 14x14 (twice as many at 7x7)."""
    g_depth: Annotated[int, Field(ge=0, le=8)] = 0
    """dcgan: extra 3x3 convolutions in G at each resolution."""
    d_depth: Annotated[int, Field(ge=0, le=8)] = 1
    """dcgan: extra 3x3 convolutions in D at each resolution d_depth_at names."""
    d_depth_at: Literal["all", "14x14", "7x7"] = "all"
    """dcgan: D's resolutions that get its d_depth convolutions. One resolution costs
    about half as much per step as both."""
    residual: bool = False
    """dcgan: an identity skip around each extra convolution. The same weights and cost
    (He et al. 2016); the gradient reaches earlier layers by a path around it."""
    g_norm: Literal["batch", "layer", "class_layer", "none"] = "layer"
    """Normalization after G's hidden layers. class_layer is layer normalization with a
    gain and shift learned per digit (BigGAN's conditional normalization); it needs
    model.conditional."""
    g_upsample: Literal["transposed", "nearest", "bilinear"] = "transposed"
    """dcgan: how G doubles its resolution. transposed is a 4x4 stride-2 transposed
    convolution (DCGAN); nearest and bilinear upsample, then apply a 3x3 convolution,
    which cannot make checkerboard artefacts (Odena et al. 2016)."""
    d_norm: Literal["none", "layer", "batch"] = "none"
    """Normalization after D's hidden layers but the first. batch does not work with a
    gradient penalty."""
    spectral_norm: bool = False
    """Spectral normalization of every D weight (Miyato et al. 2018)."""
    d_minibatch_std: Annotated[int, Field(ge=0, le=64)] = 0
    """dcgan: group size of D's minibatch standard deviation (0: off). D sees the spread
    of each group's features as one more channel before 7x7, so it can see a batch's
    lack of variety (ProGAN, Karras et al. 2018: 4)."""

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
    """The learning rate (before train.lr_schedule)."""
    beta_1: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Decay of the gradient's moving average (StyleGAN: 0; DCGAN: 0.5)."""
    beta_2: Annotated[float, Field(ge=0, lt=1)] = 0.99
    """Decay of the squared gradient's moving average (StyleGAN: 0.99)."""


# The most grids (each a frame of progress.gif), loss records and probes a run keeps.
MAX_RECORDS = {"sample_every": 1_000, "log_every": 100_000, "eval_every": 1_000}


class TrainConfig(_Section):
    """The GAN's training run (train stage)."""

    loss: str = "non_saturating"
    """The GAN loss."""
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32
    """Images per step: the global batch, split evenly across replicas."""
    steps: Steps = 14400
    """G updates in the run."""
    seed: Seed = 0
    """Seed of the weights, the batches, the latents and the probe's latents."""
    g_adam: Adam = Adam()
    """G's Adam optimizer."""
    d_adam: Adam = Adam()
    """D's Adam optimizer."""
    d_steps: Annotated[int, Field(ge=1, le=10)] = 1
    """D updates per G update, each on its own batch."""
    updates: str = "alternating"
    """How D's and G's updates meet. alternating: D's update, then G's on new fakes,
    scored by the updated D. shared_fakes: G's update on the fakes D's update saw (one
    G forward fewer). simultaneous: both from one pass over the same fakes (Mescheder
    et al. 2017). The last two need d_steps 1."""
    lr_schedule: str = "constant"
    """Both optimizers' learning-rate schedule over their updates. linear and cosine end
    at 0; cooldown is constant, then linear to 0 over the last 20%."""
    penalties: dict[str, Annotated[float, Field(ge=0, le=1e6)]] = {
        "gradient_penalty": 0.0,
        "r1": 1.0,
    }
    """Weight of each D regularizer (0 or absent: off). gradient_penalty is WGAN-GP's
    lambda (10 in the paper), r1 is R1's gamma."""
    penalty_every: Annotated[int, Field(ge=1, le=1000)] = 16
    """Lazy regularization: penalties on every N-th D update only (1: every update).
    They come N times as heavy (StyleGAN2, Karras et al. 2020: 16); WGAN-GP's penalty
    always comes every update."""
    augment: Annotated[list[str], Field(max_length=8)] = []
    """Transforms applied in order to what D sees, real and fake ([]: off). DiffAugment
    (Zhao et al. 2020); the paper's small-data policy is brightness, contrast,
    translation, cutout."""
    top_k: Annotated[float, Field(gt=0, le=1)] = 0.4
    """Top-k training's floor (1: off). G learns only from the fraction of its fakes D
    rates most real (Sinha et al. 2020); the fraction starts at 1 and shrinks by
    top_k_decay per pass over the training set, down to this."""
    top_k_decay: Annotated[float, Field(gt=0, le=1)] = 0.975
    """Top-k's shrink factor per pass over the training set (the paper: 0.99). The
    default's steps are 36 passes over the offline subset, reaching the floor at the
    end; on 50,000 images they are 9 passes."""
    ema: Annotated[float, Field(ge=0, lt=1)] = 0.998
    """Decay of the average of G's weights that sample draws from (0: off). Without it
    sample draws from the raw weights; the average's batch-norm statistics are
    recomputed for its own weights."""
    log_every: Steps = 1000
    """Steps between logs of d_loss, g_loss and d_accuracy (means over the window)."""
    sample_every: Steps = 1000
    """Steps between 4x4 progress grids (one frame of samples/progress.gif each)."""
    eval_every: Steps = 2000
    """Steps between quick FID and classifier scores over training."""
    eval_samples: Annotated[int, Field(ge=2, le=60_000)] = 2000
    """Fixed-latent samples each quick score is computed on."""
    steps_per_call: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Steps run inside one compiled call. More means less Python overhead per step."""
    checkpoint_every: Steps = 2000
    """Steps between resumable checkpoints (a multiple of log_every). A killed run
    resumes from the last one."""
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker"] = "auto"
    """Devices (tf.distribute). mirrored is the GPUs of one machine, multi_worker the
    machines TF_CONFIG lists, auto picks from what it finds."""
    cluster_wait_seconds: Annotated[int, Field(ge=1, le=86_400, exclude=True)] = 600
    """multi_worker: how long each worker waits for all of TF_CONFIG's workers to
    connect before it stops with an error (seconds). Not part of what a run is: the
    model's description and the checkpoint's identity leave it out."""
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    """Compute precision. The mixed policies compute in 16 bits with float32 weights
    (for GPUs with tensor cores; slower on a CPU); float16 adds dynamic loss scaling."""
    jit: bool | Literal["auto"] = "auto"
    """XLA compilation of the training loop. auto is off on a GPU, where XLA under op
    determinism can fail or vary, and on a CPU what the architecture's registry entry
    says."""

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

    @model_validator(mode="after")
    def _bounded_records(self) -> TrainConfig:
        # Every grid, log line and probe of a run is kept in the checkpoint, DVCLive's
        # folder and progress.gif, so their counts bound those files' size.
        for key, most in MAX_RECORDS.items():
            period = getattr(self, key)
            if self.steps // period > most:
                raise ValueError(
                    f"train.steps / train.{key} = {self.steps:,} / {period:,} gives "
                    f"{self.steps // period:,} records, more than {most:,}: raise "
                    f"train.{key} to at least {-(-self.steps // most):,}"
                )
        return self


class SampleConfig(_Section):
    """What the sample stage draws from the trained generator."""

    count: Annotated[int, Field(ge=1, le=50_000)] = 10000
    """Samples in samples/samples.npy, which evaluate scores. At most 50,000: evaluate's
    nearest-neighbour blocks are 2,000 x count float64."""
    seed: Seed = 0
    """Seed of the latents of the grids (the samples use seed + 1)."""
    grid_rows: Side = 4
    """Rows of samples/grid.png."""
    grid_cols: Side = 4
    """Columns of samples/grid.png."""
    class_grid_cols: Side = 10
    """Conditional models: columns of samples/class_grid.png, a row per digit."""
    interpolation_rows: Side = 8
    """Latent walks in samples/interpolation.png."""
    interpolation_steps: Annotated[int, Field(ge=2, le=64)] = 10
    """Images per latent walk, both ends included."""
    gif_frame_ms: Annotated[int, Field(ge=1, le=60_000)] = 200
    """Frame time of samples/progress.gif, in milliseconds."""


class EvaluateConfig(_Section):
    """How the evaluate stage scores samples."""

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    """Images per classifier pass."""
    coverage_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.02
    """A digit is covered when it holds at least this fraction of samples."""
    kid_subsets: Annotated[int, Field(ge=1, le=1000)] = 100
    """KID: random subsets its mean and spread are taken over."""
    kid_subset_size: Annotated[int, Field(ge=2, le=10_000)] = 1000
    """KID: images per subset and set."""
    k_precision_recall: Annotated[int, Field(ge=1, le=100)] = 3
    """Nearest-neighbour k of precision and recall (Kynkaanniemi et al. 2019: 3)."""
    k_density_coverage: Annotated[int, Field(ge=1, le=100)] = 5
    """Nearest-neighbour k of density and coverage (Naeem et al. 2020: 5)."""
    seed: Seed = 0
    """Seed of KID's subsets."""


class CpuConfig(_Section):
    """How TensorFlow computes on a CPU (every stage that runs a network)."""

    portable: bool = True
    """The same bytes on every x86-64 CPU with AVX2. oneDNN's and XLA's kernels are
    capped at AVX2 and the thread count is fixed; off, each CPU uses its widest
    instructions and all its cores, and reruns match on the same machine only."""
    threads: Annotated[int, Field(ge=1, le=256)] = 2
    """TensorFlow's threads per op when portable. Results depend on the number, not on
    the cores: keep it to compare bytes with another run."""


class Params(_Section):
    cpu: CpuConfig = CpuConfig()
    """How TensorFlow computes on a CPU."""
    data: DataConfig
    """Where MNIST comes from."""
    normalize: NormalizeConfig = NormalizeConfig()
    """How the data is split."""
    classifier: ClassifierConfig = ClassifierConfig()
    """The evaluation classifier."""
    model: ModelConfig = ModelConfig()
    """The GAN's architecture."""
    train: TrainConfig = TrainConfig()
    """The GAN's training run."""
    sample: SampleConfig = SampleConfig()
    """What is drawn from the trained generator."""
    evaluate: EvaluateConfig = EvaluateConfig()
    """How samples are scored."""

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
    return parse_params(read_params_yaml(Path(path)), str(path))


# params.yaml is a few KB and four levels deep; these bound what reading any file costs.
MAX_PARAMS_BYTES = 256 * 1024
MAX_NESTING = 32


def read_params_yaml(path: Path) -> Any:
    """The file's YAML content exactly as DVC reads and records it: YAML 1.2 through
    ruamel.yaml's safe loader (`dvc.utils.serialize.parse_yaml`), so `1e-05` is a
    number, `010` is ten and `1:30` a string, here as in `dvc.lock`, and a key given
    twice is an error. Raises ParamsError in one line naming the file and the place."""
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_PARAMS_BYTES + 1)
    except OSError as error:
        raise ParamsError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_PARAMS_BYTES:
        raise ParamsError(
            f"{path} is larger than {MAX_PARAMS_BYTES // 1024} KiB: not a params file; "
            "restore it with `git checkout params.yaml`"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParamsError(
            f"{path} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    yaml = YAML(typ="safe")
    try:
        depth = 0
        for event in yaml.parse(text):
            depth += isinstance(event, CollectionStartEvent)
            depth -= isinstance(event, CollectionEndEvent)
            if depth > MAX_NESTING:
                raise ParamsError(
                    f"{path} nests more than {MAX_NESTING} levels deep: not a params "
                    "file; restore it with `git checkout params.yaml`"
                )
        return yaml.load(text)
    except YAMLError as error:
        raise ParamsError(
            f"{path} is not valid YAML: {_yaml_problem(error)}; fix it or restore it "
            "with `git checkout params.yaml`"
        ) from None


def _yaml_problem(error: YAMLError) -> str:
    """ "line 3, column 1: found duplicate key "a" ..." on one line, cut short."""
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + problem[: 2 * QUOTE_CHARS]
