"""Downloads over real HTTP on 127.0.0.1, from local folders and file:// URLs."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mnist_gan.core.config import DataConfig, FileEntry
from mnist_gan.data.download import (
    DownloadError,
    download_all,
    fetch,
    project_root,
    resolve_mirror,
)
from tests.conftest import QuietHandler
from tests.helpers import REPO_ROOT, run_stage


def _config(mirrors: list[str], files: dict, **extra) -> DataConfig:
    return DataConfig.model_validate({"mirrors": mirrors, "files": files, **extra})


def test_all_four_files_arrive_verified_over_http(mirror, serve, tmp_path: Path) -> None:
    folder, files = mirror
    raw = tmp_path / "raw"
    paths = download_all(_config([serve(folder)], files), raw, tmp_path, progress=False)
    assert sorted(p.name for p in raw.iterdir()) == sorted(e["name"] for e in files.values())
    for path in paths:
        assert path.read_bytes() == (folder / path.name).read_bytes()


def test_a_corrupt_first_mirror_falls_back_to_a_good_second(mirror, serve, tmp_path) -> None:
    folder, files = mirror
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for entry in files.values():
        data = bytearray((folder / entry["name"]).read_bytes())
        data[-1] ^= 0xFF
        (corrupt / entry["name"]).write_bytes(bytes(data))
    raw = tmp_path / "raw"
    download_all(_config([serve(corrupt), serve(folder)], files), raw, tmp_path, progress=False)
    for entry in files.values():
        assert (raw / entry["name"]).read_bytes() == (folder / entry["name"]).read_bytes()


def test_all_bad_mirrors_give_one_error_listing_each_and_leave_no_file(
    mirror, serve, tmp_path: Path
) -> None:
    folder, files = mirror
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong_md5 = {**files, "train_images": {**files["train_images"], "md5": "0" * 32}}
    unused_port = "http://127.0.0.1:9/"  # discard port: nothing listens there
    raw = tmp_path / "raw"
    config = _config(
        [serve(folder), serve(empty), unused_port, str(empty)],
        wrong_md5,
        retries=1,
        backoff_seconds=0.01,
    )
    with pytest.raises(DownloadError) as info:
        download_all(config, raw, tmp_path, progress=False)
    message = str(info.value)
    assert "could not get train-images-idx3-ubyte.gz" in message
    assert "md5 mismatch: got " in message
    assert "HTTP 404" in message
    assert "cannot connect" in message and "(after 2 tries)" in message
    assert "no such file" in message
    assert list(raw.iterdir()) == []


def test_transient_server_errors_are_retried(mirror, serve, tmp_path: Path) -> None:
    folder, files = mirror
    failures = {"left": 2}

    class FlakyHandler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            if failures["left"] > 0:
                failures["left"] -= 1
                self.send_error(503, "busy")
                return
            super().do_GET()

    entry = FileEntry.model_validate(files["test_labels"])
    delays: list[float] = []
    path = fetch(
        entry,
        [serve(folder, FlakyHandler)],
        tmp_path,
        retries=3,
        backoff_seconds=0.5,
        progress=False,
        sleep=delays.append,
    )
    assert path.read_bytes() == (folder / entry.name).read_bytes()
    assert delays == [0.5, 1.0]  # exponential backoff


def test_local_folder_and_file_url_mirrors_work(mirror, tmp_path: Path) -> None:
    folder, files = mirror
    entry = FileEntry.model_validate(files["test_images"])
    fetch(entry, [str(folder)], tmp_path / "a", progress=False)
    fetch(entry, [folder.as_uri()], tmp_path / "b", progress=False)
    assert (tmp_path / "a" / entry.name).read_bytes() == (tmp_path / "b" / entry.name).read_bytes()


def test_a_file_name_that_escapes_the_folder_is_refused(tmp_path: Path) -> None:
    entry = FileEntry.model_construct(name="../evil.gz", md5="0" * 32)  # bypasses the schema
    with pytest.raises(DownloadError, match="would escape"):
        fetch(entry, [str(tmp_path)], tmp_path / "raw", progress=False)
    assert not (tmp_path / "evil.gz").exists()


class _EndlessHandler(QuietHandler):
    """200 for any path, then a body that never ends (as fast as the client reads)."""

    sent = 0

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.send_response(200)
        self.end_headers()
        block = b"\0" * 65536
        try:
            while True:
                self.wfile.write(block)
                type(self).sent += len(block)
        except OSError:  # the client gave up: what this test wants
            pass


class _DripHandler(QuietHandler):
    """200 for any path, then one byte every 50 ms for a minute."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "3000")
        self.end_headers()
        try:
            for _ in range(1200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass


def test_an_endless_body_is_cut_at_the_size_ceiling_and_the_next_mirror_serves(
    mirror, serve, tmp_path: Path
) -> None:
    folder, files = mirror
    entry = FileEntry.model_validate(files["train_images"])
    start = time.monotonic()
    path = fetch(
        entry,
        [serve(tmp_path, _EndlessHandler), serve(folder)],
        tmp_path / "raw",
        max_bytes=1 << 20,
        progress=False,
    )
    assert time.monotonic() - start < 20
    assert path.read_bytes() == (folder / entry.name).read_bytes()
    assert _EndlessHandler.sent < 64 << 20  # the client stopped reading early
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [entry.name]


def test_a_mirror_that_trickles_is_given_up_at_the_deadline(mirror, serve, tmp_path) -> None:
    _, files = mirror
    entry = FileEntry.model_validate(files["test_labels"])
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(
            entry,
            [serve(tmp_path, _DripHandler)],
            tmp_path / "raw",
            timeout_seconds=5,
            deadline_seconds=1.0,
            progress=False,
        )
    assert time.monotonic() - start < 10  # one byte every 50 ms never times out a read
    assert "still sending after 1 s" in str(info.value)
    assert list((tmp_path / "raw").iterdir()) == []


def test_an_announced_size_over_the_ceiling_is_refused_before_reading(
    mirror, serve, tmp_path: Path
) -> None:
    folder, files = mirror
    entry = FileEntry.model_validate(files["train_images"])
    size = (folder / entry.name).stat().st_size
    with pytest.raises(DownloadError, match=f"{size:,} bytes announced, over"):
        fetch(entry, [serve(folder)], tmp_path / "raw", max_bytes=size - 1, progress=False)


def test_retry_waits_double_up_to_the_maximum(serve, tmp_path: Path) -> None:
    class BusyHandler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_error(503, "busy")

    delays: list[float] = []
    entry = FileEntry.model_validate({"name": "f.gz", "md5": "0" * 32})
    with pytest.raises(DownloadError, match="after 7 tries"):
        fetch(
            entry,
            [serve(tmp_path, BusyHandler)],
            tmp_path / "raw",
            retries=6,
            backoff_seconds=0.5,
            max_backoff_seconds=3.0,
            progress=False,
            sleep=delays.append,
        )
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_temporary_files_of_a_killed_download_are_removed_on_the_next_run(
    mirror, serve, tmp_path: Path
) -> None:
    folder, files = mirror
    raw = tmp_path / "raw"
    raw.mkdir()
    leftover = raw / f".tmp-k1ll3d-{files['train_images']['name']}"
    leftover.write_bytes(b"half a file")
    unrelated = raw / "notes.txt"
    unrelated.write_text("mine")
    download_all(_config([serve(folder)], files), raw, tmp_path, progress=False)
    assert not leftover.exists() and unrelated.exists()
    assert not list(raw.glob(".tmp-*"))


def test_a_relative_local_mirror_is_relative_to_the_project_root(mirror, tmp_path) -> None:
    """`../mirror` names the same folder from the workspace and from an experiment's
    copy of it under .dvc/tmp/exps/, whatever the current folder is."""
    folder, files = mirror  # tmp_path / "mirror"
    workspace = tmp_path / "project"
    copy = workspace / ".dvc" / "tmp" / "exps" / "tmpabc123"
    copy.mkdir(parents=True)
    assert project_root(workspace) == workspace
    assert project_root(copy) == workspace
    assert project_root(copy / "stages") == workspace
    assert resolve_mirror("../mirror", project_root(copy)) == str(workspace / "../mirror")
    assert resolve_mirror("https://example.org/mnist/", copy) == "https://example.org/mnist/"
    assert resolve_mirror(str(folder), copy) == str(folder)  # absolute: as it is
    paths = download_all(_config(["../mirror"], files), copy / "raw", project_root(copy))
    assert [path.name for path in paths] == [entry["name"] for entry in files.values()]


def _run_download_stage(tmp_path: Path, mirrors: list[str], files: dict, **data) -> tuple:
    """The download stage as a real process with these data params; returns (process,
    its stderr lines that are not progress output)."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["data"].update({"mirrors": mirrors, "files": files, **data})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    try:
        process = run_stage(
            "download", "--params", str(params), "--out", str(tmp_path / "raw"), timeout=90
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the download stage was still waiting after 90 s")
    return process, process.stderr.splitlines()


def _odd_mirror(folder: Path, files: dict) -> None:
    """`folder` with each of the four names something other than a regular file."""
    folder.mkdir()
    names = [entry["name"] for entry in files.values()]
    os.mkfifo(folder / names[0])  # no writer: a blocking open() never returns
    (folder / names[1]).symlink_to("/dev/zero")
    (folder / names[2]).mkdir()
    os.mkfifo(folder / names[3])


def test_local_entries_that_are_not_regular_files_are_skipped_without_waiting(
    mirror, tmp_path: Path
) -> None:
    """A FIFO, a device and a folder in a local mirror, as a folder and as a file://
    URL: each is one line, and the next mirror serves every file."""
    folder, files = mirror
    odd = tmp_path / "odd"
    _odd_mirror(odd, files)
    process, lines = _run_download_stage(tmp_path, [str(odd), odd.as_uri(), str(folder)], files)
    assert process.returncode == 0, process.stderr[-2000:]
    for entry in files.values():
        assert (tmp_path / "raw" / entry["name"]).read_bytes() == (
            folder / entry["name"]
        ).read_bytes()
    skipped = [line for line in lines if "not a regular file" in line]
    assert len(skipped) == 8, process.stderr  # 4 files x 2 spellings of the odd mirror
    assert sum("(a FIFO)" in line for line in skipped) == 4
    assert sum("(a device)" in line for line in skipped) == 2
    assert sum("(a folder)" in line for line in skipped) == 2
    assert all(line.endswith("trying the next mirror") for line in skipped)
    assert "Traceback" not in process.stderr


def test_a_fifo_file_url_is_skipped_by_fetch(mirror, tmp_path: Path) -> None:
    folder, files = mirror
    odd = tmp_path / "odd"
    _odd_mirror(odd, files)
    entry = FileEntry.model_validate(files["train_images"])  # the FIFO
    reported: list[str] = []
    path = fetch(
        entry, [odd.as_uri(), str(folder)], tmp_path / "raw", progress=False, report=reported.append
    )
    assert path.read_bytes() == (folder / entry.name).read_bytes()
    assert len(reported) == 1 and "not a regular file (a FIFO)" in reported[0]


@pytest.mark.slow
def test_a_mirror_below_the_speed_limit_is_given_up_and_the_next_serves(
    mirror, serve, tmp_path: Path
) -> None:
    """20 bytes/s against a 1 KB/s limit averaged over 1 s: given up on after about a
    second, well before the deadline, and the next mirror serves the file."""
    folder, files = mirror
    process, lines = _run_download_stage(
        tmp_path,
        [serve(tmp_path, _DripHandler), serve(folder)],
        files,
        min_bytes_per_second=1024,
        speed_window_seconds=1.0,
        file_deadline_seconds=600.0,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    slow = [line for line in lines if "below 1,024 bytes/s" in line]
    assert len(slow) == 4, process.stderr
    assert "data.min_bytes_per_second" in slow[0] and "trying the next mirror" in slow[0]
    for entry in files.values():
        assert (tmp_path / "raw" / entry["name"]).read_bytes() == (
            folder / entry["name"]
        ).read_bytes()


def test_the_speed_limit_applies_to_fetch(mirror, serve, tmp_path: Path) -> None:
    _, files = mirror
    entry = FileEntry.model_validate(files["test_labels"])
    with pytest.raises(DownloadError, match=r"below 1,024 bytes/s over 0.5 s"):
        fetch(
            entry,
            [serve(tmp_path, _DripHandler)],
            tmp_path / "raw",
            min_bytes_per_second=1024,
            speed_window_seconds=0.5,
            progress=False,
        )
    assert list((tmp_path / "raw").iterdir()) == []


def test_malformed_mirrors_are_skipped_in_one_line_each(mirror, tmp_path: Path) -> None:
    folder, files = mirror
    bad = ["http://[::1", "https://", "http://127.0.0.1:99999/", "~no-such-user-x7q/mnist"]
    process, lines = _run_download_stage(tmp_path, [*bad, str(folder)], files)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    skipped = [line for line in lines if line.startswith("skipping mirror")]
    assert len(skipped) == len(bad), process.stderr
    for mirror_text, line in zip(bad, skipped, strict=True):
        assert repr(mirror_text) in line
    assert "invalid URL" in skipped[0]
    assert "no host" in skipped[1]
    assert "Port out of range" in skipped[2]
    assert "no such user" in skipped[3]
    assert len(list((tmp_path / "raw").iterdir())) == 4


def test_only_malformed_mirrors_is_one_error(mirror, tmp_path: Path) -> None:
    _, files = mirror
    process, lines = _run_download_stage(tmp_path, ["http://[::1", "https://"], files)
    assert process.returncode == 2, process.stderr[-2000:]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "no usable mirror" in errors[0] and "data.mirrors" in errors[0]
    assert "Traceback" not in process.stderr
