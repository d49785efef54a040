"""Every chapter ends with 2 to 4 exercises, each with a hint and a solution that the tests run.

Solutions are Python blocks inside `??? success` blocks: conftest.py's markdown-it hook makes
pytest-markdown-docs collect them (test_tangle.py checks the count), so a solution that no longer
works fails the suite like any other block of the chapter.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.admon import admon_plugin

from tools.notebooks import chapters


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.stem)
def test_chapter_ends_with_exercises(chapter):
    text = chapter.read_text(encoding="utf8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings and headings[-1] == "Exercises", f"{chapter.name}: the last section must be ## Exercises"
    section = text[text.rindex("\n## Exercises"):]
    items = re.split(r"^\d+\. ", section, flags=re.M)[1:]
    assert 2 <= len(items) <= 4, f"{chapter.name}: {len(items)} exercises"
    for number, item in enumerate(items, 1):
        tokens = MarkdownIt("commonmark").use(admon_plugin).parse("1. " + item)  # as a list item
        kinds = [t.meta.get("tag") for t in tokens if t.type == "admonition_open"]
        assert kinds == ["tip", "success"], f"{chapter.name}, exercise {number}: a hint, then a solution"
        markers = re.findall(r'^\s*(\?\?\?\+?|!!!) (tip|success) "(Hint|Solution)"', item, re.M)
        assert [m[0] for m in markers] == ["???", "???"], f"{chapter.name}, exercise {number}: collapsible"
        inside = False
        solution_code = []
        for token in tokens:
            if token.type == "admonition_open":
                inside = token.meta.get("tag") == "success"
            elif token.type == "fence" and inside and token.info.split()[:1] == ["python"]:
                solution_code.append(token.content)
        assert solution_code, f"{chapter.name}, exercise {number}: the solution has no Python block to run"
        assert any("assert" in code for code in solution_code), \
            f"{chapter.name}, exercise {number}: the solution checks nothing (no assert)"


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.stem)
def test_no_fence_broken_inside_a_collapsible_block(chapter):
    """Two blank lines in a fence inside `???` end the block for markdown-it's admonition plugin:
    the rest becomes an indented code block, which pytest never runs. Seen in the data chapter."""
    tokens = MarkdownIt("commonmark").use(admon_plugin).parse(chapter.read_text(encoding="utf8"))
    broken = [t.map[0] + 1 for t in tokens if t.type == "code_block" and t.level > 0]
    assert not broken, f"{chapter.name}: code outside its fence at lines {broken} (two blank lines in a row?)"
