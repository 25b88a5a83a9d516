"""FID against pipeline minutes: the figure a user picks a training budget from.

Two steps, so the figure can be redrawn from the committed table alone:

    # 1. The scores of finished experiments named <setting>-s<seed> (e.g. queued with
    #    `dvc exp run --queue -n half-s0 -S train.seed=0 ...`), one CSV row per seed, with
    #    each setting's whole-pipeline minutes as you measured them
    #    (bench/pipeline_stages.py gives every stage's time):
    .venv/bin/python bench/tradeoff.py collect --minutes default=15.3 \
        --minutes half=9.7 > docs/tradeoff.csv
    # 2. The figure: FID (mean over seeds, the seeds' spread as a bar, every seed as a
    #    dot) against minutes, log-scaled, with the real ceiling and a target box.
    .venv/bin/python bench/tradeoff.py draw docs/tradeoff.csv docs/tradeoff.png

`collect` also prints each setting's mean ± std to stderr as a Markdown table. `draw`
needs only the columns setting, seed, minutes and fid, so a table written by hand from
runs made elsewhere draws too.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

EXPERIMENT_NAME = re.compile(r"^(?P<setting>.+)-s(?P<seed>\d+)$")
SCORES = ("fid", "recall", "coverage", "inception_score", "label_accuracy")
COLUMNS = ("setting", "seed", "minutes", *SCORES, "digit_min", "digit_max")


def scores_of(eval_json: dict) -> dict[str, float]:
    """The columns of one run's metrics/eval.json: SCORES, and the smallest and largest
    digit's share of the samples (fractions)."""
    shares = list(eval_json["class_histogram"].values())
    return {
        **{name: eval_json[name] for name in SCORES},
        "digit_min": min(shares),
        "digit_max": max(shares),
    }


def experiments(exp_show: list, workspace_as: str | None = None) -> dict[str, dict]:
    """`dvc exp show --json` -> {experiment name: its metrics/eval.json}, for every
    experiment whose run succeeded with that file; with `workspace_as`, the
    workspace's run too, under that name."""
    found = {}
    for baseline in exp_show:
        metrics = baseline["data"].get("metrics") or {}
        if workspace_as and baseline["rev"] == "workspace" and "metrics/eval.json" in metrics:
            found[workspace_as] = metrics["metrics/eval.json"]["data"]
        for experiment in baseline.get("experiments") or []:
            if (experiment.get("executor") or {}).get("state", "success") != "success":
                continue  # queued, running or failed: a running one shows the workspace's
            name, data = experiment.get("name"), experiment["revs"][0].get("data") or {}
            metrics = (data.get("metrics") or {}).get("metrics/eval.json") or {}
            if name and "data" in metrics:
                found[name] = metrics["data"]
    return found


def collect_rows(found: dict[str, dict], minutes: dict[str, float]) -> list[dict]:
    """One row per experiment named <setting>-s<seed> whose setting has minutes,
    sorted by setting and seed."""
    rows = []
    for name, eval_json in found.items():
        match = EXPERIMENT_NAME.match(name)
        if match and match["setting"] in minutes:
            rows.append(
                {
                    "setting": match["setting"],
                    "seed": int(match["seed"]),
                    "minutes": minutes[match["setting"]],
                    **scores_of(eval_json),
                }
            )
    return sorted(rows, key=lambda row: (row["setting"], row["seed"]))


def summary(rows: list[dict]) -> list[tuple[str, float, int, dict[str, tuple[float, float]]]]:
    """(setting, minutes, seeds, {score: (mean, std)}) per setting, fastest first, for
    the score columns the rows have (`fid` at least); the std is 0 for a single seed."""
    by_setting = defaultdict(list)
    for row in rows:
        by_setting[row["setting"]].append(row)
    table = []
    for setting, group in by_setting.items():
        stats = {}
        for name in (*SCORES, "digit_min", "digit_max"):
            if name not in group[0]:
                continue
            values = [float(row[name]) for row in group]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            stats[name] = (statistics.fmean(values), spread)
        table.append((setting, float(group[0]["minutes"]), len(group), stats))
    return sorted(table, key=lambda entry: entry[1])


def markdown(table: list) -> str:
    """The summary as a Markdown table: mean ± std of each score the rows have, and the
    digits' range (smallest and largest share) when they have it."""
    stats_names = table[0][3]
    scores = [name for name in SCORES if name in stats_names]
    digits = "digit_min" in stats_names
    lines = [
        "| setting | minutes | seeds | " + " | ".join(scores) + " |" + " digits |" * digits,
        "| --- | ---: | ---: |" + " ---: |" * len(scores) + " --- |" * digits,
    ]
    for setting, minutes, seeds, stats in table:
        cells = [f"{stats[name][0]:.3f} ± {stats[name][1]:.3f}" for name in scores]
        if digits:
            cells.append(f"{stats['digit_min'][0]:.1%}..{stats['digit_max'][0]:.1%}")
        lines.append(f"| {setting} | {minutes:.1f} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


NEEDED = ("setting", "seed", "minutes", "fid")


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV that has at least the NEEDED columns and one row; exits with a
    one-line error naming the file otherwise."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        sys.exit(f"error: cannot read {str(path)[:200]}: {str(error)[:200]}")
    missing = [name for name in NEEDED if name not in (reader.fieldnames or [])]
    if missing or not rows:
        what = f"no column {', '.join(missing)}" if missing else "no rows"
        sys.exit(
            f"error: {str(path)[:200]} has {what}: write it with `collect`, or by hand "
            f"with the columns {', '.join(NEEDED)}"
        )
    return rows


def draw(
    rows: list[dict],
    out: Path,
    ceiling: float | None,
    target: tuple[float, float],
    labels: dict[str, str],
) -> None:
    """FID (log scale) against minutes: per setting the mean, the seeds' spread as an
    error bar and each seed as a dot; the ceiling as a line; the target as a box.
    `labels` names settings in the legend (default: the setting's own name)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    minutes_target, fid_target = target
    axes.fill_between(
        [0, minutes_target],
        0.01,
        fid_target,
        color="tab:green",
        alpha=0.12,
        label=f"target: {minutes_target:g} min, FID {fid_target:g}",
    )
    if ceiling is not None:
        axes.axhline(ceiling, color="grey", linestyle="--", label=f"real ceiling ({ceiling:.2f})")
    for setting, minutes, seeds, stats in summary(rows):
        fids = [float(row["fid"]) for row in rows if row["setting"] == setting]
        mean, spread = stats["fid"]
        name = labels.get(setting, setting)
        label = f"{name}, {seeds} seeds: FID {mean:.2f} ± {spread:.2f}"
        axes.errorbar(minutes, mean, yerr=spread, fmt="o", capsize=4, markersize=7, label=label)
        axes.scatter([minutes] * len(fids), fids, s=10, color="black", zorder=3)
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axes.yaxis.set_minor_formatter(plt.NullFormatter())
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=min(0.5, ceiling or 0.5))
    axes.set_xlabel("whole pipeline, minutes (dvc repro, this machine)")
    axes.set_ylabel("FID (lower is better, log scale)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp.png")
    figure.savefig(temporary)
    temporary.replace(out)


def label_entry(text: str) -> tuple[str, str]:
    """argparse type of --label: SETTING=TEXT."""
    setting, _, label = text.partition("=")
    if not setting or not label:
        raise argparse.ArgumentTypeError(f"expected SETTING=TEXT, got {text[:80]!r}")
    return setting, label


def minutes_entry(text: str) -> tuple[str, float]:
    """argparse type of --minutes: SETTING=MINUTES with MINUTES > 0."""
    setting, _, value = text.partition("=")
    if not setting or not value:
        raise argparse.ArgumentTypeError(f"expected SETTING=MINUTES, got {text[:80]!r}")
    minutes = float(value)
    if not minutes > 0:
        raise argparse.ArgumentTypeError(f"minutes must be > 0, got {value[:40]!r}")
    return setting, minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect", help="CSV rows from `dvc exp show --json`")
    collect.add_argument(
        "--minutes",
        type=minutes_entry,
        action="append",
        required=True,
        help="SETTING=MINUTES, one per setting to collect",
    )
    collect.add_argument("--exp-show", type=Path, help="a saved `dvc exp show --json`")
    collect.add_argument(
        "--workspace-as", metavar="NAME", help="collect the workspace's run too, as if named NAME"
    )
    drawing = commands.add_parser("draw", help="the figure from a collected CSV")
    drawing.add_argument("csv", type=Path)
    drawing.add_argument("png", type=Path)
    drawing.add_argument("--ceiling", type=float, help="the real images' FID")
    drawing.add_argument(
        "--target", type=float, nargs=2, default=(6.0, 1.7), metavar=("MINUTES", "FID")
    )
    drawing.add_argument(
        "--label",
        type=label_entry,
        action="append",
        default=[],
        help="SETTING=TEXT, the setting's name in the legend",
    )
    args = parser.parse_args()
    if args.command == "collect":
        if args.exp_show:
            exp_show = json.loads(args.exp_show.read_text())
        else:
            command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
            exp_show = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
        rows = collect_rows(experiments(exp_show, args.workspace_as), dict(args.minutes))
        if not rows:
            sys.exit("error: no experiment named <setting>-s<seed> for the settings given")
        writer = csv.DictWriter(sys.stdout, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        print(markdown(summary(rows)), file=sys.stderr)
    else:
        rows = read_rows(args.csv)
        draw(rows, args.png, args.ceiling, tuple(args.target), dict(args.label))
        print(markdown(summary(rows)))


if __name__ == "__main__":
    main()
