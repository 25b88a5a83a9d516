"""End to end with the real `dvc` CLI: the repo copied into a fresh git repo, MNIST
files served over HTTP on 127.0.0.1, tiny sizes, every stage for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import REPO_ROOT, make_mirror

pytestmark = pytest.mark.slow

TINY = {
    "normalize": {"holdout": 100},
    "classifier": {"epochs": 1},
    "train": {
        "batch_size": 32,
        "steps": 20,
        "log_every": 10,
        "sample_every": 10,
        "steps_per_call": 5,
    },
    "sample": {"count": 200},
    "evaluate": {"batch_size": 100},
}


def copy_repo(destination: Path) -> Path:
    """Copy what git would give a user who clones (tracked plus new, unignored files)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def write_params(repo: Path, mirrors: list[str], files: dict, overrides: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update({"mirrors": mirrors, "files": files})
    for section, values in overrides.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


class Repo:
    """Runs git and dvc in one folder with the project's Python first on PATH."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        process = subprocess.run(
            args,
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check and process.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{process.stdout}\n{process.stderr}")
        return process

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, serve) -> Repo:
    files = make_mirror(tmp_path / "mirror", train=400, test=150)
    root = copy_repo(tmp_path / "repo")
    write_params(root, [serve(tmp_path / "mirror")], files, TINY)
    repo = Repo(root)
    repo.run("git", "init", "-q")
    repo.commit("project as cloned, pointed at a loopback mirror")
    return repo


def test_repro_then_nothing_to_do_then_params_diff_and_an_experiment(repo: Repo) -> None:
    repro = repo.dvc("repro")
    for stage in ("download", "normalize", "classifier", "train", "sample", "evaluate"):
        assert f"Running stage '{stage}'" in repro.stdout

    samples = np.load(repo.root / "samples/samples.npy", allow_pickle=False)
    assert samples.dtype == np.uint8 and samples.shape == (200, 28, 28)
    evaluation = json.loads((repo.root / "metrics/eval.json").read_text())
    for result in (evaluation, evaluation["real"]):
        assert 1.0 <= result["inception_score"] <= 10.0
        assert result["fid"] >= 0
        assert sum(result["class_histogram"].values()) == pytest.approx(1.0)
    assert (repo.root / "samples/grid.png").stat().st_size > 0
    assert len(list((repo.root / "dvclive/train/plots/images/grid").glob("*.png"))) == 2
    assert (
        0 <= json.loads((repo.root / "metrics/classifier.json").read_text())["test_accuracy"] <= 1
    )

    again = repo.dvc("repro")
    assert "Running stage" not in again.stdout
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    plots = json.loads(repo.dvc("plots", "show", "--json").stdout)
    assert "errors" not in plots
    assert {"Losses", "Discriminator accuracy", "samples/grid.png"} <= set(plots["data"])
    assert plots["data"]["Losses"][0]["type"] == "vega"
    repo.commit("baseline run")

    params = yaml.safe_load((repo.root / "params.yaml").read_text())
    params["train"]["steps"] = 30
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    diff = json.loads(repo.dvc("params", "diff", "--json").stdout)
    assert diff["params.yaml"]["train.steps"] == {"old": 20, "new": 30, "diff": 10}
    repo.run("git", "checkout", "params.yaml")

    repo.dvc("exp", "run", "-S", "train.batch_size=64")
    shown = repo.dvc("exp", "show", "--json").stdout
    experiments = [
        rev
        for baseline in json.loads(shown)
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    ]
    assert experiments, shown
    data = experiments[0]["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["batch_size"] == 64
    assert "fid" in data["metrics"]["metrics/eval.json"]["data"]
