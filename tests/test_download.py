"""Downloads over real HTTP on 127.0.0.1, from local folders and file:// URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_gan.config import DataConfig, FileEntry
from mnist_gan.download import DownloadError, download_all, fetch
from tests.conftest import QuietHandler


def _config(mirrors: list[str], files: dict, **extra) -> DataConfig:
    return DataConfig.model_validate({"mirrors": mirrors, "files": files, **extra})


def test_all_four_files_arrive_verified_over_http(mirror, serve, tmp_path: Path) -> None:
    folder, files = mirror
    raw = tmp_path / "raw"
    paths = download_all(_config([serve(folder)], files), raw, progress=False)
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
    download_all(_config([serve(corrupt), serve(folder)], files), raw, progress=False)
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
        download_all(config, raw, progress=False)
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
