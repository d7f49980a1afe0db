"""File-descriptor wake-up shared by the fd-woken designs.

The Go designs block in epoll/kqueue and are woken by a write to an eventfd
(Linux) or a pipe (macOS). We do the same so the cost
of a kernel round trip is really paid (epoll where it exists, ``selectors``
elsewhere), and count every write as a syscall.
"""

from __future__ import annotations

import os
import select
import selectors
import threading


class FdWaker:
    """An eventfd (pipe where eventfd is missing) registered in a selector.

    ``wake`` may be called from any thread; ``wait`` only from the loop thread.
    The caller decides *whether* to wake (the wake-pending flag lives in the
    designs); this class only performs and counts the syscalls.
    """

    def __init__(self) -> None:
        self.uses_eventfd = hasattr(os, "eventfd")
        if self.uses_eventfd:
            self._read_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._write_fd = self._read_fd
        else:  # pragma: no cover - macOS
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
        # epoll directly where it exists: ``selectors`` adds microseconds of
        # Python bookkeeping per wait, which would be charged to the design
        if hasattr(select, "epoll"):
            self._epoll: select.epoll | None = select.epoll(1)
            self._epoll.register(self._read_fd, select.EPOLLIN)
            self._selector = None
        else:  # pragma: no cover - macOS
            self._epoll = None
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._read_fd, selectors.EVENT_READ)
        self.syscalls = 0
        self._closed = False
        # A producer can be paused between deciding to wake and writing; if
        # the loop closes the fd meanwhile, the number may be reused by an
        # unrelated file. Writes and close are serialised so a late wake is a
        # no-op. Wakes are rare (only into a sleeping loop), so the lock is cheap.
        self._fd_lock = threading.Lock()

    def wake(self) -> None:
        """One write to the fd: the syscall the designs try to avoid."""
        with self._fd_lock:
            if self._closed:
                return
            self.syscalls += 1
            try:
                if self.uses_eventfd:
                    os.eventfd_write(self._write_fd, 1)
                else:  # pragma: no cover - macOS
                    os.write(self._write_fd, b"\x01")
            except (BlockingIOError, OSError):
                # counter saturated / pipe full: the fd is already readable
                pass

    def wait(self, timeout: float | None) -> bool:
        """Block until woken or ``timeout`` seconds pass; drain the fd. True if woken."""
        if self._epoll is not None:
            events = self._epoll.poll(-1 if timeout is None else timeout, 1)
        else:  # pragma: no cover - macOS
            events = self._selector.select(timeout)
        if not events:
            return False
        self.drain()
        return True

    def drain(self) -> None:
        """Read until EAGAIN so the next wait blocks again."""
        try:
            if self.uses_eventfd:
                os.eventfd_read(self._read_fd)
            else:  # pragma: no cover - macOS
                while os.read(self._read_fd, 4096):
                    pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        with self._fd_lock:
            if self._closed:
                return
            self._closed = True
        if self._epoll is not None:
            self._epoll.close()
        else:  # pragma: no cover - macOS
            self._selector.close()
        os.close(self._read_fd)
        if self._write_fd != self._read_fd:  # pragma: no cover - macOS
            os.close(self._write_fd)
