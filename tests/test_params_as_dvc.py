"""The stages read params.yaml exactly as DVC reads and records it (YAML 1.2), and no
params file, however broken, large or nested, makes a long message or a long wait."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides
from dvc.utils.serialize import parse_yaml

from mnist_gan.core.config import (
    MAX_NESTING,
    MAX_PARAMS_BYTES,
    ParamsError,
    load_params,
    read_params_yaml,
)
from tests.helpers import REPO_ROOT, run_stage

# Scalars on which YAML 1.1 (PyYAML) and YAML 1.2 (DVC's ruamel.yaml) disagree, and
# some on which they agree, as a user or `dvc exp run -S` may write them.
SCALARS = (
    "1e-05", "1.0e-5", "2e3", "010", "08", "0o12", "0x1F", "1:30", "190:20:30", "yes",
    "no", "on", "off", "y", "True", "~", "null", ".inf", "-.inf", "1_000", "+1", "0.",
    "'1e-05'", "2026-12-05",
)  # fmt: skip


def _as_dvc_reads(text: str) -> object:
    return parse_yaml(text, "params.yaml")


@pytest.mark.parametrize("scalar", SCALARS)
def test_every_scalar_means_what_it_means_to_dvc(tmp_path: Path, scalar: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(f"train:\n  value: {scalar}\n  listed: [{scalar}, 1]\n")
    ours = read_params_yaml(path)
    theirs = _as_dvc_reads(path.read_text())
    assert ours == theirs
    assert [type(v) for v in ours["train"].values()] == [type(v) for v in theirs["train"].values()]


def test_values_dvc_exp_run_writes_are_read_as_dvc_records_them(tmp_path: Path) -> None:
    """DVC's own override code (what `dvc exp run -S` runs) writes the values; the
    stages' loader must then accept them and see the numbers DVC sees."""
    path = tmp_path / "params.yaml"
    shutil.copy(REPO_ROOT / "params.yaml", path)
    apply_overrides(
        path,
        [
            "train.g_adam.learning_rate=1e-5",
            "train.d_adam.learning_rate=0.00002",
            "train.seed=7",
            "sample.count=2000",
        ],
    )
    written = path.read_text()
    assert "learning_rate: 1e-05" in written  # what DVC writes: YAML 1.1 reads a string
    params = load_params(path)
    recorded = _as_dvc_reads(written)["train"]
    assert params.train.g_adam.learning_rate == recorded["g_adam"]["learning_rate"] == 1e-5
    assert params.train.d_adam.learning_rate == recorded["d_adam"]["learning_rate"] == 2e-5
    assert params.train.seed == recorded["seed"] == 7

    apply_overrides(path, ["train.seed=010"])  # DVC writes, and records, a string
    assert _as_dvc_reads(path.read_text())["train"]["seed"] == "010"
    with pytest.raises(ParamsError, match=r"train\.seed = '010': Input should be a valid int"):
        load_params(path)


@pytest.mark.slow
def test_a_real_dvc_exp_run_gives_the_stage_the_value_dvc_lock_records(
    tmp_path: Path,
) -> None:
    """A real `dvc exp run -S train.g_adam.learning_rate=1e-5` in a scratch DVC repo
    whose one stage loads params.yaml with the stages' loader and writes what it got."""
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from mnist_gan.core.config import load_params; p = load_params('params.yaml'); "
        "json.dump({'lr': p.train.g_adam.learning_rate, 'seed': p.train.seed}, "
        "open('seen.json', 'w'))"
    )
    stage = {
        "cmd": f'"{sys.executable}" -c "{probe}" "{REPO_ROOT / "src"}"',
        "params": ["train"],
        "outs": ["seen.json"],
    }
    (tmp_path / "dvc.yaml").write_text(json.dumps({"stages": {"probe": stage}}))

    def run(*args: str) -> None:
        subprocess.run(args, cwd=tmp_path, check=True, capture_output=True, timeout=300)

    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("git", "add", "-A")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    run("dvc", "exp", "run", "-S", "train.g_adam.learning_rate=1e-5", "-S", "train.seed=3")

    seen = json.loads((tmp_path / "seen.json").read_text())
    lock = _as_dvc_reads((tmp_path / "dvc.lock").read_text())
    recorded = lock["stages"]["probe"]["params"]["params.yaml"]["train"]
    assert seen == {"lr": recorded["g_adam"]["learning_rate"], "seed": recorded["seed"]}
    assert seen == {"lr": 1e-5, "seed": 3}


def _stage_error(tmp_path: Path, content: bytes) -> str:
    """Run the real download stage on a params file holding `content`; its one-line
    error (it must fail, before any download)."""
    params = tmp_path / "params.yaml"
    params.write_bytes(content)
    result = run_stage("download", "--params", str(params), "--out", str(tmp_path / "raw"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 600, result.stderr[:2000]
    assert not (tmp_path / "raw").exists()
    return lines[0]


@pytest.mark.slow
def test_broken_params_files_are_one_line_each(tmp_path: Path) -> None:
    real = (REPO_ROOT / "params.yaml").read_bytes()
    duplicate = real.replace(b"train:\n", b"train:\n  seed: 1\n", 1).replace(
        b"  seed:", b"  seed: 2\n  seed:", 1
    )
    assert "duplicate key" in _stage_error(tmp_path, duplicate)
    assert "not UTF-8 text (byte 0xff" in _stage_error(tmp_path, real + b"\xff\xfe\n")
    nested = b"a: " + b"[" * 100_000 + b"\n"
    assert f"more than {MAX_NESTING} levels" in _stage_error(tmp_path, nested)
    huge = real + b"# padding\n" * (MAX_PARAMS_BYTES // 10)
    assert "larger than" in _stage_error(tmp_path, huge)
    assert "not valid YAML: line 1, column" in _stage_error(tmp_path, b"\tx: 1\n")


def test_a_deeply_nested_mapping_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("".join(" " * depth + "k:\n" for depth in range(600)))
    with pytest.raises(ParamsError, match="levels deep"):
        read_params_yaml(path)
