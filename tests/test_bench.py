"""The benchmarks run end to end on tiny data and print their tables (speed itself is
never asserted: it belongs to the benchmark's output, not to tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.data.splits import Split, save_split
from tests.helpers import REPO_ROOT, make_mirror, synthetic_digits


def _tiny_training_set_and_params(folder: Path, raw: dict, count: int) -> Path:
    """A synthetic training split of `count` images in `folder` and a params file for
    a tiny DCGAN next to it; returns the params file."""
    pixels, labels = synthetic_digits(count, seed=0)
    save_split(folder, "train", Split(pixels[..., None] / np.float32(127.5) - 1, labels))
    raw["model"].update(g_width=4, d_width=4)
    raw["train"].update(batch_size=8, steps_per_call=2)
    params = folder / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    return params


def _run_bench(script: str, *args: str, exit_code: int = 0) -> subprocess.CompletedProcess:
    """`bench/<script>` with `args`, from the repo root; asserts its exit code."""
    process = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": f"src{os.pathsep}."},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert process.returncode == exit_code, process.stderr[-3000:]
    return process


@pytest.mark.slow
def test_train_speed_benchmark_prints_every_row(tmp_path: Path, raw: dict) -> None:
    params = _tiny_training_set_and_params(tmp_path, raw, 256)
    process = _run_bench(
        "train_speed.py", "--data", str(tmp_path), "--params", str(params),
        "--seed-steps", "2", "--steps", "4", "--dcgan-steps", "2",
    )  # fmt: skip
    rows = [line for line in process.stdout.splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows[2:]]  # after the header and rule
    assert names == [
        "mlp: the book's loop (predict + 3x train_on_batch)",
        "mlp: project GANTrainer, jit=false",
        "mlp: project GANTrainer, jit=true",
        "mlp: keras fit(steps_per_execution)",
        "dcgan, batch 8: GANTrainer, jit=false",
        "dcgan, batch 8: GANTrainer, jit=true (top-k off)",
        "dcgan, batch 8: keras fit(steps_per_execution)",
    ]
    assert "peak resident memory" in process.stdout


@pytest.mark.slow
def test_pipeline_benchmark_times_every_stage_on_a_mirror(tmp_path: Path) -> None:
    make_mirror(tmp_path / "mirror", train=300, test=100)
    tiny = {
        "normalize.holdout": 50,
        "classifier.budget_images": 1,
        "classifier.min_test_accuracy": 0.0,
        "model.g_width": 4,
        "model.d_width": 4,
        "train.steps": 10,
        "train.batch_size": 16,
        "train.log_every": 5,
        "train.sample_every": 5,
        "train.eval_every": 5,
        "train.checkpoint_every": 5,
        "train.steps_per_call": 5,
        "train.eval_samples": 50,
        "sample.count": 100,
        "evaluate.kid_subsets": 5,
        "evaluate.kid_subset_size": 40,
    }
    overrides = [arg for key, value in tiny.items() for arg in ("-S", f"{key}={value}")]
    process = subprocess.run(
        [
            sys.executable,
            "bench/pipeline_stages.py",
            "--mirror",
            str(tmp_path / "mirror"),
            *overrides,
            "--keep",
            str(tmp_path / "run"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    stages = list(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])
    rows = [line.split("|")[1:-1] for line in process.stdout.splitlines() if line.startswith("| ")]
    assert [row[0].strip() for row in rows[2:-1]] == stages
    for _, seconds, megabytes in rows[2:-1]:
        assert float(seconds) > 0 and int(megabytes) > 50  # python + tensorflow at least
    assert (tmp_path / "run/samples/samples.npy").exists()
    _sample_draws_repeat_the_stage_and_vary(tmp_path / "run")


def _sample_draws_repeat_the_stage_and_vary(run: Path) -> None:
    """bench/sample_draws.py on a finished run: draw 0 is the sample stage's own draw,
    so its scores are the evaluate stage's; the next draw's differ."""
    command = [sys.executable, str(REPO_ROOT / "bench/sample_draws.py"), "--draws", "2"]
    process = subprocess.run(
        command,
        cwd=run,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in process.stdout.splitlines() if line.startswith("| ")]
    header, draws, summary = rows[0], rows[2:4], rows[4]
    assert [cell.strip() for cell in header][:3] == ["draw", "fid", "kid"]
    assert [row[0].strip() for row in draws] == ["0", "1"] and summary[0].strip() == "mean ± std"
    stage = json.loads((run / "metrics/eval.json").read_text())
    for column, name in enumerate(cell.strip() for cell in header[1:]):
        assert float(draws[0][column + 1]) == pytest.approx(stage[name], abs=1e-4)
    assert draws[1][1:] != draws[0][1:]


@pytest.mark.slow
def test_roofline_benchmark_counts_checks_and_profiles(tmp_path: Path, raw: dict) -> None:
    """bench/roofline.py on tiny data: its FLOP count passed the hand check (it exits
    1 otherwise), every row has work, time and a share of the peak, and the profile
    lists op types whose shares add up to at most the whole."""
    params = _tiny_training_set_and_params(tmp_path, raw, 256)
    process = _run_bench(
        "roofline.py", "--data", str(tmp_path), "--params", str(params), "--steps", "4",
        "--top", "5", "--evaluate-images", "2000", "--peak-seconds", "0.3",
    )  # fmt: skip
    assert "by hand and by the profiler" in process.stdout
    tables = process.stdout.split("\n\n")
    rows = [line for line in tables[0].splitlines() if line.startswith("| ")][2:]
    assert [row.split("|")[1].strip().split(":")[0] for row in rows] == [
        "default (dcgan, batch 8)",
        "the book's mlp (batch 128)",
        "classifier",
        "evaluate",
    ]
    for row in rows:
        megaflops, milliseconds, _, share = (cell.strip() for cell in row.split("|")[2:6])
        assert float(megaflops) > 0 and float(milliseconds) > 0
        assert 0 <= float(share.rstrip("%")) < 100  # above the matmul peak: a wrong count
    profile = [line for line in tables[1].splitlines() if line.startswith("| ")][2:]
    assert 1 <= len(profile) <= 5
    shares = [float(line.split("|")[2].strip().rstrip("%")) for line in profile]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 100.05


@pytest.mark.slow
def test_lever_cost_benchmark_prints_a_row_per_lever(tmp_path: Path, raw: dict) -> None:
    params = _tiny_training_set_and_params(tmp_path, raw, 64)
    levers = ["train.penalties.r1=0", "model.d_minibatch_std=4 train.lr_schedule=linear"]
    args = ["--data", str(tmp_path), "--params", str(params), "--steps", "3", "--repeat", "2"]
    for lever in levers:
        args += ["--lever", lever]
    process = _run_bench("lever_cost.py", *args)
    rows = [line for line in process.stdout.splitlines() if line.startswith("| ")][2:]
    assert [row.split("|")[1].strip() for row in rows] == ["params as they are", *levers]
    assert rows[0].split("|")[4].strip() == "1.00"


@pytest.mark.slow
def test_lever_cost_times_from_the_update_asked_and_refuses_a_negative_one(
    tmp_path: Path, raw: dict
) -> None:
    params = _tiny_training_set_and_params(tmp_path, raw, 64)
    args = ["--data", str(tmp_path), "--params", str(params), "--steps", "2", "--repeat", "1"]
    args += ["--lever", "train.top_k=0.4 train.top_k_decay=0.5"]
    late = _run_bench("lever_cost.py", *args, "--from-update", "13000")
    assert "from update 13000" in late.stdout.splitlines()[-5]
    refused = _run_bench("lever_cost.py", *args, "--from-update", "-1", exit_code=2)
    assert "--from-update must be >= 0, got -1" in refused.stderr


def test_tradeoff_draws_from_a_hand_written_table_and_refuses_one_without_fid(
    tmp_path: Path,
) -> None:
    """`draw` needs only setting, seed, minutes and fid: per setting the mean and the
    seeds' spread, fastest first; a table without fid fails in one line naming it."""
    table = tmp_path / "tradeoff.csv"
    table.write_text("setting,seed,minutes,fid\nlong,0,9,1.0\nlong,1,9,2.0\nshort,0,3,4.5\n")
    drawn = _run_bench("tradeoff.py", "draw", str(table), str(tmp_path / "t.png"))
    rows = [line for line in drawn.stdout.splitlines() if line.startswith("| ")][2:]
    assert rows == ["| short | 3.0 | 1 | 4.500 ± 0.000 |", "| long | 9.0 | 2 | 1.500 ± 0.707 |"]
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    table.write_text("setting,seed,minutes,recall\nlong,0,9,0.8\n")
    refused = _run_bench("tradeoff.py", "draw", str(table), str(tmp_path / "u.png"), exit_code=1)
    assert refused.stderr.strip() == (
        f"error: {table} has no column fid: write it with `collect`, or by hand with the "
        "columns setting, seed, minutes, fid"
    )
    assert not (tmp_path / "u.png").exists()
