"""The errors that describe bad input, with a message for the user.

They live in this small module so that a stage turning them into one line
(`cli.user_errors`) imports no code it does not run.
"""


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
