"""The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), gzip-compressed.

Header: two zero bytes, a type byte (0x08 = unsigned byte), a byte giving the number
of dimensions, then each dimension as a big-endian uint32; the payload follows.

A header is checked against MAX_ITEMS and MAX_PAYLOAD_BYTES before anything is
allocated, and a gzip file is decompressed chunk by chunk, never past the payload
its header announces plus one byte, so a small file that inflates to gigabytes is
refused after reading what a genuine file would hold.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mnist_gan.core.errors import IdxError
from mnist_gan.data.splits import IMAGE_SHAPE, NUM_CLASSES

UBYTE = 0x08
IMAGES_MAGIC = 0x00000803  # ubyte, 3 dims: [N, rows, cols]
LABELS_MAGIC = 0x00000801  # ubyte, 1 dim: [N]
# MNIST holds 60,000 training and 10,000 test items: no file this project reads holds
# more than both, and no item is larger than one 28x28 image.
MAX_ITEMS = 70_000
MAX_PAYLOAD_BYTES = MAX_ITEMS * IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
CHUNK_BYTES = 1 << 20


def encode_idx(array: np.ndarray) -> bytes:
    """Serialize a uint8 array to uncompressed IDX bytes (the inverse of `decode_idx`)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX encoding supports uint8 only, got {array.dtype}")
    header = struct.pack(">HBB", 0, UBYTE, array.ndim)
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return header + dims + np.ascontiguousarray(array).tobytes()


def parse_header(data: bytes, expected_magic: int, source: str) -> tuple[int, tuple[int, ...]]:
    """(header size in bytes, shape) from the start of IDX bytes, which must hold the
    whole header. Raises IdxError on a wrong magic number, a truncated header, or a
    shape over MAX_ITEMS items or MAX_PAYLOAD_BYTES bytes."""
    if len(data) < 4:
        raise IdxError(f"{source}: {len(data)} bytes is too short for an IDX header")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise IdxError(
            f"{source}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            "(is this the right file, and is it an MNIST IDX file?)"
        )
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxError(f"{source}: truncated header ({len(data)} of {header_size} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    if shape and shape[0] > MAX_ITEMS:
        raise IdxError(
            f"{source}: header claims {shape[0]:,} items, more than the {MAX_ITEMS:,} an "
            "MNIST file holds; is this the right file?"
        )
    if int(np.prod(shape, dtype=object)) > MAX_PAYLOAD_BYTES:
        raise IdxError(
            f"{source}: header claims {'x'.join(map(str, shape))} bytes, more than the "
            f"{MAX_PAYLOAD_BYTES:,} bytes this project reads; is this the right file?"
        )
    return header_size, shape


def decode_idx(data: bytes, expected_magic: int, source: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes whose magic number must be `expected_magic`.

    Returns a uint8 array with the header's shape. Raises IdxError on a wrong magic
    number, a shape over the bounds (`parse_header`) or a payload that is shorter or
    longer than the header says.
    """
    header_size, shape = parse_header(data, expected_magic, source)
    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(data) - header_size
    if payload != expected:
        problem = "truncated" if payload < expected else "has trailing bytes"
        raise IdxError(
            f"{source}: payload {problem}: header says {'x'.join(map(str, shape))} = "
            f"{expected} bytes, file holds {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """At most `size` bytes, fewer only at the end of the stream."""
    parts, left = [], size
    while left:
        part = stream.read(min(left, CHUNK_BYTES))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_idx_gz(path: Path, expected_magic: int) -> np.ndarray:
    """Read a gzip-compressed IDX file (see `decode_idx`), decompressing the header
    first and then no more than the payload it announces plus one byte."""
    source = str(path)
    try:
        with gzip.open(path, "rb") as stream:
            start = _read_up_to(stream, 4)
            ndim = start[3] if len(start) == 4 else 0
            header = start + _read_up_to(stream, 4 * ndim)
            _, shape = parse_header(header, expected_magic, source)
            expected = int(np.prod(shape, dtype=np.int64))
            payload = _read_up_to(stream, expected)
            extra = stream.read(1)  # also checks the gzip trailer at the end of the file
    except (OSError, EOFError, zlib.error) as error:
        raise IdxError(f"{path}: not a complete gzip file ({error}); download it again") from None
    if extra:
        raise IdxError(
            f"{source}: decompresses to more than the {expected:,} payload bytes its header "
            f"says ({'x'.join(map(str, shape))}); download it again"
        )
    return decode_idx(header + payload, expected_magic, source)


def load_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse and cross-check one images/labels pair of gzip IDX files.

    Returns pixels uint8 [N, 28, 28] and labels uint8 [N]; raises IdxError otherwise.
    """
    pixels = read_idx_gz(images_path, IMAGES_MAGIC)
    labels = read_idx_gz(labels_path, LABELS_MAGIC)
    if pixels.shape[1:] != IMAGE_SHAPE[:2]:
        raise IdxError(f"{images_path}: images are {pixels.shape[1:]}, expected 28x28")
    if len(pixels) != len(labels):
        raise IdxError(
            f"{images_path} holds {len(pixels)} images but {labels_path} holds "
            f"{len(labels)} labels; they must be a matching pair"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise IdxError(f"{labels_path}: label {labels.max()} is not a digit 0..9")
    return pixels, labels
