"""Fetch files from an ordered list of mirrors, verify their md5, and only then keep them.

A mirror is an http(s):// URL, a file:// URL or a local folder. For each file, the
mirrors are tried in order: network errors are retried with exponential backoff (at
most `max_backoff_seconds` between tries), a checksum mismatch, a file over the size
ceiling, a transfer past its deadline or below the speed limit, a local entry that is
not a regular file, or a definite "no" (HTTP 4xx, missing file) moves on to the next
mirror, said in one line. A mirror that is no valid URL or folder is skipped, said in
one line too. Nothing waits without bound: a local entry is checked to be a regular
file before it is opened (a FIFO without a writer would block `open()`), and opened
without blocking. The file streams into a temporary file beside its
destination and is renamed into place only once its md5 matches, so the destination
folder never holds a partial or unverified file; temporary files that a killed run
left behind are removed at the start of the next.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from mnist_gan.core.config import DataConfig, FileEntry
from mnist_gan.core.errors import DownloadError, quote
from mnist_gan.core.files import atomic_path

CHUNK_BYTES = 1 << 20


class _ChecksumMismatchError(Exception):
    pass


class _OverLimitError(Exception):
    """The file is larger than the ceiling, or its transfer outlived its deadline."""


class _RetryableError(Exception):
    """A transient failure (connection, timeout, HTTP 5xx/429) worth another try."""


class _NotAFileError(Exception):
    """A local entry that is a FIFO, a device, a folder or a socket."""


Report = Callable[[str], None]


@dataclass(frozen=True)
class Attempt:
    """What one mirror answered for one file, for the final error message."""

    location: str
    outcome: str


def is_url(mirror: str) -> bool:
    return mirror.lower().startswith(("http://", "https://", "file://"))


# Where DVC runs a queued or --temp experiment: a copy of the repo in this folder of
# the workspace it was queued from.
EXPERIMENT_COPIES = (".dvc", "tmp", "exps")


def project_root(folder: Path) -> Path:
    """The workspace a stage running in `folder` belongs to: `folder` itself, or, for a
    copy under `<workspace>/.dvc/tmp/exps/`, that workspace."""
    parts = Path(folder).absolute().parts
    for index in range(len(parts) - len(EXPERIMENT_COPIES), 0, -1):
        if parts[index : index + len(EXPERIMENT_COPIES)] == EXPERIMENT_COPIES:
            return Path(*parts[:index])
    return Path(folder).absolute()


def mirror_problem(mirror: str) -> str | None:
    """Why `mirror` can be no mirror (a malformed URL, a URL without a host, a port
    out of 0..65535, a `~user` folder of no known user), or None if it can be one."""
    if not is_url(mirror):
        try:
            Path(mirror).expanduser()
        except RuntimeError:
            user = mirror.replace("\\", "/").split("/", 1)[0]
            return f"cannot expand {quote(user)}: no such user (write the folder's full path)"
        return None
    try:
        parts = urllib.parse.urlsplit(mirror)
        parts.port  # noqa: B018 (parsing the port is what raises on a bad one)
    except ValueError as error:
        return f"invalid URL ({error})"
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            return f"a file:// URL of host {quote(parts.netloc)}: write file:///<path>"
        return None
    if not parts.hostname:
        return "no host in the URL"
    return None


def resolve_mirror(mirror: str, root: Path) -> str:
    """A URL as it is; a local folder with `~` expanded and, when relative, taken
    relative to `root` (the project root), so that `../shared/mnist` means the same
    folder in the workspace and in an experiment's copy of it. A mirror with a
    `mirror_problem` is returned as it is."""
    if is_url(mirror) or mirror_problem(mirror):
        return mirror
    return str(Path(root) / Path(mirror).expanduser())


def locate(mirror: str, name: str) -> str:
    """The address of file `name` on `mirror` (a URL, or a local path)."""
    if is_url(mirror):
        return mirror.rstrip("/") + "/" + name
    return str(Path(mirror).expanduser() / name)


def _local_path(location: str) -> str | None:
    """The path a local location or file:// URL names; None for http(s)."""
    if not is_url(location):
        return location
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() == "file":
        return urllib.request.url2pathname(parts.path)
    return None


def _not_regular(mode: int) -> str | None:
    """What a file of `st_mode` is, when it is not a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a file"


@contextmanager
def _open_local(path: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open a regular file; raise _NotAFileError for anything else, without blocking:
    opening a FIFO that has no writer would wait forever, a device never ends."""
    kind = _not_regular(Path(path).stat().st_mode)
    if kind:
        raise _NotAFileError(f"not a regular file ({kind})")
    # O_NONBLOCK in case the entry became a FIFO since the stat: open() then returns
    # at once, and fstat below refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        info = os.fstat(handle.fileno())
        kind = _not_regular(info.st_mode)
        if kind:
            raise _NotAFileError(f"not a regular file ({kind})")
        yield handle, info.st_size


@contextmanager
def _open(location: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open a URL or local path for reading; yield (stream, size in bytes or None)."""
    path = _local_path(location)
    if path is not None:
        with _open_local(path) as opened:
            yield opened
        return
    try:
        response = urllib.request.urlopen(location, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code == 429:
            raise _RetryableError(f"HTTP {error.code} {error.reason}") from None
        raise
    except urllib.error.URLError as error:
        if isinstance(error.reason, FileNotFoundError):
            raise error.reason from None
        raise _RetryableError(f"cannot connect: {error.reason}") from None
    with response:
        length = response.headers.get("Content-Length")
        yield response, int(length) if length and length.isdigit() else None


@dataclass(frozen=True)
class Limits:
    """The bounds of one try: a network read waits at most `timeout_seconds`; the try
    lasts at most `deadline_seconds` and reads at most `max_bytes`; a transfer that
    averages under `min_bytes_per_second` over any `speed_window_seconds` is given up
    on (curl's --speed-limit and --speed-time; 0 turns that off)."""

    timeout_seconds: float = 30.0
    deadline_seconds: float = 600.0
    max_bytes: int = 64 << 20
    min_bytes_per_second: int = 1024
    speed_window_seconds: float = 30.0


class _Speedometer:
    """Gives up on a transfer slower than `limits` allow, window by window."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.start = time.monotonic()
        self.received = 0

    def add(self, count: int) -> None:
        self.received += count
        elapsed = time.monotonic() - self.start
        if elapsed < self.limits.speed_window_seconds:
            return
        if self.received < self.limits.min_bytes_per_second * elapsed:
            raise _OverLimitError(
                f"below {self.limits.min_bytes_per_second:,} bytes/s over "
                f"{self.limits.speed_window_seconds:g} s ({self.received:,} bytes in "
                f"{elapsed:.1f} s; data.min_bytes_per_second)"
            )
        self.start, self.received = time.monotonic(), 0


def _copy_verified(
    location: str,
    entry: FileEntry,
    destination: Path,
    limits: Limits,
    progress: bool | None,
) -> None:
    """Stream one file to `destination` if its md5 matches; raise otherwise. Reads
    return as soon as any bytes arrive (`read1`), so a mirror that trickles data still
    meets the deadline and the speed check between reads, and no more than
    `max_bytes` + one chunk is ever read. The deadline counts from before opening."""
    max_bytes, deadline_seconds = limits.max_bytes, limits.deadline_seconds
    digest = hashlib.md5()
    deadline = time.monotonic() + deadline_seconds
    timeout = min(limits.timeout_seconds, deadline_seconds)
    received = 0
    with atomic_path(destination) as tmp:
        try:
            with _open(location, timeout) as (stream, size), tmp.open("wb") as out:
                if time.monotonic() > deadline:
                    raise _OverLimitError(
                        f"took over {deadline_seconds:g} s to open (data.file_deadline_seconds)"
                    )
                if size is not None and size > max_bytes:
                    raise _OverLimitError(f"{size:,} bytes announced, over {_limit(max_bytes)}")
                bar = tqdm(
                    total=size,
                    unit="B",
                    unit_scale=True,
                    desc=entry.name,
                    disable=None if progress is None else not progress,
                )
                speed = _Speedometer(limits)
                with bar:
                    while chunk := stream.read1(CHUNK_BYTES):
                        received += len(chunk)
                        if received > max_bytes:
                            raise _OverLimitError(f"more than {_limit(max_bytes)} sent")
                        if time.monotonic() > deadline:
                            raise _OverLimitError(
                                f"still sending after {deadline_seconds:g} s "
                                f"({received:,} bytes; data.file_deadline_seconds)"
                            )
                        if limits.min_bytes_per_second:
                            speed.add(len(chunk))
                        digest.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise _RetryableError(f"transfer failed: {error!r}") from None
        if digest.hexdigest() != entry.md5:
            raise _ChecksumMismatchError(
                f"md5 mismatch: got {digest.hexdigest()}, expected {entry.md5}"
            )


def _limit(max_bytes: int) -> str:
    return f"{max_bytes / (1 << 20):g} MB (data.max_file_megabytes)"


def remove_stale_temporaries(folder: Path, names: list[str]) -> list[Path]:
    """Delete the temporary files (`files.atomic_path`'s `.tmp-*-<name>`) that a killed
    download of one of `names` left in `folder`; returns what was removed."""
    stale = [
        path for name in names for path in Path(folder).glob(f".tmp-*-{name}") if path.is_file()
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def fetch(
    entry: FileEntry,
    mirrors: list[str],
    folder: Path,
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    max_backoff_seconds: float = 30.0,
    timeout_seconds: float = 30.0,
    deadline_seconds: float = 600.0,
    max_bytes: int = 64 << 20,
    min_bytes_per_second: int = 1024,
    speed_window_seconds: float = 30.0,
    progress: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: Report | None = None,
) -> Path:
    """Download `entry` into `folder` from the first mirror that serves it intact.

    Each try reads at most `max_bytes` and lasts at most `deadline_seconds` (plus one
    `timeout_seconds` read), and is given up on when it averages under
    `min_bytes_per_second` over `speed_window_seconds` (see `Limits`); waits between
    tries double from `backoff_seconds` up to `max_backoff_seconds`. `report` gets one
    line for each mirror given up on before the last. Returns the path of the verified
    file. Raises DownloadError listing what every mirror answered if none did.
    """
    limits = Limits(
        timeout_seconds, deadline_seconds, max_bytes, min_bytes_per_second, speed_window_seconds
    )
    folder = Path(folder)
    destination = folder / entry.name
    # The schema already forbids folders in names; this guards any other caller.
    if destination.resolve().parent != folder.resolve():
        raise DownloadError(f"file name {entry.name!r} would escape {folder}")
    attempts: list[Attempt] = []
    for number, mirror in enumerate(mirrors, 1):
        problem = mirror_problem(mirror)
        if problem:
            attempts.append(Attempt(quote(mirror), problem))
            continue
        location = locate(mirror, entry.name)
        for attempt in range(retries + 1):
            try:
                _copy_verified(location, entry, destination, limits, progress)
                return destination
            except _RetryableError as error:
                outcome = str(error)
                if attempt < retries:
                    sleep(_backoff(backoff_seconds, attempt, max_backoff_seconds))
                    continue
                outcome += f" (after {retries + 1} tries)"
            except (_ChecksumMismatchError, _OverLimitError, _NotAFileError) as error:
                outcome = str(error)
            except urllib.error.HTTPError as error:
                outcome = f"HTTP {error.code} {error.reason}"
            except FileNotFoundError:
                outcome = "no such file"
            except OSError as error:
                outcome = f"cannot read: {error.strerror or error}"
            attempts.append(Attempt(location, outcome))
            if report and number < len(mirrors):
                report(f"{location}: {outcome}; trying the next mirror")
            break
    lines = [f"could not get {entry.name} with md5 {entry.md5} from any mirror:"]
    lines += [f"  {a.location}: {a.outcome}" for a in attempts]
    lines.append(
        "Check data.mirrors and data.files in params.yaml (a local mirror needs its md5s)."
    )
    raise DownloadError("\n".join(lines))


def _backoff(first: float, attempt: int, ceiling: float) -> float:
    """first * 2**attempt, at most `ceiling` (and no float overflow for any attempt)."""
    return min(ceiling, first * 2 ** min(attempt, 64)) if first else 0.0


def usable_mirrors(mirrors: list[str], report: Report | None = None) -> list[str]:
    """`mirrors` without those with a `mirror_problem`, each said in one line to
    `report`; raises DownloadError when none is left."""
    usable, problems = [], []
    for mirror in mirrors:
        problem = mirror_problem(mirror)
        if problem is None:
            usable.append(mirror)
            continue
        problems.append(f"{quote(mirror)}: {problem}")
        if report:
            report(f"skipping mirror {quote(mirror)}: {problem}")
    if not usable:
        raise DownloadError(
            f"no usable mirror in data.mirrors ({'; '.join(problems)}): give http(s):// "
            "URLs with a host, file:// URLs or existing folders in params.yaml"
        )
    return usable


def download_all(
    config: DataConfig,
    folder: Path,
    root: Path,
    progress: bool | None = None,
    report: Report | None = None,
) -> list[Path]:
    """Fetch the four MNIST files of `config` into `folder`; returns their paths. A
    relative local mirror is taken relative to `root` (`project_root`). `report` gets
    one line for each mirror skipped or given up on (see `fetch`)."""
    folder = Path(folder)
    mirrors = [resolve_mirror(m, root) for m in usable_mirrors(config.mirrors, report)]
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder, [entry.name for entry in config.files.entries()])
    return [
        fetch(
            entry,
            mirrors,
            folder,
            retries=config.retries,
            backoff_seconds=config.backoff_seconds,
            max_backoff_seconds=config.max_backoff_seconds,
            timeout_seconds=config.timeout_seconds,
            deadline_seconds=config.file_deadline_seconds,
            max_bytes=config.max_file_megabytes << 20,
            min_bytes_per_second=config.min_bytes_per_second,
            speed_window_seconds=config.speed_window_seconds,
            progress=progress,
            report=report,
        )
        for entry in config.files.entries()
    ]
