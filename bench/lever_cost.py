"""Milliseconds per GAN training step of the params as they are and with each lever
(params overrides, as `dvc exp run -S` takes them), measured in one sitting: every
configuration's trainer is built in this one process, then each runs `--steps` steps
in turn, for `--repeat` rounds, so that drift of the machine hits all of them alike.
The table gives each configuration's best and median round and the ratio of its best
to the first row's. A lever that makes a step dearer is compared with the default at
equal training time by giving it train.steps / ratio steps (README, "Quality levers,
measured"). `--from-update N` times the steps from update N on, for levers whose
work or effect depends on how far training is (top-k's fraction, a learning-rate
schedule), e.g. late in a run.

    PYTHONPATH=src python bench/lever_cost.py [--data data/prepared] [--steps 1000] \
        [--repeat 2] [--from-update 0] --lever "train.penalties.r1=0" \
        --lever "model.g_width=64" ...
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import yaml
from pipeline_stages import apply_overrides

from mnist_gan.core.config import parse_params
from mnist_gan.core.runtime import configure_cpu, seed_everything
from mnist_gan.data.splits import load_split
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.choices import check_choices
from mnist_gan.training.trainer import GANTrainer

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_STEPS = 20  # tracing and the first calls, left out of the timing


def build_trainer(
    raw: dict, overrides: list[str], images, labels, from_update: int = 0
) -> GANTrainer:
    """A warmed-up trainer of the params with `overrides`, whose two optimizers then
    stand at update `from_update` (>= 0), where the timed steps start."""
    changed = copy.deepcopy(raw)
    apply_overrides(changed, overrides)
    params = parse_params(changed)
    check_choices(params.model, params.train)
    seed_everything(params.train.seed)
    gan = build_gan(params.model, params.train.precision, ema=params.train.ema > 0)
    trainer = GANTrainer(gan, images, labels, params.train)
    trainer.train(WARM_UP_STEPS)
    trainer.g_optimizer.iterations.assign(from_update)
    trainer.d_optimizer.iterations.assign(from_update)
    return trainer


def update_number(text: str) -> int:
    """argparse type of --from-update: an int >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"--from-update must be >= 0, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "prepared")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--steps", type=int, default=1000, help="steps per round")
    parser.add_argument("--repeat", type=int, default=2, help="rounds")
    parser.add_argument(
        "--from-update", type=update_number, default=0, help="time the steps from this update on"
    )
    parser.add_argument(
        "--lever", action="append", default=[], help="section.key=value ... (repeatable)"
    )
    args = parser.parse_args()
    raw = yaml.safe_load(args.params.read_text())
    configure_cpu(parse_params(raw).cpu)
    split = load_split(args.data, "train")
    names = ["params as they are", *args.lever]
    trainers = [
        build_trainer(
            raw, lever.split() if index else [], split.images, split.labels, args.from_update
        )
        for index, lever in enumerate(names)
    ]
    rounds: list[list[float]] = [[] for _ in names]
    for _ in range(args.repeat):
        for trainer, times in zip(trainers, rounds, strict=True):
            start = time.perf_counter()
            trainer.train(args.steps)
            times.append(1000 * (time.perf_counter() - start) / args.steps)

    base = min(rounds[0])
    print(
        f"{args.steps} steps per round, {args.repeat} rounds, alternating, "
        f"from update {args.from_update}; ms per step"
    )
    print("| configuration | best | median | best / first row's best |")
    print("| --- | ---: | ---: | ---: |")
    for name, times in zip(names, rounds, strict=True):
        best, median = min(times), statistics.median(times)
        print(f"| {name} | {best:.1f} | {median:.1f} | {best / base:.2f} |")


if __name__ == "__main__":
    main()
