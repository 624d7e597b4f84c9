"""Atomic file writes: the one place that writes next to the target and renames into place.

A reader (another page, the CLI, a crashed-and-restarted server) sees either the old file or the
whole new one, never half of it: the bytes go to a hidden temporary file in the target's folder
(same file system, so the rename is atomic), are flushed and fsynced, get an ordinary mode (mkstemp
creates 0600) and replace the target with :func:`os.replace`. If writing fails the temporary file is
removed and the old file is left as it was.

``OSError`` is raised as is; callers turn it into their own one-line error (``RunStoreError``...).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

FILE_MODE = 0o644  # what a plain open() gives under the usual umask 022


@contextlib.contextmanager
def atomic_open(
    path: str | Path,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    file_mode: int = FILE_MODE,
) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing (``mode`` "wb" or "w"); on a clean exit it
    replaces ``path``, on an exception it is removed and ``path`` is untouched."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(
            fd, mode, encoding=encoding if mode == "w" else None, newline=newline if mode == "w" else None
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, file_mode: int = FILE_MODE) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_open(path, "wb", file_mode=file_mode) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8", file_mode: int = FILE_MODE) -> Path:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding``."""
    return atomic_write_bytes(path, text.encode(encoding), file_mode=file_mode)


def json_default(value):
    """numpy scalars/arrays, paths, sets and tuples in JSON documents (metrics, events, model info)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write_json(
    path: str | Path, obj: Any, *, indent: int = 2, sort_keys: bool = False, file_mode: int = FILE_MODE
) -> Path:
    """Write ``obj`` as JSON (NaN refused: write None instead) plus a final newline, atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=json_default, allow_nan=False) + "\n"
    return atomic_write_text(path, text, file_mode=file_mode)
