"""The chapters' own figures: drawn by code at build time, readable on every palette and screen.

A chapter draws a figure with a ```` ```python exec="on" html="true" ```` block that prints an
inline SVG inside `<figure>...<figcaption>`. Besides chapter 18's graphs (`minigrad.viz`, checked in
test_site.py), these are the figures drawn by hand-written SVG code. In the built pages each one
must have alt text, a size set by its viewBox that shrinks with the page (no width in pixels), and
colours that follow the light and the dark palette (`currentColor` and Material's CSS variables,
never a fixed colour). In the chapters, each figure block imports only NumPy, Matplotlib and minigrad,
so that it runs the same at build time, under pytest and as a notebook cell.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.admon import admon_plugin

from tests.conftest import ROOT, SITE

# page -> how many figures of its own it draws
FIGURES = {
    "01-backward-by-hand": 1,
    "02-broadcasting": 1,
    "08-shapes": 1,
    "10-matmul": 1,
    "06-checking-gradients": 1,
    "15-training": 3,
    "16-backprop-by-hand": 1,
    "19-optimizers": 1,
    "appendix-idx": 1,
    "22-gradients-of-gradients": 1,
    "23-forward-mode": 1,
}
# drawn with matplotlib (chapter 15's Fashion-MNIST run): its colours are matplotlib's, readable
# on both palettes, and its image grid embeds PNGs; held to the rules below except those two
MATPLOTLIB = {"15-training"}
MAX_BYTES = 20_000  # one figure; a page may weigh 500 KB in all (test_weight.py)
SVG = "{http://www.w3.org/2000/svg}"
COLOURED = ("fill", "stroke", "color", "stop-color")


def drawn_figures() -> dict[str, list[tuple[str, str]]]:
    """page -> [(svg, caption)] for the figures with an inline SVG that is not a minigrad.viz graph."""
    found = {}
    for page in sorted(SITE.rglob("*.html")):
        for figure in re.findall(r"<figure>(.*?)</figure>", page.read_text(encoding="utf8"), re.DOTALL):
            svg = re.search(r"<svg\b.*?</svg>", figure, re.DOTALL)
            if svg and 'class="minigrad-graph"' not in svg[0][:300]:
                caption = re.search(r"<figcaption>(.*?)</figcaption>", figure, re.DOTALL)
                name = page.relative_to(SITE).parent.as_posix()
                found.setdefault(name, []).append((svg[0], caption[1] if caption else ""))
    return found


def colour_problems(root: ET.Element) -> list[str]:
    """Colours that would not follow the palette: anything but currentColor, none or var(--md-...)."""
    problems = []
    for element in root.iter():
        values = [(name, element.get(name)) for name in COLOURED if element.get(name)]
        for declaration in (element.get("style") or "").split(";"):
            name, _, value = declaration.partition(":")
            if name.strip() in COLOURED:
                values.append((name.strip(), value.strip()))
        for name, value in values:
            if value not in ("currentColor", "none") and not value.startswith("var(--md-"):
                problems.append(f"<{element.tag.removeprefix(SVG)} {name}={value!r}>")
    return problems


def test_the_chapters_draw_their_figures(build_log):
    found = {page: len(figures) for page, figures in drawn_figures().items()}
    assert found == FIGURES


@pytest.mark.parametrize("page", FIGURES)
def test_figures_are_inline_svg_with_alt_text_that_fit_and_follow_the_palette(build_log, page):
    drawn_by_hand = page not in MATPLOTLIB
    for svg, caption in drawn_figures().get(page, []):
        root = ET.fromstring(svg)  # raises on anything malformed
        assert root.tag == SVG + "svg"
        title = root.find(SVG + "title")
        alt = root.get("aria-label") if root.get("role") == "img" else None
        alt = alt or (title.text if title is not None else None)
        assert alt and len(alt) > 40, f"{page}: no alt text (role='img' with aria-label, or a <title>)"
        assert caption.strip(), f"{page}: a figure without a caption"

        # sized by its viewBox, shrinking with the page: never a width in pixels
        assert len(root.get("viewBox", "").split()) == 4, f"{page}: no viewBox"
        for name in ("width", "height"):
            value = root.get(name)
            assert value is None or not re.fullmatch(r"[\d.]+(px)?", value), f"{page}: {name}={value!r}"
        style = (root.get("style") or "").replace(" ", "")
        assert "max-width:100%" in style and "height:auto" in style, f"{page}: style={style!r}"
        assert not re.search(r"(^|;)(min-)?width:[\d.]+px", style), f"{page}: style={style!r}"
        if not drawn_by_hand:
            assert "currentColor" in svg  # its text and axes follow the palette
            continue

        # light and dark: text and lines in currentColor, tints from the theme's variables
        assert root.get("fill") == "currentColor", f"{page}: text would be black on the dark palette"
        assert not colour_problems(root), f"{page}: {colour_problems(root)}"

        assert "id=" not in svg, f"{page}: an id could clash with another figure of the page"
        assert len(svg.encode()) < MAX_BYTES, f"{page}: {len(svg.encode()):,d} bytes"


def figure_blocks(chapter: str) -> list[str]:
    """The code of a chapter's build-time figure blocks (exec="on", html="true")."""
    tokens = MarkdownIt("commonmark").use(admon_plugin).parse((ROOT / "docs" / f"{chapter}.md").read_text(encoding="utf8"))
    return [t.content for t in tokens if t.type == "fence" and 'exec="on"' in t.info and 'html="true"' in t.info]


@pytest.mark.parametrize("chapter", FIGURES)
def test_figure_blocks_import_only_numpy_matplotlib_and_minigrad(chapter):
    blocks = figure_blocks(chapter)
    assert blocks
    for code in blocks:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                # what a notebook on Colab has: the standard library, numpy, matplotlib and
                # minigrad; never the repository's tools/ or tests/
                allowed = top in {"numpy", "matplotlib", "minigrad"} or top in sys.stdlib_module_names
                assert allowed and top not in {"tools", "tests"}, f"{chapter}: imports {module}"
