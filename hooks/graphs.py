"""Computational graphs in a box that scrolls sideways.

minigrad.viz.draw_graph writes its natural width into the SVG (`--natural-width`), and the site's
stylesheet never draws a graph below 70% of it, so that its text stays readable on a phone. A
graph wider than the text column must then scroll, and only an element around it can: this hook
puts each graph of a page in `<div class="graph-scroll">`, which the stylesheet lets scroll
sideways (tests/test_browser.py checks that no page scrolls sideways as a whole).
"""

from __future__ import annotations

import re

GRAPH = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" class="minigrad-graph".*?</svg>', re.DOTALL)


def on_page_content(html: str, page, config, files) -> str:
    return GRAPH.sub(lambda graph: f'<div class="graph-scroll">{graph[0]}</div>', html)
