"""The errors that describe bad input, with a message for the user.

They live in this small module so that a stage turning them into one line
(`cli.user_errors`) imports no code it does not run.
"""

from collections.abc import Mapping
from typing import TypeVar

Entry = TypeVar("Entry")


class ParamsError(ValueError):
    """params.yaml is missing, unreadable or does not match the schema or a registry."""


class DownloadError(RuntimeError):
    """No mirror served a file with the expected checksum."""


class IdxError(ValueError):
    """An IDX file is corrupt, truncated or not what it should be."""


class CheckpointError(ValueError):
    """A training checkpoint is unreadable or damaged (training then starts fresh)."""


# What `cli.user_errors` reports in one line: FloatingPointError is a diverged training.
USER_ERRORS = (ParamsError, DownloadError, IdxError, FloatingPointError)


def registry_entry(registry: Mapping[str, Entry], name: str, key: str, source: str) -> Entry:
    """`registry[name]`, or a ParamsError naming the params key, the name (cut short:
    params can hold anything) and the choices, e.g. "model.arch = 'resnet': unknown;
    choose one of dcgan, mlp (models.ARCHITECTURES)"."""
    if name not in registry:
        raise ParamsError(
            f"{key} = {name[:100]!r}: unknown; choose one of "
            f"{', '.join(sorted(registry))} ({source})"
        )
    return registry[name]
