// cnncalc serve: the page. Vanilla JS, no dependencies. The whole state lives in the URL:
//   ?model=alexnet&input=3x227x227&depth=2&lang=zh&layer=features.0
//   pasted text in the fragment: #source=<z|b><base64url> or #spec=... (z: deflate-raw compressed UTF-8,
//   b: plain UTF-8), decoded here and POSTed; history.replaceState keeps the address current while typing.
"use strict";

const WORDS = {
  en: {
    tagline: "Exact shapes, parameters, MACs and receptive fields of CNNs",
    tab_model: "Model zoo", tab_source: "PyTorch / Keras source", tab_spec: "Spec (YAML / JSON)",
    model: "Model", class: "Class", never_run: "The source is read as text, never run.",
    source_hint: "Paste a PyTorch nn.Module / nn.Sequential or a Keras model here",
    spec_hint: "Paste a YAML or JSON spec here (layers: ...)", class_hint: "(optional)",
    input: "Input shape", input_hint: "C x H x W; symbols allowed: 3xHxW", depth: "Depth",
    export: "Export", spec_button: "Spec", error: "Error", working: "analysing…",
    paste_source: "Paste a model's source to analyse it.", paste_spec: "Paste a spec to analyse it.",
    col_layer: "Layer", col_type: "Type", col_input: "Input", col_output: "Output", col_params: "Params",
    col_macs: "MACs", col_rf: "RF size/stride",
    formulas: "Formulas", click_row: "Click a layer to see its formulas with the numbers.",
    folded_row: "A folded block (the sum of its layers): raise the depth or clear it to see each layer's formulas.",
    drawing: "Architecture", rf_plot: "Receptive field and map size",
    params: "Total params", trainable_params: "Trainable params", non_trainable_params: "Non-trainable params",
    buffers: "Buffers", macs: "Total MACs", flops: "Total FLOPs", output_shape: "Output shape",
    rf_size: "Receptive field", rf_stride: "RF stride", rf_start: "RF start",
    input_mb: "Input size (MB)", forward_backward_mb: "Forward/backward pass size (MB)",
    params_mb: "Params size (MB)", total_mb: "Estimated total size (MB)",
    assumes: "Assumes", warning: "Warning", input_word: "input",
    unreachable: "cannot reach the cnncalc server", bad_link: "the link's pasted text cannot be decoded",
    bad_svg: "the browser could not read this drawing",
  },
  zh: {
    tagline: "精确计算卷积网络的形状、参数量、乘加次数和感受野",
    tab_model: "模型库", tab_source: "PyTorch / Keras 源代码", tab_spec: "规格文件 (YAML / JSON)",
    model: "模型", class: "类名", never_run: "源代码只作为文本读取，从不执行。",
    source_hint: "在此粘贴 PyTorch nn.Module / nn.Sequential 或 Keras 模型",
    spec_hint: "在此粘贴 YAML 或 JSON 规格 (layers: ...)", class_hint: "(可选)",
    input: "输入形状", input_hint: "C x H x W；可以用符号：3xHxW", depth: "折叠深度",
    export: "导出", spec_button: "规格", error: "错误", working: "计算中…",
    paste_source: "粘贴模型源代码即可分析。", paste_spec: "粘贴规格即可分析。",
    col_layer: "层", col_type: "类型", col_input: "输入", col_output: "输出", col_params: "参数量",
    col_macs: "乘加次数", col_rf: "感受野 大小/步长",
    formulas: "公式", click_row: "点击某一层，查看代入数字后的公式。",
    folded_row: "这是折叠的模块 (各层之和)：增大或清空折叠深度即可查看每一层的公式。",
    drawing: "网络结构图", rf_plot: "感受野与特征图尺寸",
    params: "总参数量", trainable_params: "可训练参数", non_trainable_params: "不可训练参数",
    buffers: "缓冲区 (buffers)", macs: "总乘加次数 (MACs)", flops: "总浮点运算 (FLOPs)", output_shape: "输出形状",
    rf_size: "感受野", rf_stride: "感受野步长", rf_start: "感受野起点",
    input_mb: "输入大小 (MB)", forward_backward_mb: "前向/反向传播大小 (MB)",
    params_mb: "参数大小 (MB)", total_mb: "估计总大小 (MB)",
    assumes: "前提", warning: "警告", input_word: "输入",
    unreachable: "无法连接 cnncalc 服务器", bad_link: "链接中粘贴的文本无法解码",
    bad_svg: "浏览器无法读取这张图",
  },
};
const MODES = ["model", "source", "spec"];
const DEBOUNCE_MS = 250;

const state = { mode: "model", model: "alexnet", source: "", spec: "", cls: "", input: "", depth: "", lang: "en", layer: "" };
let models = [];
let analysisCall = null;  // the AbortController of the analysis in flight
let explainCall = null;
let timer = null;
let urlWrites = 0;

const $ = (id) => document.getElementById(id);
const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- the fragment's text: base64url of deflate-raw compressed UTF-8 ---------------------------------------

function toBase64url(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

async function through(bytes, stream) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
}

async function encodeText(text) {
  const bytes = new TextEncoder().encode(text);
  if (typeof CompressionStream === "function") return "z" + toBase64url(await through(bytes, new CompressionStream("deflate-raw")));
  return "b" + toBase64url(bytes);
}

async function decodeText(value) {
  const bytes = fromBase64url(value.slice(1));
  if (value[0] === "z") return new TextDecoder("utf-8", { fatal: true }).decode(await through(bytes, new DecompressionStream("deflate-raw")));
  if (value[0] === "b") return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  throw new Error("unknown encoding");
}

// --- URL <-> state ------------------------------------------------------------------------------------------

async function readURL(defaultLang) {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  state.lang = WORDS[query.get("lang")] ? query.get("lang") : defaultLang;
  state.input = query.get("input") || "";
  state.depth = query.get("depth") || "";
  state.layer = query.get("layer") || "";
  state.cls = query.get("class") || "";
  state.mode = fragment.has("source") ? "source" : fragment.has("spec") ? "spec" : "model";
  if (state.mode === "model") state.model = query.get("model") || state.model;
  else state[state.mode] = await decodeText(fragment.get(state.mode));
}

async function writeURL() {
  const turn = ++urlWrites;
  const query = new URLSearchParams();
  if (state.mode === "model") query.set("model", state.model);
  if (state.mode === "source" && state.cls) query.set("class", state.cls);
  if (state.input) query.set("input", state.input);
  if (state.depth) query.set("depth", state.depth);
  query.set("lang", state.lang);
  if (state.layer) query.set("layer", state.layer);
  const text = state.mode === "model" ? "" : state[state.mode];
  const fragment = text ? `#${state.mode}=${await encodeText(text)}` : "";
  if (turn === urlWrites) history.replaceState(null, "", `?${query}${fragment}`);  // a later edit won meanwhile
}

function showState() {
  $("model").value = state.model;
  $("source").value = state.source;
  $("spec").value = state.spec;
  $("class").value = state.cls;
  $("input").value = state.input;
  $("depth").value = state.depth;
  showMode();
  showDescription();
}

function showMode() {
  for (const tab of document.querySelectorAll("[data-mode]")) tab.setAttribute("aria-selected", String(tab.dataset.mode === state.mode));
  for (const pane of document.querySelectorAll("[data-pane]")) pane.hidden = pane.dataset.pane !== state.mode;
}

function showDescription() {
  const entry = models.find((m) => m.name === state.model);
  $("model-description").textContent = entry ? entry.description : "";
  if (state.mode === "model" && entry) $("input").placeholder = entry.input;
}

function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-tp]")) node.placeholder = t(node.dataset.tp);
  for (const button of document.querySelectorAll("[data-lang]")) button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
}

// --- talking to the server ------------------------------------------------------------------------------------

function requestBody(extra) {
  const body = { input: state.input, lang: state.lang };
  body[state.mode] = state[state.mode];
  if (state.mode === "source" && state.cls) body.class = state.cls;
  if (state.depth) body.depth = Number(state.depth);
  return Object.assign(body, extra);
}

async function post(path, body, signal) {
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { error: `${t("unreachable")}: ${err.message}` };
  }
  try {
    const data = await response.json();
    return response.ok || data.error ? data : { error: `HTTP ${response.status}` };
  } catch (err) {
    return { error: `HTTP ${response.status} ${response.statusText}` };
  }
}

function setBusy(value) {
  document.body.dataset.state = value;  // pending (typing), busy (asked), idle: the tests wait on it
  $("status").textContent = value === "idle" ? "" : t("working");
}

function showError(message) {
  $("error").hidden = !message;
  $("error-text").textContent = message || "";
}

function schedule() {
  clearTimeout(timer);
  setBusy("pending");
  timer = setTimeout(analyze, DEBOUNCE_MS);
}

function settle() {
  setBusy(timer === null && analysisCall === null ? "idle" : timer === null ? "busy" : "pending");
}

async function analyze() {
  clearTimeout(timer);
  timer = null;
  if (analysisCall) analysisCall.abort();
  if (state.mode !== "model" && !state[state.mode].trim()) {
    analysisCall = null;
    showError("");
    $("results").hidden = true;
    setBusy("idle");
    $("status").textContent = t(state.mode === "source" ? "paste_source" : "paste_spec");
    return;
  }
  const call = (analysisCall = new AbortController());
  setBusy("busy");
  let data;
  try {
    data = await post("/api/analyze", requestBody(), call.signal);
  } catch (err) {
    return;  // aborted: a newer analysis is on its way
  }
  if (call !== analysisCall) return;
  analysisCall = null;
  if (data.error) {
    showError(data.error);
    $("results").hidden = true;
  } else {
    showError("");
    showResult(data);
    const row = [...document.querySelectorAll("#layers tbody tr")].find((tr) => tr.dataset.name === state.layer);
    if (row) await explainRow(row, false);
    else if (state.layer) {
      state.layer = "";
      writeURL();
    }
  }
  settle();  // still "pending" when the user typed on while this one ran
}

// --- showing an analysis --------------------------------------------------------------------------------------

let lastResult = null;

function showResult(data) {
  lastResult = data;
  $("results").hidden = false;
  $("title").textContent = `${data.model}: ${t("input_word")} ${data.input}`;
  if (!state.input) $("input").placeholder = data.input;
  showTotals();
  const notes = $("notes");
  notes.replaceChildren(
    ...data.warnings.map((text) => element("li", "warning", `${t("warning")}: ${text}`)),
    ...data.assumptions.map((text) => element("li", "", `${t("assumes")} ${text}`)),
  );
  const rows = data.rows.map((row) => {
    const tr = element("tr", row.folded ? "folded" : "");
    tr.dataset.name = row.name;
    if (row.index !== null) tr.dataset.index = row.index;
    const name = element("td", "name", row.name);
    name.style.paddingLeft = `${0.4 + 1.1 * row.level}em`;
    tr.append(name, element("td", "", row.type));
    for (const key of ["input_shape", "output_shape", "params", "macs", "rf"]) tr.append(element("td", "num", row[key]));
    return tr;
  });
  document.querySelector("#layers tbody").replaceChildren(...rows);
  $("explain-hint").hidden = false;
  $("explain-body").replaceChildren();
  showPicture($("svg"), data.svg, data.svg_error);
  showPicture($("rf-plot"), data.rf_plot, data.rf_plot_error);
}

function showTotals() {
  if (!lastResult) return;
  $("totals").replaceChildren(...lastResult.totals.map(([key, value]) => {
    const pair = element("div");
    pair.dataset.key = key;
    pair.append(element("dt", "", t(key)), element("dd", "", value));
    return pair;
  }));
  $("title").textContent = `${lastResult.model}: ${t("input_word")} ${lastResult.input}`;
}

function showPicture(box, svgText, error) {
  box.replaceChildren();
  if (svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    if (doc.documentElement.nodeName === "svg" && !doc.querySelector("parsererror")) {
      box.append(document.importNode(doc.documentElement, true));
      return;
    }
    error = t("bad_svg");
  }
  box.append(element("p", "picture-error", error));
}

async function explainRow(tr, remember = true) {
  for (const other of document.querySelectorAll("#layers tr.selected")) other.classList.remove("selected");
  tr.classList.add("selected");
  if (remember) {
    state.layer = tr.dataset.name;
    writeURL();
  }
  $("explain-hint").hidden = true;
  const body = $("explain-body");
  if (tr.dataset.index === undefined) {
    body.replaceChildren(element("p", "muted", t("folded_row")));
    return;
  }
  if (explainCall) explainCall.abort();
  const call = (explainCall = new AbortController());
  let data;
  try {
    data = await post("/api/explain", requestBody({ index: Number(tr.dataset.index) }), call.signal);
  } catch (err) {
    return;
  }
  if (call !== explainCall) return;
  explainCall = null;
  if (data.error) {
    body.replaceChildren(element("p", "inline-error", data.error));
    return;
  }
  const lines = data.lines.map((line) => {
    const div = element("div", `line ${line.kind}`);
    div.append(element("span", "label", line.kind === "equation" ? `${line.label}:` : line.label));
    if (line.kind === "equation") div.append(" ", element("code", "", line.equation));
    return div;
  });
  body.replaceChildren(element("h3", "", `${data.name} (${data.type}): ${data.input_shape} → ${data.output_shape}`), ...lines);
}

async function exportAs(format) {
  const data = await post("/api/export", requestBody({ format }));
  if (data.error) {
    showError(data.error);
    return;
  }
  const type = { csv: "text/csv", markdown: "text/markdown" }[format] || "application/json";
  const url = URL.createObjectURL(new Blob([data.text], { type }));
  const link = element("a");
  link.href = url;
  link.download = data.filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// --- wiring ---------------------------------------------------------------------------------------------------

function edited(key, value, delay = true) {
  state[key] = value;
  writeURL();
  if (delay) schedule();
  else analyze();
}

async function start() {
  setBusy("busy");
  let defaultLang = "en";
  try {
    const response = await fetch("/api/models");
    const data = await response.json();
    models = data.models;
    defaultLang = WORDS[data.lang] ? data.lang : "en";
  } catch (err) {
    showError(`${t("unreachable")}: ${err.message}`);
  }
  $("model").replaceChildren(...models.map((m) => Object.assign(element("option", "", m.name), { value: m.name, title: m.description })));
  try {
    await readURL(defaultLang);
  } catch (err) {
    state.lang = WORDS[state.lang] ? state.lang : "en";
    applyLanguage();
    showState();
    showError(t("bad_link"));
    setBusy("idle");
    return;
  }
  applyLanguage();
  showState();
  await writeURL();
  await analyze();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll("[data-mode]")) {
    tab.addEventListener("click", () => {
      state.layer = "";
      edited("mode", tab.dataset.mode, false);
      showMode();
      showDescription();
    });
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      state.lang = button.dataset.lang;
      applyLanguage();
      showTotals();
      writeURL();
      const row = document.querySelector("#layers tr.selected");
      if (row && !$("results").hidden) explainRow(row, false);
    });
  }
  $("model").addEventListener("change", (event) => {
    state.layer = "";
    edited("model", event.target.value, false);
    showDescription();
  });
  $("source").addEventListener("input", (event) => edited("source", event.target.value));
  $("spec").addEventListener("input", (event) => edited("spec", event.target.value));
  $("class").addEventListener("input", (event) => edited("cls", event.target.value.trim()));
  $("input").addEventListener("input", (event) => edited("input", event.target.value.trim()));
  $("depth").addEventListener("input", (event) => edited("depth", event.target.value));
  document.querySelector("#layers tbody").addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (tr) explainRow(tr);
  });
  for (const button of document.querySelectorAll("[data-export]")) button.addEventListener("click", () => exportAs(button.dataset.export));
  window.addEventListener("hashchange", start);  // a pasted link that differs only in its fragment
  start();
});
