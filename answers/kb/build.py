"""Every answer's result computed before the pages execute, several answers at once (``answers build``).

A site build executes ten pages one after the other, and each page trains its models and runs its experiment in
the build's one process. ``answers build`` runs the answers first, ``jobs`` at a time, each in a process of its
own (``answers run ID --json``), longest first, so the slowest answer does not start last; the pages then read
what they stored (the result cache) and only draw. Every 30 seconds it says what each running answer is doing — the
section, the model it is training and how far — from the status file each process keeps (:mod:`answers.core.status`,
written by the lab's progress bars whether or not they are shown). Models two answers share are trained once: the weight cache's
lock keeps one writer per model and the other answer waits for it and reads it.

Each process keeps the threads one process would use (ANSWERS_THREADS, else every core). More threads than
cores costs some speed, but the numbers stay those of a build in one process: torch splits its sums by the number
of threads, so one thread per process would round differently. Measured once on the 2-core machine, two runs of the
same training at once finished 1.45× sooner than one after the other with two threads each, and 1.7× sooner
with one thread each (``ANSWERS_THREADS=1`` gives that, with other numbers).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core import status
from ..core.files import atomic_write, cache_dir

#: set to 1, a build stops (and stops its answers) when the process that started it ends
WATCH_PARENT = "ANSWERS_BUILD_WATCH_PARENT"

#: the order of a first build, when no earlier build on this machine says how long each answer takes: longest
#: first, as the site profile ran on the 2-core reference machine (a fresh clone's make test, two at a time: q06
#: 26 min, q10 25, q05 17, q09 14, q03 11, q01 10, then q04, q02, q07 and q08 under 10)
FIRST_BUILD_ORDER = ("q06", "q10", "q05", "q09", "q03", "q01", "q04", "q02", "q07", "q08")


@dataclass
class Outcome:
    """One answer's run: its exit code, seconds, claims (id -> outcome) and the last lines it printed on error."""

    qid: str
    code: int
    seconds: float
    claims: dict[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0


def times_file() -> Path:
    return cache_dir() / "build-times.json"


def recorded_seconds(profile: str) -> dict[str, float]:
    """Seconds each answer took at ``profile`` in this machine's latest build (empty before the first)."""
    try:
        return {q: float(s) for q, s in json.loads(times_file().read_text())[profile].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _record(profile: str, outcomes: list[Outcome]) -> None:
    try:
        data = json.loads(times_file().read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data.setdefault(profile, {}).update({o.qid: round(o.seconds, 1) for o in outcomes if o.ok})
    atomic_write(times_file(), json.dumps(data, indent=1, sort_keys=True).encode())


def schedule(qids: list[str], seconds: dict[str, float]) -> list[str]:
    """Longest first (the order that keeps the last answer to finish early, for a few workers): by the
    seconds recorded, answers never timed first of all (their cost unknown), then in :data:`FIRST_BUILD_ORDER`."""
    rank = {q: i for i, q in enumerate(FIRST_BUILD_ORDER)}
    return sorted(qids, key=lambda q: (q in seconds, -seconds.get(q, 0.0), rank.get(q, -1), q))


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


Command = Callable[[str, str, int, bool], list[str]]   # (answer id, profile, seed, fresh) -> argv


def answers_run(qid: str, profile: str, seed: int, fresh: bool) -> list[str]:
    """The command that computes and stores one answer's result: ``answers run ID --json``."""
    return [sys.executable, "-m", "answers", "run", qid, "--profile", profile, "--seed", str(seed), "--json",
            "--no-progress", *(["--fresh"] if fresh else [])]


def build(qids: list[str], profile: str = "site", seed: int = 0, jobs: int | None = None, fresh: bool = False,
          report: Callable[[str], None] = print, command: Command = answers_run,
          every: float = 30.0) -> list[Outcome]:
    """Run ``answers run`` for each of ``qids``, ``jobs`` processes at a time (default: one per core), storing
    every result in the result cache; ``report`` gets a line when an answer starts and when it ends, with the
    time elapsed and an estimate of what is left, and every ``every`` seconds a line per running answer saying
    what it is doing (its section, the model it trains and how far; :mod:`answers.core.status`). Returns one
    :class:`Outcome` per answer, in ``qids``' order. Interrupted, it stops the answers still running."""
    jobs = jobs or default_jobs()
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    qids = list(dict.fromkeys(qids))
    before = recorded_seconds(profile)
    with tempfile.TemporaryDirectory(prefix="answers-build-") as tmp:
        pool = _Pool(Path(tmp), lambda q: command(q, profile, seed, fresh), report, before, every)
        try:
            pool.run(schedule(qids, before), jobs)
        finally:
            pool.stop()
    outcomes = [pool.done[q] for q in qids]
    _record(profile, outcomes)
    return outcomes


@dataclass
class _Pool:
    """The answers' processes: at most ``jobs`` running, each collected as it ends."""

    tmp: Path
    command: Callable[[str], list[str]]
    report: Callable[[str], None]
    before: dict[str, float]
    every: float = 30.0
    running: dict[str, tuple[subprocess.Popen, float]] = field(default_factory=dict)
    done: dict[str, Outcome] = field(default_factory=dict)

    def run(self, queue: list[str], jobs: int) -> None:
        start = time.perf_counter()
        # started for another program (the tests' background build): stop with it, whatever ended it
        parent = os.getppid() if os.environ.get(WATCH_PARENT) == "1" else None
        shown = start
        while queue or self.running:
            if parent is not None and os.getppid() != parent:
                raise SystemExit("answers build: the program that started it has ended; stopping")
            while queue and len(self.running) < jobs:
                self._start(queue.pop(0), len(queue))
            time.sleep(0.2)
            for qid, (proc, t0) in list(self.running.items()):
                if proc.poll() is None:
                    continue
                del self.running[qid]
                self.done[qid] = o = _outcome(qid, proc.returncode, time.perf_counter() - t0,
                                              self.tmp / f"{qid}.json", self.tmp / f"{qid}.err")
                total = len(self.done) + len(self.running) + len(queue)
                self.report(f"answers build: [{len(self.done)}/{total}] {qid} {o.seconds:.0f} s — "
                            f"{o.error or _summary(o)}{self._left(start, queue, jobs)}")
            if self.running and time.perf_counter() - shown >= self.every:
                shown = time.perf_counter()
                self._show(start, queue, jobs)

    def _show(self, start: float, queue: list[str], jobs: int) -> None:
        """A line per running answer: for how long, and what it does now (its status file), outermost first."""
        total = len(self.done) + len(self.running) + len(queue)
        for qid, (_, t0) in self.running.items():
            doing = " › ".join(status.read(self.tmp / f"{qid}.status")) or "starting"
            self.report(f"answers build: [{len(self.done)}/{total}] {qid} running "
                        f"{(time.perf_counter() - t0) / 60:.1f} min — {doing}{self._left(start, queue, jobs)}")

    def _start(self, qid: str, waiting: int) -> None:
        with open(self.tmp / f"{qid}.json", "wb") as out, open(self.tmp / f"{qid}.err", "wb") as err:
            env = {**os.environ, status.ENV: str(self.tmp / f"{qid}.status")}
            self.running[qid] = (subprocess.Popen(self.command(qid), stdout=out, stderr=err, env=env),
                                 time.perf_counter())
        self.report(f"answers build: {qid} started ({len(self.running)} running, {waiting} waiting)")

    def stop(self) -> None:
        for proc, _ in self.running.values():
            proc.terminate()
        for proc, _ in self.running.values():
            proc.wait()

    def _left(self, start: float, queue: list[str], jobs: int) -> str:
        """"elapsed …, about … left": from this machine's recorded times where it has them, else the mean so far."""
        elapsed = time.perf_counter() - start
        if not self.running and not queue:
            return f" (elapsed {elapsed / 60:.1f} min, done)"
        if not self.done and any(q not in self.before for q in [*queue, *self.running]):
            return f" (elapsed {elapsed / 60:.1f} min)"      # nothing yet to estimate an unknown answer by
        mean = sum(o.seconds for o in self.done.values()) / len(self.done) if self.done else 0.0
        now = time.perf_counter()
        work = sum(self.before.get(q, mean) for q in queue)
        work += sum(max(0.0, self.before.get(q, mean) - (now - t0)) for q, (_, t0) in self.running.items())
        return f" (elapsed {elapsed / 60:.1f} min, about {work / jobs / 60:.0f} min left)"


def _outcome(qid: str, code: int, seconds: float, out: Path, err: Path) -> Outcome:
    try:
        claims = {c["id"]: c["outcome"] for c in json.loads(out.read_text(encoding="utf-8"))["claims"]}
    except (OSError, ValueError, KeyError, TypeError):
        claims = {}
    error = ""
    if code != 0:
        lines = err.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        error = f"exit {code}: " + (" | ".join(lines[-3:]) if lines else "no output")
    return Outcome(qid, code, seconds, claims, error)


def _summary(o: Outcome) -> str:
    counts = {k: sum(v == k for v in o.claims.values()) for k in ("holds", "fails", "inconclusive")}
    return f"{len(o.claims)} claims ({', '.join(f'{n} {k}' for k, n in counts.items() if n)})"
