"""Reading and writing files, within budgets: the one place cnncalc touches a user's path.

- ``read_bytes`` reads a regular file of at most ``limits.MAX_FILE_SIZE`` bytes. Devices (``/dev/zero``),
  FIFOs, sockets and directories are refused before a byte is read (the file is opened without
  blocking, then checked), and a file is never read past the limit, whatever its size claims.
- ``decode_source`` decodes Python source as Python does (a UTF-8 BOM, a PEP 263 coding cookie);
  ``decode_data`` decodes JSON and YAML (UTF-8, UTF-16 or UTF-32, with or without a BOM).
  Text that does not decode, or holds a NUL character, is refused: a binary file is not a model.
- ``writable`` checks an output path before the work, ``write_text`` writes it: a path that exists
  must be a regular file (never a FIFO that would block, or a device).

Every refusal is a ``ShapeError`` (``LimitError`` for a limit) whose message starts with the path.
"""

from __future__ import annotations

import io
import json
import os
import stat

from .errors import ShapeError
from .limits import MAX_FILE_SIZE

__all__ = ["read_bytes", "read_source", "read_data", "decode_source", "decode_data", "writable", "write_text"]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_NONBLOCK = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def _kind(mode):
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path) -> bytes:
    """The bytes of the regular file ``path``, refused when it is larger than MAX_FILE_SIZE."""
    limit = MAX_FILE_SIZE.value
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except OSError as exc:
        raise ShapeError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ShapeError(f"{path}: cannot read {_kind(info.st_mode)}: give a regular file")
        MAX_FILE_SIZE.check(info.st_size, path, "the file is")
        chunks, size = [], 0
        while size <= limit:  # read to the limit, not to the size claimed (/proc files claim 0)
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise MAX_FILE_SIZE.refuse(path, "the file is more than", limit)
        return b"".join(chunks)
    except OSError as exc:
        raise ShapeError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _no_nul(text, path):
    at = text.find("\0")
    if at >= 0:
        raise ShapeError(f"{path}:{text.count(chr(10), 0, at) + 1}: a NUL character: a binary file, not text")
    return text


def _decoded(data, encoding, path, what, hint="a binary file?"):
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _line_at(data, exc.start) if encoding.startswith("utf-8") else None
        where = f"{path}:{line}" if line else str(path)
        raise ShapeError(f"{where}: not {what} text in {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                         f"does not decode ({hint})") from None


_COOKIE = "a binary file, or another encoding: name it in a first line '# -*- coding: NAME -*-'"


def decode_source(data: bytes, path) -> str:
    """Python source text, decoded as the interpreter decodes it: BOM, else PEP 263 cookie, else UTF-8."""
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown encoding in the cookie, a cookie contradicting the BOM, or
        _decoded(data, "utf-8", path, "Python source", _COOKIE)  # no cookie, bytes not UTF-8: say where
        raise ShapeError(f"{path}: {exc.msg}") from None
    return _no_nul(_decoded(data, encoding, path, "Python source", _COOKIE), path)  # utf-8-sig drops the BOM


def decode_data(data: bytes, path) -> str:
    """JSON or YAML text: UTF-8, UTF-16 or UTF-32 (found from a BOM or the zero bytes, as ``json.loads``),
    without its BOM."""
    encoding = json.detect_encoding(data)
    text = _decoded(data, encoding, path, "JSON or YAML")
    return _no_nul(text[1:] if text.startswith("\ufeff") else text, path)


def read_source(path) -> str:
    """A Python source file's text (``read_bytes`` then ``decode_source``)."""
    return decode_source(read_bytes(path), path)


def read_data(path) -> str:
    """A JSON or YAML file's text (``read_bytes`` then ``decode_data``)."""
    return decode_data(read_bytes(path), path)


def writable(path, option: str):
    """Refuse an output path that is empty or exists as something other than a regular file."""
    if not str(path).strip():
        raise ShapeError(f"{option}: the file name is empty")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise ShapeError(f"{option} {path}: cannot write: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ShapeError(f"{option} {path}: cannot write to {_kind(info.st_mode)}: give a regular file")
    return path


def write_text(path, text: str, option: str):
    """Write ``text`` (UTF-8) to the regular file ``path``, created or replaced."""
    writable(path, option)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | _NONBLOCK, 0o666)
    except OSError as exc:
        raise ShapeError(f"{option} {path}: cannot write: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced since the check
            raise ShapeError(f"{option} {path}: cannot write to {_kind(info.st_mode)}: give a regular file")
        os.ftruncate(fd, 0)
        with os.fdopen(os.dup(fd), "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ShapeError(f"{option} {path}: cannot write: {exc.strerror}") from None
    finally:
        os.close(fd)
