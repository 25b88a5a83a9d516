"""The stage scripts as users meet them: --help, and bad params failing fast and clearly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers import REPO_ROOT, run_stage

STAGES = ("download", "normalize", "classifier", "train", "sample", "evaluate")


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


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_explains_itself_with_help(stage: str) -> None:
    result = CliRunner().invoke(_app(stage), ["--help"])
    assert result.exit_code == 0, result.output
    assert "--params" in result.output
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


def test_train_stage_fails_before_training_and_writes_nothing(tmp_path: Path) -> None:
    """As a real process: exit code 2, the key on stderr, no model folder created."""
    params = _bad_params(tmp_path, "model", "arch", "transformer")
    out = tmp_path / "models"
    process = run_stage("train", "--params", str(params), "--out", str(out))
    assert process.returncode == 2
    assert "model.arch = 'transformer': unknown; choose one of dcgan, mlp" in (process.stderr)
    assert not out.exists()
