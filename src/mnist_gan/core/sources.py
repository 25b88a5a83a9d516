"""Which project files a script runs, found by reading its imports.

DVC does not follow imports, so a stage must list every project file whose code it
runs as a dependency (tests/test_dependencies.py checks dvc.yaml against this), and a
training checkpoint may be resumed only by the same code (`code_digest`).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def _candidates(module: str, search: list[Path]) -> list[Path]:
    """Project files that importing the dotted `module` runs: each package's
    `__init__.py` on the way down, and the module itself."""
    parts = module.split(".")
    for folder in search:
        found = []
        for depth in range(1, len(parts) + 1):
            base = folder.joinpath(*parts[:depth])
            if (base / "__init__.py").is_file():
                found.append(base / "__init__.py")
            elif depth == len(parts) and base.with_suffix(".py").is_file():
                found.append(base.with_suffix(".py"))
            else:
                break
        if found:
            return found
    return []


def _imported_modules(path: Path) -> set[str]:
    """Dotted names of every module `path` imports, at any depth of its code; for
    `from package import name`, also `package.name` (which may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_sources(script: Path, src: Path) -> list[Path]:
    """The script and every project module it imports, transitively, sorted.

    A module counts as the project's when it is a file under `src` (the library) or
    beside the script (e.g. stages/_bootstrap.py); anything else is a library installed
    in the environment, whose version the caller records separately.
    """
    script = Path(script).resolve()
    search = [script.parent, Path(src).resolve()]
    found: set[Path] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        for module in _imported_modules(path):
            pending.extend(_candidates(module, search))
    return sorted(found)


def code_digest(files: list[Path], root: Path) -> str:
    """sha256 over the files' paths (relative to `root`) and bytes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(Path(path).resolve().relative_to(Path(root).resolve()).as_posix().encode())
        digest.update(b"\0")
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
