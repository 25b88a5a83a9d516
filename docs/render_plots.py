"""Render the output of `dvc plots diff --json -o DIR` to PNG pictures for the README.

Vega-Lite plots are rendered with vl-convert (no browser needed, works offline);
image plots of the compared revisions are put side by side, labelled by revision.
Run through `make docs-pictures REVS="<exp-a> <exp-b>"`, which installs vl-convert
into its own .venv-docs, so the pipeline's lock stays free of it.

    python docs/render_plots.py PLOTS_JSON OUT_DIR
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import vl_convert
from PIL import Image, ImageDraw

VEGA_PLOTS = {
    "Losses": "plots_losses.png",
    "FID over training (lower is better)": "plots_fid.png",
}
IMAGE_PLOTS = {"samples/grid.png": "plots_grids.png"}


def side_by_side(entries: list[dict]) -> Image.Image:
    """One image per revision, left to right, each with its revision name above it."""
    images = [Image.open(entry["url"]).convert("L") for entry in entries]
    label_height, gap = 24, 16
    width = sum(image.width for image in images) + gap * (len(images) - 1)
    canvas = Image.new("L", (width, max(i.height for i in images) + label_height), 255)
    draw = ImageDraw.Draw(canvas)
    left = 0
    for entry, image in zip(entries, images, strict=True):
        draw.text((left + 4, 4), ", ".join(entry["revisions"]), fill=0)
        canvas.paste(image, (left, label_height))
        left += image.width + gap
    return canvas


def main(plots_json: Path, out: Path) -> None:
    data = json.loads(plots_json.read_text())["data"]
    for title, name in VEGA_PLOTS.items():
        spec = data[title][0]["content"]
        (out / name).write_bytes(vl_convert.vegalite_to_png(spec, scale=1.5))
    for key, name in IMAGE_PLOTS.items():
        side_by_side(data[key]).save(out / name)
    print("wrote", ", ".join(sorted({*VEGA_PLOTS.values(), *IMAGE_PLOTS.values()})))


if __name__ == "__main__":
    if len(sys.argv) != 3 or not re.search(r"\.json$", sys.argv[1]):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
