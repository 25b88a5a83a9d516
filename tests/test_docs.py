"""The docs tell the truth about the committed run and the schema: the README's scores
are those of the `metrics/eval.json` that dvc.lock records, and the params reference
and params.yaml's comments are what the schema generates."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT

BLOCK = re.compile(r"<!-- committed-run:begin -->(.*?)<!-- committed-run:end -->", re.S)


def _committed_block() -> str:
    return BLOCK.search((REPO_ROOT / "README.md").read_text()).group(1)


def _locked_md5(path: str) -> str:
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise AssertionError(f"{path} is not in dvc.lock")


def _rows(block: str) -> dict[str, str]:
    return dict(re.findall(r"^\| ([a-z_.]+) \| ([0-9.]+) \|$", block, re.M))


def test_the_readme_names_the_eval_json_that_dvc_lock_records() -> None:
    md5 = re.search(r"md5 `([0-9a-f]{32})`", _committed_block()).group(1)
    assert md5 == _locked_md5("metrics/eval.json"), "rerun? update the README's scores"
    assert len(_rows(_committed_block())) >= 10


def _value(metrics: dict, key: str) -> float:
    for part in key.split("."):
        metrics = metrics[part]
    return metrics


def test_the_readme_scores_are_the_committed_runs() -> None:
    """Each row equals metrics/eval.json rounded to the digits it shows (when the
    workspace holds the eval.json dvc.lock records: after `dvc pull` or `dvc repro`)."""
    path = REPO_ROOT / "metrics" / "eval.json"
    if not path.exists() or hashlib.md5(path.read_bytes()).hexdigest() != _locked_md5(
        "metrics/eval.json"
    ):
        pytest.skip("the workspace does not hold the eval.json dvc.lock records")
    metrics = json.loads(path.read_text())
    for key, shown in _rows(_committed_block()).items():
        digits = len(shown.split(".")[1]) if "." in shown else 0
        assert round(_value(metrics, key), digits) == float(shown), key


@pytest.mark.slow
def test_the_params_reference_and_comments_are_generated_from_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mnist_gan.core.reference", "--check"],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(Path(REPO_ROOT) / "src"), "TF_CPP_MIN_LOG_LEVEL": "3",
             "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


FRESH_CLONE = re.compile(r"<!-- fresh-clone:begin -->(.*?)<!-- fresh-clone:end -->", re.S)


@pytest.mark.slow
def test_a_fresh_clone_does_what_the_readme_says(tmp_path: Path) -> None:
    """A real `git clone` of the committed project, then `dvc status` and `dvc metrics
    show`, as the README's fresh-clone paragraph tells them."""
    said = " ".join(FRESH_CLONE.search((REPO_ROOT / "README.md").read_text()).group(1).split())
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}

    def dvc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=clone, env=env, capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip

    status = dvc("status", "--json")
    assert status.returncode == 0, status.stderr
    changed = json.loads(status.stdout)
    stages = yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]
    assert set(changed) == set(stages)  # "every stage"
    assert "every one of the 8 stages" in said and len(stages) == 8
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["download"]["params"]
    params = yaml.safe_load((clone / "params.yaml").read_text())
    if lock["params.yaml"]["data"] != params["data"]:
        deps = next(
            entry["changed deps"] for entry in changed["download"] if "changed deps" in entry
        )
        assert deps["params.yaml"] == {"data": "modified"}
        assert "the download stage's `data` params" in said
    for entry in changed["evaluate"]:
        if "changed outs" in entry:
            assert entry["changed outs"]["metrics/eval.json"] == "not in cache"
    assert "in your DVC cache yet" in said

    shown = dvc("metrics", "show")
    assert shown.returncode == 0, shown.stderr
    assert "metrics/eval.json" in shown.stdout and not re.search(r"\d\.\d", shown.stdout)
    assert "`dvc metrics show` lists the metrics files without values" in said
