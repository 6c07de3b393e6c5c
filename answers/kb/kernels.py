"""Same verdicts on any machine: every answer run under three CPU kernel profiles, outcomes compared claim by claim.

PyTorch picks its CPU kernels by the instruction set, and kernels of different widths round differently: a model
trained on another machine lands elsewhere, and a patch optimised there ends elsewhere. Three knobs reproduce other
machines on one: ``ATEN_CPU_CAPABILITY`` (elementwise ops, softmax), ``ONEDNN_MAX_CPU_ISA`` (convolutions) and
``MKL_ENABLE_INSTRUCTIONS`` (matmul). What the project promises: same seed and same machine ⇒ same numbers; any
machine ⇒ same verdicts. ``answers kernels`` checks the second promise: each answer is run (``answers run --fresh
--json``) at each level in a process of its own, with the level's own weight cache trained from scratch, and every
claim whose outcome moves between levels, or misses its wanted outcome at one, is listed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .build import answers_run

#: the environment variables that choose torch's CPU kernels
KNOBS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
#: the kernel profiles compared: the machine's own, all three knobs at AVX2, all three at their lowest
LEVELS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "lowest": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}


def kernel_profile() -> dict[str, str]:
    """The kernels this process computes with: torch's CPU capability, the knobs that are set, torch's version."""
    import torch
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            **{k: os.environ[k] for k in KNOBS if k in os.environ}}


def level_env(level: str, cache: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one answer's run at ``level``: the knobs of that level only, its own weight cache."""
    if level not in LEVELS:
        raise ValueError(f"unknown kernel level {level!r}; choose from {', '.join(LEVELS)}")
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in KNOBS}
    return {**env, **LEVELS[level], "ANSWERS_CACHE_DIR": str(cache), "ANSWERS_FRESH": "1"}


@dataclass
class Run:
    """One answer at one level: its claims' outcomes (None where the run produced no JSON) and its seconds."""

    qid: str
    level: str
    seconds: float
    claims: dict[str, dict] = field(default_factory=dict)   # claim id -> {"kind", "outcome", "wanted", "values"}
    kernel: dict = field(default_factory=dict)
    error: str = ""


def run_answer(qid: str, level: str, cache: Path, profile: str = "site", seed: int = 0) -> Run:
    """``answers run qid --profile profile --seed seed --fresh --json`` at ``level`` in a process of its own."""
    t0 = time.perf_counter()
    proc = subprocess.run(answers_run(qid, profile, seed, fresh=True), env=level_env(level, cache),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Run(qid, level, seconds, error=f"exit {proc.returncode}: {tail}")
    claims = {c["id"]: {"kind": c["kind"], "outcome": c["outcome"], "wanted": c.get("expected", "holds"),
                        "values": c["values"]} for c in data["claims"]}
    return Run(qid, level, seconds, claims, data.get("meta", {}).get("kernel", {}))


def moved(runs: Iterable[Run], profile: str = "site") -> list[dict]:
    """One row per claim whose outcome differs between levels or misses its wanted outcome at any of them (at
    the tiny profile, where a finding need not be decided: only outcomes that differ, and checks that fail);
    a run that produced no result is a row of its own."""
    by_answer: dict[str, dict[str, Run]] = {}
    for r in runs:
        by_answer.setdefault(r.qid, {})[r.level] = r
    rows = []
    for qid, levels in by_answer.items():
        ids = list(dict.fromkeys(c for r in levels.values() for c in r.claims))
        for cid in ids:
            seen = {lv: (r.claims[cid]["outcome"] if cid in r.claims else "error") for lv, r in levels.items()}
            info = next(r.claims[cid] for r in levels.values() if cid in r.claims)
            # checks must hold; a finding must have its wanted outcome (site and full profiles)
            wanted = "holds" if info["kind"] == "check" else info["wanted"]
            missed = any(o != wanted for o in seen.values()) if profile != "tiny" or info["kind"] == "check" else False
            if len(set(seen.values())) > 1 or missed:
                rows.append({"answer": qid, "claim": cid, "kind": info["kind"], "wanted": wanted, **seen})
        for lv, r in levels.items():
            if r.error:
                rows.append({"answer": qid, "claim": "(run)", "kind": "-", "wanted": "-", lv: r.error})
    return rows


def check(qids: list[str], levels: list[str], root: Path, profile: str = "site", seed: int = 0,
          keep_weights: bool = False, report: Callable[[str], None] = print) -> list[Run]:
    """Every answer of ``qids`` at every level of ``levels`` (levels outside, answers inside: a level's weight
    cache under ``root/<level>`` serves all its answers, as in one build). Each level's cache starts empty
    unless ``keep_weights``. ``report`` gets one line per run, with the time so far and an estimate of what is left."""
    total, done, runs = len(qids) * len(levels), 0, []
    start = time.perf_counter()
    for level in levels:
        cache = root / level
        if not keep_weights and cache.exists():
            shutil.rmtree(cache)
        cache.mkdir(parents=True, exist_ok=True)
        for qid in qids:
            run = run_answer(qid, level, cache, profile, seed)
            runs.append(run)
            done += 1
            elapsed = time.perf_counter() - start
            off = [c for c, v in run.claims.items() if v["outcome"] != ("holds" if v["kind"] == "check" else v["wanted"])]
            status = run.error or (f"{len(run.claims)} claims, " + (f"not as wanted: {', '.join(off)}" if off else "all as wanted"))
            report(f"[{done}/{total}] {qid} · {level} ({run.kernel.get('cpu_capability', '?')}): {run.seconds:.0f} s — {status}"
                   f"  (elapsed {elapsed / 60:.1f} min, about {elapsed / done * (total - done) / 60:.0f} min left)")
    return runs
