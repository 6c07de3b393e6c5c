"""Progress bars for long work (tqdm on stderr). ``progress=None`` shows them only on a terminal, so site
builds and CI logs stay clean; True/False force them on/off. Shown or not, every bar also reports to the status file
of :mod:`answers.core.status` when one is set, which is how ``answers build`` tells which model each of its answers
is training and how far it is. Introduced for q08."""
from __future__ import annotations

import time
from typing import Callable, Iterable

from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets

from ..core import status


class _Bar(tqdm):
    """A tqdm bar that also keeps a status line: ``desc done/total unit · note, about … left``."""

    def __init__(self, total: int, desc: str, disable: bool | None, unit: str, estimate: bool):
        self._what, self._total, self._unit, self._done, self._note = desc, total, unit, 0, ""
        self._estimate = estimate
        self._t0 = time.perf_counter()
        super().__init__(total=total, desc=desc, disable=disable, leave=False, unit=unit)
        self._status = status.start(self._line)

    def _line(self) -> str:
        line = f"{self._what} {self._done}/{self._total} {self._unit}" + (f" · {self._note}" if self._note else "")
        if self._estimate and 0 < self._done < self._total:
            left = (time.perf_counter() - self._t0) / self._done * (self._total - self._done)
            line += f", about {left / 60:.1f} min left" if left >= 60 else f", about {left:.0f} s left"
        return line

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        self._done += n or 0
        status.update(self._status)
        return shown

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh)
        self._note = s
        status.update(self._status, now=True)

    def close(self) -> None:
        if hasattr(self, "_status"):
            status.end(self._status)
        super().close()


def bar(total: int, desc: str, progress: bool | None, unit: str = "it", estimate: bool = True) -> tqdm:
    """A bar of ``total`` steps; ``estimate``: its status line says the time left (the steps take alike long)."""
    return _Bar(total, desc, None if progress is None else not progress, unit, estimate)


def run_steps(steps: Iterable[tuple[str, Callable[[], object]]], desc: str, progress: bool | None) -> None:
    """Run named steps in order, one bar tick each, the running step's name shown beside the bar."""
    steps = list(steps)
    with bar(len(steps), desc, progress, unit="step", estimate=False) as b:   # sections differ in cost
        for name, step in steps:
            b.set_postfix_str(name)
            step()
            b.update(1)
