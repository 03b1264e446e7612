"""Read and write the files users name, safely.

Reading: a file is opened once, checked to be a regular file (not a FIFO, device, socket or a file of
``/proc`` or ``/sys``, whose sizes say nothing), and read with a bound that holds whatever ``stat``
claims. Writing: a file is written whole or not at all, and only ever replaces a regular file."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

# Folders whose files are not files: kernel interfaces and device nodes.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str | None:
    """What a file of ``mode`` is, when it is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _in_system_folder(path: Path) -> bool:
    real = os.path.realpath(path)
    return any(real == folder or real.startswith(folder + "/") for folder in SYSTEM_FOLDERS)


@contextmanager
def open_regular(path: str | Path, kind: str) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` opened for reading, with its size, after checking on the open file itself that it is a
    regular file (a FIFO is opened without blocking, so that it cannot hang the check)."""
    path = Path(path)
    if _in_system_folder(path):
        raise UserError(f"cannot read {kind} {path}: it is a system file (under /proc, /sys or /dev), not a file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        raise UserError(f"cannot read {kind} {path}: {reason}") from None
    try:
        info = os.fstat(fd)
        what = _kind(info.st_mode)
        if what is not None:
            raise UserError(f"cannot read {kind} {path}: it is {what}, not a file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, info.st_size


def read_bounded(handle: BinaryIO, limit: int) -> bytes:
    """At most ``limit + 1`` bytes from ``handle``: one more than ``limit`` tells the caller the file is
    longer than allowed, whatever its size said."""
    return handle.read(limit + 1)


def check_writable(path: str | Path) -> Path:
    """Where writing ``path`` will put the file, or one line saying why it cannot be written.

    Only regular files are written: an existing device, FIFO, socket or folder at ``path`` is refused,
    never replaced. A symbolic link is followed: the file it points to is replaced and the link stays."""
    given = Path(path)
    target = _link_target(given)
    shown = f"{given} (a link to {target})" if target != given else str(given)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {shown}: folder {folder} does not exist")
    if _in_system_folder(folder):
        raise UserError(f"cannot write {shown}: {folder} is a system folder (/proc, /sys or /dev)")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UserError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if info is not None:
        what = _kind(info.st_mode)
        if what is not None:
            raise UserError(f"cannot write {shown}: it is {what}; only a regular file is replaced")
        if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise UserError(f"cannot write {shown}: the file is read-only")
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {shown}: no write permission in {folder}")
    return target


def _link_target(path: Path) -> Path:
    """Where a chain of symbolic links ends, each hop checked: a link into /proc, /sys or /dev (such as
    /proc/self/fd/1, whose target is whatever that descriptor is) is refused, not followed."""
    given, hops = path, 0
    while path.is_symlink():
        hops += 1
        if hops > 40:
            raise UserError(f"cannot write {given}: too many levels of symbolic links")
        path = Path(os.path.normpath(path.parent / os.readlink(path)))
        if _in_system_folder(path) or any(str(path).startswith(f + "/") for f in SYSTEM_FOLDERS):
            raise UserError(f"cannot write {given}: it is a link to {path}, in a system folder (/proc, /sys or /dev)")
    return path


def ensure_folder(path: str | Path) -> Path:
    """The output folder ``path``, created (with its parents) when missing; one line when it cannot be."""
    path = Path(path)
    if path.is_dir():
        if _in_system_folder(path):
            raise UserError(f"cannot write into {path}: it is a system folder (/proc, /sys or /dev)")
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

    A failure at any point leaves the old file (or no file) in place, never a partial one. The
    temporary name is short whatever the target's (a 255-character name still fits), and the file
    keeps the mode of the one it replaces."""
    target = check_writable(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=".ri-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else "utf-8") as handle:
            handle.write(data)
        try:
            old = os.stat(target)
        except FileNotFoundError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):  # replaced between the check and now
            raise UserError(f"cannot write {path}: it is {_kind(old.st_mode)}; only a regular file is replaced")
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
