"""Progress bars for long work (tqdm on stderr). ``progress=None`` shows them only on a terminal, so site
builds and CI logs stay clean; True/False force them on/off. Introduced for q08."""
from __future__ import annotations

from typing import Callable, Iterable

from tqdm import tqdm  # the plain bar: tqdm.auto warns inside notebook kernels without ipywidgets


def bar(total: int, desc: str, progress: bool | None, unit: str = "it") -> tqdm:
    return tqdm(total=total, desc=desc, disable=None if progress is None else not progress, leave=False,
                unit=unit)


def run_steps(steps: Iterable[tuple[str, Callable[[], object]]], desc: str, progress: bool | None) -> None:
    """Run named steps in order, one bar tick each, the running step's name shown beside the bar."""
    steps = list(steps)
    with bar(len(steps), desc, progress, unit="step") as b:
        for name, step in steps:
            b.set_postfix_str(name)
            step()
            b.update(1)
