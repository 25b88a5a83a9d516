"""Wall time and peak resident memory of every pipeline stage, on a mirror you choose,
for example the full-size stand-in (60,000 training images):

    .venv/bin/python bench/pipeline_stages.py --mirror ../shared/mnist-fullsize

The project (what git tracks, plus new unignored files) is copied into a temporary git
repo; there `data.mirrors` is pointed at the mirror, the md5s in `data.files` are set
to those of the mirror's files (this measures time and memory, not provenance), and
`-S section.key=value` overrides are applied. Then each stage runs as `dvc repro
<stage>`, in pipeline order, one process tree per stage, and a Markdown table gives
its seconds and peak resident memory: the largest process of the tree, as `wait4`
reports it (what `/usr/bin/time` prints as "Maximum resident set size").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def copy_project(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def configure(repo: Path, mirror: Path, overrides: list[str]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["mirrors"] = [str(mirror)]
    for entry in params["data"]["files"].values():
        entry["md5"] = md5(mirror / entry["name"])
    apply_overrides(params, overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def apply_overrides(params: dict, overrides: list[str]) -> None:
    """Set each `section.key=value` of `overrides` in the params dict, the value read
    as YAML (numbers, booleans, lists), as `dvc exp run -S` reads it."""
    for override in overrides:
        key, _, value = override.partition("=")
        *sections, leaf = key.split(".")
        target = params
        for section in sections:
            target = target[section]
        if leaf not in target:
            raise SystemExit(f"-S {key}: no such key in params.yaml")
        target[leaf] = yaml.safe_load(value)


def run_measured(command: list[str], cwd: Path, log: Path, env: dict) -> tuple[int, float, int]:
    """(exit code, seconds, peak resident KB of the process tree) of one command."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - start, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, required=True, help="Folder in MNIST's layout.")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[],
                        help="A params override, section.key=value (repeatable).")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="Run in this new folder and keep it.")
    args = parser.parse_args()
    mirror = args.mirror.resolve()
    if not mirror.is_dir():
        raise SystemExit(f"--mirror {mirror}: not a folder")

    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: never mix with an older run
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        copy_project(work)
        configure(work, mirror, args.overrides)
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
        }
        env.pop("PYTHONPATH", None)
        for variable in ("GIT_AUTHOR", "GIT_COMMITTER"):
            env.setdefault(f"{variable}_NAME", "bench")
            env.setdefault(f"{variable}_EMAIL", "bench@localhost")
        # A commit, as a user's clone has: DVCLive reads the git state.
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
            subprocess.run(["git", *command], cwd=work, env=env, check=True)
        stages = list(yaml.safe_load((work / "dvc.yaml").read_text())["stages"])
        rows, total = [], 0.0
        for stage in stages:
            log = work / f"bench-{stage}.log"
            command = [sys.executable, "-m", "dvc", "repro", "--single-item", stage]
            code, seconds, peak_kb = run_measured(command, work, log, env)
            if code != 0:
                tail = log.read_text()[-2000:]
                raise SystemExit(f"stage {stage} failed (exit {code}); end of {log}:\n{tail}")
            total += seconds
            rows.append(f"| {stage} | {seconds:.1f} | {peak_kb / 1024:.0f} |")
        print(f"mirror: {mirror}; overrides: {' '.join(args.overrides) or 'none'}")
        print("| stage | seconds | peak resident MB |")
        print("| --- | ---: | ---: |")
        print("\n".join(rows))
        print(f"| **all** | **{total:.1f}** ({total / 60:.1f} min) | |")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
