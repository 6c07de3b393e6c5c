"""What a long computation is doing now, for the process that started it (``answers build`` shows it for each answer
it runs). When ``ANSWERS_STATUS_FILE`` names a file, every piece of work in progress (a progress bar of
:mod:`answers.lab.progress`: the page's sections, a model's training, a patch's optimisation) keeps one line in it,
outermost first; the file is rewritten whole (atomically) when a piece starts or ends, and at most once a second in
between. Without the variable nothing is written."""
from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Callable

from .files import atomic_write
from .ranks import follower

#: the environment variable naming the status file
ENV = "ANSWERS_STATUS_FILE"
#: the least seconds between two writes of the same work's progress
EVERY = 1.0

_lines: dict[int, Callable[[], str]] = {}   # each piece of work's line, formatted only when written
_ids = itertools.count()
_written = 0.0


def start(line: Callable[[], str]) -> int:
    """A piece of work begins: ``line()`` says where it is (called only when the file is written, so progress
    on a hot path costs nothing without a status file); it is shown after the lines of the work it is part of.
    Returns its handle."""
    handle = next(_ids)
    _lines[handle] = line
    _write(force=True)
    return handle


def update(handle: int, now: bool = False) -> None:
    """The work of ``handle`` moved on: written at most once every :data:`EVERY` seconds, or ``now`` (a step to
    the next named part, which a later write might not come soon enough to show)."""
    if handle in _lines:
        _write(force=now)


def end(handle: int) -> None:
    """The work of ``handle`` is over: its line goes (again harmless)."""
    if _lines.pop(handle, None) is not None:
        _write(force=True)


def _write(force: bool) -> None:
    global _written
    path = os.environ.get(ENV)
    if not path or follower():
        return
    now = time.monotonic()
    if not force and now - _written < EVERY:
        return
    _written = now
    try:
        atomic_write(Path(path), "\n".join(line() for line in _lines.values()).encode())
    except OSError:
        pass   # a watcher's convenience: never a reason for the computation to fail


def read(path: Path) -> list[str]:
    """The lines of a status file (none when it is missing or empty)."""
    try:
        return [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return []
