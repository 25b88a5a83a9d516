"""`dvc plots show` and `dvc plots diff` pages draw their charts without a network: the
repo's `.dvc/config` names `.dvc/vega/offline.html`, which inlines Vega, Vega-Lite and
vega-embed. Real dvc in a temporary git repo, real headless Chromium with every host
name unresolvable."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO_ROOT
from tests.test_pipeline_dvc import Repo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (`apt-get install chromium`; .ci/run installs it)",
)

# The project's own loss plot, over two tiny DVCLive-style files.
LOSSES = next(
    p for p in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"] if "Losses" in p
)


def write_losses(root: Path, scale: float) -> None:
    folder = root / "dvclive/train/plots/metrics"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("d_loss", "g_loss"):
        rows = "".join(f"{step}\t{scale / (step + 1)}\n" for step in range(4))
        (folder / f"{name}.tsv").write_text(f"step\t{name}\n{rows}")


@pytest.fixture
def project(tmp_path: Path) -> Repo:
    """Two commits, tagged `first` and `second`, of the losses with the repo's `.dvc/`
    settings (config and vega/)."""
    repo = Repo(tmp_path / "project")
    repo.root.mkdir()
    repo.run("git", "init", "-q")
    repo.dvc("init", "-q")
    shutil.copy(REPO_ROOT / ".dvc/config", repo.root / ".dvc/config")
    shutil.copytree(REPO_ROOT / ".dvc/vega", repo.root / ".dvc/vega")
    (repo.root / "dvc.yaml").write_text(yaml.safe_dump({"plots": [LOSSES]}))
    write_losses(repo.root, 1.0)
    repo.commit("first")
    repo.run("git", "tag", "first")
    write_losses(repo.root, 3.0)
    repo.commit("second")
    repo.run("git", "tag", "second")
    return repo


def rendered_text(page: Path, profile: Path) -> set[str]:
    """The text of every chart (SVG) headless Chromium draws from `page` in 10 s of
    virtual time, with every host name unresolvable: legend entries, titles, ticks."""
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    charts = re.findall(r"<svg.*?</svg>", dom, flags=re.DOTALL)
    return {text for svg in charts for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}


def assert_offline(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:""", html)
    assert "<script src" not in html


def test_plots_show_and_diff_draw_their_charts_offline(project: Repo, tmp_path: Path) -> None:
    """show draws the workspace's curves, diff one curve per revision, named in the legend."""
    project.dvc("plots", "show", "-q")
    project.dvc("plots", "diff", "first", "second", "-q", "-o", "diff_plots")
    show = project.root / "dvc_plots/index.html"
    diff = project.root / "diff_plots/index.html"
    for page in (show, diff):
        assert_offline(page)

    shown = rendered_text(show, tmp_path / "profile-show")
    assert {"Losses", "step", "workspace"} <= shown
    compared = rendered_text(diff, tmp_path / "profile-diff")
    assert {"Losses", "step", "first", "second"} <= compared


def test_without_the_template_dvcs_cdn_page_draws_nothing_offline(
    project: Repo, tmp_path: Path
) -> None:
    """The reason for the setting: DVC's own page loads Vega from a CDN."""
    project.dvc("config", "--unset", "plots.html_template")
    project.dvc("plots", "show", "-q")
    page = project.root / "dvc_plots/index.html"
    assert "cdn.jsdelivr.net" in page.read_text()
    assert rendered_text(page, tmp_path / "profile") == set()
