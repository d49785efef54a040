"""Lighter code blocks: drop the spans that change nothing.

Pygments wraps every name in the code, `x` or `np`, in <span class="n">, and Material colours
`.highlight .n` with `--md-code-hl-name-color`, which is the code's own colour on both palettes
(`--md-code-fg-color`). So those spans, a fifth of a code-heavy page's code markup, draw exactly
what their text alone draws. Removing them keeps chapters under the weight budget of
tests/test_weight.py; tests/test_browser.py checks that the colour is indeed the same.
"""

from __future__ import annotations

import re

NAME_SPAN = re.compile(r'<span class="n">([^<]*)</span>')
# Material's code blocks (not notebook cells, which nbconvert's own stylesheet colours)
CODE_BLOCK = re.compile(r'<div class="(?:[\w-]+ )*highlight">.*?</pre>', re.DOTALL)


def on_post_page(output: str, page, config) -> str:
    return CODE_BLOCK.sub(lambda block: NAME_SPAN.sub(r"\1", block[0]), output)
