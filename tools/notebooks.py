"""Turn every chapter into a Jupyter notebook that runs from top to bottom.

    python tools/notebooks.py           # write notebooks/NN-topic.ipynb from docs/NN-topic.md
    python tools/notebooks.py --check   # exit 1 and name the notebooks that differ from docs/

Every page of the nav at the top of docs/ but the home page gets one, named after its file: the
chapters (`NN-topic.ipynb`) and the appendix pages (`appendix-topic.ipynb`).

The notebooks are committed because "Open in Colab" can only open a notebook that is in the
GitHub repository; the site serves the same notebooks, generated at build time by
hooks/chapter_notebooks.py. They are generated without outputs, so they change only when a
chapter does.

What becomes what:

- Python blocks become code cells, in order, so the notebook runs like the chapter's tests.
  Package blocks (titled `minigrad/...`) become Markdown, shown but not run: the installed package
  already has them, and running an earlier chapter's version of a function (a block that a later
  chapter replaces) would re-attach it to Tensor and change what the rest of the notebook does.
- Build-time figures (```` ```python exec="on" html="true" ````) become cells that display their
  HTML instead of printing it.
- Collapsible blocks (`??? tip "Hint"`) become HTML <details>; a solution's code becomes a code
  cell whose source is collapsed in JupyterLab (it still runs).
- Links to other chapters point to their notebooks, links to notebook pages to their copies here;
  other links into the site keep their text only.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.admon import admon_plugin

ROOT = Path(__file__).resolve().parent.parent
FOLDER = "notebooks"  # in the repository, and in the site
PYTHON = {"python", "py", "python3"}

_spec = importlib.util.spec_from_file_location("_book_tangle", Path(__file__).with_name("tangle.py"))
_tangle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tangle)


def github_repo(root: Path = ROOT) -> str:
    """`extra.github_repo` of mkdocs.yml: "owner/name" of the book's GitHub repository."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # !ENV and friends
    config = yaml.load((root / "mkdocs.yml").read_text(encoding="utf8"), Loader=Loader)
    return config["extra"]["github_repo"]


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapters that get a notebook: the pages of the nav at the top of docs/, but the home page."""
    docs = root / "docs"
    return [c for c in _tangle.nav_chapters(root) if c.parent == docs and c.name != "index.md"]


def notebook_name(chapter: Path) -> str:
    return f"{FOLDER}/{chapter.stem}.ipynb"


def page_kind(chapter: Path) -> str:
    """What the page is called in its notebook and links: "appendix" (appendix-*.md) or "chapter"."""
    return "appendix" if chapter.stem.startswith("appendix") else "chapter"


def colab_url(repo: str, chapter: Path) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/main/{notebook_name(chapter)}"


# --- markdown to cells ---------------------------------------------------------------------------

ADMONITION = re.compile(r'^(?P<indent> *)(?:\?\?\?\+?|!!!) +(?P<kind>\w+)(?: +"(?P<title>[^"]*)")? *$')
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")


def _language(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):
        classes = [w[1:] for w in info.strip("{}").split() if w.startswith(".")]
        return classes[0] if classes else ""
    return info.split()[0] if info else ""


def _fix_links(markdown: str, chapter_stems: set[str]) -> str:
    def link(match: re.Match) -> str:
        target = match["target"]
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return match[0]  # external, or within the page
        stem = Path(target.split("#")[0]).stem
        if target.split("#")[0].endswith(".md") and stem in chapter_stems:
            return f"[{match['text']}]({stem}.ipynb)"
        if target.endswith(".ipynb"):  # a notebook page: its copy sits next to this notebook
            return f"[{match['text']}]({Path(target).name})"
        return match["text"]  # a page of the site that has no notebook

    return LINK.sub(link, markdown)


def _display_html(code: str) -> str:
    """`print(html)` -> `display(HTML(html))`, for the top-level prints of a build-time figure."""
    lines = code.splitlines()
    for node in reversed(ast.parse(code).body):
        call = getattr(node, "value", None)
        if isinstance(node, ast.Expr) and isinstance(call, ast.Call) and getattr(call.func, "id", "") == "print":
            end = lines[call.end_lineno - 1]
            lines[call.end_lineno - 1] = end[: call.end_col_offset] + ")" + end[call.end_col_offset:]
            start = lines[call.lineno - 1]
            col = call.col_offset
            lines[call.lineno - 1] = start[:col] + "display(HTML" + start[col + len("print"):]
    return "from IPython.display import HTML, display\n\n" + "\n".join(lines)


def chapter_cells(text: str, chapter_stems: set[str]) -> list:
    """The cells of a chapter, in order."""
    lines = text.splitlines()
    fences, admonitions = {}, {}
    stack = []  # open admonitions' kinds
    for token in MarkdownIt("commonmark").use(admon_plugin).parse(text):
        if token.type == "admonition_open":
            admonitions[token.map[0]] = token.map[1]
            stack.append(token.meta.get("tag", ""))
        elif token.type == "admonition_close":
            stack.pop()
        elif token.type == "fence" and _language(token.info) in PYTHON:
            fences[token.map[0]] = (token.map[1], token.info.strip(), token.content, "success" in stack)

    cells, markdown = [], []

    def flush():
        source = "\n".join(markdown).strip("\n")
        markdown.clear()
        if source.strip():
            cells.append(nbformat.v4.new_markdown_cell(_fix_links(source, chapter_stems)))

    blocks = []  # open admonitions: [indent of their body, end line, where their <details> starts]

    def close_details():
        start = blocks[-1][2]
        blocks[-1][2] = None
        if start is None:
            return
        while markdown and not markdown[-1].strip():
            markdown.pop()
        if len(markdown) <= start + 1:  # nothing but the summary: leave the block out
            del markdown[start:]
        else:
            markdown.extend(["", "</details>", ""])

    i = 0
    while i < len(lines):
        while blocks and i >= blocks[-1][1]:
            close_details()
            blocks.pop()
        line = lines[i]
        if i in fences:
            end, info, code, in_solution = fences[i]
            title = re.search(r'title="([^"]+)"', info)
            if title and title[1].startswith("minigrad/"):  # package code: shown, not run
                markdown.extend(["", f"`{title[1]}` (package code: the installed minigrad has it)",
                                 "", "```python", *code.rstrip("\n").splitlines(), "```", ""])
                i = end
                continue
            if blocks:  # a <details> cannot hold a code cell: close it first
                close_details()
            flush()
            if 'exec="on"' in info and 'html="true"' in info:
                code = _display_html(code)
            if in_solution:
                code = "# Solution\n" + code
            cell = nbformat.v4.new_code_cell(code.rstrip("\n"))
            if in_solution:
                cell.metadata["jupyter"] = {"source_hidden": True}  # collapsed, still run
            cells.append(cell)
            i = end
            continue
        match = ADMONITION.match(line)
        if i in admonitions and match:
            title = match["title"] or match["kind"].capitalize()
            blocks.append([len(match["indent"]) + 4, admonitions[i], len(markdown)])
            markdown.extend([f"<details><summary>{title}</summary>", ""])
            i += 1
            continue
        dedent = blocks[-1][0] if blocks else 0
        markdown.append(line[min(dedent, len(line) - len(line.lstrip(" "))):])
        i += 1
    while blocks:
        close_details()
        blocks.pop()
    flush()
    return cells


def setup_cell(repo: str, packages: list[str]) -> nbformat.NotebookNode:
    """Install minigrad (and what else the notebook imports) where it is missing, as on Colab."""
    install = " ".join([*packages, f"'git+https://github.com/{repo}'"])
    return nbformat.v4.new_code_cell(
        "# Where minigrad is not installed (on Colab, say), install it from the book's repository.\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("minigrad") is None:\n'
        f"    %pip install --quiet {install}"
    )


def _finish(notebook: nbformat.NotebookNode) -> str:
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"  # stable ids: the same chapter gives the same bytes
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def chapter_notebook(chapter: Path, repo: str, chapter_stems: set[str]) -> str:
    """The JSON text of a chapter's notebook."""
    text = chapter.read_text(encoding="utf8")
    title, _, rest = text.partition("\n")
    kind = page_kind(chapter)
    intro = nbformat.v4.new_markdown_cell(
        f"{title}\n\n*{'An' if kind == 'appendix' else 'A'} {kind} of Backpropagation from scratch, "
        f"as a notebook generated from `docs/{chapter.name}`. Run the cells from top to bottom. "
        f"A cell that starts with `# minigrad/...` is the package's own code, as the {kind} "
        "writes it: running it defines the same names again in this notebook.*"
    )
    setup = setup_cell(repo, ["pytest"] if "import pytest" in text else [])
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [intro, setup, *chapter_cells(rest, chapter_stems)]
    return _finish(notebook)


def page_notebook(source: Path, repo: str) -> str:
    """A notebook page of the site (docs/notebooks/), without outputs and with the setup cell."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells.insert(first_code, setup_cell(repo, []))
    return _finish(notebook)


def page_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebook pages of the nav (docs/notebooks/*.ipynb)."""
    docs = root / "docs"
    return sorted(p for p in docs.glob("notebooks/*.ipynb") if p.name in (root / "mkdocs.yml").read_text())


def notebooks(root: Path = ROOT, pages: bool = True) -> dict[str, str]:
    """Map each notebook (path relative to root) to its JSON text: chapters, then notebook pages."""
    repo = github_repo(root)
    found = chapters(root)
    stems = {c.stem for c in found}
    texts = {notebook_name(c): chapter_notebook(c, repo, stems) for c in found}
    if pages:
        texts.update({f"{FOLDER}/{p.name}": page_notebook(p, repo) for p in page_notebooks(root)})
    return texts


def drift(root: Path = ROOT) -> list[str]:
    """Notebooks that are missing, differ from the chapters, or belong to no chapter."""
    wanted = notebooks(root)
    have = {p.relative_to(root).as_posix() for p in (root / FOLDER).glob("*.ipynb")}
    stale = [n for n, text in wanted.items() if not (root / n).is_file()
             or (root / n).read_text(encoding="utf8") != text]
    return sorted(stale + list(have - set(wanted)))


def write(root: Path = ROOT) -> list[str]:
    """Write the notebooks; delete the ones no chapter produces. Returns what changed."""
    changed = drift(root)
    wanted = notebooks(root)
    (root / FOLDER).mkdir(exist_ok=True)
    for name in changed:
        if name in wanted:
            (root / name).write_text(wanted[name], encoding="utf8")
        else:
            (root / name).unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if notebooks/ is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = drift()
        if stale:
            print("out of date: " + ", ".join(stale) + "\nrun `python tools/notebooks.py`")
            return 1
        print(f"{FOLDER}/ matches the chapters.")
        return 0
    changed = write()
    print("\n".join(f"wrote {name}" for name in changed) or f"{FOLDER}/ already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
