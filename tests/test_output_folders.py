"""Nothing is lost through an output option: a stage writes a folder only when it is
new, empty or holds nothing but what the stage writes; after a run the folder holds
only what that run wrote; a symbolic link is refused, never replaced. Real stage and
CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.core.config import ModelConfig
from mnist_gan.networks.gan import PROGRESS_FILE, build_gan, save_gan
from tests.helpers import REPO_ROOT, one_error_line, run_stage

SMALL = {"arch": "dcgan", "z_dim": 8, "g_width": 4, "d_width": 4}


def _gan(folder: Path, conditional: bool) -> Path:
    model = ModelConfig(conditional=conditional, **SMALL)
    save_gan(build_gan(model, ema=True), folder, {"model": model.model_dump()})
    np.save(folder / PROGRESS_FILE, np.zeros((2, 122, 122), np.uint8))
    return folder


@pytest.fixture(scope="module")
def gans(tmp_path_factory) -> dict[bool, Path]:
    root = tmp_path_factory.mktemp("gans")
    return {kind: _gan(root / f"conditional-{kind}", kind) for kind in (True, False)}


def _user_folder(folder: Path, *names: str) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(f"the user's {name}".encode())
    return {name: (folder / name).read_bytes() for name in names}


def _intact(folder: Path, files: dict[str, bytes]) -> bool:
    return {path.name: path.read_bytes() for path in folder.iterdir()} == files


@pytest.mark.slow
def test_export_into_a_folder_of_the_users_isone_error_line(gans, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    files = _user_folder(folder, "notes.txt", "thesis.tex")
    line = one_error_line(run_stage("export", "--models", str(gans[True]), "--out", str(folder)))
    assert "holds files this stage does not write ('notes.txt', 'thesis.tex')" in line
    assert "--out" in line and _intact(folder, files)


@pytest.mark.slow
def test_a_live_dir_holding_params_and_dvc_yaml_isone_error_line(tmp_path: Path) -> None:
    """DVCLive's start-up clean-up deletes a params.yaml and a dvc.yaml in its folder:
    the stage refuses that folder before DVCLive (or any training) starts."""
    folder = tmp_path / "project"
    files = _user_folder(folder, "params.yaml", "dvc.yaml")
    for stage in ("classifier", "train"):
        process = run_stage(stage, "--live-dir", str(folder), "--data", str(tmp_path / "none"))
        assert "--live-dir" in one_error_line(process)
        assert _intact(folder, files)


@pytest.mark.slow
def test_a_symlinked_output_folder_is_refused_and_left_as_it_was(gans, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    files = _user_folder(target, "saved_model.pb")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    line = one_error_line(run_stage("export", "--models", str(gans[True]), "--out", str(link)))
    assert "is a symbolic link" in line
    assert link.is_symlink() and link.resolve() == target.resolve() and _intact(target, files)


@pytest.mark.slow
def test_an_unconditional_run_leaves_no_conditional_run_files_to_be_scored(
    gans, tmp_path: Path
) -> None:
    """Conditional, then unconditional into the same folder: labels.npy (which evaluate
    would score) and class_grid.png go, as does a killed write's temporary file."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["sample"]["count"] = 20
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    out = tmp_path / "samples"

    def sample(conditional: bool) -> set[str]:
        process = run_stage(
            "sample", "--params", str(params), "--models", str(gans[conditional]), "--out", str(out)
        )
        assert process.returncode == 0, process.stderr[-2000:]
        return {path.name for path in out.iterdir()}

    assert {"labels.npy", "class_grid.png"} <= sample(conditional=True)
    (out / ".tmp-x1y2-samples.npy").write_bytes(b"half")  # as a killed write leaves
    assert sample(conditional=False) == {
        "grid.png",
        "interpolation.png",
        "progress.gif",
        "samples.npy",
    }


@pytest.mark.slow
def test_the_generate_cli_refuses_a_folder_or_a_link_as_its_out(gans, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    folder = tmp_path / "digits.png"
    files = _user_folder(folder, "keep.txt")
    link = tmp_path / "link.npy"
    link.symlink_to(tmp_path / "target.npy")
    for out, expected in ((folder, "is a folder"), (link, "is a symbolic link")):
        process = subprocess.run(
            [sys.executable, "-m", "mnist_gan", "generate", "--model", str(gans[True]),
             "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert expected in one_error_line(process)
    assert _intact(folder, files) and link.is_symlink() and not (tmp_path / "target.npy").exists()
