"""Turn log sources into text lines with bounded memory.

A log can be a ``pathlib.Path``, an open file (binary or text), the whole content as ``str`` or
``bytes`` (a plain ``str`` is content, never a file name), an iterable of lines, or an iterable of arbitrary chunks (``lines_from_chunks``). Files are read in large
blocks and split with ``bytes.split``, which is much faster than line-by-line iteration; memory is
bounded by the block size plus the longest line kept (``MAX_LINE_BYTES``; longer lines are cut).
Bytes are decoded as UTF-8 with replacement, so no input can raise a decode error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from typing import IO, Union

__all__ = ["BLOCK_SIZE", "MAX_LINE_BYTES", "LogSource", "iter_line_blocks", "iter_lines", "lines_from_chunks"]

BLOCK_SIZE = 1 << 20
MAX_LINE_BYTES = 1 << 22

LogSource = Union[str, bytes, "os.PathLike[str]", IO[bytes], IO[str], Iterable[str], Iterable[bytes]]


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _cut(line: bytes | str, limit: int) -> bytes | str:
    return line[:limit] if len(line) > limit else line


def _blocks_from_binary(read, block_size: int, max_line: int) -> Iterator[list[str]]:
    """Yield lists of lines from a binary ``read`` callable."""
    tail = b""
    tail_truncated = False
    while True:
        block = read(block_size)
        if not block:
            break
        if not isinstance(block, bytes | bytearray):
            raise TypeError("binary reader returned text")
        cut = block.rfind(b"\n")
        if cut < 0:
            # No line end in this block: the line continues; keep at most max_line bytes of it.
            if not tail_truncated:
                tail += block
                if len(tail) > max_line:
                    tail = tail[:max_line]
                    tail_truncated = True
            continue
        head = block[:cut]
        rest = block[cut + 1 :]
        if tail:
            first_nl = head.find(b"\n")
            if first_nl < 0:
                first, head = head, b""
                had_more = False
            else:
                first, head = head[:first_nl], head[first_nl + 1 :]
                had_more = True
            if not tail_truncated:
                tail = _cut(tail + first, max_line)  # type: ignore[assignment]
            lines = [_decode(tail)]
            if had_more:
                lines.extend(_decode(head).split("\n"))
        else:
            lines = _decode(head).split("\n")
        if max_line < block_size:
            lines = [_cut(x, max_line) for x in lines]  # type: ignore[misc]
        yield lines
        tail = bytes(rest[:max_line])
        tail_truncated = len(rest) > max_line
    if tail:
        yield [_decode(tail)]


def _blocks_from_text(read, block_size: int, max_line: int) -> Iterator[list[str]]:
    tail = ""
    tail_truncated = False
    while True:
        block = read(block_size)
        if not block:
            break
        cut = block.rfind("\n")
        if cut < 0:
            if not tail_truncated:
                tail += block
                if len(tail) > max_line:
                    tail = tail[:max_line]
                    tail_truncated = True
            continue
        lines = block[:cut].split("\n")
        if tail and not tail_truncated:
            lines[0] = _cut(tail + lines[0], max_line)  # type: ignore[assignment]
        elif tail:
            lines[0] = tail
        yield lines
        rest = block[cut + 1 :]
        tail = rest[:max_line]
        tail_truncated = len(rest) > max_line
    if tail:
        yield [tail]


def lines_from_chunks(
    chunks: Iterable[bytes | str], *, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[str]:
    """Re-split an iterable of arbitrary chunks (e.g. a streamed HTTP body) into lines."""
    it = iter(chunks)

    def read(_n: int) -> bytes:
        for chunk in it:
            if chunk:
                return chunk.encode("utf-8", "replace") if isinstance(chunk, str) else bytes(chunk)
        return b""

    for block in _blocks_from_binary(read, BLOCK_SIZE, max_line_bytes):
        yield from block


def iter_line_blocks(
    source: LogSource, *, block_size: int = BLOCK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[list[str]]:
    """Yield lists of lines (no line terminators) from ``source``; see the module docstring.

    Parsers loop over each list themselves, which saves a generator hop per line.
    """
    if isinstance(source, os.PathLike):
        with open(source, "rb", buffering=0) as fh:
            yield from _blocks_from_binary(fh.read, block_size, max_line_bytes)
        return
    if isinstance(source, bytes | bytearray | memoryview):
        yield from _blocks_from_binary(io.BytesIO(bytes(source)).read, block_size, max_line_bytes)
        return
    if isinstance(source, str):
        # Whole log content, as the Kubernetes API returns it; not a file name (use a Path).
        yield from _blocks_from_text(io.StringIO(source).read, block_size, max_line_bytes)
        return
    read = getattr(source, "read", None)
    if callable(read):
        probe = read(0)
        if isinstance(probe, bytes | bytearray):
            yield from _blocks_from_binary(read, block_size, max_line_bytes)
        else:
            yield from _blocks_from_text(read, block_size, max_line_bytes)
        return
    # An iterable of lines: batch them so callers keep the block loop.
    batch: list[str] = []
    for item in source:  # type: ignore[union-attr]
        if isinstance(item, bytes | bytearray):
            item = _decode(bytes(item))
        elif not isinstance(item, str):
            continue
        if len(item) > max_line_bytes:
            item = item[:max_line_bytes]
        batch.append(item)
        if len(batch) >= 4096:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_lines(source: LogSource, **kwargs: int) -> Iterator[str]:
    """Yield the lines of ``source`` one by one (terminators removed)."""
    for block in iter_line_blocks(source, **kwargs):
        yield from block
