"""The command line, through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


def test_alexnet_table_totals():
    result = run("alexnet", "--input", "3x227x227")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Total params: 62,378,344" in out
    assert "Trainable params: 62,378,344" in out
    assert "Total MACs: 1.14 G (1,135,256,096)" in out
    assert "Total FLOPs: 2.27 G" in out
    assert "Receptive field: 195, stride 32, start -64" in out
    assert "96x55x55" in out and "34,944" in out
    assert "Params size (MB): 249.51" in out  # 62,378,344 * 4 bytes
    assert all(len(line) <= 100 for line in out.splitlines())


def test_json_is_the_report_dict_and_contract_shape():
    result = run("alexnet", "--input", "3x227x227", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    expected = cnncalc.analyze(cnncalc.model("alexnet"), (3, 227, 227), warn=False).to_dict()
    assert data == expected
    contract_v1 = {"model", "input_shape", "layers", "totals", "receptive_field"}
    assert set(data) == contract_v1 | {"local_receptive_field", "batch", "dtype", "depth", "memory", "extra_ops", "version"}
    assert data["model"] == "alexnet" and data["input_shape"] == [3, 227, 227]
    first = data["layers"][0]
    assert first == {
        "name": "features.0", "type": "Conv2d", "input_shape": [3, 227, 227], "output_shape": [96, 55, 55],
        "params": 34944, "macs": 105415200,
        "receptive_field": {"size": [11, 11], "stride": [4, 4], "start": [0, 0]},
        "output_numel": 96 * 55 * 55, "activation_bytes": 96 * 55 * 55 * 4,
    }
    totals = data["totals"]
    assert totals["params"] == totals["trainable_params"] == 62378344
    assert totals["buffers"] == 0 and totals["flops"] == 2 * totals["macs"] and totals["output_shape"] == [1000]
    assert data["receptive_field"]["stride"] == [32, 32]


def test_symbolic_json_values_are_strings():
    data = json.loads(run("vgg16", "--input", "3xHxW", "--format", "json").stdout)
    assert data["input_shape"] == [3, "H", "W"]
    assert data["layers"][0]["output_shape"] == [64, "H", "W"]
    assert isinstance(data["totals"]["macs"], str) and "H" in data["totals"]["macs"]
    assert data["totals"]["params"] == 138357544


def test_symbolic_table_reads_in_closed_forms_and_stays_aligned():
    lines = run("alexnet", "--input", "3xHxW").stdout.splitlines()
    rule = lines[0]
    assert set(rule) == {"="} and len(rule) > 100  # widened for the formulas, not broken
    body = lines[3 : lines.index(rule, 3)]
    assert all(len(line) == len(rule) for line in body)
    conv = next(line for line in body if "0 (Conv2d)" in line)
    assert "96xfloor((H-7)/4)xfloor((W-7)/4)" in conv and "34848*floor((H - 7)/4)*floor((W - 7)/4)" in conv
    macs = next(line for line in lines if line.startswith("Total MACs:"))
    # no needless common factor (the sum's gcd, 32, is not pulled out)
    assert macs == ("Total MACs: 3096576*floor((H - 19)/16)*floor((W - 19)/16) + 614400*floor((H - 11)/8)*floor((W - 11)/8)"
                    " + 34848*floor((H - 7)/4)*floor((W - 7)/4) + 58621952")
    assert len(run("alexnet").stdout.splitlines()[0]) == 100


def test_symbolic_assumptions_are_printed():
    needs = "fc1 (Linear): 16*(floor(H/4) - 3)*(floor(W/4) - 3) = 400"
    assert f"Assumes {needs}" in run("cifar_net", "--input", "3xHxW").stdout
    assert json.loads(run("cifar_net", "--input", "3xHxW", "--format", "json").stdout)["assumptions"] == [needs]
    assert "Assumes" not in run("cifar_net").stdout


def test_csv_and_markdown_have_one_row_per_layer():
    report = cnncalc.analyze(cnncalc.model("resnet18"), (3, 224, 224), warn=False)
    rows = list(csv.DictReader(io.StringIO(run("resnet18", "--format", "csv").stdout)))
    assert len(rows) == len(report.layers)
    assert rows[0]["name"] == "conv1" and rows[0]["output_shape"] == "64x112x112" and rows[0]["params"] == "9408"
    assert sum(int(r["params"]) for r in rows) == 11689512
    md = run("resnet18", "--format", "markdown").stdout.splitlines()
    assert len(md) == len(report.layers) + 3
    assert md[-1].startswith("| **Total** |") and "**11,689,512**" in md[-1]


def test_depth_collapses_blocks_and_keeps_totals():
    full = run("resnet18").output
    folded = run("resnet18", "--depth", "1").output
    assert "layer1 (Sequential)" in folded and "conv1 (Conv2d)" in folded
    table = "\n".join(line for line in folded.splitlines() if not line.startswith("Warning:"))
    assert "0 (Conv2d)" not in table and "downsample (Sequential)" in full
    assert "147,968" in folded  # layer1's two BasicBlocks: 2 * 73,984 params
    for text in (full, folded):
        assert "Total params: 11,689,512" in text


def test_batch_dtype_and_columns():
    out = run("alexnet", "--batch", "2", "--dtype", "int8", "--columns", "input_shape,params").output
    assert "Total MACs (batch 2): 2.27 G (2,270,512,192)" in out
    assert "Params size (MB): 62.38" in out  # one byte per parameter: a quarter of float32's 249.51
    assert "Input Shape" in out and "MACs " not in out.split("\n")[1]


def test_default_input_is_the_model_native_size():
    assert "Output shape: 10" in run("lenet5").output
    assert "Input size (MB): 0.62" in run("alexnet").output  # 3x227x227 float32


def test_models_lists_the_zoo():
    result = run("models")
    assert result.exit_code == 0
    for name in cnncalc.models():
        assert name in result.output
    entries = json.loads(run("models", "--format", "json").output)
    by_name = {e["name"]: e for e in entries}
    assert by_name["resnet50"]["params"] == 25557032 and by_name["resnet50"]["input_shape"] == [3, 224, 224]


def _flat(text):
    """Output with runs of spaces as one (the summary's labels are aligned)."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


@pytest.mark.parametrize(
    "args, expected",
    [
        (["conv", "--input", "3x227x227", "--out-channels", "96", "-k", "11", "-s", "4"],
         ["Conv2d(3, 96, kernel_size=11, stride=4)", "Output shape: 96x55x55", "Params: 34,944",
          "H_out = W_out = floor((H_in - k + 2*p)/s) + 1 = floor((227 - 11 + 2*0)/4) + 1 = floor(216/4) + 1 = 54 + 1 = 55",
          "parameters per filter: C_in*k^2 + 1 = 3*11^2 + 1 = 364", "= 96*(3*11^2 + 1) = 96*364 = 34944"]),
        (["conv", "-i", "3x32x32", "-o", "64", "-k", "3", "-s", "2"], ["Output shape: 64x15x15", "Params: 1,792"]),
        (["conv", "-i", "256x14x14", "-o", "64", "-k", "1", "--no-bias"], ["Params: 16,384"]),
        (["conv", "-i", "Cx32x32", "-o", "64", "-k", "k", "-p", "p"],
         ["Params: 64*(C*k^2 + 1)", "Note: k, p are symbols (unknown positive integers), not numbers"]),
        (["pool", "-i", "64x16x16", "-k", "2"], ["Output shape: 64x8x8", "Receptive field: 2, stride 2, start 0"]),
        (["pool", "-i", "1x7x7", "-k", "3", "-s", "2", "--ceil-mode"], ["Output shape: 1x3x3", "ceil_mode=True"]),
        (["pool", "-i", "1x7x7", "-k", "3", "-s", "3"], ["! floor truncation drops the last 1 row of the input"]),
        (["convtranspose", "-i", "16x8x8", "-o", "8", "-k", "4", "-s", "2", "-p", "1"],
         ["Output shape: 8x16x16", "Params: 2,056", "Receptive field: 2, stride 1/2, start -1",
          "neighbouring output pixels read regions of different sizes"]),
        (["convtranspose", "-i", "16x7x7", "-o", "8", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1"],
         ["Output shape: 8x14x14", "= 3 + 1 - 2*1 + 2*(7 - 1) = 14"]),
        (["linear", "-i", "16x5x5", "-o", "120"],
         ["Output shape: 120", "Params: 48,120", "flattened: F_out = C_in*H_in*W_in = 16*5*5 = 400",
          "parameters: F_out*(F_in + 1) = 120*(400 + 1) = 120*401 = 48120"]),
        (["conv", "-i", "3x16x112x112", "-o", "64", "-k", "3", "-p", "1"],
         ["Conv3d(3, 64, kernel_size=3, padding=1)", "Output shape: 64x16x112x112", "Params: 5,248",
          "D_out = floor((D_in - k + 2*p)/s) + 1 = floor((16 - 3 + 2*1)/1) + 1 = 15 + 1 = 16",
          "parameters per filter: C_in*k^3 + 1 = 3*3^3 + 1 = 82"]),
        (["conv", "-i", "1x16000", "-o", "8", "-k", "80", "-s", "4"],
         ["Conv1d(1, 8, kernel_size=80, stride=4)", "Output shape: 8x3981",
          "L_out = floor((L_in - k + 2*p)/s) + 1 = floor((16000 - 80 + 2*0)/4) + 1 = floor(15920/4) + 1 = 3980 + 1 = 3981"]),
        (["pool", "-i", "8x16x32x32", "-k", "2", "--type", "avg"], ["AvgPool3d(2)", "Output shape: 8x8x16x16"]),
        (["batchnorm", "-i", "64x56x56"], ["BatchNorm2d(64)", "Params: 128", "Buffers: 128",
                                          "parameters (gamma and beta per channel): 2*C = 2*64 = 128"]),
        (["pad", "-i", "3x32x32", "-p", "1x2"], ["ZeroPad2d((2, 2, 1, 1))", "Output shape: 3x34x36",
                                                "H_out = H_in + 2*p_h = 32 + 2*1 = 34"]),
    ],
    ids=["alexnet-conv1", "stride2", "1x1-no-bias", "symbolic", "pool", "ceil-mode", "truncation", "transpose",
         "output-padding", "linear", "conv3d", "conv1d", "avgpool3d", "batchnorm", "pad"],
)
def test_single_layer_calculators(args, expected):
    result = run(*args)
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in _flat(result.output), text


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchnet"], "Error: unknown model 'nosuchnet'"),
        (["resnet5"], "resnet50"),
        (["alexnet", "--input", "3x227"], "Error: "),
        (["alexnet", "--input", "3x-2x2"], "Error: --input: invalid shape"),
        (["alexnet", "--input", "3x32x32"], "(MaxPool2d): output height would be 0"),
        (["alexnet", "--columns", "params,bogus"], "Error: --columns: unknown column bogus"),
        (["conv", "-i", "3x8x8", "-o", "4", "-k", "3", "-g", "2"], "divisible by groups"),
        (["conv", "-i", "3x8x8", "-o", "4", "-k", "__import__('os')"], "Error: --kernel-size: invalid shape"),
    ],
    ids=["unknown", "suggest", "rank", "negative", "too-small", "columns", "groups", "no-eval"],
)
def test_bad_input_is_one_error_line_and_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def _process(*args):
    return subprocess.run([sys.executable, "-m", "cnncalc.cli", *args], capture_output=True, text=True, timeout=60)


def test_real_process_success_and_error():
    ok = _process("alexnet", "--input", "3x227x227", "--format", "json")
    assert ok.returncode == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["totals"]["params"] == 62378344
    bad = _process("alexnet", "--input", "3x32x32")
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: features.") and "(MaxPool2d)" in lines[0]
    usage = _process("alexnet", "--bogus")
    assert usage.returncode == 2 and usage.stderr.splitlines() == [
        "Error: No such option '--bogus'. (Did you mean one of: '--args', '--columns'?)"]


def test_plain_when_piped():
    out = _process("resnet18").stdout
    assert "\x1b[" not in out


def _in_terminal(*args, columns=100, **env):
    """Run cnncalc on a pseudo-terminal ``columns`` wide; its whole output (stdout and stderr)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    proc = subprocess.Popen([sys.executable, "-m", "cnncalc", *args], stdin=child, stdout=child, stderr=child,
                            env={**environ, **env}, close_fds=True)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, out
    return out.decode().replace("\r\n", "\n")


def test_colour_on_a_terminal_unless_no_color():
    assert "\x1b[1m" in _in_terminal("lenet5")  # the bold heading
    plain = _in_terminal("lenet5", NO_COLOR="1")
    assert "\x1b[" not in plain and "Total params: 61,706" in plain


@pytest.mark.parametrize("columns", [80, 140])
def test_the_table_fits_the_terminal(columns):
    out = _in_terminal("efficientnet_b0", columns=columns, NO_COLOR="1")
    assert max(len(line) for line in out.splitlines()) <= columns
    assert " ".join(out.split()).count("scale_activation (Sigmoid)") == 16  # wrapped on 80, one line on 140
    one_line = sum(1 for line in out.splitlines() if "scale_activation (Sigmoid)" in line)
    assert one_line == (16 if columns == 140 else 0)


@pytest.mark.parametrize(("words", "expected"), [
    ("cnncalc res", ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50", "resnext101_32x8d",
                     "resnext101_64x4d", "resnext50_32x4d"]),
    ("cnncalc sch", ["schema"]),
    ("cnncalc resnet50 --for", ["--format"]),
    ("cnncalc resnet50 --format ", ["table", "json", "csv", "markdown", "spec"]),
    ("cnncalc resnet50 --columns nu", []),
], ids=["models", "command", "option", "choices", "free-text"])
def test_shell_completion(words, expected):
    import os

    at = len(words.split()) - (0 if words.endswith(" ") else 1)  # the word being completed
    env = {**os.environ, "_CNNCALC_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(at)}
    result = subprocess.run([sys.executable, "-m", "cnncalc"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split(",", 1)[1] for line in result.stdout.splitlines() if line] == expected


def test_shell_completion_scripts():
    import os

    for shell, marker in (("bash", "complete -o nosort -F _cnncalc_completion cnncalc"), ("zsh", "#compdef cnncalc"),
                          ("fish", "complete --no-files --command cnncalc")):
        env = {**os.environ, "_CNNCALC_COMPLETE": f"{shell}_source"}
        result = subprocess.run([sys.executable, "-m", "cnncalc"], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0 and marker in result.stdout, (shell, result.stdout[:200])


def test_subsampling_windows_do_not_warn_but_truncating_tilings_do():
    shortcut = run("conv", "-i", "64x56x56", "-o", "128", "-k", "1", "-s", "2")
    assert "Output shape: 128x28x28" in _flat(shortcut.output) and "truncation" not in shortcut.output
    assert "Warning" not in run("resnet18").output
    tiled = run("conv", "-i", "1x7x7", "-o", "1", "-k", "3", "-s", "3")
    assert "! floor truncation drops the last 1 row of the input: no window reaches it" in tiled.output


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def test_model_files_are_analysed_and_diagnosed_with_file_and_line():
    keras = run(str(FIXTURES / "mnist_keras.py"))
    assert keras.exit_code == 0 and "Total params: 121,930" in keras.output  # Keras input_shape= is the default
    buggy = run(str(FIXTURES / "alexnet_buggy.py"), "--input", "3x227x227")
    assert buggy.exit_code == 2
    assert buggy.output.strip() == (
        f"Error: {FIXTURES / 'alexnet_buggy.py'}:25: fc3 (Linear) given input 4096: expects 9216 input features, "
        "receives 4096: use nn.Linear(4096, num_cls)"
    )


@pytest.mark.parametrize("name", ["cifar_net", "resnet18", "googlenet"])
def test_spec_output_loads_back_to_the_same_analysis(name, tmp_path):
    spec = tmp_path / f"{name}.json"
    spec.write_text(run(name, "--format", "spec").stdout)
    again = json.loads(run(str(spec), "--format", "json").stdout)
    original = json.loads(run(name, "--format", "json").stdout)
    assert again["layers"] == original["layers"] and again["totals"] == original["totals"]


def test_a_keras_activation_is_listed_under_its_layer():
    lines = run(str(FIXTURES / "mnist_keras.py")).stdout.splitlines()
    conv = next(i for i, line in enumerate(lines) if line.startswith("  conv2d (Conv2d)"))
    assert lines[conv + 1].startswith("    activation (ReLU)")
    assert sum("(Sequential)" in line for line in lines) == 1  # the model itself, no repeated conv2d heading


def test_a_receptive_field_ending_at_a_gate_says_so():
    lines = run("efficientnet_b0").stdout.splitlines()
    at = lines.index("Receptive field: 7, stride 2, start -3")
    assert lines[at + 1] == "  (it ends at the gate features.1.0.block.1: its global pool lets every pixel reach every output)"
    assert "(it ends at the gate" not in run("resnet50").stdout
