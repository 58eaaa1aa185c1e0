"""cnncalc.files: only regular files, never past the size limit; text decoded as Python, JSON and YAML are."""

from __future__ import annotations

import os

import pytest

from cnncalc.errors import LimitError, ShapeError
from cnncalc.files import decode_data, decode_source, read_bytes, writable, write_text

NET = "import torch.nn as nn\nnet = nn.Sequential(nn.ReLU())\n"


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_regular_file_is_read_whole(place):
    (place / "a.py").write_bytes(b"x = 1\n")
    assert read_bytes("a.py") == b"x = 1\n"


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), "a FIFO \\(named pipe\\)"),
    (lambda p: os.mkdir(p), "a directory"),
    (lambda p: os.symlink("/dev/zero", p), "a character device"),
], ids=["fifo", "directory", "device"])
def test_what_is_not_a_regular_file_is_refused_before_reading(place, make, kind):
    make(place / "net.py")
    with pytest.raises(ShapeError, match=f"^net.py: cannot read {kind}: give a regular file$"):
        read_bytes("net.py")


def test_a_missing_file_says_so(place):
    with pytest.raises(ShapeError, match="^gone.json: cannot read: No such file or directory$"):
        read_bytes("gone.json")


def test_the_size_limit_is_exact(place, monkeypatch):
    monkeypatch.setenv("CNNCALC_MAX_FILE_SIZE", "10")
    (place / "ok.json").write_bytes(b"0123456789")
    (place / "big.json").write_bytes(b"0123456789A")
    assert read_bytes("ok.json") == b"0123456789"
    with pytest.raises(LimitError, match=r"^big.json: the file is 11 bytes, over the limit of 10 \(set CNNCALC_MAX_FILE_SIZE"):
        read_bytes("big.json")


def test_a_file_claiming_no_size_is_still_read_only_to_the_limit(monkeypatch):
    monkeypatch.setenv("CNNCALC_MAX_FILE_SIZE", "100")
    with pytest.raises(LimitError, match="the file is more than 100 bytes"):
        read_bytes("/proc/self/maps")  # a regular file whose size says 0


@pytest.mark.parametrize("data, text", [
    (NET.encode(), NET),
    (b"\xef\xbb\xbf" + NET.encode(), NET),  # the BOM is dropped, as Python drops it
    ("# -*- coding: latin-1 -*-\n# café\n".encode("latin-1"), "# -*- coding: latin-1 -*-\n# café\n"),
    ("# vim: set fileencoding=cp1252 :\ns = '€'\n".encode("cp1252"), "# vim: set fileencoding=cp1252 :\ns = '€'\n"),
], ids=["utf8", "bom", "latin1-cookie", "cp1252-cookie"])
def test_source_decodes_as_python_decodes_it(data, text):
    assert decode_source(data, "m.py") == text


@pytest.mark.parametrize("data, message", [
    ("# café\n".encode("latin-1"), r"^m.py:1: not Python source text in utf-8: byte 0xe9 at offset 5 does not decode"),
    (b"# coding: bogus\n", "^m.py: unknown encoding: bogus$"),
    (b"x = 1\n\x00\n", "^m.py:2: a NUL character: a binary file, not text$"),
    (b"x = 1\ny = '\xff'\n", "^m.py:2: not Python source text in utf-8: byte 0xff"),
], ids=["latin1-no-cookie", "bogus-cookie", "nul", "bad-byte-line-2"])
def test_source_that_does_not_decode_is_refused_with_its_line(data, message):
    with pytest.raises(ShapeError, match=message):
        decode_source(data, "m.py")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
def test_data_decodes_from_every_json_encoding(encoding):
    assert decode_data('{"layers": ["ReLU"]}'.encode(encoding), "s.json") == '{"layers": ["ReLU"]}'


@pytest.mark.parametrize("data", [bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00", b"layers: [ReLU]\n\x00"], ids=["bytes", "png", "nul"])
def test_binary_data_is_refused(data):
    with pytest.raises(ShapeError, match="(a binary file|a NUL character)"):
        decode_data(data, "s.json")


def test_output_goes_to_new_or_regular_files_only(place):
    write_text("new.svg", "<svg/>", "--svg")
    assert (place / "new.svg").read_text() == "<svg/>"
    write_text("new.svg", "<g/>", "--svg")  # replaced, not appended
    assert (place / "new.svg").read_text() == "<g/>"
    os.symlink("new.svg", place / "link.svg")
    write_text("link.svg", "<a/>", "--svg")  # a link to a regular file is a regular file
    assert (place / "new.svg").read_text() == "<a/>"
    os.mkfifo(place / "pipe.svg")
    for path, message in [("", "^--svg: the file name is empty$"), ("pipe.svg", "^--svg pipe.svg: cannot write to a FIFO"),
                          ("/dev/null", "^--svg /dev/null: cannot write to a character device"),
                          (str(place), "cannot write to a directory")]:
        with pytest.raises(ShapeError, match=message):
            writable(path, "--svg")
        with pytest.raises(ShapeError, match=message):
            write_text(path, "<svg/>", "--svg")
