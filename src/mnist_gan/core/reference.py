"""The params reference, generated from the schema (core.config): a markdown table for
docs/configuration.md and the trailing comments of params.yaml.

    python -m mnist_gan.core.reference          # rewrite both from the schema
    python -m mnist_gan.core.reference --check  # exit 1 if either is out of date

No stage runs this module (the docs are not a stage's output), so editing it reruns
nothing. The registries it lists choices from are imported only here, when run.
"""

from __future__ import annotations

import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mnist_gan.core.config import Params

BEGIN, END = "<!-- params-reference:begin -->", "<!-- params-reference:end -->"
# The keys of params.yaml that name registry entries, and where each registry lives.
REGISTRY_KEYS = {
    "model.arch": ("mnist_gan.networks.architectures", "ARCHITECTURES"),
    "train.loss": ("mnist_gan.training.losses", "LOSSES"),
    "train.updates": ("mnist_gan.training.updates", "UPDATES"),
    "train.lr_schedule": ("mnist_gan.training.schedules", "SCHEDULES"),
    "train.penalties": ("mnist_gan.training.penalties", "PENALTIES"),
    "train.augment": ("mnist_gan.training.augment", "AUGMENTATIONS"),
}
# params.yaml comments are left off the keys under these (four files' name and md5).
UNCOMMENTED = ("data.files.",)
_BOUNDS = {  # annotated_types' constraint, its attribute, how the table says it
    annotated_types.Ge: ("ge", ">= {}"),
    annotated_types.Gt: ("gt", "> {}"),
    annotated_types.Le: ("le", "<= {}"),
    annotated_types.Lt: ("lt", "< {}"),
    annotated_types.MinLen: ("min_length", "at least {} items"),
    annotated_types.MaxLen: ("max_length", "at most {} items"),
}


@dataclass(frozen=True)
class Entry:
    """One documented key: its dotted name, default (None: required), the values it
    allows, and what it means."""

    key: str
    default: Any
    allowed: str
    meaning: str

    @property
    def summary(self) -> str:
        """The meaning's first sentence, for a params.yaml comment."""
        # A period ends the sentence unless it ends an abbreviation ("et al.", "ch.").
        end = re.search(r"(?<!\bal)(?<!\bch)(?<!e\.g)\.(\s|$)", self.meaning)
        return self.meaning[: end.start()] if end else self.meaning


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _bounds(metadata: list) -> str:
    parts = []
    for item in metadata:
        for kind, (attribute, text) in _BOUNDS.items():
            if isinstance(item, kind):
                parts.append(text.format(f"{getattr(item, attribute):,g}"))
        if getattr(item, "pattern", None) == r"^[0-9a-f]{32}$":
            parts.append("32 hex digits")
    return ", ".join(parts)


def _allowed(key: str, field: FieldInfo) -> str:
    """What a value may be: a registry's or a Literal's names, or the numeric bounds."""
    if key in REGISTRY_KEYS:
        module, name = REGISTRY_KEYS[key]
        registry = getattr(__import__(module, fromlist=[name]), name)
        return " \\| ".join(sorted(registry))
    annotation = field.annotation
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    literals = [arg for arg in args if typing.get_origin(arg) is Literal]
    if origin is Literal:
        return " \\| ".join(str(arg) for arg in args)
    if literals:  # e.g. bool | Literal["auto"]
        named = [a.__name__ for a in args if typing.get_origin(a) is not Literal]
        return " \\| ".join([*named, *(str(v) for lit in literals for v in typing.get_args(lit))])
    bounds = _bounds(field.metadata)
    if origin is dict:
        value_bounds = _bounds(typing.get_args(args[1])[1:]) if len(args) == 2 else ""
        return f"weights {value_bounds}".strip()
    if isinstance(annotation, type):
        return f"{annotation.__name__} {bounds}".strip()
    return bounds


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return None
    default = field.get_default(call_default_factory=True)
    return default.model_dump() if isinstance(default, BaseModel) else default


def entries(model: type[BaseModel] = Params, prefix: str = "") -> list[Entry]:
    """Every key of the schema, depth first in declaration order (sections and nested
    models included, each before its keys)."""
    found = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        meaning = " ".join((field.description or "").split())
        nested = _nested_model(field.annotation)
        if nested is not None:
            found.append(Entry(key, None, "section", meaning))
            found += entries(nested, f"{key}.")
        else:
            found.append(Entry(key, _default(field), _allowed(key, field), meaning))
    return found


def _cell(value: Any) -> str:
    if value is None:
        return "required"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def markdown_table() -> str:
    """The reference table: one row per key (sections as bold rows)."""
    lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for entry in entries():
        if entry.allowed == "section":
            lines.append(f"| **`{entry.key}`** | | | {entry.meaning} |")
            continue
        lines.append(
            f"| `{entry.key}` | {_cell(entry.default)} | {entry.allowed} | {entry.meaning} |"
        )
    return "\n".join(lines)


def with_reference(markdown: str) -> str:
    """`markdown` with the text between BEGIN and END replaced by the table."""
    start, end = markdown.index(BEGIN) + len(BEGIN), markdown.index(END)
    return f"{markdown[:start]}\n{markdown_table()}\n{markdown[end:]}"


_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")


def _strip_comment(rest: str) -> str:
    """The value part of a `key: value  # comment` line (no '#' in our values but after
    a space)."""
    match = re.search(r"\s+#", rest)
    return (rest[: match.start()] if match else rest).rstrip()


def with_comments(params_yaml: str) -> str:
    """params.yaml with each key's trailing comment set to its schema summary; other
    lines (the header, values, list items) unchanged."""
    summaries = {entry.key: entry.summary for entry in entries()}
    sections = {entry.key for entry in entries() if entry.allowed == "section"}
    path: list[tuple[int, str]] = []
    out = []
    for line in params_yaml.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            out.append(line)
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        key = ".".join(name for _, name in path)
        value = _strip_comment(match["rest"])
        inline = key not in sections or value.strip().startswith("{")  # a flow mapping
        commented = inline and summaries.get(key) and not key.startswith(UNCOMMENTED)
        text = f"{match['indent']}{match['key']}:{value}"
        out.append(f"{text}  # {summaries[key]}" if commented else text)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[3]
    files = {
        root / "docs" / "configuration.md": with_reference,
        root / "params.yaml": with_comments,
    }
    stale = []
    for path, render in files.items():
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path.relative_to(root).as_posix())
            if "--check" not in argv:
                path.write_text(new, encoding="utf-8")
    if stale and "--check" in argv:
        print(f"out of date with the schema: {', '.join(stale)}; run "
              "`python -m mnist_gan.core.reference`")  # fmt: skip
        return 1
    print(f"rewrote {', '.join(stale)}" if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
