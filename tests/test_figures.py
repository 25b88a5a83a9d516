"""The static figures: drawn from real DVCLive files, the same bytes twice, every
panel drawn even when a run logged less, and one-line errors for damaged inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dvclive import Live
from PIL import Image

from mnist_gan.core.errors import InputFileError
from mnist_gan.evaluation.figures import FIGURES, draw_figures, load_run, read_curve

EVAL = {
    "fid": 2.9,
    "kid": 0.14,
    "inception_score": 9.7,
    "precision": 0.76,
    "recall": 0.75,
    "real": {"fid": 0.77, "kid": 0.01, "inception_score": 9.73, "recall": 0.87},
}


def _logged_run(root: Path, with_quality: bool = True) -> tuple[Path, Path, Path]:
    """DVCLive folders written by DVCLive itself, as the train and classifier stages do."""
    train, classifier = root / "train", root / "classifier"
    with Live(str(train), dvcyaml=False, save_dvc_exp=False) as live:
        for step in range(1000, 5001, 1000):
            live.step = step
            live.log_metric("d_loss", 0.5 + 1 / step)
            live.log_metric("g_loss", 1.0 - 1 / step)
            live.log_metric("d_accuracy", 0.6)
            if with_quality and step % 2000 == 0:
                live.log_metric("eval/fid", 100.0 / step)
                live.log_metric("eval/inception_score", 9.0)
    with Live(str(classifier), dvcyaml=False, save_dvc_exp=False) as live:
        for epoch in range(3):
            for split in ("train", "eval"):
                live.log_metric(f"{split}/loss", 1.0 / (epoch + 1))
                live.log_metric(f"{split}/accuracy", 0.9 + epoch / 100)
            live.next_step()
    metrics = root / "eval.json"
    metrics.write_text(json.dumps(EVAL))
    return train, classifier, metrics


@pytest.mark.slow
def test_every_figure_is_drawn_from_dvclive_files_and_is_the_same_twice(tmp_path: Path) -> None:
    run = load_run(*_logged_run(tmp_path))
    assert {"d_loss", "g_loss", "eval/fid", "classifier/eval/accuracy"} <= set(run.curves)
    np.testing.assert_array_equal(run.curves["eval/fid"].steps, [2000, 4000])
    np.testing.assert_allclose(run.curves["eval/fid"].values, [0.05, 0.025])

    first = draw_figures(run, tmp_path / "a")
    second = draw_figures(run, tmp_path / "b")
    assert [path.name for path in first] == [f"{name}.png" for name in FIGURES]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        with Image.open(a) as image:
            assert image.width >= 800 and image.height >= 300
            assert len(np.unique(np.asarray(image.convert("L")))) > 10  # something drawn
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)


def test_a_run_that_logged_less_still_gets_every_figure(tmp_path: Path) -> None:
    train, _, metrics = _logged_run(tmp_path, with_quality=False)
    metrics.write_text(json.dumps({"fid": 3.0}))  # no holdout, other metrics skipped
    run = load_run(train, tmp_path / "no-classifier-log", metrics)
    assert "eval/fid" not in run.curves and not any(k.startswith("classifier/") for k in run.curves)
    paths = draw_figures(run, tmp_path / "figures")
    assert len(paths) == len(FIGURES) and all(path.stat().st_size > 0 for path in paths)


def test_damaged_inputs_are_named_in_one_line(tmp_path: Path) -> None:
    train, classifier, metrics = _logged_run(tmp_path)
    tsv = train / "plots" / "metrics" / "d_loss.tsv"
    tsv.write_text("step\td_loss\n1000\tnot-a-number\n")
    with pytest.raises(InputFileError, match=r"d_loss.tsv: cannot be read .*dvc checkout") as error:
        load_run(train, classifier, metrics)
    assert "\n" not in str(error.value)
    assert read_curve(tmp_path / "absent.tsv", "fix") is None

    tsv.unlink()
    metrics.write_text("[1, 2")
    with pytest.raises(InputFileError, match=r"eval.json: cannot be read .*dvc repro -f evaluate"):
        load_run(train, classifier, metrics)
