// Render TeX with KaTeX for hooks/katex.py, one process per mkdocs build.
//
// Protocol: one JSON request per line on stdin, [[tex, displayMode], ...] (the math of one page);
// one JSON reply per line on stdout, [{"html": ...} or {"error": ...}, ...] in the same order.
// Errors are returned, not thrown, so that Python can name the page and the expression.
"use strict";
const katex = require("katex");
const readline = require("node:readline");

const OPTIONS = {
  throwOnError: true, // a TeX error fails the build instead of showing red text on the page
  strict: "error", // so does anything KaTeX would only warn about (e.g. Unicode in math mode)
  output: "htmlAndMathml", // HTML to see, MathML for screen readers
};

function render([tex, displayMode]) {
  try {
    return { html: katex.renderToString(tex, { ...OPTIONS, displayMode }) };
  } catch (err) {
    return { error: String(err && err.message ? err.message : err) };
  }
}

readline.createInterface({ input: process.stdin, terminal: false }).on("line", (line) => {
  process.stdout.write(JSON.stringify(JSON.parse(line).map(render)) + "\n");
});
