"""A graph that cannot go stale: every stage of dvc.yaml depends on every project file
whose code it runs (its script and all it imports from the project, transitively), and
its command runs under any shell DVC uses."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from mnist_gan.core.sources import code_digest, project_sources
from tests.helpers import REPO_ROOT


def missing_code_deps(pipeline: dict, root: Path) -> list[str]:
    """'stage: file' for every project file a stage's script runs but does not list,
    and 'stage: file (not run)' for a listed .py file it never runs."""
    problems = []
    for name, stage in pipeline["stages"].items():
        script = root / shlex.split(stage["cmd"])[1]
        runs = {p.relative_to(root).as_posix() for p in project_sources(script, root / "src")}
        listed = {dep for dep in stage.get("deps", []) if dep.endswith(".py")}
        problems += [f"{name}: {path}" for path in sorted(runs - listed)]
        problems += [f"{name}: {path} (not run)" for path in sorted(listed - runs)]
    return problems


def _pipeline() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())


def test_every_stage_depends_on_every_project_file_it_runs() -> None:
    assert missing_code_deps(_pipeline(), REPO_ROOT) == []


def test_a_stage_missing_a_module_it_imports_is_named_with_the_file() -> None:
    pipeline = _pipeline()
    # to_pixels lives in splits.py
    pipeline["stages"]["sample"]["deps"].remove("src/mnist_gan/data/splits.py")
    pipeline["stages"]["download"]["deps"].append("src/mnist_gan/evaluation/metrics.py")
    assert missing_code_deps(pipeline, REPO_ROOT) == [
        "download: src/mnist_gan/evaluation/metrics.py (not run)",
        "sample: src/mnist_gan/data/splits.py",
    ]


def test_only_the_normalize_stage_runs_the_idx_parser() -> None:
    """The layout keeps concerns apart: an edit to the IDX parser reruns normalize (and,
    through its output, what follows only if the arrays change), never train directly."""
    runs_idx = [
        name
        for name, stage in _pipeline()["stages"].items()
        if "src/mnist_gan/data/idx.py" in stage["deps"]
    ]
    assert runs_idx == ["normalize"]


def test_package_init_files_are_empty() -> None:
    """Every stage runs each package's __init__.py on its way to a module: code there
    would make every stage depend on it."""
    inits = sorted((REPO_ROOT / "src" / "mnist_gan").rglob("__init__.py"))
    assert len(inits) >= 8
    assert {path.relative_to(REPO_ROOT).as_posix(): path.read_text() for path in inits} == {
        path.relative_to(REPO_ROOT).as_posix(): "" for path in inits
    }


def test_commands_need_no_posix_shell_syntax() -> None:
    for name, stage in _pipeline()["stages"].items():
        words = shlex.split(stage["cmd"])
        assert words[0] == "python" and len(words) == 2, f"{name}: {stage['cmd']}"
        assert (REPO_ROOT / words[1]).is_file(), name


def test_imports_are_found_at_any_depth_and_through_packages(tmp_path: Path) -> None:
    """Lazy imports inside functions, `from package import module`, chains of modules
    and packages' __init__.py count; the standard library and installed packages do not."""
    (tmp_path / "stages").mkdir()
    package = tmp_path / "src" / "lib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import json\nfrom lib import b\n")
    (package / "b.py").write_text("def f():\n    from lib.c import g\n    return g\n")
    (package / "c.py").write_text("import numpy\ng = 1\n")
    (package / "unused.py").write_text("")
    (tmp_path / "stages" / "helper.py").write_text("")
    script = tmp_path / "stages" / "run.py"
    script.write_text("import helper\nimport yaml\nfrom lib.a import *\n")
    found = [p.relative_to(tmp_path).as_posix() for p in project_sources(script, tmp_path / "src")]
    assert found == [
        "src/lib/__init__.py",
        "src/lib/a.py",
        "src/lib/b.py",
        "src/lib/c.py",
        "stages/helper.py",
        "stages/run.py",
    ]
    digest = code_digest(project_sources(script, tmp_path / "src"), tmp_path)
    (package / "unused.py").write_text("x = 1\n")
    assert code_digest(project_sources(script, tmp_path / "src"), tmp_path) == digest
    (package / "c.py").write_text("import numpy\ng = 2\n")
    assert code_digest(project_sources(script, tmp_path / "src"), tmp_path) != digest
