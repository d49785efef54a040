"""Every chapter is also a notebook: generated from the chapter, valid, and runs top to bottom.

The notebooks in notebooks/ are what "Open in Colab" opens, so they must equal what the chapters
give (`python tools/notebooks.py` rewrites them). Each one is executed in a fresh kernel, from the
repository's root like the chapters' blocks under pytest (the "Making it fast" chapter reads
benchmarks/); all of them together take about 25 s here.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.test_tangle import _python_fences
from tools import notebooks, tangle

ROOT = Path(__file__).resolve().parent.parent
ALL = sorted(notebooks.notebooks(ROOT))  # chapters, then notebook pages such as training-run


def test_notebooks_match_the_chapters():
    stale = notebooks.drift(ROOT)
    assert not stale, f"notebooks/ is out of date, run `python tools/notebooks.py`: {stale}"


def test_every_chapter_has_a_notebook():
    names = {Path(n).stem for n in ALL}
    assert {c.stem for c in notebooks.chapters(ROOT)} <= names
    assert "training-run" in names


@pytest.mark.parametrize("chapter", notebooks.chapters(ROOT), ids=lambda c: c.stem)
def test_every_python_block_is_a_code_cell(chapter):
    """Checks, figures and solutions: all of them, plus the set-up cell; package blocks are
    shown as Markdown, every one of them."""
    notebook = nbformat.read(ROOT / notebooks.notebook_name(chapter), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    text = chapter.read_text(encoding="utf8")
    blocks, _ = _python_fences(text)
    package = [b for b in tangle.code_blocks(chapter)]
    assert len(code) == blocks - len(package) + 1
    shown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert all(block.code.rstrip("\n") in shown for block in package)
    solutions = [c for c in code if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert all(c.source.startswith("# Solution") for c in solutions)
    assert not any("??? " in c.source for c in notebook.cells if c.cell_type == "markdown"), \
        "an admonition was left as Material syntax"


@pytest.mark.parametrize("name", ALL, ids=lambda n: Path(n).stem)
def test_notebook_runs_from_top_to_bottom(name):
    notebook = nbformat.read(ROOT / name, as_version=4)
    nbformat.validate(notebook)
    # a fresh kernel of this Python: ipykernel's "python3" is the running interpreter
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    json.dumps(nbformat.writes(notebook))  # and the executed notebook still serialises
