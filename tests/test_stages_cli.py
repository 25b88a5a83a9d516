"""The stage scripts as users meet them: --help, and bad params failing fast and clearly."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from mnist_gan.data.splits import Split, save_split
from mnist_gan.evaluation.classifier import build_classifier, save_classifier
from tests.helpers import REPO_ROOT, make_mirror, run_stage, synthetic_digits

STAGES = ("download", "normalize", "classifier", "train", "sample", "evaluate")  # read params
EVERY_STAGE = tuple(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])


def _app(stage: str):
    """The stage's typer app, imported as `python stages/<stage>.py` would run it
    (with stages/ first on the import path, where _bootstrap.py sits)."""
    if str(REPO_ROOT / "stages") not in sys.path:
        sys.path.insert(0, str(REPO_ROOT / "stages"))
    spec = importlib.util.spec_from_file_location(
        f"stage_{stage}", REPO_ROOT / "stages" / f"{stage}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _bad_params(tmp_path: Path, section: str, key: str, value) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("stage", EVERY_STAGE)
def test_every_stage_explains_itself_with_help(stage: str) -> None:
    result = CliRunner().invoke(_app(stage), ["--help"])
    assert result.exit_code == 0, result.output
    assert ("--params" in result.output) == (stage in STAGES)
    assert "Usage" in result.output


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_refuses_bad_params_naming_the_key(stage: str, tmp_path: Path) -> None:
    params = _bad_params(tmp_path, "train", "batch_size", -64)
    result = CliRunner().invoke(_app(stage), ["--params", str(params)])
    assert result.exit_code == 2
    assert "train.batch_size = -64" in result.output
    assert "greater than or equal to 1" in result.output
    assert "Traceback" not in result.output


def test_a_missing_params_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app("train"), ["--params", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


@pytest.mark.slow
def test_train_stage_fails_before_training_and_writes_nothing(tmp_path: Path) -> None:
    """As a real process: exit code 2, the key on stderr, no model folder created."""
    params = _bad_params(tmp_path, "model", "arch", "transformer")
    out = tmp_path / "models"
    process = run_stage("train", "--params", str(params), "--out", str(out))
    assert process.returncode == 2
    assert "model.arch = 'transformer': unknown; choose one of dcgan, mlp" in (process.stderr)
    assert not out.exists()


@pytest.mark.slow
def test_evaluate_scores_one_sample_without_a_holdout_and_says_what_it_skipped(
    tmp_path: Path,
) -> None:
    """sample.count 1 and normalize.holdout 0: the stage succeeds, writes the metrics it
    can compute, and names each one it skipped with the reason."""
    pixels, labels = synthetic_digits(40, seed=0)
    images = pixels[..., None] / np.float32(127.5) - 1
    save_split(tmp_path / "data", "test", Split(images, labels))
    save_split(tmp_path / "data", "holdout", Split(images[:0], labels[:0]))
    save_classifier(build_classifier(), tmp_path / "classifier", {})
    (tmp_path / "samples").mkdir()
    np.save(tmp_path / "samples" / "samples.npy", pixels[:1])
    out = tmp_path / "eval.json"
    untrained = _bad_params(tmp_path, "classifier", "min_test_accuracy", 0.0)  # a fixed view
    process = run_stage(
        "evaluate",
        "--params", str(untrained),
        "--samples", str(tmp_path / "samples"),
        "--data", str(tmp_path / "data"),
        "--classifier", str(tmp_path / "classifier"),
        "--out", str(out),
        "--histogram", str(tmp_path / "histogram.csv"),
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-2000:]
    assert "the real-data ceiling is skipped" in process.stdout
    assert "skipped fid for the samples: needs at least 2 images per set, got 1" in (process.stdout)
    assert "fid: skipped" in process.stdout
    result = json.loads(out.read_text())
    assert result["num_images"] == 1 and "fid" not in result and "real" not in result
    assert "inception_score" in result


def test_progress_bars_show_only_on_a_terminal_unless_asked(mirror, serve, tmp_path: Path) -> None:
    folder, files = mirror
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["data"].update({"mirrors": [serve(folder)], "files": files})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    runs = {
        flags: run_stage(
            "download", "--params", str(params), "--out", str(tmp_path / "raw"), *flags
        )
        for flags in [(), ("--progress",)]
    }
    for process in runs.values():
        assert process.returncode == 0, process.stderr[-2000:]
    # stderr is a pipe here, as under `dvc queue logs`: no bar unless asked for.
    assert "100%|" not in runs[()].stderr
    assert "100%|" in runs[("--progress",)].stderr


def test_a_training_split_of_one_image_runs_every_stage(tmp_path: Path) -> None:
    """normalize.holdout leaves one training image: every stage still runs (the
    classifier's epochs stop at their cap, the GAN draws its batches from that image)
    and evaluate scores three samples, saying what it skipped."""
    folder, files = tmp_path / "mirror", make_mirror(tmp_path / "mirror", train=31, test=40)
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["data"].update({"mirrors": [str(folder)], "files": files})
    raw["normalize"]["holdout"] = 30
    raw["classifier"]["budget_images"] = 1000  # 1,000 epochs of one image: capped at 100
    raw["classifier"]["min_test_accuracy"] = 0.0  # one image teaches one digit
    raw["model"].update(g_width=4, d_width=4)
    raw["train"].update(steps=4, batch_size=8, log_every=2, sample_every=2, eval_every=2,
                        checkpoint_every=2, steps_per_call=2, eval_samples=10)  # fmt: skip
    raw["sample"]["count"] = 3
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    paths = {name: str(tmp_path / name) for name in ("raw", "data", "cls", "gan", "live", "ck")}
    steps = [
        ("download", "--out", paths["raw"]),
        ("normalize", "--raw", paths["raw"], "--out", paths["data"]),
        ("classifier", "--data", paths["data"], "--out", paths["cls"], "--metrics",
         str(tmp_path / "cls.json"), "--live-dir", str(tmp_path / "cls_live")),
        ("train", "--data", paths["data"], "--classifier", paths["cls"], "--out", paths["gan"],
         "--live-dir", paths["live"], "--checkpoints", paths["ck"]),
        ("sample", "--models", paths["gan"], "--out", str(tmp_path / "samples")),
        ("evaluate", "--samples", str(tmp_path / "samples"), "--data", paths["data"],
         "--classifier", paths["cls"], "--out", str(tmp_path / "eval.json"),
         "--histogram", str(tmp_path / "histogram.csv")),
    ]  # fmt: skip
    for stage, *args in steps:
        process = run_stage(stage, "--params", str(params), *args)
        assert process.returncode == 0, f"{stage}: {process.stderr[-2000:]}"
        if stage == "evaluate":
            assert "skipped prdc for the samples: needs at least" in process.stdout
    assert np.load(tmp_path / "data/train_labels.npy").shape == (1,)
    assert json.loads((tmp_path / "cls.json").read_text())["epochs"] == 100
    assert json.loads((tmp_path / "eval.json").read_text())["num_images"] == 3
