"""Every user-facing word, in English and Chinese: the glossary, the messages and the error translations.

``text(key, lang, **values)`` gives one message; ``term(name, lang)`` one glossary term;
``default_lang()`` the language when none is asked for (``CNNCALC_LANG``, else English);
``translate(message, lang)`` turns an English error or warning raised by the engine into Chinese where
its pattern is known (the engine raises English ``ShapeError`` text; the front doors translate it).

Chinese messages write their technical terms as ``[[term]]``, filled from ``GLOSSARY``, so one word is
used for one idea everywhere (卷积核, 步长, 填充, 感受野, 参数量, 乘加运算, ...). Chinese punctuation is
full width (：，（）；。) except inside formulas and code.
"""

from __future__ import annotations

import os
import re

LANGS = ("en", "zh")

__all__ = ["LANGS", "text", "term", "default_lang", "check_lang", "translate", "colon", "lang_from_argv", "width",
           "ljust", "rjust"]  # GLOSSARY and MESSAGES are the data behind text() and term()

# --- the glossary: one word per idea ---------------------------------------------------------------------

GLOSSARY = {
    "kernel": ("kernel", "卷积核"),
    "kernel_size": ("kernel size", "卷积核大小"),
    "stride": ("stride", "步长"),
    "padding": ("padding", "填充"),
    "dilation": ("dilation", "膨胀率"),
    "groups": ("groups", "分组数"),
    "output_padding": ("output padding", "输出填充"),
    "channels": ("channels", "通道"),
    "feature_map": ("feature map", "特征图"),
    "receptive_field": ("receptive field", "感受野"),
    "params": ("parameters", "参数量"),
    "macs": ("MACs", "乘加运算（MACs）"),
    "flops": ("FLOPs", "浮点运算（FLOPs）"),
    "output_size": ("output size", "输出尺寸"),
    "output_shape": ("output shape", "输出形状"),
    "input_shape": ("input shape", "输入形状"),
    "bias": ("bias", "偏置"),
    "weights": ("weights", "权重"),
    "batch": ("batch", "批量"),
    "buffers": ("buffers", "缓冲区"),
    "activations": ("activations", "激活值"),
    "memory": ("memory", "内存"),
    "floor": ("floor", "向下取整"),
    "ceil": ("ceil", "向上取整"),
    "flatten": ("flattened", "展平"),
    "jump": ("jump", "等效步长"),
    "layer": ("layer", "层"),
    "height": ("height", "高度"),
    "width": ("width", "宽度"),
    "depth": ("depth", "深度"),
    "length": ("length", "长度"),
    "symbol": ("symbol", "符号"),
    "features": ("features", "特征数"),
}

# --- messages: key -> (English, Chinese) -----------------------------------------------------------------

MESSAGES = {
    # explain: labels of the derivation lines
    "explain.model": ("Model", "模型"),
    "explain.input": ("input", "输入"),
    "explain.total": ("Total", "合计"),
    "explain.note": ("Note", "注意"),
    "explain.output": ("output size", "[[output_size]]"),
    "explain.params": ("parameters", "[[params]]"),
    "explain.per_filter": ("parameters per filter", "每个[[kernel]]的[[params]]"),
    "explain.macs": ("MACs", "[[macs]]"),
    "explain.rf": ("receptive field", "[[receptive_field]]"),
    "explain.rf_size": ("receptive field size{axis}", "{axis}[[receptive_field]]大小"),
    "explain.rf_jump": ("receptive field jump{axis} (stride in input pixels)",
                        "{axis}[[receptive_field]][[jump]]（相邻输出在输入上的间距）"),
    "explain.along": (" along the {axis}", "{axis}方向的"),
    "explain.rf_traced": (
        "after a transposed convolution with stride > 1, neighbouring output pixels read regions of different "
        "sizes: the size is the largest, found by tracing the input pixels each one reads",
        "经过[[stride]]大于 1 的转置卷积后，相邻输出像素在输入上覆盖的区域大小不同：[[receptive_field]]大小取其中最大者，"
        "由逐像素回溯得到"),
    "explain.no_params": ("parameters: none", "[[params]]：无"),
    "explain.shape_kept": ("shape unchanged", "形状不变"),
    "explain.flatten": ("flattened", "[[flatten]]"),
    "explain.adaptive": ("output size, set by output_size (adaptive pooling)",
                         "[[output_size]]（自适应池化，由 output_size 给定）"),
    "explain.bn_params": ("parameters (gamma and beta per channel)", "[[params]]（每个[[channels]]一对 γ 和 β）"),
    "explain.bn_buffers": ("buffers (running mean and variance, not learned)", "[[buffers]]（滑动均值和方差，不参与训练）"),
    "explain.merge_add": ("element-wise sum of the branches", "各分支逐元素相加"),
    "explain.merge_mul": ("element-wise product of the branches (a gate, broadcast over the 1x1 axes)",
                          "各分支逐元素相乘（门控，沿 1×1 的维度广播）"),
    "explain.merge_concat": ("channels concatenated", "沿[[channels]]拼接"),
    "explain.merge_side": ("the first branch passes on; the others are read by the next layer",
                           "第一个分支原样传递，其余分支供下一层读取"),
    "explain.merge_other": ("branches combined ({kind})", "分支合并（{kind}）"),
    "explain.truncation": ("floor truncation drops the last {n} {what} of the input: no window reaches {them}",
                           "[[floor]]截断：输入最后 {n} {what}没有被任何窗口覆盖，被丢弃"),
    "explain.row": ("row", "行"),
    "explain.rows": ("rows", "行"),
    "explain.col": ("column", "列"),
    "explain.cols": ("columns", "列"),
    "explain.sample": ("sample", "个采样点"),
    "explain.samples": ("samples", "个采样点"),
    "explain.frame": ("frame", "帧"),
    "explain.frames": ("frames", "帧"),
    "explain.ceil_rule": (
        "ceil_mode: the last window would start at {start} >= input {n} + left padding {p} = {limit}, outside the "
        "input, so PyTorch drops it (-1)",
        "ceil_mode：最后一个窗口的起点 {start} ≥ 输入 {n} + 左侧[[padding]] {p} = {limit}，落在输入之外，PyTorch 会去掉它（-1）"),
    "explain.big_padding": ("padding {p} is more than half the kernel span ({k}): the border outputs see mostly zeros",
                            "[[padding]] {p} 超过[[kernel]]跨度（{k}）的一半：边缘的输出几乎只看到补的零"),
    "explain.one_by_one": ("a 1x1 convolution with stride 1 changes only the channels ({c_in} -> {c_out}), not the "
                           "feature-map size",
                           "[[stride]]为 1 的 1×1 卷积只改变[[channels]]数（{c_in} → {c_out}），不改变[[feature_map]]的空间尺寸"),
    "explain.projection": ("the residual needs a projection: the shortcut {name} maps {a} to {b} so the shapes can be added",
                           "残差相加需要投影：捷径分支 {name} 把 {a} 变为 {b}，形状一致才能相加"),
    "explain.identity": ("identity shortcut: the input {a} is added as it is", "恒等捷径：输入 {a} 直接相加"),
    "explain.same": ("padding='same' (PyTorch, stride 1) pads d*(k - 1) in all, the smaller half before",
                     "padding='same'（PyTorch，[[stride]]须为 1）共填充 d*(k - 1)，较小的一半在前"),
    "explain.same_uneven": ("padding='same' with an even kernel span pads {before} before and {after} after",
                            "padding='same' 遇到偶数的[[kernel]]跨度：前面填充 {before}，后面填充 {after}"),
    "explain.valid": ("padding='valid' means no padding", "padding='valid' 表示不[[padding]]"),
    "explain.tf_same": ("padding 'same' (TensorFlow/Keras): the output is ceil(n/s) and the padding fills the rest, "
                        "the extra pixel after",
                        "TensorFlow/Keras 的 'same' [[padding]]：输出为 ceil(n/s)，其余由[[padding]]补足，多出的一个像素补在后面"),
    "explain.tf_out": ("output size ('same')", "[[output_size]]（'same'）"),
    "explain.tf_total": ("padding in all", "总[[padding]]"),
    "explain.tf_split": ("{before} before, {after} after", "前面 {before}，后面 {after}"),
    # calculators: the summary above the derivation
    "calc.input": ("Input shape", "[[input_shape]]"),
    "calc.output": ("Output shape", "[[output_shape]]"),
    "calc.params": ("Params", "[[params]]"),
    "calc.buffers": ("Buffers", "[[buffers]]"),
    "calc.macs": ("MACs", "[[macs]]"),
    "calc.flops": ("FLOPs", "FLOPs"),
    "calc.rf": ("Receptive field", "[[receptive_field]]"),
    "calc.rf_value": ("{size}, stride {stride}, start {start}", "{size}，[[stride]] {stride}，起点 {start}"),
    "calc.how": ("How:", "推导："),
    "calc.tf_same_name": (" with padding 'same' (TensorFlow)", "，按 TensorFlow 的 'same' [[padding]]"),
    "calc.channels_last": ("channels last: {shape}", "通道在后：{shape}"),
    # layout: how a shape was read
    "layout.read_chw": ("Note: {shape} is read channels first, as PyTorch's CxHxW: {axes}.",
                        "注意：{shape} 按通道在前（PyTorch 的 C×H×W）读取：{axes}。"),
    "layout.other": ("      Read as height x width x channels it is {first}, giving {result}; --layout hwc makes "
                     "that the answer.",
                     "      若按 高×宽×通道 读取，它是 {first}，得到 {result}；加 --layout hwc 即以此为准。"),
    "layout.other_fails": ("      Read as height x width x channels it would be {first}, which this layer refuses: {error}",
                           "      若按 高×宽×通道 读取，它是 {first}，但该层无法接受：{error}"),
    "layout.read_hwc": ("Note: {typed} is read channels last (height x width x channels, --layout hwc): {first} as CxHxW.",
                        "注意：{typed} 按通道在后（高×宽×通道，--layout hwc）读取：即 C×H×W 的 {first}。"),
    "layout.refused": ("{error}; {shape} looks channels last: with --layout hwc it is {first}, giving {result}",
                       "{error}；{shape} 看起来是通道在后的写法：加 --layout hwc 则为 {first}，得到 {result}"),
    "layout.note": ("Note: {text}", "注意：{text}"),
    "layout.one_d": ("{shape} is read as {c} channels of length {n}, a 1-D input ({layer}); an image of {shape} "
                     "is 1x{shape} (grey) or 3x{shape} (colour).",
                     "{shape} 被读作 {c} 个[[channels]]、[[length]] {n} 的一维输入（{layer}）；{shape} 的图像应写成 "
                     "1x{shape}（灰度）或 3x{shape}（彩色）。"),
    "layout.result": ("{shape} and {params} params", "{shape}，[[params]] {params}"),
    # symbols and padding words in numeric options
    "symbols.note": ("Note: {names} are symbols (unknown positive integers), not numbers: the results are formulas in "
                     "them.",
                     "注意：{names} 是[[symbol]]（未知的正整数），不是数字：结果是关于它们的公式。"),
    "symbols.note_one": ("Note: {names} is a symbol (an unknown positive integer), not a number: the results are "
                         "formulas in it.",
                         "注意：{names} 是[[symbol]]（未知的正整数），不是数字：结果是关于它的公式。"),
    "symbols.typo": ("Note: {option} {value!r} is read as a symbol; did you mean {guess!r}?",
                     "注意：{option} 的值 {value!r} 被当作[[symbol]]；是想写 {guess!r} 吗？"),
    "same.note_valid": ("Note: padding 'valid' means no padding (p = 0).", "注意：'valid' 表示不[[padding]]（p = 0）。"),
    "same.strided": ("{layer}: padding='same' needs stride 1 in PyTorch (stride {stride}); --tf-same gives "
                     "TensorFlow's rule, output ceil(n/s)",
                     "{layer}：PyTorch 的 padding='same' 要求[[stride]]为 1（当前[[stride]] {stride}）；--tf-same 按 "
                     "TensorFlow 的规则计算，输出 ceil(n/s)"),
    "same.transpose": ("{layer}: padding='same'/'valid' is not accepted by transposed convolutions in PyTorch; give a "
                       "number",
                       "{layer}：PyTorch 的转置卷积不接受 padding='same'/'valid'；请给出数字"),
    "same.tf_conflict": ("--tf-same replaces --padding: leave -p out (or write -p same)",
                         "--tf-same 取代 --padding：不要再写 -p（或写 -p same）"),
    # the table
    "table.layer": ("Layer (type)", "层（类型）"),
    "table.input_shape": ("Input Shape", "[[input_shape]]"),
    "table.output_shape": ("Output Shape", "[[output_shape]]"),
    "table.params": ("Param #", "[[params]]"),
    "table.macs": ("MACs", "MACs"),
    "table.rf": ("RF size/stride", "[[receptive_field]]/[[stride]]"),
    "table.numel": ("Output #", "输出元素数"),
    "table.memory": ("Output mem", "输出内存"),
    "table.params_percent": ("Param %", "[[params]] %"),
    "table.macs_percent": ("MACs %", "MACs %"),
    "table.total_params": ("Total params", "总[[params]]"),
    "table.trainable": ("Trainable params", "可训练[[params]]"),
    "table.non_trainable": ("Non-trainable params", "不可训练[[params]]"),
    "table.buffers": ("Buffers", "[[buffers]]"),
    "table.total_macs": ("Total MACs", "总[[macs]]"),
    "table.total_flops": ("Total FLOPs", "总[[flops]]"),
    "table.batch_suffix": (" (batch {batch})", "（[[batch]] {batch}）"),
    "table.output": ("Output shape", "[[output_shape]]"),
    "table.rf_line": ("Receptive field: {size}, stride {stride}, start {start}",
                      "[[receptive_field]]：{size}，[[stride]] {stride}，起点 {start}"),
    "table.local_rf": ("Local receptive field: {size}, stride {stride}, start {start}  (the convolution path, global "
                       "operations left out)",
                       "局部[[receptive_field]]：{size}，[[stride]] {stride}，起点 {start}（卷积路径，不计全局运算）"),
    "table.gate": ("  (it ends at the gate {gate}: its global pool lets every pixel reach every output)",
                   "  （在门控 {gate} 处结束：其全局池化让每个像素都能影响每个输出）"),
    "table.assumes": ("Assumes {text}", "假设 {text}"),
    "table.dtype": ("dtype: {dtype}, batch: {batch}", "数据类型：{dtype}，[[batch]]：{batch}"),
    "table.input_mb": ("Input size (MB)", "输入大小（MB）"),
    "table.backward_mb": ("Forward/backward pass size (MB)", "前向/反向传播大小（MB）"),
    "table.params_mb": ("Params size (MB)", "参数大小（MB）"),
    "table.total_mb": ("Estimated Total Size (MB)", "估计总大小（MB）"),
    "table.torchinfo": ("  (torchinfo's rules)", "（按 torchinfo 的规则）"),
    "table.saved_mb": ("Saved for backward (MB)", "为反向传播保存（MB）"),
    "table.training_mb": ("Training step, SGD / Adam (MB)", "一步训练，SGD / Adam（MB）"),
    "table.warning": ("Warning", "警告"),
    # check
    "check.question": ("Question {id}", "第 {id} 题"),
    "check.answer.output_shape": ("output_shape", "[[output_shape]]"),
    "check.answer.params": ("params", "[[params]]"),
    "check.answer.macs": ("macs", "MACs"),
    "check.answer.flops": ("flops", "FLOPs"),
    "check.answer.receptive_field": ("receptive_field", "[[receptive_field]]"),
    "check.answer.jump": ("jump", "[[receptive_field]][[jump]]"),
    "check.answer.params_memory": ("params_memory", "参数内存"),
    "check.answer.activations": ("activations", "[[activations]]内存"),
    "check.right": ("right", "正确"),
    "check.wrong": ("wrong: the answer is {correct}", "错误：正确答案是 {correct}"),
    "check.score": ("Score: {score}/{total} ({percent}%)", "得分：{score}/{total}（{percent}%）"),
    "check.hwc_answer": ("read channels last: {given} is {chw} as CxHxW", "按通道在后读取：{given} 即 C×H×W 的 {chw}"),
    "check.hwc_ambiguous": ("{given} as height x width x channels would be {chw}, but that reading is ambiguous here "
                            "(the channel count equals a spatial size): write CxHxW",
                            "{given} 若按 高×宽×通道 读取是 {chw}，但这里有歧义（[[channels]]数等于某个空间尺寸）：请写成 C×H×W"),
    "check.tolerance": ("rounded: {given} stands for {low} to {high}, and the value is {value}",
                        "按四舍五入：{given} 代表 {low} 到 {high}，实际值为 {value}"),
    "check.mib": ("read as MiB (2^20 bytes): {value}", "按 MiB（2^20 字节）理解：{value}"),
    "check.flops_are_macs": ("{given} is the MAC count (papers and torchvision often call it FLOPs); FLOPs = 2 × MACs = "
                             "{flops}: if your course counts a multiply-add as one operation, answer macs={given}",
                             "{given} 是 MACs（乘加运算的次数），论文和 torchvision 常把它叫作 FLOPs；而 FLOPs = 2 × MACs = {flops}："
                             "若课程把一次乘加算作一次运算，请写 macs={given}"),
    "check.macs_are_flops": ("{given} is FLOPs = 2 × MACs; MACs (multiply-accumulates) = {macs}",
                             "{given} 是 FLOPs = 2 × MACs；[[macs]]为 {macs}"),
    "check.layout_note": ("in={shape} is read channels first ({c} channels); read channels last (layout=hwc) it is "
                          "{first}: {answers}",
                          "in={shape} 按通道在前读取（{c} 个[[channels]]）；若按通道在后（layout=hwc）则为 {first}：{answers}"),
    "check.layout_hwc": ("in={typed} read as height x width x channels: {first}", "in={typed} 按 高×宽×通道 读取：{first}"),
    "check.at": ("at={at} is the {nth} layer ({type}), counted from 1", "at={at} 指第 {nth} 层（{type}），从 1 开始数"),
    "check.row": ("{name} ({type}): ", "{name}（{type}）："),
    "check.is_output_of": ("{given} is the output of {name} ({type}); the network goes on to {final}",
                           "{given} 是 {name}（{type}）的输出；网络还要继续，最后得到 {final}"),
    "check.chain": ("the shapes, block by block:", "逐块的形状："),
    "check.by_block": ("by block:", "按块："),
    "check.largest": ("the largest layer:", "最大的层："),
    "check.no_bias": ("{given} is the count without the biases ({biases} of them)",
                      "{given} 是不含[[bias]]的数量（[[bias]]共 {biases} 个）"),
    "check.with_buffers": ("{given} also counts the BatchNorm running statistics ({buffers} buffers, not parameters)",
                           "{given} 把 BatchNorm 的滑动统计量也算进去了（{buffers} 个[[buffers]]，不是[[params]]）"),
    "check.per_filter_only": ("{given} is one filter's count; there are {filters} filters",
                              "{given} 只是一个[[kernel]]的[[params]]；共有 {filters} 个[[kernel]]"),
    "check.first_wrong": ("the first wrong layer is {name} ({type})", "第一个出错的层是 {name}（{type}）"),
    "check.activations_rule": ("activations = the input + each layer's output, ReLU and dropout in place "
                               "({count} values × {size} bytes)",
                               "[[activations]] = 输入 + 每层的输出，ReLU 和 Dropout 原地计算（{count} 个值 × {size} 字节）"),
    "check.activations_all": ("read as every layer's output stored separately (ReLU's too, the input not): {value}",
                              "按每层的输出（含 ReLU）都单独存储、不计输入理解：{value}"),
    "check.params_memory_rule": ("params x {size} bytes ({dtype})", "[[params]] × {size} 字节（{dtype}）"),
    # solve
    "solve.same_every": ("p = (k_eff - 1)/2 = ({k_eff} - 1)/2 = {p} gives {want} for every n",
                         "p = (k_eff - 1)/2 = ({k_eff} - 1)/2 = {p}：对任意 n 输出为 {want}"),
    "solve.same_none": ("no symmetric padding gives {want} for every n: 2p = k_eff - 1 = {odd} is odd (pad {before} "
                        "before and {after} after, as padding='same' does)",
                        "没有对称的[[padding]]能对任意 n 输出 {want}：2p = k_eff - 1 = {odd} 是奇数（像 padding='same' 那样，"
                        "前面填充 {before}，后面填充 {after}）"),
    "solve.maps": ("{set} maps {n} to {out} (kernel {k}, stride {s})", "{set} 把 {n} 变为 {out}（[[kernel]] {k}，[[stride]] {s}）"),
    "solve.no_padding": ("no padding maps {n} to {out} with kernel {k}, stride {s}",
                         "没有[[padding]]能把 {n} 变为 {out}（[[kernel]] {k}，[[stride]] {s}）"),
    "solve.no_size": ("{} (no size)", "{}（无解）"),
    "solve.setting": ("k={k}, p={p}{dil}: s in {strides}", "k={k}，p={p}{dil}：s ∈ {strides}"),
    "solve.no_setting": ("no kernel/padding/stride maps the size to the output",
                         "没有任何[[kernel]]/[[padding]]/[[stride]]组合能把该尺寸变为目标输出"),
    "solve.tf_same": ("padding 'same' (TensorFlow): total max((ceil(n/s) - 1)*s + k_eff - n, 0) = {total} for n = {n}: "
                      "{before} before, {after} after, output ceil({n}/{s}) = {out}",
                      "TensorFlow 的 'same'：n = {n} 时总[[padding]] max((ceil(n/s) - 1)*s + k_eff - n, 0) = {total}："
                      "前面 {before}，后面 {after}，输出 ceil({n}/{s}) = {out}"),
    # verify
    "verify.ok": ("ok", "一致"),
    "verify.fail": ("FAIL ({failed} of {total} checks)", "不一致（{total} 项中有 {failed} 项）"),
    "verify.model": ("{label}: {checks} checks {verdict}", "{label}：{checks} 项检查，{verdict}"),
    "verify.failure": ("  {layer} ({type}) {what}: expected {expected}, got {actual}",
                       "  {layer}（{type}）{what}：应为 {expected}，实际为 {actual}"),
    "verify.summary": ("{agree} of {total} models agree", "{total} 个模型中 {agree} 个一致"),
    "verify.disagreeing": ("; disagreeing: {names}", "；不一致的：{names}"),
    "verify.not_run": ("; not run (over the memory limit): {names}", "；未运行（超出内存上限）：{names}"),
    "verify.over_limit": ("{label}: not run: {message}", "{label}：未运行：{message}"),
    "verify.all_agree": ("all checks agree", "所有检查一致"),
    "verify.some_disagree": ("{failed} of {total} checks disagree", "{total} 项检查中有 {failed} 项不一致"),
    "verify.header": ("layer|type|shape|params|macs|receptive_field|gradient|finite_difference",
                      "层|类型|形状|[[params]]|MACs|[[receptive_field]]|梯度|有限差分"),
    "verify.skipped": ("skipped", "跳过"),
    "verify.error": (" (error {error})", "（误差 {error}）"),
    "verify.one_skipped": (" (1 skipped: {note})", "（跳过 1 项：{note}）"),
    "verify.some_skipped": (" ({skipped} skipped, see the table)", "（跳过 {skipped} 项，见上表）"),
    "verify.input": ("input", "输入"),
    "verify.cell_ok": ("ok", "一致"),
    "verify.cell_fail": ("FAIL expected {expected}, got {actual}", "不一致：应为 {expected}，实际为 {actual}"),
    # models
    "models.head": ("name|input|params|MACs|description", "名称|输入|[[params]]|MACs|说明"),
    # the command line
    "cli.error": ("Error: {message}", "错误：{message}"),
    "cli.warning": ("Warning: {message}", "警告：{message}"),
    "cli.aborted": ("aborted", "已中止"),
    "cli.wrote": ("Wrote {path}", "已写入 {path}"),
    "cli.need_input": ("{what}: --input is required", "{what}：需要 --input"),
    "cli.need_kernel": ("{what}: --kernel-size/-k is required", "{what}：需要 --kernel-size/-k（[[kernel_size]]）"),
    "cli.need_out": ("{what}: --out-channels/-o is required", "{what}：需要 --out-channels/-o（输出[[channels]]数）"),
    "cli.need_features": ("{what}: --out-channels/-o (the output features) is required",
                          "{what}：需要 --out-channels/-o（输出[[features]]）"),
    "cli.no_default_input": ("{model}: no default input size is known: give --input CxHxW",
                             "{model}：没有默认的输入尺寸：请用 --input C×H×W 给出"),
    "cli.check_one": ("check: give a homework file or --inline, not both", "check：给出作业文件或 --inline，二者取其一"),
    "cli.one_size": ("{option}: expected one size, got {value!r}", "{option}：应为一个尺寸，收到的是 {value!r}"),
    "cli.sizes": ("{option}: expected one size or one per spatial axis such as 3x5, got {value!r}",
                  "{option}：应为一个尺寸或每个空间维度一个（如 3x5），收到的是 {value!r}"),
    "cli.number": ("{option}: expected a number, got {value!r}", "{option}：应为数字，收到的是 {value!r}"),
    "cli.output_needs_size": ("--output needs --size", "--output 需要同时给出 --size"),
    "cli.model_or_all": ("give either a MODEL or --all", "给出一个模型或 --all，二者取其一"),
    "cli.columns": ("--columns: unknown column {unknown}; choose from {choices}",
                    "--columns：未知的列 {unknown}；可选 {choices}"),
}


_TERM = re.compile(r"\[\[([a-z_]+)\]\]")


def _fill_terms(template: str, index: int) -> str:
    return _TERM.sub(lambda m: GLOSSARY[m.group(1)][index], template)


_RESOLVED: dict = {}  # lang -> {key: message with its terms filled}, built on first use (start-up stays fast)


def _resolved(lang: str) -> dict:
    if lang not in _RESOLVED:
        index = LANGS.index(lang)
        _RESOLVED[lang] = {key: _fill_terms(pair[index], index) for key, pair in MESSAGES.items()}
    return _RESOLVED[lang]


def check_lang(lang) -> str:
    """``lang`` if it is a known language (None: the default), else ValueError naming the choices."""
    if lang is None:
        return default_lang()
    if lang not in LANGS:
        from .errors import ShapeError

        raise ShapeError(f"unknown language {lang!r}: choose one of {', '.join(LANGS)}")
    return lang


def text(key: str, lang: str = "en", **values) -> str:
    """The message ``key`` in ``lang`` with ``values`` filled in (``str.format`` fields)."""
    template = _resolved(lang if lang in LANGS else "en")[key]
    return template.format(**values) if values else template


def term(name: str, lang: str = "en") -> str:
    """One glossary term."""
    return GLOSSARY[name][LANGS.index(lang) if lang in LANGS else 0]


def colon(lang: str) -> str:
    """The label separator: ': ' in English, '：' in Chinese."""
    return "：" if lang == "zh" else ": "


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide (CJK) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def ljust(text: str, size: int) -> str:
    """``text.ljust(size)`` by terminal columns."""
    return text + " " * max(size - width(text), 0)


def rjust(text: str, size: int) -> str:
    """``text.rjust(size)`` by terminal columns."""
    return " " * max(size - width(text), 0) + text


def default_lang() -> str:
    """``CNNCALC_LANG`` if it names a language, else English (the contract: the locale does not decide, so
    a script's output does not change with the machine it runs on)."""
    chosen = os.environ.get("CNNCALC_LANG", "").strip().lower()
    return chosen if chosen in LANGS else "en"


def lang_from_argv(argv) -> str:
    """The language a command line asks for (``--lang zh`` / ``--lang=zh``), else ``default_lang()``: the error
    path needs it before (or without) click having parsed the options."""
    args = list(argv or ())
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args) and args[i + 1] in LANGS:
            return args[i + 1]
        if arg.startswith("--lang=") and arg[7:] in LANGS:
            return arg[7:]
    return default_lang()


# --- translating the engine's English errors and warnings ------------------------------------------------

_AXES = {"height": "高度", "width": "宽度", "depth": "深度", "length": "长度"}
_UNITS = {"row": "行", "rows": "行", "column": "列", "columns": "列", "pixel": "个像素", "pixels": "个像素",
          "sample": "个采样点", "samples": "个采样点", "frame": "帧", "frames": "帧"}


def _axis(match, name="axis"):
    return _AXES.get(match.group(name), match.group(name))


def _invalid(why):
    found = re.fullmatch(r"'?(?P<v>[^']*)'? is not one of (?P<choices>.+?)\.?", why)
    if found:
        return f"{found['v']} 不是可选值 {found['choices']} 之一"
    found = re.fullmatch(r"'?(?P<v>[^']*)'? is not (?:a valid integer|a valid integer range)\.?", why)
    if found:
        return f"{found['v']} 不是有效的整数"
    return why


def _truncation(match):
    parts = []
    for part in match.group("parts").split(" and "):
        found = re.fullmatch(r"the last (\d+) (\w+) of (\w+) (\S+)", part)
        if found is None:
            return None
        n, unit, axis, size = found.groups()
        parts.append(f"{_AXES.get(axis, axis)} {size} 的最后 {n} {_UNITS.get(unit, unit)}")
    return f"向下取整截断丢弃了{'和'.join(parts)}（没有窗口覆盖它们）"


# (pattern of an English reason, its Chinese): a function of the match, or a template of its groups
_REASONS: list = [
    (r"output (?P<axis>\w+) would be (?P<n>-?\d+): (?P<formula>.+) \(kernel (?P<k>\d+) is larger than the padded "
     r"input (?P<m>\d+)\)",
     lambda m: f"输出{_axis(m)}将为 {m['n']}：{m['formula']}（卷积核 {m['k']} 大于填充后的输入 {m['m']}）"),
    (r"output (?P<axis>\w+) would be (?P<n>-?\d+): (?P<formula>.+)",
     lambda m: f"输出{_axis(m)}将为 {m['n']}：{m['formula']}"),
    (r"output (?P<axis>\w+) would be (?P<n>-?\d+) after padding (?P<p>.+)",
     lambda m: f"填充 {m['p']} 之后输出{_axis(m)}将为 {m['n']}"),
    (r"expects (?P<n>\S+) input channels, receives (?P<c>\S+)", "需要 {n} 个输入通道，收到的是 {c} 个"),
    (r"expects (?P<n>\S+) channels \(num_features\), receives (?P<c>\S+)", "需要 {n} 个通道（num_features），收到的是 {c} 个"),
    (r"expects (?P<n>\S+) input features, receives a (?P<shape>\S+) map: flatten it first \((?P<prod>.+)\)",
     "需要 {n} 个输入特征，收到的是 {shape} 的特征图：请先展平（{prod}）"),
    (r"expects (?P<n>\S+) input features, receives (?P<c>\S+): use (?P<fix>Linear\(.+?\))(?: \(flatten first: "
     r"(?P<shape>\S+) has (?P<m>\S+) elements\))?",
     lambda m: f"需要 {m['n']} 个输入特征，收到的是 {m['c']} 个：应使用 {m['fix']}"
               + (f"（先展平：{m['shape']} 共有 {m['m']} 个元素）" if m["shape"] else "")),
    (r"expects a (?P<maps>.+?) feature map, receives shape (?P<shape>.+)", "需要 {maps} 的特征图，收到的形状是 {shape}"),
    (r"padding (?P<p>\S+) must be at most half the kernel size (?P<k>\S+) \(pad <= (?P<h>\S+)\)",
     "填充 {p} 不能超过卷积核大小 {k} 的一半（填充 ≤ {h}）"),
    (r"PyTorch pooling takes no padding='same' \(only convolutions do, with stride 1\)",
     "PyTorch 的池化层不接受 padding='same'（只有卷积接受，且步长须为 1）"),
    (r"--tf-same gives TensorFlow's 'same'", "--tf-same 按 TensorFlow 的 'same' 计算"),
    (r"padding='(?P<word>same|valid)' is not supported for transposed convolutions",
     "PyTorch 的转置卷积不接受 padding='{word}'；请给出数字"),
    (r"--tf-same replaces --padding: leave -p out \(or write -p same\)", "--tf-same 取代 --padding：不要再写 -p（或写 -p same）"),
    (r"padding='same' is not supported for strided convolutions",
     "PyTorch 的 padding='same' 不支持步长大于 1 的卷积（--tf-same 按 TensorFlow 的规则计算）"),
    (r"(?P<arg>\w+) \((?P<v>\S+)\) must be divisible by groups \((?P<g>\S+)\)", "{arg}（{v}）必须能被分组数（{g}）整除"),
    (r"(?P<arg>\w+) must be positive, got (?P<v>.+)", "{arg} 必须是正数，收到的是 {v}"),
    (r"output_padding (?P<op>\S+) must be smaller than either stride (?P<s>\S+) or dilation (?P<d>\S+) \((?P<axis>\w+)\)",
     lambda m: f"输出填充 {m['op']} 必须小于步长 {m['s']} 或膨胀率 {m['d']}（{_axis(m)}）"),
    (r"(?P<what>\w+) of mismatched shapes (?P<a>\S+) and (?P<b>\S+)(?P<rest>.*)",
     lambda m: f"{m['what']} 的分支形状不一致：{m['a']} 与 {m['b']}" + (f"（{m['rest'].strip(' :;()')}）" if m["rest"] else "")),
    (r"invalid shape (?P<text>.+?): (?P<part>.+?) is neither a positive integer nor a name \(write e\.g\. .+\)",
     "形状 {text} 无效：{part} 既不是正整数也不是名字（应写成 3x224x224 或 3xHxW 这样）"),
    (r"invalid shape (?P<text>.+?): dimension (?P<part>.+?) must be positive", "形状 {text} 无效：维度 {part} 必须是正数"),
    (r"invalid shape (?P<text>.+?): empty dimension \(write e\.g\. 3x224x224\)", "形状 {text} 无效：有空的维度（应写成 3x224x224 这样）"),
    (r"floor truncation drops (?P<parts>.+) \(no window reaches them\)", _truncation),
    (r"input (?P<shape>\S+) is read channels first \((?P<c>\d+) channels\); if it is written channels last \(height x "
     r"width x channels\), pass layout='hwc' to read it as (?P<first>\S+)",
     "输入 {shape} 按通道在前读取（{c} 个通道）；若它是通道在后（高×宽×通道）的写法，用 layout='hwc' 读作 {first}"),
    (r"(?P<shape>\S+) looks channels last: layout='hwc' reads it as (?P<first>\S+)",
     "{shape} 看起来是通道在后的写法：layout='hwc' 把它读作 {first}"),
    (r"an input lies exactly on a kink, where the layer has no derivative", "有输入恰好落在折点上，该层在此处不可导"),
    (r"a kink lies (?P<d>\S+) tangent steps away, too close for a finite difference to resolve",
     "折点距离只有 {d} 个切向步长，太近，有限差分无法分辨"),
    (r"unknown language (?P<lang>\S+): choose one of (?P<choices>.+)", "未知的语言 {lang}：可选 {choices}"),
    (r"verify (?P<what>\S+ \S+): needs about (?P<need>[\d,]+) bytes, over the limit of (?P<limit>[\d,]+) \((?P<how>.+)\)",
     "verify {what}：约需 {need} 字节，超出上限 {limit}（{how}）"),
    (r"a smaller input needs less", "输入小一些，所需内存就少"),
    (r"unknown model (?P<name>\S+): did you mean (?P<close>.+)\?", "未知的模型 {name}：是不是 {close}？"),
    (r"unknown model (?P<name>\S+): not one of the zoo's (?P<n>\d+) networks \(cnncalc models lists them\), nor a "
     r"model file \(\.py, \.yaml, \.yml or \.json\)",
     "未知的模型 {name}：不在模型库的 {n} 个网络中（cnncalc models 列出全部），也不是模型文件（.py、.yaml、.yml 或 .json）"),
    (r"name exactly one unknown size, e\.g\. 3xHx224 or 3xNxN", "只能有一个未知尺寸，例如 3xHx224 或 3xNxN"),
    (r"input shape (?P<shape>\S+)", "输入形状 {shape}"),
    (r"unknown layer or model (?P<name>\S+) \(use (?P<choices>.+)\)", "未知的层或模型 {name}（可用 {choices}）"),
    (r"(?P<token>'.*') is not key=value", "{token} 不是 key=value 的形式"),
    (r"(?P<key>\w+)= is missing", "缺少 {key}="),
    (r"the kernel size k= is missing", "缺少卷积核大小 k="),
    (r"the input shape in=CxHxW is missing", "缺少输入形状 in=C×H×W"),
    (r"(?P<key>\w+)= is given twice", "{key}= 重复给出"),
    (r"expected an integer, got (?P<v>.+)", "应为整数，收到的是 {v}"),
    (r"unknown answer (?P<key>\S+) \(use (?P<choices>.+)\)", "未知的答案项 {key}（可用 {choices}）"),
    (r"No such option:? '?(?P<opt>[^'\s]+?)'?\.?(?: \(?Did you mean(?: one of:)? (?P<guess>.+?)\?\)?)?",
     lambda m: f"没有这个选项：{m['opt']}" + (f"，是想写 {m['guess']} 吗？" if m["guess"] else "")),
    (r"Missing option (?P<opt>.+?)\.?", "缺少选项 {opt}"),
    (r"Missing argument (?P<arg>.+?)\.?", "缺少参数 {arg}"),
    (r"Invalid value for (?P<opt>.+?): (?P<why>.+)", lambda m: f"{m['opt']} 的值无效：{_invalid(m['why'])}"),
    (r"No such command (?P<cmd>.+?)\.?", "没有这个命令 {cmd}"),
    (r"Got unexpected extra arguments? \((?P<args>.+)\)", "多余的参数（{args}）"),
    (r"(?P<opt>\S+) option requires an argument\.?", "{opt} 选项需要一个值"),
]
_COMPILED: list = []  # the patterns, compiled on the first translation


def _compiled() -> list:
    if not _COMPILED:
        _COMPILED.extend((re.compile(pattern + r"\Z"), out) for pattern, out in _REASONS)
    return _COMPILED


_LABEL_PATTERN = (r"(?P<label>(?:[\w.\-/]+ )?\([A-Za-z][A-Za-z0-9]*\)|[A-Z][A-Za-z0-9]*|--[a-z\-]+|[\w.\-/]+\.(?:py|ya?ml|json)(?::\d+)?|question \S+|'[^']*'): ")


_LABELS: list = []


def _label():
    if not _LABELS:
        _LABELS.append(re.compile(_LABEL_PATTERN))
    return _LABELS[0]


def _reason(text: str) -> str | None:
    for pattern, out in _compiled():
        match = pattern.match(text)
        if match is None:
            continue
        result = out(match) if callable(out) else out.format(**{k: v or "" for k, v in match.groupdict().items()})
        if result is not None:
            return result
    return None


def translate(message: str, lang: str) -> str:
    """The engine's English ``message`` in ``lang``: each part after a leading label (``features.0 (Conv2d): ``)
    and each ``; ``-separated clause translated where its pattern is known, else left as it is."""
    if lang != "zh":
        return message
    out = []
    for clause in message.split("; "):
        labels = []
        rest = clause
        while True:
            match = _label().match(rest)
            if match is None:
                break
            label = match.group("label")
            labels.append(_question_label(label))
            rest = rest[match.end():]
        reason = _reason(rest)
        out.append("".join(f"{label}：" for label in labels) + (reason if reason is not None else rest))
    return "；".join(out)


def _question_label(label: str) -> str:
    found = re.fullmatch(r"question (\S+)", label)
    return f"第 {found.group(1)} 题" if found else label
