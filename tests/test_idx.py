"""IDX parsing from bytes written here: good files, and each way a file can be bad."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from mnist_gan.data.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxError,
    decode_idx,
    load_idx_pair,
    read_idx_gz,
)
from tests.helpers import write_gz_idx


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
