"""The weight cache: round trip, key sensitivity, corruption detection, concurrent writers."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
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
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
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
    assert cache.clear(tmp_path) == 2 and cache.entries(tmp_path) == [] and not list(tmp_path.iterdir())


def test_env_var_sets_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
