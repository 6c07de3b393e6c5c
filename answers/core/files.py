"""Checked file I/O for both caches (weights, :mod:`answers.lab.cache`; results, :mod:`answers.kb.result_cache`):
files are written atomically (temp file + fsync + rename) with a sidecar holding their sha256, and read back only
when the bytes still match it. Both caches live under :func:`cache_dir`."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir


def cache_dir() -> Path:
    """``ANSWERS_CACHE_DIR`` if set, else the platform's user cache folder for ``answers``."""
    root = Path(os.environ.get("ANSWERS_CACHE_DIR") or Path(user_cache_dir("answers")) / "weights")
    root.mkdir(parents=True, exist_ok=True)
    return root


def sidecar(path: Path) -> Path:
    """Where the sha256 of the file at ``path`` is kept."""
    return path.with_name(path.name + ".sha256")


def atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a partial write (same-directory rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; cache entries are plain shared files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_checked(path: Path, data: bytes) -> None:
    """Store ``data`` at ``path`` atomically with a sidecar holding its sha256 (written last: a crash in between
    leaves an entry without checksum, which is rebuilt, never trusted)."""
    atomic_write(path, data)
    atomic_write(sidecar(path), hashlib.sha256(data).hexdigest().encode())


def read_checked(path: Path) -> bytes:
    """The bytes stored by :func:`write_checked`; raises ValueError saying why they cannot be trusted."""
    side = sidecar(path)
    if not side.is_file():
        raise ValueError("no checksum file")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != side.read_text().strip():
        raise ValueError("checksum mismatch")
    return data
