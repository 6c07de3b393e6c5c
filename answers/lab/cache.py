"""The one weight cache. Key = hash of (what is trained, its config, data fingerprint, code version).

Entries are written atomically (temp file + fsync + rename) under a per-key file lock, so two concurrent
builds neither train twice nor see a partial file; a sidecar holds the file's sha256, checked before every
``torch.load(weights_only=True)``. A corrupt or truncated entry is reported in one line and rebuilt, never
trusted (the checked file I/O is :mod:`answers.core.files`, shared with the result cache). Introduced for q08;
every trained model goes through it."""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Mapping

import torch
from filelock import FileLock

from ..core.files import cache_dir, read_checked, sidecar, write_checked
from ..core.ranks import follower
from ..core.source import code_only
from .seeding import isolated_rng

State = dict[str, torch.Tensor]


class CacheWarning(UserWarning):
    """A cache entry was unusable and is being rebuilt."""


def code_version(*modules: ModuleType) -> str:
    """Short hash of the modules' code: editing what a model's training runs invalidates its weights, while
    comments, docstrings and formatting do not (the hash is over the syntax tree without docstrings)."""
    h = hashlib.sha256()
    for m in modules:
        h.update(m.__name__.encode())
        h.update(code_only(inspect.getsource(m)).encode())
    return h.hexdigest()[:12]


def cache_key(what: str, config: Mapping, data_fingerprint: str, code_version: str) -> str:
    """24 hex digits of sha256 over canonical JSON (sorted keys) of the four parts; tuples hash as lists."""
    blob = json.dumps([what, dict(config), data_fingerprint, code_version], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Use:
    """One model a process took from the cache: what it is, its file, the seconds its training took (its own,
    without a model it starts from; None for an entry older than this record), whether this use trained it and
    the zoo recipe it was asked for by."""

    what: str
    file: str
    seconds: float | None
    trained: bool
    recipe: str = ""    # the zoo recipe it was taken as (answers.lab.zoo.model), where it was taken through the zoo


#: every model this process took from the cache, in order (:class:`Use`); an answer's run reads its share of it
USES: list[Use] = []
# seconds spent in the creates nested inside the one running at each level (a fine-tune trains its start first)
_nested: list[float] = []


def _timed(create: Callable[[], State]) -> tuple[State, float]:
    """``create()``'s state and its own seconds: without the nested creates it ran (counted where they ran)."""
    _nested.append(0.0)
    t0 = time.perf_counter()
    try:
        state = create()
    finally:
        total, inner = time.perf_counter() - t0, _nested.pop()
        if _nested:
            _nested[-1] += total
    return state, total - inner


def _load(path: Path) -> State:
    """The state stored at ``path``; raises ValueError saying why it cannot be trusted."""
    return _load_entry(path)[0]


def _load_entry(path: Path) -> tuple[State, dict]:
    """The state and the metadata stored at ``path``; raises ValueError saying why it cannot be trusted."""
    data = read_checked(path)
    try:  # load the very bytes that were checked, not the file a second time
        blob = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # any unreadable file is corrupt, whatever torch calls it
        raise ValueError(f"unreadable: {type(exc).__name__}") from None
    if not isinstance(blob, dict) or not isinstance(blob.get("state"), dict):
        raise ValueError("not a cache entry")
    return blob["state"], blob.get("meta") if isinstance(blob.get("meta"), dict) else {}


def get_or_create(what: str, config: Mapping, data_fingerprint: str, code_version: str,
                  create: Callable[[], State], *, root: Path | None = None) -> State:
    """The cached state for this key, or ``create()``'s result, stored for next time.

    ``create`` runs with the caller's random streams set aside (:func:`~answers.lab.seeding.isolated_rng`): a
    miss and a hit leave the caller drawing the same numbers next. Its own seconds are stored with the entry
    and every call is recorded in :data:`USES`."""
    def created() -> tuple[State, float]:
        with isolated_rng():
            state, seconds = _timed(create)
            return {k: v.detach().cpu() for k, v in state.items()}, seconds

    root = Path(root) if root else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{what}-{cache_key(what, config, data_fingerprint, code_version)}.pt"
    if follower():
        # under torchrun the other ranks train *with* rank 0 (DDP): waiting for its lock would deadlock. They
        # read an entry that is already there, else train alongside and leave the writing to rank 0.
        try:
            return _load(path)
        except (OSError, ValueError):
            return created()[0]
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                state, meta = _load_entry(path)
                USES.append(Use(what, path.name, meta.get("seconds"), trained=False))
                return state
            except ValueError as why:
                warnings.warn(f"answers cache: {path} is corrupt ({why}); retraining", CacheWarning, stacklevel=2)
                path.unlink(missing_ok=True)
                sidecar(path).unlink(missing_ok=True)
        state, seconds = created()
        meta = {"what": what, "config": json.loads(json.dumps(dict(config), default=str)),
                "data_fingerprint": data_fingerprint, "code_version": code_version, "created": time.time(),
                "seconds": round(seconds, 2)}
        buf = io.BytesIO()
        torch.save({"state": state, "meta": meta}, buf)
        write_checked(path, buf.getvalue())
        USES.append(Use(what, path.name, meta["seconds"], trained=True))
        return state


def entries(root: Path | None = None) -> list[dict]:
    """What the cache holds: path, what, size in bytes, modification time, the seconds its training took (None
    where the entry does not say or cannot be read)."""
    root = Path(root) if root else cache_dir()
    return [{"path": str(p), "what": p.name.rsplit("-", 1)[0], "size": p.stat().st_size,
             "created": p.stat().st_mtime, "seconds": _seconds_of(p)} for p in sorted(root.glob("*.pt"))]


def _seconds_of(path: Path) -> float | None:
    try:
        return _load_entry(path)[1].get("seconds")
    except (OSError, ValueError):
        return None


def clear(root: Path | None = None) -> int:
    """Delete every entry; returns how many were removed."""
    root = Path(root) if root else cache_dir()
    n = 0
    for p in root.glob("*.pt*"):
        p.unlink(missing_ok=True)
        n += p.suffix == ".pt"
    return n
