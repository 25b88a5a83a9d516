"""Static figures of a run, drawn with matplotlib: PNG files that any viewer opens and
`dvc plots diff` shows side by side, with no JavaScript and no internet (DVC's own
HTML plots load Vega from a CDN and are blank offline).

Each figure is one function from curves or metrics to a matplotlib Figure, and one
`FIGURES` entry; `draw_figures` writes them all. Figures are built without pyplot, so
no global state or GUI backend is involved.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mnist_gan.core.errors import restore_hint, unreadable
from mnist_gan.core.files import atomic_path

DPI = 100


@dataclass(frozen=True)
class Curve:
    """One logged series: steps int [N] (training steps or epochs) and values float [N]."""

    steps: np.ndarray
    values: np.ndarray


def read_curve(path: Path, fix: str) -> Curve | None:
    """A DVCLive TSV (header `step<TAB>name`, one row per log), or None if the run did
    not log it. InputFileError naming the file and `fix` if it is unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        name = path.stem
        steps = np.array([int(row["step"]) for row in rows], dtype=np.int64)
        values = np.array([float(row[name]) for row in rows], dtype=np.float64)
    except (OSError, KeyError, ValueError, TypeError, csv.Error) as error:
        raise unreadable(path, error, fix) from None
    return Curve(steps, values)


@dataclass(frozen=True)
class RunRecord:
    """What the figures are drawn from: the curves by DVCLive name (e.g. "d_loss",
    "eval/fid", "classifier/eval/accuracy"; absent if not logged) and the evaluate
    stage's metrics (with the real ceiling under "real" when there was a holdout)."""

    curves: dict[str, Curve]
    metrics: dict


def _plot(
    axes, curve: Curve | None, label: str, scale: float = 1.0, first_step: int = 0, **style
) -> None:
    """Plot `curve` (values times `scale`, steps shifted so the first logged one is
    `first_step` or later), or say in the panel that it was not logged."""
    if curve is None:
        axes.text(0.5, 0.5, f"{label}: not logged", transform=axes.transAxes, ha="center")
        return
    axes.plot(curve.steps + first_step, curve.values * scale, label=label, **style)


def _legend(axes, loc: str) -> None:
    if axes.get_legend_handles_labels()[0]:  # a panel with nothing logged has none
        axes.legend(loc=loc)


def losses(run: RunRecord) -> Figure:
    """The book's loss figure: D and G loss every train.log_every iterations."""
    figure = Figure(figsize=(10, 4), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    _plot(axes, run.curves.get("d_loss"), "Discriminator loss")
    _plot(axes, run.curves.get("g_loss"), "Generator loss")
    axes.set(title="Training Loss", xlabel="Iteration", ylabel="Loss")
    _legend(axes, "upper right")
    return figure


def d_accuracy(run: RunRecord) -> Figure:
    """The book's accuracy figure: D's accuracy on real and fake batches, in percent."""
    figure = Figure(figsize=(10, 4), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    _plot(axes, run.curves.get("d_accuracy"), "Discriminator accuracy", scale=100.0)
    axes.axhline(50, color="grey", linestyle=":", linewidth=1, label="chance (50%)")
    axes.set(title="Discriminator Accuracy", xlabel="Iteration", ylabel="Accuracy (%)")
    axes.set_ylim(0, 100)
    _legend(axes, "lower right")
    return figure


def quality(run: RunRecord) -> Figure:
    """FID and classifier score of the averaged generator over training, each against
    the real ceiling (held-out real digits) as a dashed line."""
    figure = Figure(figsize=(10, 4), dpi=DPI, layout="constrained")
    real = run.metrics.get("real", {})
    panels = [
        ("eval/fid", "fid", "FID (lower is better)", True),
        ("eval/inception_score", "inception_score", "Classifier score (of 10)", False),
    ]
    for index, (curve, metric, title, log_scale) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        _plot(axes, run.curves.get(curve), "samples during training", marker="o")
        if metric in real:
            axes.axhline(real[metric], color="black", linestyle="--", label="real ceiling")
        if log_scale and curve in run.curves and np.all(run.curves[curve].values > 0):
            axes.set_yscale("log")
        axes.set(title=title, xlabel="Iteration")
        _legend(axes, "best")
    return figure


# (key in eval.json, label, whether higher is better)
FINAL_METRICS = [
    ("fid", "FID", False),
    ("kid", "KID", False),
    ("inception_score", "classifier score", True),
    ("label_accuracy", "label accuracy", True),
    ("precision", "precision", True),
    ("recall", "recall", True),
    ("density", "density", True),
    ("coverage", "coverage", True),
]


def final_metrics(run: RunRecord) -> Figure:
    """Every final metric of the samples next to the same metric of held-out real
    digits (the ceiling a perfect generator would reach), one small panel each."""
    figure = Figure(figsize=(12, 5), dpi=DPI, layout="constrained")
    real = run.metrics.get("real", {})
    for index, (key, label, higher) in enumerate(FINAL_METRICS):
        axes = figure.add_subplot(2, 4, index + 1)
        bars = [
            ("samples", run.metrics.get(key), "tab:blue"),
            ("real", real.get(key), "grey"),
        ]  # held out
        bars = [(name, value, color) for name, value, color in bars if value is not None]
        names = [name for name, _, _ in bars]
        values = [value for _, value, _ in bars]
        axes.barh(names, values, color=[color for _, _, color in bars])
        for row, value in enumerate(values):
            axes.text(value, row, f" {value:.3g}", va="center")
        if not bars:
            axes.text(0.5, 0.5, "skipped", transform=axes.transAxes, ha="center")
        axes.set_xlim(0, 1.3 * max(values, default=1.0) or 1.0)
        axes.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=10)
        axes.invert_yaxis()
    figure.suptitle("Final metrics: samples against held-out real digits")
    return figure


def classifier(run: RunRecord) -> Figure:
    """The evaluation classifier's loss and accuracy after each epoch (DVCLive counts
    from 0, epochs from 1), on its training split and on the test set."""
    figure = Figure(figsize=(10, 4), dpi=DPI, layout="constrained")
    for index, metric in enumerate(("loss", "accuracy")):
        axes = figure.add_subplot(1, 2, index + 1)
        for split, label in (("train", "train split"), ("eval", "test set")):
            curve = run.curves.get(f"classifier/{split}/{metric}")
            _plot(axes, curve, label, first_step=1, marker="o")
        axes.set(title=f"Classifier {metric}", xlabel="Epoch", ylabel=metric)
        _legend(axes, "best")
    return figure


FIGURES: dict[str, Callable[[RunRecord], Figure]] = {
    "losses": losses,
    "d_accuracy": d_accuracy,
    "quality": quality,
    "final_metrics": final_metrics,
    "classifier": classifier,
}


def load_run(train_live: Path, classifier_live: Path, eval_metrics: Path) -> RunRecord:
    """Read every curve under the two DVCLive folders (`plots/metrics/**/*.tsv`; the
    classifier's prefixed "classifier/") and the evaluate stage's metrics JSON."""
    curves = {}
    for prefix, folder in (("", Path(train_live)), ("classifier/", Path(classifier_live))):
        root = folder / "plots" / "metrics"
        fix = restore_hint(folder)
        for path in sorted(root.rglob("*.tsv")):
            curve = read_curve(path, fix)
            if curve is not None:
                curves[prefix + path.relative_to(root).with_suffix("").as_posix()] = curve
    fix = restore_hint(eval_metrics, "evaluate")
    try:
        metrics = json.loads(Path(eval_metrics).read_text(encoding="utf-8"))
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        raise unreadable(eval_metrics, error, fix) from None
    return RunRecord(curves, metrics)


def save_figure(figure: Figure, path: Path) -> None:
    """Write a PNG atomically, without the matplotlib version stamp, so the same figure
    gives the same bytes."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata={"Software": None})


def draw_figures(run: RunRecord, folder: Path) -> list[Path]:
    """Write every FIGURES entry as `folder/<name>.png`; returns the paths."""
    paths = []
    for name, draw in FIGURES.items():
        paths.append(Path(folder) / f"{name}.png")
        save_figure(draw(run), paths[-1])
    return paths
