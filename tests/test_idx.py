"""IDX parsing from bytes written here: good files, and each way a file can be bad."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mnist_gan.data.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MAX_ITEMS,
    IdxError,
    decode_idx,
    load_idx_pair,
    read_idx_gz,
)
from tests.helpers import FILE_KEYS, make_mirror, run_stage, write_gz_idx


def test_header_is_parsed_from_hand_written_bytes() -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", 2, 28, 28)
    payload = bytes(range(256)) * (2 * 28 * 28 // 256) + bytes(2 * 28 * 28 % 256)
    images = decode_idx(header + payload, IMAGES_MAGIC)
    assert images.shape == (2, 28, 28)
    assert images.dtype == np.uint8
    assert images[0, 0, :4].tolist() == [0, 1, 2, 3]


def test_labels_round_trip_through_gzip(tmp_path: Path) -> None:
    labels = np.array([5, 0, 4, 1, 9], np.uint8)
    write_gz_idx(tmp_path / "labels.gz", labels)
    np.testing.assert_array_equal(read_idx_gz(tmp_path / "labels.gz", LABELS_MAGIC), labels)


def test_wrong_magic_is_rejected_with_both_numbers() -> None:
    labels = struct.pack(">I", LABELS_MAGIC) + struct.pack(">I", 1) + b"\x03"
    with pytest.raises(IdxError, match="magic number 0x00000801, expected 0x00000803"):
        decode_idx(labels, IMAGES_MAGIC, "images")


def test_truncated_payload_is_rejected() -> None:
    data = struct.pack(">I", LABELS_MAGIC) + struct.pack(">I", 10) + bytes(7)
    with pytest.raises(IdxError, match=r"truncated.*10 bytes, file holds 7"):
        decode_idx(data, LABELS_MAGIC)


def test_trailing_bytes_are_rejected() -> None:
    data = struct.pack(">I", LABELS_MAGIC) + struct.pack(">I", 2) + bytes(3)
    with pytest.raises(IdxError, match="trailing bytes"):
        decode_idx(data, LABELS_MAGIC)


def test_truncated_header_is_rejected() -> None:
    with pytest.raises(IdxError, match="truncated header"):
        decode_idx(struct.pack(">I", IMAGES_MAGIC) + bytes(5), IMAGES_MAGIC)
    with pytest.raises(IdxError, match="too short"):
        decode_idx(b"\x00\x00", IMAGES_MAGIC)


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(struct.pack(">II", LABELS_MAGIC, 3) + bytes(3))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IdxError, match="not a complete gzip file"):
        read_idx_gz(tmp_path / "cut.gz", LABELS_MAGIC)


def test_images_and_labels_must_agree_in_count(tmp_path: Path) -> None:
    write_gz_idx(tmp_path / "images.gz", np.zeros((3, 28, 28), np.uint8))
    write_gz_idx(tmp_path / "labels.gz", np.zeros(2, np.uint8))
    with pytest.raises(IdxError, match=r"holds 3 images but .* holds 2 labels"):
        load_idx_pair(tmp_path / "images.gz", tmp_path / "labels.gz")


def test_images_must_be_28x28_and_labels_digits(tmp_path: Path) -> None:
    write_gz_idx(tmp_path / "small.gz", np.zeros((2, 14, 14), np.uint8))
    write_gz_idx(tmp_path / "labels.gz", np.array([1, 12], np.uint8))
    write_gz_idx(tmp_path / "images.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(IdxError, match="expected 28x28"):
        load_idx_pair(tmp_path / "small.gz", tmp_path / "labels.gz")
    with pytest.raises(IdxError, match="label 12 is not a digit"):
        load_idx_pair(tmp_path / "images.gz", tmp_path / "labels.gz")


def _gzip_bomb(path: Path, header: bytes, zero_megabytes: int) -> None:
    """`header` then `zero_megabytes` MB of zeros, gzip-compressed (about 1,000x)."""
    block = bytes(1 << 20)
    with gzip.open(path, "wb") as out:
        out.write(header)
        for _ in range(zero_megabytes):
            out.write(block)


def test_a_gzip_bomb_is_refused_once_past_the_header_size(tmp_path: Path) -> None:
    """3 labels then 200 MB of zeros: refused after the 3 bytes and one more, never
    decompressed whole (the error cannot say how long it is, and memory stays small)."""
    bomb = tmp_path / "labels.gz"
    _gzip_bomb(bomb, struct.pack(">II", LABELS_MAGIC, 3) + bytes([1, 2, 3]), 200)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(IdxError) as error:
            read_idx_gz(bomb, LABELS_MAGIC)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(error.value)
    assert "decompresses to more than the 3 payload bytes its header says" in message
    assert "download it again" in message and "\n" not in message
    assert peak < 16 << 20, f"peak {peak:,} bytes"


def test_a_header_claiming_millions_of_items_is_refused_before_allocating(tmp_path) -> None:
    header = struct.pack(">IIII", IMAGES_MAGIC, 5_000_000, 28, 28)
    write = tmp_path / "images.gz"
    write.write_bytes(gzip.compress(header + bytes(28 * 28)))
    with pytest.raises(IdxError, match=f"5,000,000 items, more than the {MAX_ITEMS:,}"):
        read_idx_gz(write, IMAGES_MAGIC)
    huge_rows = struct.pack(">IIII", IMAGES_MAGIC, 2, 60_000, 60_000)
    write.write_bytes(gzip.compress(huge_rows))
    with pytest.raises(IdxError, match=r"more than the .* bytes this project reads"):
        read_idx_gz(write, IMAGES_MAGIC)
    with pytest.raises(IdxError, match="5,000,000 items"):
        decode_idx(header + bytes(28 * 28), IMAGES_MAGIC)


def test_the_normalize_stage_refuses_a_gzip_bomb_in_one_line(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    make_mirror(raw, train=20, test=10)
    header = struct.pack(">II", LABELS_MAGIC, 20) + bytes(20)
    _gzip_bomb(raw / FILE_KEYS["train_labels"], header, 100)
    process = run_stage("normalize", "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert process.returncode == 2, process.stderr[-2000:]
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in process.stderr
    assert FILE_KEYS["train_labels"] in errors[0]
    assert "decompresses to more than the 20 payload bytes" in errors[0]
    assert not (tmp_path / "out").exists()
