"""Render the book's math at build time with KaTeX (npm `katex`, run by Node).

Chapters write `$...$` and `$$...$$`; pymdownx.arithmatex (generic mode) turns them into
`<span class="arithmatex">\\(...\\)</span>` and `<div class="arithmatex">\\[...\\]</div>`. This hook
replaces those with KaTeX's HTML, so the pages need no JavaScript for math and load nothing from a
CDN, and a TeX error fails the build (message names the page and the expression) instead of
showing red text to readers. KaTeX's CSS and fonts are copied from node_modules into the site.

Notebook pages (mkdocs-jupyter) don't go through arithmatex: their markdown cells keep `$...$`,
so those are rendered here too (hooks/notebooks.py removes the template's MathJax loader).

One Node process serves a whole build (started at the first page with math, stopped after the
build); the page's expressions go to it in one request.

KaTeX's HTML is most of a math-heavy page's weight (tests/test_weight.py keeps every page under
500 KB). Two things in it are repeated without need: the inline styles of its spans (a chapter
with 200 expressions has 3,000 of them but only about 200 different ones), which become classes
of one <style> per page, marked !important so that they win exactly where the inline style won;
and the TeX source in each formula's MathML (<annotation>), which nothing on the site reads (the
MathML itself is what screen readers use). Both together take 15% off such a page.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "hooks" / "katex-render.cjs"
KATEX_DIST = ROOT / "node_modules" / "katex" / "dist"
SITE_DIR = "assets/katex"  # where KaTeX's CSS and fonts go in the site
SETUP_HINT = "run `./dev setup` (or `npm ci`) to install KaTeX"

ARITHMATEX = re.compile(r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.DOTALL)
# Markdown cells of a notebook, as nbconvert's lab template writes them, and the math in them.
NOTEBOOK_MARKDOWN = re.compile(
    r'(<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL
)
DOLLARS = re.compile(
    r"<code\b.*?</code>"  # code is left alone: matched first, put back unchanged
    r"|(?<![\\$])\$\$(?P<display>.+?)\$\$|(?<![\\$])\$(?P<inline>[^$\n]+?)\$",
    re.DOTALL,
)


class KatexError(Exception):
    """TeX that KaTeX refuses; the message says where and what."""


class Renderer:
    """A Node process running hooks/katex-render.cjs."""

    def __init__(self):
        if shutil.which("node") is None:
            raise PluginError(f"KaTeX: `node` not found on PATH; install Node.js, then {SETUP_HINT}")
        if not (KATEX_DIST / "katex.min.css").exists():
            raise PluginError(f"KaTeX: {KATEX_DIST} is missing; {SETUP_HINT}")
        self.process = subprocess.Popen(
            ["node", str(SCRIPT)], cwd=ROOT, text=True, encoding="utf8",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def render(self, items: list[tuple[str, bool]], where: str) -> list[str]:
        """KaTeX HTML for each (tex, display) pair; KatexError naming `where` on the first failure."""
        self.process.stdin.write(json.dumps(items) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise PluginError(f"KaTeX: the Node process died while rendering {where}")
        results = json.loads(reply)
        for (tex, display), result in zip(items, results):
            if "error" in result:
                kind = "display" if display else "inline"
                raise KatexError(f"{where}: KaTeX cannot render this {kind} math:\n    {tex}\n{result['error']}")
        return [result["html"] for result in results]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


_renderer: Renderer | None = None


def render(items: list[tuple[str, bool]], where: str = "<string>") -> list[str]:
    """Render with the build's Node process (started on first use)."""
    global _renderer
    if not items:
        return []
    if _renderer is None:
        _renderer = Renderer()
    return _renderer.render(items, where)


def _stop():
    global _renderer
    if _renderer is not None:
        _renderer.close()
        _renderer = None


STYLED_SPAN = re.compile(r'<span(?: class="(?P<classes>[^"]*)")? style="(?P<style>[^"]*)"')
TEX_ANNOTATION = re.compile(r'<annotation encoding="application/x-tex">.*?</annotation>', re.DOTALL)


class PageStyles:
    """The inline styles of a page's KaTeX spans, turned into classes of one <style> element."""

    def __init__(self):
        self.classes: dict[str, str] = {}  # style -> class name

    def compact(self, katex_html: str) -> str:
        def span(match: re.Match) -> str:
            name = self.classes.setdefault(match["style"], f"ks{len(self.classes)}")
            return f'<span class="{match["classes"] + " " if match["classes"] else ""}{name}"'

        return STYLED_SPAN.sub(span, TEX_ANNOTATION.sub("", katex_html))

    def add_to(self, page_html: str) -> str:
        if not self.classes:
            return page_html
        # !important: an inline style beats every normal rule of a stylesheet, and so does this
        rules = "".join(
            f".katex .{name}{{{';'.join(d + '!important' for d in style.split(';') if d.strip())}}}"
            for style, name in self.classes.items()
        )
        return page_html.replace("</head>", f"<style>{rules}</style></head>", 1)


def render_arithmatex(page_html: str, where: str, styles: PageStyles) -> str:
    """Replace arithmatex's output in `page_html` with KaTeX HTML."""
    matches = list(ARITHMATEX.finditer(page_html))
    items = []
    for match in matches:
        # arithmatex escapes the TeX for HTML and wraps it in \( \) or \[ \]
        tex = html.unescape(match["tex"]).strip()
        items.append((tex[2:-2], match["tag"] == "div"))
    rendered = iter(render(items, where))
    return ARITHMATEX.sub(lambda m: styles.compact(next(rendered)), page_html)


def render_notebook(page_html: str, where: str, styles: PageStyles) -> str:
    """Render the `$...$` and `$$...$$` of a notebook page's markdown cells."""

    def cell(match: re.Match) -> str:
        maths = [m for m in DOLLARS.finditer(match[2]) if m["display"] or m["inline"]]
        items = [(html.unescape(m["display"] or m["inline"]).strip(), bool(m["display"])) for m in maths]
        rendered = dict(zip((m.start() for m in maths), map(styles.compact, render(items, where))))
        return match[1] + DOLLARS.sub(lambda m: rendered.get(m.start(), m[0]), match[2]) + match[3]

    return NOTEBOOK_MARKDOWN.sub(cell, page_html)


# --- mkdocs events -------------------------------------------------------------------------------


def on_config(config):
    config.extra_css.insert(0, f"{SITE_DIR}/katex.min.css")
    return config


def on_files(files: Files, config) -> Files:
    """Serve KaTeX's CSS and fonts from the site itself."""
    if not (KATEX_DIST / "katex.min.css").exists():
        raise PluginError(f"KaTeX: {KATEX_DIST} is missing; {SETUP_HINT}")
    sources = [KATEX_DIST / "katex.min.css", *sorted((KATEX_DIST / "fonts").iterdir())]
    for source in sources:
        uri = f"{SITE_DIR}/{source.relative_to(KATEX_DIST).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files


def on_post_page(output: str, page, config) -> str:
    where = os.path.relpath(page.file.abs_src_path)  # e.g. docs/05-backprop.md
    styles = PageStyles()
    try:
        if page.file.src_uri.endswith(".ipynb"):
            output = render_notebook(output, where, styles)
        return styles.add_to(render_arithmatex(output, where, styles))
    except KatexError as error:
        _stop()
        raise PluginError(str(error)) from None


def on_post_build(config):
    _stop()


def on_build_error(error):
    _stop()
