// Zoom for the SVG pictures the build inlines (docs/hooks.py): buttons under each figure scale the drawing
// inside a scrolling frame; its <title> tooltips work because the SVG is part of the page, not an <img>.
(function () {
  var STEPS = [0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4];

  function setUp(figure) {
    if (figure.querySelector(".cnncalc-zoom")) return;
    var svg = figure.querySelector("svg");
    var frame = figure.querySelector(".cnncalc-figure-frame");
    var width = parseFloat(svg.getAttribute("width"));
    var height = parseFloat(svg.getAttribute("height"));
    var fit = function () { return Math.min(1, frame.clientWidth / width); };
    var scale = fit();
    var label = document.createElement("span");
    var apply = function () {
      svg.style.width = (width * scale) + "px";
      svg.style.height = (height * scale) + "px";
      figure.setAttribute("data-zoom", scale.toFixed(2));
      label.textContent = Math.round(scale * 100) + "%";
    };
    var step = function (direction) {
      var next = direction > 0 ? STEPS.find(function (s) { return s > scale + 1e-6; })
                               : STEPS.slice().reverse().find(function (s) { return s < scale - 1e-6; });
      if (next !== undefined) { scale = next; apply(); }
    };
    var bar = document.createElement("div");
    bar.className = "cnncalc-zoom";
    [["\u2212", "zoom out", function () { step(-1); }], ["+", "zoom in", function () { step(1); }],
     ["fit", "fit the width", function () { scale = fit(); apply(); }],
     ["1:1", "actual size", function () { scale = 1; apply(); }]].forEach(function (spec) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = spec[0];
      button.title = spec[1];
      button.addEventListener("click", spec[2]);
      bar.appendChild(button);
    });
    bar.appendChild(label);
    frame.after(bar);  // under the drawing, above its caption
    apply();
  }

  function setUpAll() { document.querySelectorAll(".cnncalc-figure").forEach(setUp); }
  if (typeof document$ !== "undefined") {
    document$.subscribe(setUpAll);
  } else {
    document.addEventListener("DOMContentLoaded", setUpAll);
  }
})();
