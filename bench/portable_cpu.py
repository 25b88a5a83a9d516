"""What `cpu.portable` costs: the classifier's training and the default GAN's training
steps, each timed in a fresh process with the setting off and on (kernels capped at
AVX2, `cpu.threads` threads per op), on the prepared training split.

    PYTHONPATH=src .venv/bin/python bench/portable_cpu.py [--data data/prepared]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One measurement in a fresh process: oneDNN, XLA and the thread pool read their
# settings once, so each setting needs its own process.
MEASURE = """
import json, sys, time
from mnist_gan.core.config import ClassifierConfig, CpuConfig, ModelConfig, TrainConfig
from mnist_gan.core.runtime import configure_cpu, seed_everything
configure_cpu(CpuConfig(portable=sys.argv[2] == "on", threads=int(sys.argv[3])))
from mnist_gan.evaluation.classifier import build_classifier, train_classifier
from mnist_gan.data.splits import load_split
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.trainer import GANTrainer

train = load_split(sys.argv[1], "train")
seed_everything(0)
model = build_classifier()
start = time.perf_counter()
train_classifier(model, train, ClassifierConfig(budget_images=2 * len(train.labels)))
classifier_epoch = (time.perf_counter() - start) / 2
seed_everything(0)
trainer = GANTrainer(build_gan(ModelConfig(), ema=True), train.images, train.labels,
                     TrainConfig(), False)
trainer.train(100)  # trace and compile
start = time.perf_counter()
trainer.train(1000)
print(json.dumps({"classifier_epoch_s": classifier_epoch,
                  "gan_ms_per_step": (time.perf_counter() - start)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/prepared")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="Alternating runs per setting.")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    results: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(args.repeats):
        for setting in results:
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, str(args.data), setting, str(args.threads)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[setting].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"cpu.portable cost, {args.repeats} alternating runs each (best), data {args.data}")
    print("| cpu.portable | classifier s/epoch | GAN ms/step (default DCGAN, batch 64) |")
    print("| --- | ---: | ---: |")
    best = {}
    for setting, runs in results.items():
        best[setting] = (min(r["classifier_epoch_s"] for r in runs),
                         min(r["gan_ms_per_step"] for r in runs))  # fmt: skip
        print(f"| {setting} | {best[setting][0]:.2f} | {best[setting][1]:.2f} |")
    ratio = [on / off for on, off in zip(best["on"], best["off"], strict=True)]
    print(f"| on / off | {ratio[0]:.2f}x | {ratio[1]:.2f}x |")


if __name__ == "__main__":
    main()
