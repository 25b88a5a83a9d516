"""The memory estimate of a training run, known before its networks are built: exact
weight and activation counts from three tiny builds, and a real train stage that
refuses a run the machine cannot hold."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import yaml

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.errors import ParamsError
from mnist_gan.networks.architectures import ARCHITECTURES
from mnist_gan.networks.footprint import check_fits, network_size, size_of, training_bytes
from mnist_gan.networks.gan import build_gan
from tests.helpers import REPO_ROOT, one_error_line, run_stage

CONFIGS = (
    ModelConfig(arch="mlp", hidden_units=300, z_dim=20),
    ModelConfig(arch="mlp", hidden_units=77, conditional=True, spectral_norm=True),
    ModelConfig(arch="dcgan", g_width=24, d_width=20, z_dim=16),
    ModelConfig(
        arch="dcgan", g_width=12, d_width=10, g_depth=2, d_depth=2, residual=True,
        conditional=True, d_minibatch_std=4, g_norm="class_layer", spectral_norm=True,
    ),
)  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS, ids=lambda config: config.arch)
def test_sizes_from_three_tiny_builds_equal_the_real_networks(config: ModelConfig) -> None:
    architecture = ARCHITECTURES[config.arch]
    for build, key in (
        (architecture.generator, architecture.generator_width),
        (architecture.discriminator, architecture.discriminator_width),
    ):
        assert network_size(build, config, key) == size_of(build(config))


def test_the_estimate_grows_with_width_and_batch_and_refuses_what_cannot_fit() -> None:
    model, train = ModelConfig(), TrainConfig()
    default = training_bytes(model, train)
    wider = training_bytes(model.model_copy(update={"g_width": 64}), train)
    bigger_batch = training_bytes(model, train.model_copy(update={"batch_size": 64}))
    assert default < wider and default < bigger_batch
    assert check_fits(model, train, available=default) == default
    with pytest.raises(ParamsError, match=r"need about \d+\.\d GiB .* more than this machine"):
        check_fits(model, train, available=default - 1)


def test_the_estimate_leaves_the_layer_names_a_fresh_process_gives() -> None:
    """The weights files store layer names: the run's GAN must be named as without the
    estimate's tiny builds, or its .h5 bytes change with nothing else."""

    def names() -> list[str]:
        gan = build_gan(ModelConfig(), ema=True)
        return [w.path for net in (gan.generator, gan.discriminator) for w in net.model.weights]

    keras.backend.clear_session()
    fresh = names()
    keras.backend.clear_session()
    check_fits(ModelConfig(), TrainConfig())
    assert names() == fresh


@pytest.mark.slow
def test_the_train_stage_refuses_valid_maxima_that_no_machine_here_holds(tmp_path: Path) -> None:
    """Widths, depths and z_dim at their bounds with the largest batch: each is valid,
    together they need hundreds of GiB. Refused in one line before anything trains."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["model"].update(g_width=1024, d_width=1024, z_dim=1024, g_depth=8, d_depth=8)
    raw["train"]["batch_size"] = 4096
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    out = tmp_path / "gan"
    process = run_stage(
        "train", "--params", str(params), "--out", str(out), "--data", str(tmp_path / "none"),
        "--live-dir", str(tmp_path / "live"), "--checkpoints", str(tmp_path / "ck"),
    )  # fmt: skip
    line = one_error_line(process)
    assert "GiB to train" in line and "more than this machine's" in line
    assert not out.exists()
