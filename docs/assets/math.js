// Typeset the site's formulas with the vendored KaTeX (docs/assets/katex): pymdownx.arithmatex leaves
// \( ... \) and \[ ... \] in the pages, and the notebook page's HTML outputs carry \( ... \) too.
(function () {
  function typeset(root) {
    renderMathInElement(root, {
      delimiters: [
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$$", right: "$$", display: true },
      ],
      throwOnError: false,
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function () { typeset(document.body); });  // Material's page-load stream
  } else {
    document.addEventListener("DOMContentLoaded", function () { typeset(document.body); });
  }
})();
