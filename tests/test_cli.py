"""The `answers` command: help, listing, errors (one line, exit 2), claim failures (exit 1), JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from answers import cli
from answers.kb import registry
from answers.kb.result import Result


def answers(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "answers", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args", [["--help"], ["list", "--help"], ["run", "--help"], ["check", "--help"],
                                  ["new", "--help"], ["kernels", "--help"], ["build", "--help"],
                                  ["zoo", "ls", "--help"]])
def test_help_everywhere(args):
    proc = answers(*args)
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_list_json_names_q08():
    proc = answers("list", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    q08 = next(r for r in rows if r["id"] == "q08")
    assert q08["asker"] == "黄兆辉" and q08["page"] == "docs/q08-defense-cost.py"


@pytest.mark.parametrize("args, names", [
    (["run", "q99"], ["q99", "q08"]),
    (["run", "q08", "--profile", "huge"], ["huge", "tiny", "site", "full"]),
    (["run", "q08", "--seed", "abc"], ["abc", "non-negative"]),
    (["run", "q08", "--seed", "-3"], ["-3", "non-negative"]),
    (["run", "q08", "--device", "tpu9"], ["tpu9", "cpu"]),
    (["run", "q08", "--device", "cuda"], ["CUDA is not supported yet", "cpu"]),
    (["frobnicate"], ["frobnicate", "list", "run", "check"]),
    (["kernels", "q02", "--levels", "avx2,sse9"], ["sse9", "native", "avx2", "lowest"]),
    (["kernels", "q99"], ["q99", "q08"]),
    (["build", "q99"], ["q99", "q08"]),
    (["build", "--jobs", "0"], ["jobs", "positive"]),
    (["zoo", "ls", "--profile", "tiny,huge"], ["huge", "tiny", "site", "full"]),
    # q06's full profile reads CIFAR-10 from the user's disk and never downloads it
    (["run", "q06", "--profile", "full"], ["--data-dir", "cifar-10-batches-py"]),
    (["run", "q06", "--profile", "full", "--data-dir", "no-such-folder"], ["no-such-folder", "cifar-10-batches-py",
                                                                           "never downloaded"]),
])
def test_bad_input_is_one_line_naming_the_choices(args, names):
    proc = answers(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for n in names:
        assert n in lines[0]


def test_run_tiny_json_reports_every_claim(tiny_result):
    tiny_result("q08")  # warms the weight cache shared with the subprocess
    proc = answers("run", "q08", "--profile", "tiny", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["question"] == "q08" and out["profile"] == "tiny" and out["ok"] is True and out["problems"] == []
    assert all({"id", "kind", "outcome", "zh", "en", "rule", "values"} <= set(c) for c in out["claims"])
    assert {c["kind"] for c in out["claims"]} == {"check", "finding"}
    for c in out["claims"]:
        assert c["outcome"] in ("holds", "fails", "inconclusive")
        if c["kind"] == "finding":
            assert c["evidence"]["n"] > 0 and (c["evidence"]["tests"] or c["evidence"]["intervals"])
        else:
            assert c["outcome"] == "holds"
    assert all(m["clean_acc"] >= 5 * m["chance"] for m in out["meta"]["models"])
    # the kernels it ran with: another instruction set rounds differently (answers kernels)
    import torch
    assert out["meta"]["kernel"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert out["meta"]["kernel"]["torch"] == torch.__version__


def test_a_claim_that_does_not_hold_exits_1(monkeypatch, capsys):
    def run(profile="site", seed=0, device="cpu", progress=None):
        r = Result("q08", profile, seed)
        r.check("never", "不成立", "does not hold", {"measured": 1.0}, "measured > 2")
        return r

    fake = registry.Answer(registry.get("q08").question, type("M", (), {"run": staticmethod(run)}))
    monkeypatch.setattr(registry, "get", lambda qid: fake)
    monkeypatch.setenv("ANSWERS_FRESH", "1")
    assert cli.main(["run", "q08", "--profile", "tiny"]) == 1
    assert "✗" in capsys.readouterr().out


def test_check_exits_0_on_this_repository():
    proc = answers("check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_contradicted_finding_exits_1_but_an_inconclusive_one_only_at_site(monkeypatch, capsys):
    from answers.kb import evidence as ev

    def run(profile="site", seed=0, device="cpu", progress=None):
        r = Result("q08", profile, seed)
        # 3 of 20 better: too little evidence either way
        r.finding("weak", "弱", "weak", {"a": 0.6, "b": 0.45}, "a > b", evidence=ev.mcnemar([1] * 3 + [0] * 17,
                                                                                           [0] * 20))
        return r

    fake = registry.Answer(registry.get("q08").question, type("M", (), {"run": staticmethod(run)}))
    monkeypatch.setattr(registry, "get", lambda qid: fake)
    monkeypatch.setenv("ANSWERS_FRESH", "1")
    assert cli.main(["run", "q08", "--profile", "tiny"]) == 0
    assert cli.main(["run", "q08", "--profile", "site"]) == 1
    assert "inconclusive" in capsys.readouterr().err


def test_cache_ls_and_clear(tmp_path, monkeypatch):
    import torch

    from answers.lab import cache
    monkeypatch.setenv("ANSWERS_CACHE_DIR", str(tmp_path))
    cache.get_or_create("toy", {"a": 1}, "fp", "v1", lambda: {"w": torch.ones(2)})
    env = {**os.environ, "ANSWERS_CACHE_DIR": str(tmp_path)}
    ls = subprocess.run([sys.executable, "-m", "answers", "cache", "ls", "--json"], capture_output=True, text=True,
                        env=env, timeout=600)
    assert ls.returncode == 0 and [e["what"] for e in json.loads(ls.stdout)["entries"]] == ["toy"]
    clear = subprocess.run([sys.executable, "-m", "answers", "cache", "clear"], capture_output=True, text=True,
                           env=env, timeout=600)
    assert clear.returncode == 0 and "removed 1 model(s)" in clear.stdout
    assert cache.entries(tmp_path) == []


def test_kernel_levels_set_their_knobs_and_clear_the_others(tmp_path):
    from answers.kb import kernels
    base = {"PATH": "/bin", "ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    native = kernels.level_env("native", tmp_path, base)
    assert not set(kernels.KNOBS) & set(native) and native["PATH"] == "/bin"
    assert native["ANSWERS_CACHE_DIR"] == str(tmp_path) and native["ANSWERS_FRESH"] == "1"
    lowest = kernels.level_env("lowest", tmp_path, base)
    assert [lowest[k] for k in kernels.KNOBS] == ["default", "SSE41", "SSE4_2"]
    assert [kernels.level_env("avx2", tmp_path, base)[k] for k in kernels.KNOBS] == ["avx2", "AVX2", "AVX2"]
    with pytest.raises(ValueError):
        kernels.level_env("avx1024", tmp_path, base)


def test_kernel_level_changes_what_torch_computes_with():
    from answers.kb import kernels
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = kernels.level_env("lowest", __import__("pathlib").Path("."), dict(os.environ))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.stdout.strip() == "DEFAULT"


def test_moved_lists_claims_whose_outcome_differs_or_misses_what_is_wanted():
    from answers.kb.kernels import Run, moved

    def run(level, **outcomes):
        return Run("q02", level, 1.0, {c: {"kind": "check" if c.startswith("c") else "finding", "outcome": o,
                                           "wanted": "inconclusive" if c == "f_declared" else "holds", "values": {}}
                                       for c, o in outcomes.items()})

    runs = [run("native", f_same="holds", f_moves="holds", f_declared="inconclusive", c_ok="holds"),
            run("lowest", f_same="holds", f_moves="fails", f_declared="inconclusive", c_ok="holds"),
            Run("q03", "native", 1.0, error="exit 1: boom")]
    rows = moved(runs)
    assert [(r["answer"], r["claim"]) for r in rows] == [("q02", "f_moves"), ("q03", "(run)")]
    assert rows[0]["native"] == "holds" and rows[0]["lowest"] == "fails"
    # every level agreeing on an outcome other than the wanted one is listed too (at site), not at tiny
    same_but_wrong = [run("native", f="inconclusive"), run("lowest", f="inconclusive")]
    assert [r["claim"] for r in moved(same_but_wrong)] == ["f"] and moved(same_but_wrong, "tiny") == []


def test_a_result_says_where_its_time_went(tiny_result):
    """What the computation-times page reads: the seconds computing took, each section's seconds (they fit in
    it) and every zoo model the run took, with its training seconds."""
    r = tiny_result("q08")
    seconds, sections = r.meta["measured"]["seconds"], r.meta["sections"]
    assert seconds > 0 and list(sections) == ["inference costs", "PGD-AT over runs", "smoothing certificates",
                                                   "PatchCleanser", "training costs"], sections
    assert 0 < sum(sections.values()) <= seconds
    weights = r.meta["weights"]
    assert weights and all(w["file"].endswith(".pt") and w["file"].startswith(w["what"]) for w in weights)
    assert {w["what"] for w in weights} >= {"small_cnn-aug", "small_cnn-pgdat-ft"}
    assert all(w["seconds"] is None or w["seconds"] > 0 for w in weights)


def test_zoo_ls_lists_the_models_a_stored_result_took(tiny_result):
    tiny_result("q08")   # stores q08's tiny result in the session's cache, which the subprocess reads
    proc = answers("zoo", "ls", "--profile", "tiny", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    q08 = {r["recipe"]: r for r in out["models"] if "q08" in r["used_by"]}
    assert {"noisy", "pgd_at"} <= set(q08)
    assert all(r["profile"] == "tiny" and r["cached"] and r["file"].startswith(r["what"]) for r in q08.values())
    assert q08["pgd_at"]["what"] == "small_cnn-pgdat-ft" and q08["noisy"]["what"] == "small_cnn-aug"
    assert "q08@tiny" not in out["not_stored"]
