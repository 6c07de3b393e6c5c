"""The weight cache: round trip, key sensitivity, corruption detection, concurrent writers. And the two guards
that keep either cache from lying: bytes changed on disk are refused (never loaded) and rebuilt, and a stored
result is recomputed once any code that computed it changes (checked on a temporary copy of the package)."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import COUNTED_RUNS, counted_run
import torch
from filelock import FileLock

from answers.lab import cache


def _state(v: float = 1.0) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3, 3), v), "b": torch.arange(3.0)}


def test_round_trip_creates_once(tmp_path):
    calls = []
    make = lambda: calls.append(1) or _state(2.0)  # noqa: E731
    a = cache.get_or_create("m", {"lr": 0.1}, "fp", "v1", make, root=tmp_path)
    b = cache.get_or_create("m", {"lr": 0.1}, "fp", "v1", make, root=tmp_path)
    assert len(calls) == 1 and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["what"] for e in cache.entries(tmp_path)] == ["m"]


def test_key_changes_with_every_part():
    base = cache.cache_key("m", {"lr": 0.1}, "fp", "v1")
    assert len({base, cache.cache_key("m2", {"lr": 0.1}, "fp", "v1"), cache.cache_key("m", {"lr": 0.2}, "fp", "v1"),
                cache.cache_key("m", {"lr": 0.1}, "fp2", "v1"), cache.cache_key("m", {"lr": 0.1}, "fp", "v2")}) == 5
    assert base == cache.cache_key("m", {"lr": 0.1}, "fp", "v1")


def test_weights_are_keyed_by_their_data_and_their_code(tmp_path):
    """A stored model is taken only for the data and the code it was trained with: another data fingerprint or
    code version trains anew (an edit to the training code must never hand back the old weights)."""
    calls = []
    make = lambda: calls.append(1) or _state(float(len(calls)))  # noqa: E731
    for fingerprint, version in (("fp", "v1"), ("fp2", "v1"), ("fp", "v2"), ("fp", "v1")):
        cache.get_or_create("m", {"lr": 0.1}, fingerprint, version, make, root=tmp_path)
    assert len(calls) == 3 and len(cache.entries(tmp_path)) == 3


def test_key_takes_settings_json_cannot_write_by_their_text():
    # a dtype or a path in a recipe's settings is keyed by its text, and two different ones by different keys
    a = cache.cache_key("m", {"dtype": torch.float32, "dir": Path("a")}, "fp", "v")
    assert a == cache.cache_key("m", {"dtype": "torch.float32", "dir": "a"}, "fp", "v")
    assert a != cache.cache_key("m", {"dtype": torch.float64, "dir": Path("a")}, "fp", "v")


def test_key_is_canonical():
    a = cache.cache_key("m", {"lr": 0.1, "net": {"w": 8, "d": 2}, "sizes": (1, 2)}, "fp", "v")
    b = cache.cache_key("m", {"sizes": [1, 2], "net": {"d": 2, "w": 8}, "lr": 0.1}, "fp", "v")
    assert a == b and len(a) == 24 and int(a, 16) >= 0
    assert a != cache.cache_key("m", {"lr": 0.1, "net": {"w": 8, "d": 3}, "sizes": (1, 2)}, "fp", "v")


def test_entry_holds_state_and_meta(tmp_path):
    cache.get_or_create("m", {"lr": 0.1, "k": (3, 4)}, "fp", "v1", _state, root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    blob = torch.load(path, weights_only=True, map_location="cpu")
    assert torch.equal(blob["state"]["w"], _state()["w"])
    assert {k: blob["meta"][k] for k in ("what", "config", "data_fingerprint", "code_version")} == {
        "what": "m", "config": {"lr": 0.1, "k": [3, 4]}, "data_fingerprint": "fp", "code_version": "v1"}
    assert path.name.startswith("m-") and (tmp_path / (path.name + ".sha256")).is_file()
    assert blob["meta"]["created"] > 0


def test_settings_json_cannot_write_are_stored_by_their_text(tmp_path):
    cache.get_or_create("m", {"dtype": torch.float32}, "fp", "v1", _state, root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    assert torch.load(path, weights_only=True)["meta"]["config"] == {"dtype": "torch.float32"}


def test_every_use_names_its_file_and_whether_it_trained(tmp_path):
    for trained in (True, False):
        cache.get_or_create("m", {}, "fp", "v1", _state, root=tmp_path)
        (path,) = tmp_path.glob("*.pt")
        assert (cache.USES[-1].file, cache.USES[-1].trained, cache.USES[-1].what) == (path.name, trained, "m")


def test_a_create_is_timed_without_the_creates_nested_in_it(tmp_path, monkeypatch):
    """A fine-tune trains its start first: its own seconds leave out every model it created on the way (two here),
    which are counted where they ran. A fake clock that only the creates advance."""
    clock = [0.0]
    monkeypatch.setattr(cache.time, "perf_counter", lambda: clock[0])

    def work(seconds):
        clock[0] += seconds
        return _state()

    def outer():
        cache.get_or_create("start-a", {}, "fp", "v", lambda: work(10.0), root=tmp_path)
        cache.get_or_create("start-b", {}, "fp", "v", lambda: work(100.0), root=tmp_path)
        return work(1.0)
    cache.get_or_create("tuned", {}, "fp", "v", outer, root=tmp_path)
    assert {u.what: u.seconds for u in cache.USES[-3:]} == {"start-a": 10.0, "start-b": 100.0, "tuned": 1.0}


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar"])
def test_corrupt_entry_is_reported_once_and_rebuilt(tmp_path, damage):
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(1.0), root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        path.with_name(path.name + ".sha256").unlink()
    calls = []
    with pytest.warns(cache.CacheWarning, match="corrupt") as record:
        state = cache.get_or_create("m", {}, "fp", "v", lambda: calls.append(1) or _state(5.0), root=tmp_path)
    assert len(record) == 1 and len(calls) == 1 and torch.equal(state["w"], torch.full((3, 3), 5.0))
    again = cache.get_or_create("m", {}, "fp", "v", lambda: calls.append(1) or _state(9.0), root=tmp_path)
    assert len(calls) == 1 and torch.equal(again["w"], state["w"])


def test_concurrent_writers_train_once(tmp_path):
    counter = tmp_path / "created.txt"
    script = textwrap.dedent(f"""
        import time, torch
        from answers.lab import cache
        def make():
            with open({str(counter)!r}, "a") as f:
                f.write("x\\n")
            time.sleep(1.0)
            return {{"w": torch.arange(6.0)}}
        s = cache.get_or_create("m", {{"a": 1}}, "fp", "v", make, root={str(tmp_path)!r})
        print(s["w"].tolist())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert counter.read_text().count("x") == 1
    assert len(set(outs)) == 1 and outs[0] == str(list(map(float, range(6))))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(cache.entries(tmp_path)) == 1


def test_different_keys_do_not_block_each_other(tmp_path):
    cache.get_or_create("a", {}, "fp", "v", _state, root=tmp_path)
    (held,) = tmp_path.glob("a-*.pt")
    done = []
    with FileLock(str(held) + ".lock"):  # as if another process were still building "a"
        t = threading.Thread(target=lambda: done.append(cache.get_or_create("b", {}, "fp", "v", _state,
                                                                            root=tmp_path)), daemon=True)
        t.start()
        t.join(timeout=30)
    assert done and torch.equal(done[0]["w"], _state()["w"])


def test_entries_and_clear(tmp_path):
    for what in ("a", "b"):
        cache.get_or_create(what, {}, "fp", "v", _state, root=tmp_path)
    listed = cache.entries(tmp_path)
    assert [e["what"] for e in listed] == ["a", "b"] and all(e["size"] > 0 and e["created"] > 0 for e in listed)
    assert sorted(e["path"] for e in listed) == sorted(str(p) for p in tmp_path.glob("*.pt"))
    assert cache.clear(tmp_path) == 2 and cache.entries(tmp_path) == [] and not list(tmp_path.iterdir())


def test_a_root_not_made_yet_is_made_and_no_root_means_the_users_cache(tmp_path, monkeypatch):
    """A cache folder whose parents do not exist yet is made; entries() and clear() without a root read the
    cache ANSWERS_CACHE_DIR names, the one get_or_create writes to without a root."""
    deep = tmp_path / "not" / "yet"
    cache.get_or_create("m", {}, "fp", "v", _state, root=deep)
    assert [e["what"] for e in cache.entries(deep)] == ["m"]
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(deep))
    cache.get_or_create("n", {}, "fp", "v", _state)
    assert [e["what"] for e in cache.entries()] == ["m", "n"]
    assert cache.clear() == 2 and not list(deep.iterdir())


def test_env_var_sets_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


class NotWeights:
    """An object a pickle can carry and ``torch.load(weights_only=True)`` must refuse (arbitrary code could come
    this way)."""


def _entry_with_valid_checksum(path: Path, content) -> None:
    """``content`` (bytes as they are, anything else saved by torch) at ``path`` with its sidecar: only the content,
    not its checksum, can be wrong."""
    from answers.core.files import write_checked
    if not isinstance(content, bytes):
        buf = io.BytesIO()
        torch.save(content, buf)
        content = buf.getvalue()
    write_checked(path, content)


@pytest.mark.parametrize("content, why", [
    (b"not a torch file", r"\(unreadable: \w+Error\)"),
    ({"state": _state(9.0), "meta": {}, "extra": NotWeights()}, r"\(unreadable: \w+Error\)"),
    (torch.ones(3), r"\(not a cache entry\)"),
    ({"weights": _state(9.0)}, r"\(not a cache entry\)"),
])
def test_an_entry_with_a_valid_checksum_but_no_weights_in_it_is_refused_saying_why(tmp_path, content, why):
    """Checked bytes that torch cannot read with weights_only, or that are not {"state": …}: refused with the
    reason in the warning, and retrained."""
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(1.0), root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    _entry_with_valid_checksum(path, content)
    with pytest.warns(cache.CacheWarning, match=why):
        state = cache.get_or_create("m", {}, "fp", "v", lambda: _state(2.0), root=tmp_path)
    assert torch.equal(state["w"], _state(2.0)["w"])


def test_an_entry_whose_meta_is_not_a_mapping_still_gives_its_weights(tmp_path):
    # the meta is a record beside the weights (seconds, config): a malformed one must not cost the weights
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(1.0), root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    _entry_with_valid_checksum(path, {"state": _state(4.0), "meta": [1, 2]})
    state = cache.get_or_create("m", {}, "fp", "v", lambda: _state(2.0), root=tmp_path)
    assert torch.equal(state["w"], _state(4.0)["w"]) and cache.USES[-1].seconds is None


def test_entries_name_what_was_trained_even_with_dashes_in_it(tmp_path):
    cache.get_or_create("scratch-fgsm-e8", {}, "fp", "v", _state, root=tmp_path)
    assert [e["what"] for e in cache.entries(tmp_path)] == ["scratch-fgsm-e8"]


# ---------------------------------------------------------------- bytes changed on disk are never loaded
def _retouched_but_loadable(path) -> bytes:
    """The entry at ``path`` with its weights changed, still a well-formed torch file (so only the checksum, not
    ``torch.load``, can tell): one byte of the first weight's payload, or the whole entry saved anew."""
    data = path.read_bytes()
    w = _state(1.0)["w"].numpy().tobytes()       # 9 × float32 1.0, stored verbatim in the zip
    at = data.index(w)
    changed = data[:at + 2] + bytes([data[at + 2] ^ 0x01]) + data[at + 3:]   # 1.0 -> 1.0078125 in w[0, 0]
    blob = torch.load(io.BytesIO(changed), weights_only=True, map_location="cpu")
    assert not torch.equal(blob["state"]["w"], _state(1.0)["w"])   # the change is real, and torch loads it
    return changed


@pytest.mark.parametrize("retouch", ["one-byte", "saved-anew"])
def test_an_entry_whose_bytes_changed_is_refused_and_retrained_never_loaded(tmp_path, retouch):
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(1.0), root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    if retouch == "one-byte":
        path.write_bytes(_retouched_but_loadable(path))
    else:
        blob = torch.load(path, weights_only=True, map_location="cpu")
        blob["state"] = _state(7.0)
        torch.save(blob, path)                    # a valid entry, but not the bytes the sidecar vouches for
    with pytest.raises(ValueError, match="checksum mismatch"):
        cache.read_checked(path)
    calls = []
    with pytest.warns(cache.CacheWarning, match=r"corrupt \(checksum mismatch\); retraining"):
        state = cache.get_or_create("m", {}, "fp", "v", lambda: calls.append(1) or _state(5.0), root=tmp_path)
    assert calls == [1] and torch.equal(state["w"], _state(5.0)["w"]) and torch.equal(state["b"], _state()["b"])
    # the rebuilt entry replaced the changed one and is trusted again
    assert torch.load(io.BytesIO(cache.read_checked(path)), weights_only=True)["state"]["w"].eq(5.0).all()


def test_a_follower_rank_never_loads_a_changed_entry_either(tmp_path, monkeypatch):
    # under torchrun a rank other than 0 reads the entry without rank 0's lock; it must refuse changed bytes too
    # and train alongside (the torchrun test below cannot pin this down: rank 0 may delete the entry first)
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(1.0), root=tmp_path)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(_retouched_but_loadable(path))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    calls = []
    state = cache.get_or_create("m", {}, "fp", "v", lambda: calls.append(1) or _state(5.0), root=tmp_path)
    assert calls == [1] and torch.equal(state["w"], _state(5.0)["w"])


def test_a_follower_rank_loads_the_state_rank_0_stored_and_trains_nothing(tmp_path, monkeypatch):
    cache.get_or_create("m", {}, "fp", "v", lambda: _state(3.0), root=tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    calls = []
    state = cache.get_or_create("m", {}, "fp", "v", lambda: calls.append(1) or _state(5.0), root=tmp_path)
    assert calls == [] and set(state) == {"w", "b"} and torch.equal(state["w"], _state(3.0)["w"])


def test_read_checked_returns_exactly_the_bytes_written(tmp_path):
    from answers.core.files import read_checked, write_checked
    path = tmp_path / "x.bin"
    write_checked(path, b"abc" * 100)
    assert read_checked(path) == b"abc" * 100
    path.write_bytes(b"abd" * 100)                 # same length, one byte in three changed
    with pytest.raises(ValueError, match="checksum mismatch"):
        read_checked(path)



def test_a_stored_result_whose_bytes_changed_is_recomputed_not_served(tmp_path, monkeypatch):
    import pickle

    from answers.kb import result_cache
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ANSWERS_FRESH", raising=False)
    COUNTED_RUNS.clear()
    first = result_cache.cached_run(counted_run, profile="tiny")
    (stored,) = result_cache.results_dir().glob("*.pkl")
    forged = pickle.loads(stored.read_bytes())
    forged.claims[0].values["n"] = 999            # a well-formed result with another number in it
    stored.write_bytes(pickle.dumps(forged))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        again = result_cache.cached_run(counted_run, profile="tiny")
    assert len(COUNTED_RUNS) == 2 and not again.meta["measured"]["reused"]
    assert again.get_claim("ran").values["n"] == 2 and first.get_claim("ran").values["n"] == 1


# ---------------------------------------------------------------- a code change invalidates a stored result
ROOT = Path(__file__).resolve().parents[1]

_STAND_IN = '''
"""A stand-in answer inside the copied package: each real run appends this process's rank to $STAND_INCOUNTED_RUNS."""
import os

from answers.kb.result import Result
from answers.lab.smoothing import ABSTAIN_ALPHA


def run(profile="site", seed=0, device="cpu", progress=None):
    with open(os.environ["STAND_INCOUNTED_RUNS"], "a") as f:
        f.write(os.environ.get("RANK", "-") + "\\n")
    r = Result("q00", profile, seed)
    r.check("ran", "运行", "ran", {"n": 1}, "n >= 1")
    return r
'''

# run from the copy's root: it imports the copied package, never the checkout's (asserted through "package")
_DRIVE = '''
import json, os, sys
import answers
from answers import q99_stand_in as answer
from answers.kb import result_cache
from answers.lab import cache, train, zoo
calls = []
for _ in range(int(sys.argv[1])):
    m = result_cache.cached_run(answer.run, profile="tiny").meta.get("measured") or {}
    calls.append({"reused": m.get("reused"), "code": m.get("code")})
report = {"package": os.path.dirname(os.path.abspath(answers.__file__)), "calls": calls,
          "weights_key": cache.code_version(*train.code_modules(zoo.spec("standard", "tiny")))}
with open(os.path.join(sys.argv[2], "rank-%s.json" % os.environ.get("RANK", "-")), "w") as f:
    json.dump(report, f)
'''


class _Copy:
    """A temporary copy of the ``answers`` package with a stand-in answer, and a result cache of its own."""

    def __init__(self, tmp: Path):
        self.root = tmp / "copy"
        shutil.copytree(ROOT / "answers", self.root / "answers", ignore=shutil.ignore_patterns("__pycache__"))
        (self.root / "answers" / "q99_stand_in.py").write_text(_STAND_IN, encoding="utf-8")
        (self.root / "drive.py").write_text(_DRIVE, encoding="utf-8")
        if "MUTANT_UNDER_TEST" in os.environ:
            # under make mutants the copied package is mutmut's (every function a trampoline that reads mutmut's
            # settings from the working directory): the copy's processes need them too
            (self.root / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["answers"]\n', encoding="utf-8")
        self.runs, self.out = tmp / "runs.txt", tmp / "out"
        self.runs.touch()
        self.out.mkdir()
        drop = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "ANSWERS_FRESH", "ANSWERS_DATA_DIR", "PYTHONPATH"}
        self.env = {**{k: v for k, v in os.environ.items() if k not in drop},
                    "ANSWERS_CACHE_DIR": str(tmp / "cache"), "STAND_INCOUNTED_RUNS": str(self.runs), "OMP_NUM_THREADS": "1"}

    def edit(self, rel: str, code: str) -> None:
        """Append ``code`` to the copy's ``answers/<rel>``: a change to code, not to a comment."""
        f = self.root / "answers" / rel
        f.write_text(f.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")

    def ranks_run(self) -> list[str]:
        return self.runs.read_text().split()

    def _reports(self) -> dict[str, dict]:
        reports = {p.stem.split("-", 1)[1]: json.loads(p.read_text()) for p in self.out.glob("rank-*.json")}
        for p in self.out.glob("rank-*.json"):
            p.unlink()
        assert all(r["package"] == str(self.root / "answers") for r in reports.values()), reports
        return reports

    def run(self, calls: int = 2) -> dict:
        """One fresh process calling ``cached_run`` ``calls`` times: what each call reports."""
        proc = subprocess.run([sys.executable, "drive.py", str(calls), str(self.out)], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return self._reports()["-"]

    def torchrun(self, processes: int = 2) -> dict[str, dict]:
        """``drive.py`` under ``torchrun --nproc-per-node processes``, one ``cached_run`` per rank."""
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                               "--standalone", "drive.py", "1", str(self.out)], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return self._reports()


def test_a_stored_result_is_recomputed_after_a_change_to_code_it_reaches_and_only_then(tmp_path):
    """The stand-in answer imports kb.result (which imports kb.evidence) and lab.smoothing: a change to one of
    them, or to the answer, recomputes it; a change elsewhere, or to a docstring, keeps its stored result."""
    copy = _Copy(tmp_path)
    base = copy.run()
    # unchanged code: stored once, then reused
    assert [c["reused"] for c in base["calls"]] == [False, True] and copy.ranks_run() == ["-"]
    code, key, runs = base["calls"][0]["code"], base["weights_key"], 1
    edits = [("lab/smoothing.py", "ABSTAIN_ALPHA = 0.002", True),                       # lab, imported
             ("lab/models.py", "def _changed(x):\n    return x + 1", False),             # lab, not imported
             ("kb/evidence.py", "def _changed(x):\n    return x + 1", True),            # kb, through kb.result
             ("kb/site.py", "def _changed(x):\n    return x + 1", False),               # kb, not reached
             ("experiment.py", "def _changed(x):\n    return x + 1", False),           # the harness, not imported
             ("core/files.py", "def _changed(x):\n    return x + 1", False),           # the core, not reached
             ("kb/result.py", "def _documented():\n    \"\"\"Words.\"\"\"", True),       # kb, imported
             ("kb/result.py", "# a comment, no code", False),                             # not a change to code
             ("q99_stand_in.py", "def run_helper():\n    return 2", True)]              # the answer's own module
    for rel, change, recomputes in edits:
        copy.edit(rel, change)
        got = copy.run()
        runs += recomputes
        assert [c["reused"] for c in got["calls"]] == [not recomputes, True], (rel, recomputes)
        assert len(copy.ranks_run()) == runs, rel
        assert (got["calls"][0]["code"] != code) == recomputes, rel
        code = got["calls"][0]["code"]
        # the weight cache keys only the modules a model's training runs (answers.lab.train.code_modules)
        assert (got["weights_key"] != key) == (rel == "lab/models.py"), rel
        key = got["weights_key"]


def test_under_torchrun_every_rank_computes_and_rank_0_stores_under_the_new_code(tmp_path):
    copy = _Copy(tmp_path)
    copy.run(calls=1)                                   # stored by a plain run
    copy.edit("lab/smoothing.py", "ABSTAIN_ALPHA = 0.002")
    for _ in range(2):                                  # after the change, and again with the code unchanged
        before = len(copy.ranks_run())
        got = copy.torchrun(2)
        # the training under torchrun is collective: every rank runs, none serves a stored result
        assert sorted(copy.ranks_run()[before:]) == ["0", "1"]
        assert got["0"]["calls"][0]["reused"] is False and got["1"]["calls"][0]["reused"] is None
    after = copy.run(calls=1)                           # what rank 0 stored is the result of the new code
    assert after["calls"][0] == {"reused": True, "code": got["0"]["calls"][0]["code"]}
    assert len(copy.ranks_run()) == 5


def test_an_entry_stores_its_own_training_seconds_without_the_model_it_starts_from(tmp_path):
    """A fine-tune trains its start model inside its own create(): the start's seconds are its own entry's, not
    counted twice; a later hit reports the stored seconds and that it trained nothing (cache.USES)."""
    import time

    def start_model():
        time.sleep(1.0)
        return {"w": torch.zeros(1)}

    def fine_tune():
        cache.get_or_create("start", {}, "fp", "v", start_model, root=tmp_path)
        time.sleep(0.05)
        return {"w": torch.ones(1)}

    first = len(cache.USES)
    t0 = time.perf_counter()
    cache.get_or_create("tuned", {}, "fp", "v", fine_tune, root=tmp_path)
    wall = time.perf_counter() - t0
    uses = {u.what: u for u in cache.USES[first:]}
    assert uses["start"].trained and uses["tuned"].trained
    # each at least its own sleep, and the fine-tune's own time leaves out the start's second (counted, it would
    # be over a second: a margin of 20× its own 0.05 s, which no busy machine's late wake-up closes)
    assert uses["start"].seconds >= 1.0 and uses["tuned"].seconds >= 0.05, uses
    assert uses["tuned"].seconds < uses["start"].seconds <= wall, (uses, wall)
    cache.get_or_create("tuned", {}, "fp", "v", fine_tune, root=tmp_path)
    hit = cache.USES[-1]
    assert hit.what == "tuned" and not hit.trained and hit.seconds == uses["tuned"].seconds
    assert {e["what"]: e["seconds"] for e in cache.entries(tmp_path)} == {"start": uses["start"].seconds,
                                                                         "tuned": uses["tuned"].seconds}


def test_weights_trained_under_another_torch_are_not_reused(tmp_path, monkeypatch):
    """Another torch (or kornia, for a spec training on a transform) rounds differently: its weights are others."""
    from answers.lab import data, train
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    x, y = data.make_signs(96, seed=6)
    split = data.Split("t", x[:64], y[:64], x[64:], y[64:], 10, data.fingerprint(x, y))
    spec = train.TrainSpec(width=4, epochs=1, batch_size=32)
    trained = lambda: [u.trained for u in cache.USES[-1:]]   # noqa: E731
    train.trained_model(spec, split)
    assert trained() == [True]
    train.trained_model(spec, split)
    assert trained() == [False]
    real = train.library_versions
    monkeypatch.setattr(train, "library_versions", lambda libs: {**real(libs), "torch": "0.0.0"})
    train.trained_model(spec, split)
    assert trained() == [True]
    # kornia keys only what runs kornia: a transform-trained spec and the specs fine-tuned from one
    assert train.libraries(spec) == ("torch",)
    assert train.libraries(train.TrainSpec(augment="median")) == ("torch", "kornia")
    assert train.libraries(train.TrainSpec(adv_eps=0.1, init=train.TrainSpec(augment="median"))) == ("torch", "kornia")
