"""answers build: the answers computed several at once, longest first, each run's outcome collected.

The runs here are stand-ins (a tiny python program per answer) so that the pool itself is what is tested: how many
run at once, in which order they start, what a failing one reports, and that an interrupted build leaves none
running."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from answers.kb import build


def test_longest_first_by_recorded_seconds_untimed_first_then_the_first_build_order():
    recorded = {"q01": 10.0, "q02": 300.0, "q03": 50.0}
    assert build.schedule(["q01", "q02", "q03", "q06", "q04"], recorded) == ["q06", "q04", "q02", "q03", "q01"]
    # nothing recorded: the reference machine's order, new answers (not in it) before the known ones
    assert build.schedule(["q04", "q06", "q11", "q01"], {}) == ["q11", "q06", "q01", "q04"]


def test_recorded_seconds_survive_a_build_and_a_broken_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    assert build.recorded_seconds("site") == {}
    build._record("site", [build.Outcome("q01", 0, 12.34), build.Outcome("q02", 1, 5.0)])
    build._record("tiny", [build.Outcome("q01", 0, 1.0)])
    assert build.recorded_seconds("site") == {"q01": 12.3}   # a failed run's time is not a cost estimate
    assert build.recorded_seconds("tiny") == {"q01": 1.0}
    build.times_file().write_text("not json")
    assert build.recorded_seconds("site") == {}


def _stand_in(script: str):
    """A command running ``script`` with the answer id as its one argument."""
    return lambda qid, profile, seed, fresh: [sys.executable, "-c", script, qid]


# each stand-in notes when it started and ended, sleeps, then prints a result like answers run --json
SLEEPER = """
import json, sys, time, pathlib
qid = sys.argv[1]
log = pathlib.Path({log!r})
with open(log, "a") as f: f.write(f"start {{qid}} {{time.time()}}\\n")
time.sleep({seconds})
with open(log, "a") as f: f.write(f"end {{qid}} {{time.time()}}\\n")
if qid == "q03":
    print("Traceback: something broke in q03", file=sys.stderr); sys.exit(1)
print(json.dumps({{"claims": [{{"id": "c1", "outcome": "holds"}}, {{"id": "c2", "outcome": "inconclusive"}}]}}))
"""


def test_at_most_jobs_run_at_once_and_every_outcome_is_collected(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "log"
    lines: list[str] = []
    outcomes = build.build(["q01", "q02", "q03", "q04", "q05"], "tiny", jobs=2, report=lines.append,
                           command=_stand_in(SLEEPER.format(log=str(log), seconds=0.6)))
    assert [o.qid for o in outcomes] == ["q01", "q02", "q03", "q04", "q05"]
    events = sorted((float(t), kind, q) for kind, q, t in (ln.split() for ln in log.read_text().splitlines()))
    running, most = 0, 0
    for _, kind, _ in events:
        running += 1 if kind == "start" else -1
        most = max(most, running)
    assert most == 2, events
    starts = [ln.split()[2] for ln in lines if ln.endswith("waiting)")]
    assert starts == build.schedule(["q01", "q02", "q03", "q04", "q05"], {}) == ["q05", "q03", "q01", "q04", "q02"]
    ok = {o.qid: o for o in outcomes}
    assert ok["q01"].ok and ok["q01"].claims == {"c1": "holds", "c2": "inconclusive"}
    assert not ok["q03"].ok and "exit 1" in ok["q03"].error and "something broke in q03" in ok["q03"].error
    assert sum("started" in ln for ln in lines) == 5 and lines[-1].endswith("done)")
    assert any("[1/5]" in ln and "about" in ln and "left" in ln for ln in lines)
    # the next build orders by what this one measured (q03 failed: no time recorded for it)
    assert set(build.recorded_seconds("tiny")) == {"q01", "q02", "q04", "q05"}


# a stand-in that works through the lab's progress bars, as an answer's sections and trainings do
WORKER = """
import sys, time
from answers.lab.progress import bar, run_steps
def train():
    with bar(6, "train small_cnn-std", False, unit="batch") as b:
        for _ in range(6):
            time.sleep(0.25)
            b.update(1)
run_steps([("grid", train), ("plots", lambda: None)], sys.argv[1] + " (tiny)", False)
print('{"claims": []}')
"""


def test_a_running_answer_shows_its_section_and_the_model_it_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "cache"))
    lines: list[str] = []
    outcomes = build.build(["q01"], "tiny", jobs=1, report=lines.append, every=0.3,
                           command=_stand_in(WORKER))
    assert outcomes[0].ok, outcomes[0].error
    shown = [ln for ln in lines if "running" in ln]
    assert shown, lines
    # outermost first: the answer's section, then the training in it, with how far it is
    assert any("q01 (tiny) 0/2 step · grid › train small_cnn-std " in ln and "/6 batch" in ln for ln in shown), shown
    assert any("left" in ln for ln in shown if "batch" in ln), shown


def test_an_interrupted_build_stops_the_answers_it_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "cache"))
    log = tmp_path / "log"
    started = []

    def report(line: str) -> None:
        started.append(line)
        if len(started) == 2:   # both are running: interrupt the build as Ctrl-C would
            raise KeyboardInterrupt

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        build.build(["q01", "q02", "q04"], "tiny", jobs=2, report=report,
                    command=_stand_in(SLEEPER.format(log=str(log), seconds=30)))
    assert time.perf_counter() - t0 < 20    # it did not wait for the 30-second answers
    time.sleep(0.5)
    assert "end" not in (log.read_text() if log.exists() else "")


def test_a_build_started_for_a_program_stops_when_that_program_ends(tmp_path):
    """The tests' background build: its parent killed outright (no chance to clean up), the build stops its
    answers and itself."""
    log = tmp_path / "log"
    (tmp_path / "answer.py").write_text(SLEEPER.format(log=str(log), seconds=60))
    (tmp_path / "build.py").write_text(
        "import sys\nfrom answers.kb import build\n"
        f"build.build(['q01', 'q02'], 'tiny', jobs=2, command=lambda q, p, s, f: [sys.executable, "
        f"{str(tmp_path / 'answer.py')!r}, q])\n")
    (tmp_path / "parent.py").write_text(
        "import os, subprocess, sys, time\n"
        f"env = {{**os.environ, 'ANSWERS_BUILD_WATCH_PARENT': '1', 'ANSWERS_CACHE_DIR': {str(tmp_path / 'cache')!r}}}\n"
        f"print(subprocess.Popen([sys.executable, {str(tmp_path / 'build.py')!r}], env=env).pid, flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True)
    build_pid = int(parent.stdout.readline())
    deadline = time.time() + 30
    while time.time() < deadline and (not log.exists() or log.read_text().count("start") < 2):
        time.sleep(0.2)
    assert log.read_text().count("start") == 2
    parent.kill()
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline and _alive(build_pid):
        time.sleep(0.2)
    assert not _alive(build_pid), "the build outlived the program that started it"
    time.sleep(0.5)
    assert "end" not in log.read_text()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
