"""Hand-made hostile inputs, by the classes of issue 16 (files, YAML, verify, extreme networks, tracebacks,
silently wrong answers, flags and messages). Each case fails on the code before the issue's fix: it
hung, blew up, printed a traceback, exited with the wrong status or answered wrongly."""

from __future__ import annotations

import json

from harness import GiB, Case, Dir, Fifo, Link, Sparse, grouped

NINES = "9" * 5000
DEEP_JSON = '{"layers": [' + '{"sequential": [' * 450 + '"ReLU"' + "]}" * 450 + "]}"
DEEP_YAML = "layers: " + "[" * 5000 + "ReLU" + "]" * 5000 + "\n"
LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
BILLION_LAUGHS = "l0: &l0 [ReLU]\n" + LAUGHS.replace("l0:", "x:") + "layers: [*l9]\n"
SIMPLE_NET = "import torch.nn as nn\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())\n"
LATIN1_NET = "# -*- coding: latin-1 -*-\n# caf\xe9 au lait\n" + SIMPLE_NET
SPEC = {"layers": [{"Conv2d": [3, 8, 3]}, "ReLU"]}


def spec(*layers, **extra):
    return json.dumps({"layers": list(layers), **extra})


def homework(answers, layer="conv out=8 k=3", shape="3x8x8"):
    return f"questions:\n  - layer: {layer}\n    input: {shape}\n    answers: {answers}\n"


def nested_blocks(levels):
    """Python source of ``levels`` residual blocks, each inside the next (class B1 holds a B0, ...)."""
    lines = ["import torch.nn as nn"]
    for i in range(levels):
        inner = "nn.ReLU()" if i == 0 else f"B{i - 1}()"
        lines += [f"class B{i}(nn.Module):", "    def __init__(self):", "        super().__init__()",
                  f"        self.b = {inner}", "    def forward(self, x):", "        return x + self.b(x)"]
    return "\n".join(lines + [f"net = B{levels - 1}()", ""])


# 1. files are regular and at most MAX_FILE_SIZE bytes; output paths are regular files
FILES = [
    Case("file-dev-zero-py", ["zero.py", "-i", "3x8x8"], match=r"zero\.py: cannot read a character device",
         files={"zero.py": Link("/dev/zero")}),
    Case("file-dev-urandom-json", ["r.json"], match="character device", files={"r.json": Link("/dev/urandom")}),
    Case("file-fifo-py", ["net.py", "-i", "3x8x8"], match=r"net\.py: cannot read a FIFO", files={"net.py": Fifo()}),
    Case("file-fifo-yaml", ["net.yaml"], match="FIFO", files={"net.yaml": Fifo()}),
    Case("file-fifo-homework", ["check", "hw.yaml"], match="FIFO", files={"hw.yaml": Fifo()}),
    Case("file-directory-py", ["net.py"], match="cannot read a directory", files={"net.py": Dir()}),
    Case("file-missing", ["missing.py"], match=r"missing\.py: cannot read: No such file"),
    Case("file-50mb-source", ["big.py", "-i", "3x8x8"],
         match=r"big\.py: the file is 50,000,000 bytes, over the limit of 10,000,000 \(set CNNCALC_MAX_FILE_SIZE",
         files={"big.py": Sparse(50_000_000)}),
    Case("file-60mb-json", ["big.json"], match="60,000,000 bytes, over the limit of 10,000,000",
         files={"big.json": Sparse(60_000_000)}),
    Case("file-big-homework", ["check", "hw.json"], match="over the limit of 10,000,000", files={"hw.json": Sparse(10**7 + 1)}),
    Case("file-limit-lowered", ["net.json"], match="the file is 43 bytes, over the limit of 10 ",
         files={"net.json": json.dumps(SPEC)}, env={"CNNCALC_MAX_FILE_SIZE": "10"}),
    Case("file-limit-raised", ["big.py", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"big.py": SIMPLE_NET + "#" * 10_000_001}, env={"CNNCALC_MAX_FILE_SIZE": "20M"}),
    Case("file-limit-bad-variable", ["net.json"], match="CNNCALC_MAX_FILE_SIZE='lots': expected a positive integer",
         files={"net.json": json.dumps(SPEC)}, env={"CNNCALC_MAX_FILE_SIZE": "lots"}),
    Case("svg-fifo", ["alexnet", "--svg", "out.svg"], match=r"--svg out\.svg: cannot write to a FIFO",
         files={"out.svg": Fifo()}),
    Case("plot-fifo", ["alexnet", "--plot", "rf", "out.svg"], match="--plot out.svg: cannot write to a FIFO",
         files={"out.svg": Fifo()}),
    Case("svg-device", ["alexnet", "--svg", "/dev/null"], match="cannot write to a character device"),
    Case("svg-directory", ["alexnet", "--svg", "d"], match="(directory|Directory)", files={"d": Dir()}),
]

# 3. YAML: aliases refused, plain data only
YAML = [
    Case("yaml-billion-laughs", ["net.yaml", "-i", "3x8x8"], match=r"net\.yaml:\d+: the alias \*l0: YAML aliases are not read",
         files={"net.yaml": BILLION_LAUGHS}),
    Case("yaml-alias-reuse", ["net.yaml", "-i", "3x8x8"], match="the alias [*]block",
         files={"net.yaml": "x: &block [ReLU]\nlayers: [*block, *block]\n"}),
    Case("yaml-merge-key", ["net.yaml"], match="alias",
         files={"net.yaml": "base: &b {Conv2d: [3, 8, 3]}\nlayers:\n  - <<: *b\n"}),
    Case("yaml-laughs-homework", ["check", "hw.yaml"], match="YAML aliases are not read",
         files={"hw.yaml": "l0: &l0 [1]\n" + LAUGHS + "questions: *l9\n"}),
    Case("yaml-python-tag", ["net.yaml"], match="could not determine a constructor",
         files={"net.yaml": 'layers: !!python/object/apply:os.system ["echo pwned > pwned"]\n'}),
    Case("yaml-python-name", ["net.yaml"], match="could not determine a constructor",
         files={"net.yaml": "layers: [!!python/name:os.system ReLU]\n"}),
    Case("yaml-complex-key", ["net.yaml"], match=r"net\.yaml:3: a mapping key must be a name or a number, not a list",
         files={"net.yaml": "layers:\n  - ReLU\n  - ? [1, 2]\n    : 3\n"}),
    Case("yaml-nul-byte", ["net.yaml"], match=r"net\.yaml:2: a NUL character", files={"net.yaml": "layers:\n  - ReLU\x00\n"}),
    Case("yaml-bad-timestamp", ["net.yaml"], match="not valid YAML", files={"net.yaml": "layers: [2001-13-45]\n"}),
    Case("yaml-deep-flow", ["net.yaml"], match=r"lists and mappings nest at least 101 levels, over the limit of 100",
         files={"net.yaml": DEEP_YAML}),
]

# 4. verify estimates its memory first
VERIFY = [
    Case("verify-huge-input", ["verify", "resnet18", "-i", "3x20000x20000"],
         match=r"verify resnet18 3x20000x20000: needs about [\d,]+ bytes, over the limit of [\d,]+ \(--max-memory"),
    Case("verify-huge-linear", ["verify", "lin.json", "-i", "1000000"], match="needs about",
         files={"lin.json": spec({"Linear": [10**6, 10**6]})}),
    Case("verify-max-memory", ["verify", "lenet5", "--max-memory", "1M"], match="over the limit of 1,000,000 "),
    Case("verify-max-memory-bad", ["verify", "lenet5", "--max-memory", "lots"], match="--max-memory: expected a number of bytes"),
    Case("verify-within-memory", ["verify", "lenet5", "--max-memory", "1Gi"], expect="ok", match="all checks agree",
         timeout=60),
]

# 5. legal but extreme networks: budgets, not stalls
EXTREME = [
    Case("trace-transpose-stride-1e6", ["up.json", "-i", "3x2x2"],
         match=r"0 \(ConvTranspose2d\): tracing the receptive field after upsampling needs more than 1,000,000 steps",
         files={"up.json": spec({"ConvTranspose2d": {"args": [3, 3, 2], "stride": 10**6}})}),
    Case("trace-transpose-stride-1e9", ["up.json", "-i", "3x2x2"], match="CNNCALC_MAX_TRACE",
         files={"up.json": spec({"ConvTranspose2d": {"args": [3, 3, 2], "stride": 10**9}})}),
    Case("trace-20-upsamplings", ["up.json", "-i", "3x2x2"], match="CNNCALC_MAX_TRACE",
         files={"up.json": spec(*[{"Upsample": {"scale_factor": 2}}] * 20)}),
    Case("trace-budget-lowered", ["up.json", "-i", "3x2x2"], match=r"needs more than 1,000 steps, over the limit of 1,000 ",
         files={"up.json": spec({"ConvTranspose2d": {"args": [3, 3, 2], "stride": 5000}})}, env={"CNNCALC_MAX_TRACE": "1000"}),
    Case("trace-within-budget", ["up.json", "-i", "3x2x2"], expect="ok", match=r"Receptive field: 1, stride 1/5000, start 0\n",
         files={"up.json": spec({"ConvTranspose2d": {"args": [3, 3, 2], "stride": 5000}})}),
    Case("solve-max-kernel", ["solve", "conv", "-n", "32", "-o", "16", "--max-kernel", "1000000"],
         match=r"the search would try 250,001,000,000 settings, over the limit of 1,000,000 \(set CNNCALC_MAX_SEARCH"),
    Case("solve-max-padding", ["solve", "conv", "-n", "32", "-o", "16", "--max-padding", "1000000000"],
         match="11,000,000,011 settings"),
    Case("solve-conv-ok", ["solve", "conv", "-n", "32", "-o", "16", "--max-kernel", "3"], expect="ok",
         match=r"k=3, p=1: s in \{2\}"),
    Case("solve-input-huge-period", ["solve", "input", "s.json", "-i", "3xHxH"], match="CNNCALC_MAX_ANALYSES",
         files={"s.json": spec({"Conv2d": {"args": [3, 3, 1], "stride": 10**6}})}),
]

# 6. no traceback: digits, number formatting, encodings, nesting, odd values
TRACEBACKS = [
    Case("digits-input", ["conv", "-i", f"3x{NINES}x3", "-o", "3", "-k", "1"],
         match=r"--input: invalid shape .*: a dimension of 5,000 digits, over the limit of 1,000 \(set CNNCALC_MAX_DIGITS"),
    Case("digits-padding", ["conv", "-i", "3x8x8", "-o", "3", "-k", "1", "-p", NINES], match="5,000 digits"),
    Case("digits-batch", ["alexnet", "-b", "1" + "0" * 2200], match="2,201 digits"),
    Case("digits-spec", ["big.json"], match=r"an integer of 5,000 digits", files={"big.json": '{"layers": [{"Linear": [' + NINES + ", 3]}]}"}),
    Case("digits-spec-yaml", ["big.yaml"], match=r"big\.yaml:1: an integer of 5,000 digits",
         files={"big.yaml": f"layers: [{{Linear: [{NINES}, 3]}}]\n"}),
    Case("digits-homework", ["check", "hw.yaml"], match="5,000 digits", files={"hw.yaml": homework(f"{{params: {NINES}}}")}),
    Case("digits-result", ["up.json", "-i", "3x2x2"], match=r"the output size has 1,201 digits, over the limit of 1,000",
         files={"up.json": spec(*[{"Upsample": {"scale_factor": 10**300}}] * 4)}),
    Case("big-batch-table", ["alexnet", "-b", "1" + "0" * 900], expect="ok", match=r"Input size \(MB\): 6183480{894}\.00\n"),
    Case("big-linear-table", ["lin.json", "-i", "1" + "0" * 400], expect="ok", match=r"Total params: 100(,000){266}\n",
         files={"lin.json": spec({"Linear": [10**400, 10**400, False]})}),
    Case("utf8-bom-py", ["bom.py", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"bom.py": b"\xef\xbb\xbf" + SIMPLE_NET.encode()}),
    Case("latin1-cookie-py", ["latin.py", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"latin.py": LATIN1_NET.encode("latin-1")}),
    Case("latin1-no-cookie-py", ["latin.py", "-i", "3x8x8"], match=r"latin\.py:1: not Python source text in utf-8: byte 0xe9 at offset 5 does not decode \(.*coding: NAME",
         files={"latin.py": LATIN1_NET.split("\n", 1)[1].encode("latin-1")}),
    Case("bogus-cookie-py", ["bogus.py"], match="unknown encoding", files={"bogus.py": "# coding: bogus\n" + SIMPLE_NET}),
    Case("binary-py", ["bin.py"], match="(NUL|not Python source)", files={"bin.py": bytes(range(256)) * 4}),
    Case("utf16-json", ["u16.json", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"u16.json": json.dumps(SPEC).encode("utf-16")}),
    Case("utf16be-json-no-bom", ["u16.json", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"u16.json": json.dumps(SPEC).encode("utf-16-be")}),
    Case("utf8-bom-json", ["b.json", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"b.json": b"\xef\xbb\xbf" + json.dumps(SPEC).encode()}),
    Case("utf16-yaml", ["u16.yaml", "-i", "3x8x8"], expect="ok", match="Total params: 224",
         files={"u16.yaml": "layers: [{Conv2d: [3, 8, 3]}, ReLU]\n".encode("utf-16")}),
    Case("binary-json", ["bin.json"], match=r"bin\.json.*(binary|NUL)", files={"bin.json": bytes(range(256)) * 4}),
    Case("binary-homework", ["check", "hw.json"], match="(binary|NUL)", files={"hw.json": b"\x89PNG\r\n\x1a\n\x00\x00"}),
    Case("deep-json-spec", ["deep.json"], match=r"deep\.json:1: lists and mappings nest at least 101 levels",
         files={"deep.json": DEEP_JSON}),
    Case("deep-json-homework", ["check", "hw.json"], match="nest at least 101 levels",
         files={"hw.json": "[" * 3000 + "]" * 3000}),
    Case("depth-limit-raised", ["deep.json", "-i", "3x8x8"], expect="ok", match="Total params: 0",
         files={"deep.json": '{"layers": [' + '{"sequential": [' * 80 + '"ReLU"' + "]}" * 80 + "]}"},
         env={"CNNCALC_MAX_DEPTH": "200"}),
    Case("deep-network-to-spec", ["deep.py", "-i", "3x8x8", "-f", "spec"],
         match=r"--format spec: the spec would nest 1\d\d levels, over the limit of 100",
         files={"deep.py": nested_blocks(40)}),
    Case("spec-args-not-a-list", ["s.json"], match=r"layers\[0\]\.Conv2d\.args: expected a list of positional arguments",
         files={"s.json": spec({"Conv2d": {"args": 5}})}),
    Case("spec-argument-not-a-name", ["s.json"], match="is not an argument name",
         files={"s.json": spec({"Conv2d": {"args": [3, 8, 3], "1": 2}})}),
    Case("spec-input-shape-mapping", ["s.json"], match="input_shape: expected a shape",
         files={"s.json": spec("ReLU", input_shape={"a": 1})}),
    Case("spec-nan-size", ["s.json", "-i", "3x8x8"], match="(integer|NaN|nan)",
         files={"s.json": '{"layers": [{"Conv2d": [3, NaN, 3]}]}'}),
    Case("spec-lone-surrogate-name", ["s.json", "-i", "3x8x8"], expect="ok", match=r"\\ud800",
         files={"s.json": '{"layers": [{"ReLU": null, "name": "\\ud800"}]}'}),
    Case("closed-stdout", ["alexnet"], match="standard output is closed", fresh=True, close_stdout=True),
]

# 7. what PyTorch refuses is refused; nothing is misread
MISREAD = [
    Case("reshape-negative", ["s.json", "-i", "3x12x12"], match=r"view\(x\.size\(0\), -2, -144\): invalid shape dimension -2",
         files={"s.json": spec({"Flatten": None}, {"Reshape": [None, -2, -144]})}),
    Case("reshape-zero", ["s.json", "-i", "3x12x12"], match=r"invalid size 0",
         files={"s.json": spec({"Reshape": [None, 0]})}),
    Case("reshape-zero-inferred", ["s.json", "-i", "3x12x12"], match=r"-1 cannot be inferred with a 0 size",
         files={"s.json": spec({"Reshape": [-1, 0]})}),
    Case("padding-word-not-a-size", ["conv", "-i", "3x8x8", "-o", "4", "-k", "valid"],
         match="'valid' is a padding word, not a size"),
    Case("padding-word-is-padding", ["conv", "-i", "3x8x8", "-o", "4", "-k", "3", "-p", "valid"], expect="ok",
         match=r"Output shape:\s+4x6x6"),
    Case("keyword-not-a-symbol", ["conv", "-i", "3xNonex8", "-o", "4", "-k", "3"], match="neither a positive integer nor a name"),
    Case("check-pair-with-comma", ["check", "--inline", "conv in=3x8x8 out=4 k=3 p=1,1 -> 4x8x8"],
         match=r"p: expected an integer, got '1,1' \(digits, grouped in threes"),
    Case("check-bad-grouping", ["check", "--inline", "conv in=3x8x8 out=4 k=3 p=1 -> 4x8x8 params=2,24"],
         match="'2,24' is not a number such as 34944, 34,944"),
    Case("check-good-grouping", ["check", "--inline", "linear in=9216 out=4096 -> 4096 params=37,752,832"], expect="ok",
         match=r"\[x\] params = 37,752,832: right"),
    Case("check-linear-flattens", ["check", "--inline", "linear in=3x4x5 out=5 -> 5 params=305"], expect="ok",
         match=r"\[x\] output_shape = 5: right\n.*\[x\] params = 305: right"),
    Case("check-null-answer", ["check", "hw.yaml"], match=r"output_shape: expected a shape such as 96x55x55, got None",
         files={"hw.yaml": homework("{output_shape: null}")}),
    Case("avg-pool-dilation", ["pool", "-i", "3x8x8", "-k", "2", "--type", "avg", "-d", "2"],
         match="average pooling has no dilation"),
    Case("explain-avg-pool-dilation", ["explain", "pool", "-i", "3x8x8", "-k", "2", "--type", "avg", "-d", "2"],
         match="average pooling has no dilation"),
    Case("softmax-fractional-dim", ["s.json", "-i", "3x8x8"], match="Softmax: dim must be an integer, got 1.5",
         files={"s.json": spec({"Softmax": {"dim": 1.5}})}),
    Case("batch-zero", ["alexnet", "--batch", "0"], match="must be positive"),
    Case("batch-negative", ["alexnet", "--batch=-1"], match="(positive|integer nor a name)"),
]

# 8. flags and messages
FLAGS = [
    Case("stride-empty", ["conv", "-i", "3x8x8", "-o", "4", "-k", "3", "-s", ""], match="--stride: invalid shape '': empty"),
    Case("kernel-empty", ["conv", "-i", "3x8x8", "-o", "4", "-k", ""], match="--kernel-size: invalid shape '': empty"),
    Case("svg-empty", ["alexnet", "--svg", ""], match="--svg: the file name is empty"),
    Case("spec-with-svg", ["lenet5", "-f", "spec", "--svg", "net.svg"], expect="ok", match='"layers"'),
    Case("bare-cnncalc", [], match=r"give a model or a command, e\.g\. cnncalc alexnet \(cnncalc --help lists them\)"),
    Case("unknown-option", ["alexnet", "--bogus"], match="No such option '--bogus'"),
    Case("check-nothing", ["check"], match="give a homework file or --inline"),
    Case("columns-empty", ["alexnet", "--columns", ","], match="--columns: unknown column"),
    Case("input-empty", ["alexnet", "-i", ""], match="--input: invalid shape '': empty dimension"),
    Case("input-20k-axes", ["alexnet", "-i", "x".join(["1"] * 20_000)], match=r"expects a \(C, H, W\) feature map",
         timeout=5),
    Case("endless-loop-source", ["loop.py"], match="more than 500,000 interpreted steps",
         files={"loop.py": "import torch.nn as nn\nwhile True:\n    pass\nnet = nn.Sequential(nn.ReLU())\n"}),
    Case("nul-in-source", ["nul.py"], match=r"nul\.py:2: a NUL character", files={"nul.py": SIMPLE_NET.replace("\n", "\n\x00", 1)}),
    Case("memory-cap-respected", ["resnet18", "-i", "3x224x224"], expect="ok", match="Total params: 11,689,512",
         memory=1 * GiB),
]

CASES = (grouped("1-files", FILES) + grouped("3-yaml", YAML) + grouped("4-verify", VERIFY)
         + grouped("5-extreme", EXTREME) + grouped("6-tracebacks", TRACEBACKS) + grouped("7-misread", MISREAD)
         + grouped("8-flags", FLAGS))
