"""The errors that describe bad input, with a message for the user.

They live in this small module so that a stage turning them into one line
(`cli.command`) imports no code it does not run.
"""

from collections.abc import Mapping
from typing import Any, TypeVar

Entry = TypeVar("Entry")
# A message quotes at most this much of a value from params or the command line: they
# can hold anything, and an error message must stay readable.
QUOTE_CHARS = 200


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or does not match the schema or a registry."""


class DownloadError(RuntimeError):
    """No mirror served a file with the expected checksum."""


class IdxError(ValueError):
    """An IDX file is corrupt, truncated or not what it should be."""


class CheckpointError(ValueError):
    """A training checkpoint is unreadable or damaged (training then starts fresh)."""


class InputFileError(ValueError):
    """A file a stage reads is missing, damaged or not what it should be."""


class UnfitClassifierError(ValueError):
    """The evaluation classifier is too inaccurate for the metrics to mean anything."""


class OutputError(RuntimeError):
    """An output could not be written (the disk is full); nothing half-written is left."""


# What `cli.command` reports in one line: FloatingPointError is a diverged training.
USER_ERRORS = (
    ParamsError,
    DownloadError,
    IdxError,
    InputFileError,
    OutputError,
    UnfitClassifierError,
    FloatingPointError,
)


def quote(value: Any) -> str:
    """repr(value), cut to QUOTE_CHARS characters with the full length said."""
    text = repr(value)
    if len(text) <= QUOTE_CHARS:
        return text
    return f"{text[:QUOTE_CHARS]}... ({len(text):,} characters)"


def short_reason(error: BaseException, limit: int = 200) -> str:
    """'Type: message' of an exception on one line, at most `limit` characters."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:limit]


def restore_hint(output: object, stage: str | None = None) -> str:
    """How to get a stage's output back: "restore it with `dvc checkout models/gan` or
    rerun its stage with `dvc repro -f train`" (`stage` None: any stage)."""
    rerun = f"`dvc repro -f {stage}`" if stage else "`dvc repro -f <its stage>`"
    return f"restore it with `dvc checkout {output}` or rerun its stage with {rerun}"


def unreadable(path: object, error: BaseException, fix: str) -> InputFileError:
    """The one-line error for an input file that could not be read: its path, why,
    and what to do (`fix`, e.g. `restore_hint(folder, stage)`)."""
    return InputFileError(f"{path}: cannot be read ({short_reason(error)}); {fix}")


def registry_entry(registry: Mapping[str, Entry], name: str, key: str, source: str) -> Entry:
    """`registry[name]`, or a ParamsError naming the params key, the name (cut short:
    params can hold anything) and the choices, e.g. "model.arch = 'resnet': unknown;
    choose one of dcgan, mlp (architectures.ARCHITECTURES)"."""
    if name not in registry:
        raise ParamsError(
            f"{key} = {quote(name)}: unknown; choose one of "
            f"{', '.join(sorted(registry))} ({source})"
        )
    return registry[name]
