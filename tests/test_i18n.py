"""Chinese throughout: one glossary, every message in both languages, the default language, the engine's errors
translated, and no English word left in what a command prints with --lang zh."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc import i18n
from cnncalc.cli import cli, main
from cnncalc.layers import layer_types


def run(*args):
    return CliRunner().invoke(cli, list(args), prog_name="cnncalc")


# --- the catalogue ---------------------------------------------------------------------------------------------


def test_every_message_has_both_languages_and_its_terms_resolve():
    for key, pair in i18n.MESSAGES.items():
        assert len(pair) == 2 and all(pair), key
        for lang in i18n.LANGS:
            assert "[[" not in i18n.text(key, lang) if "{" not in pair[1] else True, key
        for name in re.findall(r"\[\[([a-z_]+)\]\]", pair[1]):
            assert name in i18n.GLOSSARY, (key, name)


def test_chinese_messages_use_full_width_punctuation():
    """Outside formulas and code, Chinese sentences take ：，（）；, never ': ' or ', ' or ' ('."""
    for key, (_, zh) in i18n.MESSAGES.items():
        prose = re.sub(r"\{[^}]*\}|'[^']*'|--[a-z-]+|\S*[=*/^()]\S*", "", zh)  # placeholders, code, formulas
        assert not re.search(r"[\u4e00-\u9fff][:,;]|[:,;] ?[\u4e00-\u9fff]", prose), (key, zh)
        assert not re.search(r"[\u4e00-\u9fff] ?\(|\) ?[\u4e00-\u9fff]", prose), (key, zh)


@pytest.mark.parametrize("term, word", [
    ("kernel", "卷积核"), ("stride", "步长"), ("padding", "填充"), ("receptive_field", "感受野"), ("params", "参数量"),
    ("macs", "乘加运算（MACs）"), ("feature_map", "特征图"), ("channels", "通道"),
])
def test_the_glossary(term, word):
    assert i18n.term(term, "zh") == word


def test_one_word_per_idea():
    """The glossary's words, not their synonyms: 步幅, 补零, 滤波器, 核大小, 乘加次数 never appear."""
    zh = " ".join(pair[1] for pair in i18n.MESSAGES.values())
    for synonym in ("步幅", "补零", "滤波器", "乘加次数", "参数数量", "接受野"):
        assert synonym not in zh, synonym


@pytest.mark.parametrize("env, expected", [
    ({"CNNCALC_LANG": "zh"}, "zh"), ({"CNNCALC_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "en"), ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"), ({"CNNCALC_LANG": "fr"}, "en"),
], ids=["env-zh", "env-wins", "locale-does-not-decide", "lc-all-does-not-decide", "english-locale", "nothing",
        "unknown-env"])
def test_the_default_language(monkeypatch, env, expected):
    for name in ("CNNCALC_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert i18n.default_lang() == expected


def test_cnncalc_lang_makes_every_command_chinese(monkeypatch):
    monkeypatch.setenv("CNNCALC_LANG", "zh")
    assert "参数量：1,792" in run("conv", "-i", "3x32x32", "-o", "64", "-k", "3", "-p", "1").output
    assert "得分：1/1（100%）" in run("check", "--inline", "conv in=3x8x8 out=4 k=3 -> 4x6x6").output
    assert "参数量：1,792" not in run("conv", "-i", "3x32x32", "-o", "64", "-k", "3", "-p", "1", "--lang", "en").output


def test_a_group_level_lang_reaches_the_command():
    assert "输出形状：64x32x32" in run("--lang", "zh", "conv", "-i", "3x32x32", "-o", "64", "-k", "3", "-p", "1").output


TRANSLATIONS = [
    ("Conv2d: output height would be -2: floor((2 + 2*0 - 5)/1) + 1 (kernel 5 is larger than the padded input 2)",
     "Conv2d：输出高度将为 -2：floor((2 + 2*0 - 5)/1) + 1（卷积核 5 大于填充后的输入 2）"),
    ("features.0 (Conv2d): expects 3 input channels, receives 227",
     "features.0 (Conv2d)：需要 3 个输入通道，收到的是 227 个"),
    ("MaxPool2d: padding 2 must be at most half the kernel size 3 (pad <= 1)",
     "MaxPool2d：填充 2 不能超过卷积核大小 3 的一半（填充 ≤ 1）"),
    ("Conv2d: in_channels (3) must be divisible by groups (2)", "Conv2d：in_channels（3）必须能被分组数（2）整除"),
    ("--input: invalid shape '3x-2x2': '-2' is neither a positive integer nor a name (write e.g. 3x224x224 or 3xHxW)",
     "--input：形状 '3x-2x2' 无效：'-2' 既不是正整数也不是名字（应写成 3x224x224 或 3xHxW 这样）"),
    ("Conv2d: floor truncation drops the last 1 row of height 7 and the last 1 column of width 7 (no window reaches them)",
     "Conv2d：向下取整截断丢弃了高度 7 的最后 1 行和宽度 7 的最后 1 列（没有窗口覆盖它们）"),
    ("features.1 (MaxPool1d): floor truncation drops the last 3 samples of length 3981 (no window reaches them)",
     "features.1 (MaxPool1d)：向下取整截断丢弃了长度 3981 的最后 3 个采样点（没有窗口覆盖它们）"),
    ("Linear: expects 25088 input features, receives a 512x7x7 map: flatten it first (512*7*7 = 25088)",
     "Linear：需要 25088 个输入特征，收到的是 512x7x7 的特征图：请先展平（512*7*7 = 25088）"),
    ("something new and unknown", "something new and unknown"),
]


@pytest.mark.parametrize("english, chinese", TRANSLATIONS, ids=[str(i) for i in range(len(TRANSLATIONS))])
def test_engine_messages_are_translated(english, chinese):
    assert i18n.translate(english, "zh") == chinese
    assert i18n.translate(english, "en") == english


def test_errors_are_one_line_in_chinese_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["conv", "-i", "3x2x2", "-o", "8", "-k", "5", "--lang", "zh"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["错误：Conv2d：输出高度将为 -2：floor((2 + 2*0 - 5)/1) + 1（卷积核 5 大于填充后的输入 2）"]
    with pytest.raises(SystemExit) as exit_:
        main(["--lang", "zh", "conv", "-i", "3x8x8", "-o", "8"])  # a click usage error, before the command runs
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["错误：缺少选项 '--kernel-size' / '-k'"]


def test_wide_characters_take_two_columns():
    assert i18n.width("输出形状") == 8 and i18n.rjust("参数量", 8) == "  参数量" and i18n.ljust("ab", 3) == "ab "


# --- no English word left --------------------------------------------------------------------------------------

_CODE = [
    re.compile(r"\b[0-9A-Za-z_]+(?:x[0-9A-Za-z_(][^\s，、；：）]*)+"),  # shapes: 3xHxW, 64x(H-4)x(W-4)
    re.compile(r"'[^']*'"),  # quoted code: padding='same', 'valid'
    re.compile(r"--[a-z][a-z-]*(?: (?:hwc|chw))?"),  # options
    re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*=[^\s，、；：（）]*"),  # key=value: in=3x8x8, ceil_mode=True, layout=hwc
    re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"),  # calls: Conv2d(3, 64, ...), floor(...)
]
_ALLOWED = {
    "floor", "ceil", "max", "min", "mod", "MACs", "FLOPs", "MB", "MiB", "KB", "GB", "B", "PyTorch", "TensorFlow",
    "Keras", "ceil_mode", "float32", "op", "in", "Sequential", "Residual", "Concat", "Add", "Mul", "Block", "ok",
    "conv", "pool", "linear", "convtranspose", "batchnorm", "pad", "sam",  # what the user typed: kinds, a symbol
    "explain", "check", "solve", "torchvision", "torchinfo", "BatchNorm", "SGD", "Adam",  # commands and names
}


def english_words(text, extra=()):
    """ASCII words in ``text`` that are neither code, symbols, units, layer types nor the names in ``extra``."""
    for pattern in _CODE:
        text = pattern.sub(" ", text)
    allowed = _ALLOWED | set(layer_types()) | set(extra)
    found = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text):
        if len(word) == 1 or "_" in word or any(ch.isdigit() for ch in word) or word in allowed:
            continue
        if len(word) >= 4 and any(a.startswith(word) for a in allowed):
            continue  # a name cut short to fit its column (AdaptiveAvgPool…)
        found.append(word)
    return found


def _names(*models):
    """Layer and block names of zoo models: words a table or an explanation shows as they are."""
    out = set()
    for name in models:
        out.add(name)
        report = cnncalc.analyze(cnncalc.model(name), cnncalc.zoo.describe(name).default_input, warn=False)
        for row in report.layers:
            out.update(re.findall(r"[A-Za-z][A-Za-z0-9_]*", row.name))
    return out


ZH_COMMANDS = [
    ("conv", "--input", "32x32x3", "-o", "64", "-k", "3"),
    ("conv", "--input", "32x32x3", "-o", "64", "-k", "3", "--layout", "hwc"),
    ("conv", "-i", "3x32x32", "-o", "16", "-k", "4", "-p", "same"),
    ("conv", "-i", "3x32x32", "-o", "16", "-k", "4", "-p", "valid"),
    ("conv", "-i", "3x32x32", "-o", "16", "-k", "3", "-s", "2", "--tf-same"),
    ("conv", "-i", "8x20x20", "-o", "16", "-k", "3", "-p", "3", "-d", "1", "-g", "4"),
    ("conv", "-i", "3x8x8", "-o", "16", "-k", "1"),
    ("conv", "-i", "3x9x11", "-o", "4", "-k", "3x5", "-s", "1x2", "-p", "1x0"),
    ("conv", "-i", "3x32x32", "-o", "8", "-k", "k", "-p", "sam"),
    ("conv", "-i", "1x16000", "-o", "8", "-k", "80", "-s", "4"),
    ("conv", "-i", "28x28", "-o", "32", "-k", "3"),
    ("check", "--inline", "conv in=28x28 out=32 k=3 -> 32x26x26"),
    ("conv", "-i", "3x16x112x112", "-o", "64", "-k", "3", "-p", "1"),
    ("pool", "-i", "64x7x7", "-k", "2"),
    ("pool", "-i", "3x5x5", "-k", "3", "-s", "3", "-p", "1", "--ceil-mode"),
    ("pool", "-i", "3x32x32", "-k", "3", "-s", "2", "--tf-same", "--type", "avg"),
    ("pool", "-i", "3x32x32", "-k", "2", "-p", "valid"),
    ("convtranspose", "-i", "16x8x8", "-o", "8", "-k", "4", "-s", "2", "-p", "1"),
    ("linear", "-i", "512x7x7", "-o", "4096"),
    ("batchnorm", "-i", "64x56x56"),
    ("pad", "-i", "3x32x32", "-p", "1x2"),
    ("explain", "resnet18"),
    ("explain", "alexnet", "-f", "markdown"),
    ("explain", "conv", "-i", "3x224x224", "-o", "64", "-k", "3", "-s", "2", "--tf-same"),
    ("alexnet",),
    ("efficientnet_b0",),
    ("cifar_net", "--input", "3xHxW"),
    ("resnet18", "--depth", "1", "--batch", "8"),
    ("alexnet", "--input", "227x227x3", "--layout", "hwc"),
    ("check", "--inline", "conv in=3x227x227 out=96 k=11 s=4 -> 55x55x96 params=34848 macs=1G rf=11"),
    ("check", "--inline", "conv in=32x32x3 out=64 k=3 -> 30x30x64 params=1792"),
    ("check", "--inline", "conv in=3x32x32 out=64 k=3 p=same -> 32x32x64 params=1728"),
    ("check", "--inline", "vgg16 in=3x224x224 -> params=138M macs=15.5G flops=15.5G params_memory=528MB activations=61MB"),
    ("check", "--inline", "vgg16 in=3x224x224 -> 512x7x7 params=138357543 macs=15G activations=100MB"),
    ("check", "--inline", "conv in=1x32x32 out=8 k=3 | conv out=8 k=3 | maxpool k=2 at=2 -> rf=6 jump=2 shape@1=8x30x30"),
    ("check", "--inline", "resnet50 in=3x224x224 -> 2048x7x7 rf=400"),
    ("check", "--inline", "conv in=8x8x8 out=8 k=1 -> 8x8x8 params=64"),
    ("check", "--inline", "bn in=64x56x56 -> params=256"),
    ("solve", "padding", "-k", "3", "-s", "2"),
    ("solve", "padding", "-k", "4"),
    ("solve", "padding", "-k", "11", "-s", "4", "-n", "227", "--output", "55"),
    ("solve", "padding", "-k", "3", "-s", "2", "-n", "32", "--tf-same"),
    ("solve", "padding", "-k", "3", "-n", "8", "--output", "20"),
    ("solve", "input", "vgg16", "-i", "3xHxH", "--full-coverage"),
    ("solve", "input", "resnet18", "-i", "3xHxH"),
    ("solve", "output", "alexnet", "-i", "3xHxH", "-o", "7"),
    ("solve", "conv", "-n", "227", "-o", "55"),
    ("solve", "conv", "-n", "8", "-o", "20"),
    ("conv", "-i", "3x2x2", "-o", "8", "-k", "5"),
    ("conv", "-i", "227x227x3", "-o", "96", "-k", "11", "-s", "4"),
    ("conv", "-i", "3x32x32", "-o", "8", "-k", "3", "-s", "2", "-p", "same"),
    ("conv", "-i", "3x8x8", "-o", "4", "-k", "3", "-g", "2"),
    ("conv", "-i", "3x-2x2", "-o", "4", "-k", "3"),
    ("conv", "-i", "3x8x8", "-o", "4"),
    ("convtranspose", "-i", "3x8x8", "-o", "4", "-k", "3", "-p", "same"),
    ("pool", "-i", "3x8x8", "-k", "3", "-p", "2"),
    ("pool", "-i", "3x8x8", "-k", "3", "-p", "same"),
    ("alexnet", "--input", "3x32x32"),
    ("alexnet", "--input", "227x227x3"),
    ("explain", "conv", "-i", "3x8x8"),
    ("check",),
    ("verify", "cifar_net"),
]


@pytest.mark.parametrize("args", ZH_COMMANDS, ids=[" ".join(a)[:60] for a in ZH_COMMANDS])
def test_no_english_word_is_left_in_chinese_output(args, capsys):
    with pytest.raises(SystemExit) as exit_:  # the real entry point: errors are its one line
        main([*args, "--lang", "zh"])
    out, err = capsys.readouterr()
    text = out + err
    assert text.strip() and exit_.value.code in (0, 1, 2)
    assert "Traceback" not in text and "Error" not in text and "Warning" not in text
    if exit_.value.code == 2:
        assert len(err.splitlines()) == 1 and err.startswith("错误：") and not out, text
    names = _names("alexnet", "resnet18", "resnet50", "efficientnet_b0", "cifar_net", "vgg16")
    assert english_words(text, names) == [], (english_words(text, names), text[-3000:])


def test_python_results_speak_chinese_too():
    from cnncalc import Concat, Conv2d, MaxPool2d, Residual, Sequential, calculators
    from cnncalc.check import check_inline
    from cnncalc.render.explain import explain  # (importing the module cnncalc.explain rebinds cnncalc.explain)
    from cnncalc.solve import conv_settings, same_padding

    texts = [
        explain(Concat(Conv2d(8, 16, 1), Sequential(Conv2d(8, 4, 1), Conv2d(4, 8, 3, padding=1)), MaxPool2d(3, 1, 1)),
                "8x10x10", lang="zh").render(),
        explain(Residual(Conv2d(4, 8, 3, 2, 1), Conv2d(4, 8, 1, 2)), "4x8x8", lang="zh").render(),
        explain(Residual(Conv2d(4, 4, 3, 1, 1)), "4x8x8", lang="zh").render(),
        calculators.conv("3x32x32", 64, 3, lang="zh").render(),
        check_inline("conv in=3x32x32 out=64 k=3 -> 64x30x30", lang="zh").render(),
        str(same_padding(5, lang="zh")),
        "\n".join(s.text("zh") for s in conv_settings(32, 16, max_kernel=3)),
    ]
    for text in texts:
        assert english_words(text, {"shortcut", "concat", "add"}) == [], text  # the rows' own names


def test_the_checker_finds_english():
    assert english_words("输出尺寸：the answer is 5") == ["the", "answer", "is"]
    assert english_words("输出尺寸：H_out = floor((H_in - k + 2*p)/s) + 1 = 3，Conv2d(3, 8, kernel_size=3)") == []


def test_every_command_takes_lang_and_every_shape_taking_command_takes_layout():
    import click

    commands = []
    for name, command in cli.commands.items():
        subcommands = command.commands.items() if isinstance(command, click.Group) else [("", command)]
        commands += [(f"{name} {sub}".strip(), c) for sub, c in subcommands]
    for name, command in commands:
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--lang" in options, name
        if "--input" in options and name not in ("verify",):
            assert "--layout" in options, name
