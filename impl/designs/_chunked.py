"""The chunked FIFO of AlternateOne and AlternateThree.

The Go designs keep their lanes in a linked list of fixed 128-slot arrays
with a read index into the oldest chunk and a write index into the newest,
recycling emptied chunks through a pool: memory is claimed in chunk-sized
steps instead of per task, and a burst never forces one giant reallocation.
We keep the same shape (fixed-size Python lists, explicit indexes, a pool) so
that the costs being compared are those of that structure.

The queue has no lock: its owner guards it (AlternateOne with its one lock
for all lanes, AlternateThree with the loop's ingress lock). ``check`` is the
O(1) invariant test AlternateOne runs before and after every push and pop.
"""

from __future__ import annotations

from collections import deque
from typing import Any

#: emptied chunks kept for reuse; beyond this a burst's chunks are left to the GC
POOL_MAX = 16


class ChunkInvariantError(AssertionError):
    """The queue's indexes or length counter disagree: a bug, never a user error."""


class ChunkedQueue:
    """FIFO of ``chunk_size``-slot chunks. Not thread-safe: the owner's lock guards it.

    ``None`` is not a valid item: ``pop`` returns it to mean "empty", which
    avoids paying for an exception on the consumer's common path.
    """

    __slots__ = ("chunk_size", "_chunks", "_head", "_tail", "_read", "_write", "_length",
                 "_pool", "_blank")

    def __init__(self, chunk_size: int = 128) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        first: list[Any] = [None] * chunk_size
        self._chunks: deque[list[Any]] = deque((first,))
        self._head = first  # chunk read from; always self._chunks[0]
        self._tail = first  # chunk written to; always self._chunks[-1]
        self._read = 0  # next slot to read in _head
        self._write = 0  # next slot to write in _tail
        self._length = 0
        self._pool: list[list[Any]] = []
        self._blank: list[Any] = [None] * chunk_size  # source for clearing slots at C speed

    def __len__(self) -> int:
        return self._length

    def push(self, item: Any) -> None:
        w = self._write
        if w == self.chunk_size:
            self._add_chunk()
            w = 0
        self._tail[w] = item
        self._write = w + 1
        self._length += 1

    def pop(self) -> Any:
        """Remove and return the oldest item, or ``None`` if the queue is empty."""
        if not self._length:
            return None
        r = self._read
        if r == self.chunk_size:
            self._retire_head()
            r = 0
        head = self._head
        item = head[r]
        head[r] = None  # the queue must not keep a finished task (and what it holds) alive
        self._length -= 1
        if self._length:
            self._read = r + 1
        else:  # empty: rewind so the one remaining chunk is reused from slot 0
            self._read = self._write = 0
        return item

    def pop_many(self, limit: int) -> list[Any]:
        """Remove and return up to ``limit`` oldest items (``limit <= 0``: all), oldest first."""
        n = self._length
        if 0 < limit < n:
            n = limit
        out: list[Any] = []
        if not n:
            return out
        size = self.chunk_size
        blank = self._blank
        remaining = n
        while remaining:
            r = self._read
            if r == size:
                self._retire_head()
                r = 0
            head = self._head
            end = self._write if head is self._tail else size
            k = end - r
            if k > remaining:
                k = remaining
            stop = r + k
            out += head[r:stop]
            head[r:stop] = blank[:k]
            self._read = stop
            remaining -= k
        self._length -= n
        if not self._length:
            self._read = self._write = 0
        return out

    def _add_chunk(self) -> None:
        pool = self._pool
        chunk = pool.pop() if pool else [None] * self.chunk_size
        self._chunks.append(chunk)
        self._tail = chunk
        self._write = 0

    def _retire_head(self) -> None:
        """The head chunk is fully read: recycle it (its slots were cleared on pop)."""
        chunks = self._chunks
        old = chunks.popleft()
        if len(self._pool) < POOL_MAX:
            self._pool.append(old)
        self._head = chunks[0]
        self._read = 0

    def check(self) -> None:
        """Raise ChunkInvariantError unless indexes, chunk list and length counter agree.

        One short-circuit expression: AlternateOne runs this six times per task.
        """
        size = self.chunk_size
        chunks = self._chunks
        r = self._read
        w = self._write
        if not (
            0 <= r <= size >= w >= 0
            and self._length >= 0
            and (len(chunks) - 1) * size - r + w == self._length
            and chunks[-1] is self._tail
            and chunks[0] is self._head
        ):
            raise ChunkInvariantError(
                f"chunked queue corrupt: chunks={len(chunks)} read={r} write={w} "
                f"length={self._length} chunk_size={size}"
            )

