"""Stage `normalize`: parse the IDX files, scale to [-1, 1], split, write data/prepared/."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import ParamsPath, command, new_app
from mnist_gan.core.config import load_params
from mnist_gan.core.files import claim_folder, keep_only
from mnist_gan.data.idx import load_idx_pair
from mnist_gan.data.splits import (
    Split,
    check_disjoint,
    save_split,
    split_holdout,
    to_unit_range,
)

app = new_app(__doc__)
SPLITS = ("train", "holdout", "test")


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    raw: Annotated[Path, typer.Option(help="Folder of the downloaded files.")] = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="Folder for the .npy arrays.")] = Path("data/prepared"),
) -> None:
    """Write train/holdout/test splits: images float32 [N, 28, 28, 1] in [-1, 1] and
    labels uint8 [N]. The holdout is the last normalize.holdout training images."""
    params = load_params(params_file)
    names = [f"{split}_{kind}.npy" for split in SPLITS for kind in ("images", "labels")]
    claim_folder(out, names, "--out")
    files = params.data.files
    train_pixels, train_labels = load_idx_pair(
        raw / files.train_images.name, raw / files.train_labels.name
    )
    test_pixels, test_labels = load_idx_pair(
        raw / files.test_images.name, raw / files.test_labels.name
    )
    check_disjoint(train_pixels, test_pixels, str(raw))
    train, holdout = split_holdout(train_pixels, train_labels, params.normalize.holdout)
    splits = {
        "train": train,
        "holdout": holdout,
        "test": Split(to_unit_range(test_pixels), test_labels),
    }
    for name, split in splits.items():
        save_split(out, name, split)
        typer.echo(f"{name}: {len(split.labels)} images")
    keep_only(out, names)


if __name__ == "__main__":
    app()
