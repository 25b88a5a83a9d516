"""The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), gzip-compressed.

Header: two zero bytes, a type byte (0x08 = unsigned byte), a byte giving the number
of dimensions, then each dimension as a big-endian uint32; the payload follows.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mnist_gan.core.errors import IdxError
from mnist_gan.data.splits import IMAGE_SHAPE, NUM_CLASSES

UBYTE = 0x08
IMAGES_MAGIC = 0x00000803  # ubyte, 3 dims: [N, rows, cols]
LABELS_MAGIC = 0x00000801  # ubyte, 1 dim: [N]


def encode_idx(array: np.ndarray) -> bytes:
    """Serialize a uint8 array to uncompressed IDX bytes (the inverse of `decode_idx`)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX encoding supports uint8 only, got {array.dtype}")
    header = struct.pack(">HBB", 0, UBYTE, array.ndim)
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return header + dims + np.ascontiguousarray(array).tobytes()


def decode_idx(data: bytes, expected_magic: int, source: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes whose magic number must be `expected_magic`.

    Returns a uint8 array with the header's shape. Raises IdxError on a wrong magic
    number or a payload that is shorter or longer than the header says.
    """
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
    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(data) - header_size
    if payload != expected:
        problem = "truncated" if payload < expected else "has trailing bytes"
        raise IdxError(
            f"{source}: payload {problem}: header says {'x'.join(map(str, shape))} = "
            f"{expected} bytes, file holds {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def read_idx_gz(path: Path, expected_magic: int) -> np.ndarray:
    """Read a gzip-compressed IDX file (see `decode_idx`)."""
    try:
        data = gzip.decompress(Path(path).read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise IdxError(f"{path}: not a complete gzip file ({error}); download it again") from None
    return decode_idx(data, expected_magic, str(path))


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
