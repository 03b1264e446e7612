"""Write a file whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserError


def check_writable(path: str | Path) -> Path:
    """Fail early, in one line, when ``path`` cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {path}: no write permission in {folder}")
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder")
    return path


def ensure_folder(path: str | Path) -> Path:
    """The output folder ``path``, created (with its parents) when missing; one line when it cannot be."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise UserError(f"cannot write into {path}: it is a file, not a folder")
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot create folder {path}: {exc.strerror or exc}") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write to a temporary file in the same folder, then rename over ``path``.

    A failure at any point leaves the old file (or no file) in place, never a partial one."""
    path = check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else "utf-8") as handle:
            handle.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
