"""End to end with the real `dvc` CLI: the repo copied into a fresh git repo, MNIST
files served over HTTP on 127.0.0.1, tiny sizes, every stage for real."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from mnist_gan.evaluation.classifier import load_classifier
from mnist_gan.evaluation.figures import FIGURES
from mnist_gan.serving.generate import load_digit_generator
from tests.helpers import REPO_ROOT, make_mirror

pytestmark = pytest.mark.slow

TINY = {
    "normalize": {"holdout": 100},
    "classifier": {"budget_images": 1, "min_test_accuracy": 0.0},  # one epoch: not fit
    "model": {"g_width": 8, "d_width": 8},  # the default conditional DCGAN, narrower
    "train": {
        "batch_size": 32,
        "steps": 20,
        "log_every": 10,
        "sample_every": 10,
        "steps_per_call": 5,
        "eval_every": 10,
        "eval_samples": 50,
    },
    "sample": {"count": 200},
    "evaluate": {"batch_size": 100, "kid_subsets": 10, "kid_subset_size": 50},
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


STAGES = tuple(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, serve_for_module) -> Repo:
    """The project as a user clones it, pointed at a loopback mirror, after one
    `dvc repro` whose dvc.lock is committed."""
    tmp_path = tmp_path_factory.mktemp("pipeline")
    files = make_mirror(tmp_path / "mirror", train=400, test=150)
    root = copy_repo(tmp_path / "repo")
    write_params(root, [serve_for_module(tmp_path / "mirror")], files, TINY)
    repo = Repo(root)
    repo.run("git", "init", "-q")
    repo.commit("project as cloned, pointed at a loopback mirror")
    repo.first_repro = repo.dvc("repro")
    repo.commit("baseline run")
    return repo


def experiment_revs(repo: Repo) -> dict[str, dict]:
    """Every experiment's `dvc exp show --json` record, by experiment name."""
    return {
        rev["name"]: rev
        for baseline in json.loads(repo.dvc("exp", "show", "--json").stdout)
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    }


def test_repro_runs_every_stage_and_writes_every_output(repo: Repo) -> None:
    for stage in STAGES:
        assert f"Running stage '{stage}'" in repo.first_repro.stdout
    root = repo.root
    samples = np.load(root / "samples/samples.npy", allow_pickle=False)
    assert samples.dtype == np.uint8 and samples.shape == (200, 28, 28)
    evaluation = json.loads((root / "metrics/eval.json").read_text())
    for result in (evaluation, evaluation["real"]):
        assert 1.0 <= result["inception_score"] <= 10.0
        assert result["fid"] >= 0
        for key in ("precision", "recall", "coverage"):
            assert 0.0 <= result[key] <= 1.0
        assert {"kid", "kid_std", "density", "class_kl", "classes_covered"} <= set(result)
        assert sum(result["class_histogram"].values()) == pytest.approx(1.0)
    assert "label_accuracy" in evaluation["real"]
    assert 0.0 <= evaluation["label_accuracy"] <= 1.0  # conditional: the asked-for digits
    labels = np.load(root / "samples/labels.npy", allow_pickle=False)
    assert np.bincount(labels).tolist() == [20] * 10
    for picture in ("grid.png", "class_grid.png", "interpolation.png", "progress.gif"):
        assert (root / "samples" / picture).stat().st_size > 0
    assert len(list((root / "dvclive/train/plots/images/grid").glob("*.png"))) == 2
    assert (root / "dvclive/train/plots/metrics/eval/fid.tsv").read_text().count("\n") == 3
    assert 0 <= json.loads((root / "metrics/classifier.json").read_text())["test_accuracy"] <= 1
    epochs = (root / "dvclive/classifier/plots/metrics/eval/accuracy.tsv").read_text()
    assert epochs.count("\n") == 2  # header and the one epoch
    assert sorted(p.name for p in (root / "figures").iterdir()) == sorted(
        f"{name}.png" for name in FIGURES
    )
    assert (root / "models/saved_model/saved_model.pb").exists()


def test_second_repro_runs_nothing_and_plots_render(repo: Repo) -> None:
    again = repo.dvc("repro")
    assert "Running stage" not in again.stdout
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    plots = json.loads(repo.dvc("plots", "show", "--json").stdout)
    assert "errors" not in plots
    expected = {
        "Losses",
        "Discriminator accuracy",
        "FID over training (lower is better)",
        "Classifier score over training",
        "Class histogram of samples",
        "samples/grid.png",
        "samples/class_grid.png",
        "samples/progress.gif",
        "Classifier accuracy per epoch",
        "figures/losses.png",
        "figures/final_metrics.png",
    }
    assert expected <= set(plots["data"])


def test_params_diff_shows_an_edited_value(repo: Repo) -> None:
    params = yaml.safe_load((repo.root / "params.yaml").read_text())
    params["train"]["steps"] = 30
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        diff = json.loads(repo.dvc("params", "diff", "--json").stdout)
    finally:
        repo.run("git", "checkout", "params.yaml")
    assert diff["params.yaml"]["train.steps"] == {"old": 20, "new": 30, "diff": 10}


def test_forced_rerun_of_train_and_sample_gives_bit_identical_outputs(repo: Repo) -> None:
    """Same params and data: the rerun's hashes in dvc.lock (models included) match."""
    before = (repo.root / "dvc.lock").read_text()
    (repo.root / "checkpoints/train/checkpoint.npz").unlink()  # or it would just resume
    rerun = repo.dvc("repro", "-f", "train", "sample")
    assert "Running stage 'train'" in rerun.stdout
    assert (repo.root / "dvc.lock").read_text() == before


def test_an_experiment_and_a_queued_sweep_compare_side_by_side(repo: Repo) -> None:
    repo.dvc("exp", "run", "-S", "train.batch_size=64", "-n", "batch64")
    repo.dvc("exp", "run", "--queue", "-S", "train.batch_size=16,48")
    # Each queued experiment runs in its own copy of the committed code: break the
    # workspace's copy of a module every stage imports before the queue runs.
    errors = repo.root / "src/mnist_gan/core/errors.py"
    committed = errors.read_text()
    errors.write_text(committed + "\nraise RuntimeError('the workspace code ran')\n")
    try:
        broken = repo.run(sys.executable, "stages/sample.py", "--help", check=False)
        assert "the workspace code ran" in broken.stderr  # the break is real
        repo.dvc("queue", "start", "-j", "2")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = repo.dvc("queue", "status").stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(3)
    finally:
        errors.write_text(committed)
    assert "Failed" not in status, status

    revs = experiment_revs(repo)
    sizes = {
        rev["data"]["params"]["params.yaml"]["data"]["train"]["batch_size"]: name
        for name, rev in revs.items()
    }
    assert {16, 48, 64} <= set(sizes), revs.keys()
    for name in sizes.values():
        assert "fid" in revs[name]["data"]["metrics"]["metrics/eval.json"]["data"]

    params = json.loads(repo.dvc("params", "diff", sizes[16], sizes[64], "--json").stdout)
    assert params["params.yaml"]["train.batch_size"]["old"] == 16
    assert params["params.yaml"]["train.batch_size"]["new"] == 64
    metrics = json.loads(repo.dvc("metrics", "diff", sizes[16], sizes[64], "--json").stdout)
    changed = metrics["metrics/eval.json"]
    assert {"fid", "kid", "inception_score"} <= set(changed)
    assert changed["fid"]["old"] != changed["fid"]["new"]
    assert "real.fid" not in changed  # the ceiling does not depend on the GAN
    plots = json.loads(repo.dvc("plots", "diff", sizes[16], sizes[64], "--json").stdout)
    assert len(plots["data"]["Losses"][0]["revisions"]) == 2  # curves overlaid
    assert len(plots["data"]["samples/grid.png"]) == 2  # one grid per experiment
    assert len(plots["data"]["figures/losses.png"]) == 2  # static figures side by side


def test_the_tradeoff_bench_collects_seeds_of_a_setting_and_draws_them(
    repo: Repo, tmp_path: Path
) -> None:
    """bench/tradeoff.py on two real experiments named <setting>-s<seed>: one CSV row
    per seed with that experiment's own scores, then the figure."""
    for seed in (1, 2):
        repo.dvc("exp", "run", "-n", f"tiny-s{seed}", "-S", f"train.seed={seed}")
    bench = [sys.executable, str(REPO_ROOT / "bench/tradeoff.py")]
    collected = repo.run(*bench, "collect", "--minutes", "tiny=0.5", "--minutes", "absent=1")
    rows = list(csv.DictReader(collected.stdout.splitlines()))
    assert [(row["setting"], row["seed"], row["minutes"]) for row in rows] == [
        ("tiny", "1", "0.5"), ("tiny", "2", "0.5")
    ]  # fmt: skip
    revs = experiment_revs(repo)
    for row in rows:
        scores = revs[f"tiny-s{row['seed']}"]["data"]["metrics"]["metrics/eval.json"]["data"]
        assert float(row["fid"]) == scores["fid"] and float(row["recall"]) == scores["recall"]
    assert rows[0]["fid"] != rows[1]["fid"]  # two seeds, two runs
    assert "| tiny | 0.5 | 2 |" in collected.stderr
    (tmp_path / "tradeoff.csv").write_text(collected.stdout)
    drawn = repo.run(*bench, "draw", str(tmp_path / "tradeoff.csv"), str(tmp_path / "t.png"))
    assert "| tiny | 0.5 | 2 |" in drawn.stdout
    assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    refused = repo.run(*bench, "collect", "--minutes", "absent=1", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: no experiment")


def publish(repo: Repo, tmp_path: Path) -> Path:
    """Point the project at a local-folder DVC remote, commit, `dvc push`, and push the
    branch to a new local bare git repo, which a teammate would clone; returns it."""
    repo.dvc("remote", "add", "-f", "-d", "shared", str(tmp_path / "dvc-remote"))
    repo.commit("use a shared DVC remote")
    repo.dvc("push")
    origin = tmp_path / "origin.git"
    repo.run("git", "init", "-q", "--bare", str(origin))
    repo.run("git", "-C", str(origin), "symbolic-ref", "HEAD", "refs/heads/main")
    repo.run("git", "remote", "remove", "origin", check=False)
    repo.run("git", "remote", "add", "origin", str(origin))
    repo.run("git", "push", "-q", "origin", "HEAD:refs/heads/main")
    return origin


def test_a_fresh_clone_pulls_every_output_and_has_nothing_to_run(
    repo: Repo, tmp_path: Path
) -> None:
    """Plain `dvc pull`, `dvc status` and `dvc repro` on a real fresh clone, no flags:
    the training checkpoint is a working folder, not an output, so nothing is missing."""
    publish(repo, tmp_path)
    assert "checkpoints/train" not in {out for outs in _all_outs(repo.root) for out in outs}
    assert (repo.root / "checkpoints/train/checkpoint.npz").exists()  # yet it is written

    clone = Repo(tmp_path / "clone")
    repo.run("git", "clone", "-q", str(repo.root), str(clone.root))
    clone.dvc("pull")
    for output in ("samples/samples.npy", "metrics/eval.json", "models/gan/gan.json"):
        assert (clone.root / output).read_bytes() == (repo.root / output).read_bytes()
    assert (clone.root / "figures/losses.png").read_bytes() == (
        repo.root / "figures/losses.png"
    ).read_bytes()
    assert json.loads(clone.dvc("status", "--json").stdout) == {}
    assert "Running stage" not in clone.dvc("repro").stdout
    assert not (clone.root / "checkpoints/train").exists()


def _all_outs(root: Path) -> list[list[str]]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return [[out["path"] for out in stage["outs"]] for stage in lock["stages"].values()]


def test_registered_artifacts_are_fetched_by_name_and_stage_from_a_bare_repo(
    repo: Repo, tmp_path: Path
) -> None:
    origin = publish(repo, tmp_path)
    assert (
        "generator@v1.0.0" in repo.run("gto", "register", "generator", "--version", "v1.0.0").stdout
    )
    repo.run("gto", "assign", "generator", "--version", "v1.0.0", "--stage", "prod")
    for artifact in ("generator-savedmodel", "classifier"):
        repo.run("gto", "register", artifact, "--version", "v1.0.0")
    repo.run("git", "push", "-q", "origin", "--tags")
    shown = repo.run("gto", "show", "generator", "--json").stdout
    assert "prod" in shown and "v1.0.0" in shown

    empty = tmp_path / "user"
    empty.mkdir()
    user = Repo(empty)  # not a git or DVC repo: someone who only wants the model
    user.dvc("artifacts", "get", str(origin), "generator", "--stage", "prod", "-o", "generator")
    user.dvc("artifacts", "get", str(origin), "generator-savedmodel", "-o", "saved_model")
    user.dvc("artifacts", "get", str(origin), "classifier", "--rev", "v1.0.0", "-o", "classifier")
    assert (empty / "generator/gan.json").read_bytes() == (
        repo.root / "models/gan/gan.json"
    ).read_bytes()

    fetched = load_digit_generator(empty / "generator").generate(digits=[0, 7], seed=3)
    original = load_digit_generator(repo.root / "models/gan").generate(digits=[0, 7], seed=3)
    np.testing.assert_array_equal(fetched, original)
    assert load_classifier(empty / "classifier") is not None
    serve = tf.saved_model.load(str(empty / "saved_model")).signatures["serving_default"]
    z_dim = json.loads((repo.root / "models/gan/gan.json").read_text())["model"]["z_dim"]
    served = serve(z=tf.zeros([2, z_dim]), labels=tf.constant([0, 7], tf.int32))["images"]
    assert served.dtype == tf.uint8 and tuple(served.shape) == (2, 28, 28)


def test_experiments_pushed_from_one_clone_are_pulled_and_applied_in_another(
    repo: Repo, tmp_path: Path
) -> None:
    origin = publish(repo, tmp_path)
    try:
        repo.dvc("exp", "run", "-S", "sample.count=100", "-n", "fewer-samples")
        made = (repo.root / "samples/samples.npy").read_bytes()
        repo.dvc("exp", "push", "origin", "fewer-samples")  # git refs, and the DVC cache

        other = Repo(tmp_path / "teammate")
        repo.run("git", "clone", "-q", str(origin), str(other.root))
        other.dvc("exp", "pull", "origin", "fewer-samples")
        revs = experiment_revs(other)
        assert "fewer-samples" in revs
        data = revs["fewer-samples"]["data"]
        assert data["params"]["params.yaml"]["data"]["sample"]["count"] == 100
        assert "fid" in data["metrics"]["metrics/eval.json"]["data"]

        # apply brings params and dvc.lock and checks out every output, with no flag
        other.dvc("exp", "apply", "fewer-samples")
        assert (other.root / "samples/samples.npy").read_bytes() == made
        assert np.load(other.root / "samples/samples.npy").shape == (100, 28, 28)
        assert "Running stage" not in other.dvc("repro").stdout
    finally:
        repo.run("git", "checkout", "--", "params.yaml", "dvc.lock")
        repo.dvc("checkout", "--force")


def test_a_training_run_killed_with_sigkill_resumes_to_the_same_bytes(repo: Repo) -> None:
    params = yaml.safe_load((repo.root / "params.yaml").read_text())
    params["train"].update(
        steps=3000,
        log_every=100,
        sample_every=1000,
        eval_every=1000,
        checkpoint_every=500,
        steps_per_call=50,
    )
    (repo.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    outputs = [
        "models/gan/generator.weights.h5",
        "models/gan/generator_ema.weights.h5",
        "models/gan/discriminator.weights.h5",
        "models/gan/progress_grids.npy",
        "dvclive/train/plots/metrics/d_loss.tsv",
        "dvclive/train/plots/metrics/eval/fid.tsv",
    ]
    try:
        reference_run = repo.dvc("repro", "train")
        assert "checkpoint is from other params; starting fresh" in reference_run.stdout
        reference = {name: (repo.root / name).read_bytes() for name in outputs}

        saved = repo.root / "checkpoints/train/checkpoint.npz"
        saved.unlink()
        process = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro", "-f", "train"],
            cwd=repo.root,
            env=repo.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while not saved.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert saved.exists(), "no checkpoint was written before the kill"
        assert not (repo.root / outputs[0]).exists(), "killed too late: training had finished"

        # dvc.lock still records the reference run, whose outputs DVC's cache holds and
        # would restore: force the command, as a first run that was killed has neither.
        resumed = repo.dvc("repro", "-f", "train")
        assert "resuming from step" in resumed.stdout
        for name in outputs:
            assert (repo.root / name).read_bytes() == reference[name], name
    finally:
        repo.run("git", "checkout", "params.yaml")


def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def test_a_code_edit_reruns_the_stages_that_run_it_and_outputs_follow_the_new_code(
    repo: Repo,
) -> None:
    """Edit `to_pixels` (which quantizes every sample) and then the generator loss in the
    copy: `dvc status` names the stages that run the edited file, and `dvc repro` gives
    outputs of the new code; the loss edit retrains from scratch, not from the
    finished run's checkpoint."""
    root = repo.root
    repo.run("git", "checkout", "--", "params.yaml", "dvc.lock")  # earlier tests' edits
    repo.dvc("checkout", "--force")
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    old_samples = np.load(root / "samples/samples.npy", allow_pickle=False)
    old_generator = (root / "models/gan/generator.weights.h5").read_bytes()
    try:
        _replace_in(
            root / "src/mnist_gan/data/splits.py",
            "return scaled.astype(np.uint8)",
            "return 255 - scaled.astype(np.uint8)",
        )
        stale = set(json.loads(repo.dvc("status", "--json").stdout))
        assert {"train", "sample", "evaluate", "normalize", "classifier"} <= stale
        assert "download" not in stale  # it runs no code from data.py
        rerun = repo.dvc("repro")
        # the working checkpoint is the last run's (an earlier test's other params)
        assert "; starting fresh" in rerun.stdout and "resuming" not in rerun.stdout
        new_samples = np.load(root / "samples/samples.npy", allow_pickle=False)
        np.testing.assert_array_equal(new_samples, 255 - old_samples)

        _replace_in(
            root / "src/mnist_gan/training/losses.py",
            "return tf.reduce_mean(tf.nn.softplus(-fake_logits))",
            "return 2.0 * tf.reduce_mean(tf.nn.softplus(-fake_logits))",
        )
        assert set(json.loads(repo.dvc("status", "--json").stdout)) == {"train"}
        rerun = repo.dvc("repro")
        assert "checkpoint is from other project code; starting fresh" in rerun.stdout
        assert "resuming" not in rerun.stdout
        assert (root / "models/gan/generator.weights.h5").read_bytes() != old_generator
        assert json.loads(repo.dvc("status", "--json").stdout) == {}
    finally:
        repo.run("git", "checkout", "--", "src", "dvc.lock")
        repo.dvc("checkout", "--force")
