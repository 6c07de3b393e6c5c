"""Reusable results: an answer's :class:`~answers.kb.result.Result` is stored under the one cache directory,
keyed by everything its numbers depend on — the code of the modules it reaches through its imports (its own, the
experiment harness, the lab, kb and core modules it uses), the versions of torch, torchvision, kornia and scipy,
the profile, the seed, the device and the CPU kernels. A site build (or ``answers run``) reuses an unchanged
answer's tables, figures and claims, so editing a page's prose under ``make serve``, or a lab module an answer
does not use, reruns no experiment; ``fresh=True`` (``--fresh``, or ``ANSWERS_FRESH=1`` as CI sets) always recomputes.

Each stored result records when and with which code digest it was measured (``meta["measured"]``), and the
page says so. Entries are pickles written atomically with a checksum beside them (the cache directory is the
user's own); a corrupt entry is recomputed, never trusted.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

from filelock import FileLock

from ..core import ranks
from ..core.files import cache_dir, read_checked, write_checked
from ..core.source import code_only, library_versions, reached
from .result import Result

PACKAGE = Path(__file__).resolve().parents[1]   # answers/


def source_digest(paths: list[Path], salt: str = "") -> str:
    """sha256 over ``salt`` and each file's name (relative to the package where it lies inside) and bytes."""
    h = hashlib.sha256(salt.encode())
    for path in paths:
        path = Path(path).resolve()
        h.update((path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def code_digest(module_name: str) -> str:
    """The digest of what an answer's numbers depend on: the code of every module of the package that importing
    it can run (:func:`answers.core.source.reached`: its own, and the harness, lab, kb and core modules it
    reaches; editing a module it does not reach keeps its stored result), as syntax trees without docstrings,
    comments or formatting, and the versions of :data:`answers.core.source.LIBRARIES`. A module outside the package (a test's
    stand-in) counts its own file and the whole package."""
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    files = reached(module_name, PACKAGE)
    if not files:
        files = {module_name: Path(module.__file__),
                 **{p.relative_to(PACKAGE.parent).with_suffix("").as_posix(): p for p in sorted(PACKAGE.rglob("*.py"))}}
    h = hashlib.sha256(json.dumps(library_versions(), sort_keys=True).encode())
    for name, path in files.items():
        h.update(name.encode())
        h.update(code_only(Path(path).read_text(encoding="utf-8")).encode())
    return h.hexdigest()


def results_dir() -> Path:
    root = cache_dir() / "results"
    root.mkdir(parents=True, exist_ok=True)
    return root


def fresh_by_default() -> bool:
    return os.environ.get("ANSWERS_FRESH", "") == "1"


def _entry(run: Callable[..., Result], profile: str, seed: int, device: str) -> tuple[Path, str, str]:
    """Where ``run``'s result at these settings is stored, the code digest in its key, and the kernel profile."""
    digest = code_digest(run.__module__)
    what = f"{run.__module__}.{run.__qualname__}"
    # a dataset read from the user's disk (answers run --data-dir) is part of what the numbers depend on, and so
    # are the CPU kernels torch computes with (another instruction set rounds differently: answers kernels)
    from .kernels import kernel_profile
    kernel = kernel_profile()
    data_dir = os.environ.get("ANSWERS_DATA_DIR", "")
    key = hashlib.sha256(json.dumps([what, profile, seed, device, digest, kernel] + ([data_dir] if data_dir else []))
                         .encode()).hexdigest()[:20]
    return results_dir() / f"{run.__module__.rsplit('.', 1)[-1]}-{profile}-{key}.pkl", digest, kernel


def stored_result(run: Callable[..., Result], profile: str = "site", seed: int = 0,
                  device: str = "cpu") -> Result | None:
    """The result :func:`cached_run` stored for these settings and the current code, or None (never computes)."""
    path, _, _ = _entry(run, profile, seed, device)
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            return None
        try:
            return pickle.loads(read_checked(path))
        except Exception:  # noqa: BLE001 - an unreadable entry is as good as none
            return None


def cached_run(run: Callable[..., Result], profile: str = "site", seed: int = 0, device: str = "cpu",
               progress: bool | None = None, fresh: bool | None = None) -> Result:
    """``run(profile, seed, device, progress)``'s Result, from the result cache when its key matches (unless
    ``fresh``), else computed and stored. ``meta["measured"]`` says when, with which code, and whether this
    call reused it, and how many seconds computing it took."""
    fresh = fresh_by_default() if fresh is None else fresh
    path, digest, kernel = _entry(run, profile, seed, device)
    # under torchrun every rank runs the answer together (its training is collective): no rank may skip the run
    # because it found a stored result, or wait for another's lock; rank 0 alone stores what was measured
    launched = ranks.launched()
    if ranks.follower():
        result = run(profile=profile, seed=seed, device=device, progress=progress)
        result.meta["kernel"] = kernel
        return result
    with FileLock(str(path) + ".lock"):
        if path.exists() and not fresh and not launched:
            try:
                result = pickle.loads(read_checked(path))
                result.meta["measured"]["reused"] = True
                return result
            except Exception as why:  # noqa: BLE001 - any unreadable entry is recomputed, whatever failed
                warnings.warn(f"answers results: {path} is unusable ({type(why).__name__}: {why}); recomputing",
                              stacklevel=2)
        t0 = time.perf_counter()
        result = run(profile=profile, seed=seed, device=device, progress=progress)
        result.meta["measured"] = {"at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                                   "code": digest[:12], "reused": False,
                                   "seconds": round(time.perf_counter() - t0, 1)}
        result.meta["kernel"] = kernel
        write_checked(path, pickle.dumps(result))
        return result


def measured_line(result: Result) -> str:
    """One sentence for a page: when and with which code digest its numbers were measured (true whether the
    page was executed in this build or reused from an earlier one)."""
    m = result.meta.get("measured") or {}
    if not m:
        return f"本页数字由本次执行测得（profile={result.profile}，seed={result.seed}，未经结果缓存）。"
    return (f"本页数字测于 {m['at']}（UTC），代码摘要 `{m['code']}`，profile={result.profile}，seed={result.seed}；"
            "代码不变时建站沿用这次测量，代码一改就重新测量。")
