"""Tangle the book's code blocks into the `minigrad` package.

A chapter contributes to the package with a fenced block whose *visible title* is the target file:

    ```{.python title="minigrad/tensor.py"}
    ...
    ```

Blocks are concatenated per target file in reading order: chapters in the order of `nav` in
`mkdocs.yml`, blocks in the order they appear in a chapter. Every generated file starts with a
header naming its chapters.

    python tools/tangle.py           # write minigrad/ from docs/
    python tools/tangle.py --check   # exit 1 and print a diff if minigrad/ differs from docs/

Each block starts with the imports it needs, so that `pytest --markdown-docs` can run it on its
own. In the generated file those leading imports are gathered at the top (after the module
docstring, if the first block opens with one), merged per module, and imports of the target module
itself are dropped: `from minigrad.tensor import Tensor` in a block of `minigrad/tensor.py` is
how the block runs alone, not something the module needs.

Only `*.py` files under the package directory are generated; anything else there (data files)
is left alone.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

try:
    import yaml
    from markdown_it import MarkdownIt
except ModuleNotFoundError:  # run by a Python without them: use the project's .venv if there is one
    VENV = ROOT / ".venv"
    if (VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(VENV / "bin" / "python", [str(VENV / "bin" / "python"), __file__, *sys.argv[1:]])
    raise SystemExit("tools/tangle.py needs markdown-it-py and PyYAML: run ./dev setup first")
PACKAGE = "minigrad"
TITLE = re.compile(r'title="(?P<path>[^"]+)"')


def nav_chapters(root: Path = ROOT) -> list[Path]:
    """Markdown files in reading order, as listed (recursively) in mkdocs.yml's nav."""

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may carry tags such as !ENV or !!python/name; their values don't matter here.
    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    config = yaml.load((root / "mkdocs.yml").read_text(encoding="utf8"), Loader=Loader)
    docs_dir = root / config.get("docs_dir", "docs")

    def walk(entry):
        if isinstance(entry, str):
            if entry.endswith(".md"):
                yield docs_dir / entry
        elif isinstance(entry, dict):
            for value in entry.values():
                yield from walk(value)
        elif isinstance(entry, list):
            for item in entry:
                yield from walk(item)

    return list(walk(config["nav"]))


def code_blocks(chapter: Path) -> list[tuple[str, str]]:
    """(target path, code) for each block of `chapter` titled with a file of the package."""
    blocks = []
    for token in MarkdownIt("commonmark").parse(chapter.read_text(encoding="utf8")):
        if token.type != "fence":
            continue
        info = token.info.strip()
        match = TITLE.search(info)
        if match and match["path"].startswith(PACKAGE + "/"):
            if not info.startswith("{.python"):
                raise SystemExit(f"{chapter}: block for {match['path']} must be a {{.python ...}} fence")
            blocks.append((match["path"], token.content))
    return blocks


class Imports:
    """The imports of one generated file: `import x` lines and `from m import a, b` merged per m."""

    def __init__(self, own_module: str):
        self.own_module = own_module
        self.plain: list[str] = []
        self.from_names: dict[str, list[str]] = {}

    def add(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            line = ast.unparse(node)
            if line not in self.plain:
                self.plain.append(line)
            return
        if node.level or node.module is None:
            raise SystemExit(f"relative import in a block of {self.own_module}: use absolute imports")
        if node.module == self.own_module:
            return
        names = self.from_names.setdefault(node.module, [])
        for alias in node.names:
            name = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            if name not in names:
                names.append(name)

    def text(self) -> str:
        """Standard library, then third-party, then minigrad; first-seen order within a group."""

        def group(module: str) -> int:
            top = module.split(".")[0]
            return 0 if top in sys.stdlib_module_names else 2 if top == PACKAGE else 1

        lines = [(group(line.split()[1]), line) for line in self.plain]
        for module, names in self.from_names.items():
            line = f"from {module} import {', '.join(names)}"
            if len(line) > 100:
                line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
            lines.append((group(module), line))
        groups = [[line for g, line in lines if g == wanted] for wanted in range(3)]
        return "\n\n".join("\n".join(g) for g in groups if g) + "\n" if lines else ""


def split_leading_imports(code: str) -> tuple[str | None, list, str]:
    """(docstring source or None, leading import nodes, the rest of the block's source)."""
    lines = code.splitlines(keepends=True)
    body = ast.parse(code).body
    docstring = None
    start = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        docstring = "".join(lines[: body[0].end_lineno])
        start = 1
    imports = []
    rest_line = len(lines) if docstring is None else body[0].end_lineno
    for node in body[start:]:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            decorators = getattr(node, "decorator_list", [])
            rest_line = min([node.lineno] + [d.lineno for d in decorators]) - 1
            # keep comments written just above the first statement
            while rest_line > 0 and lines[rest_line - 1].lstrip().startswith("#"):
                rest_line -= 1
            break
        imports.append(node)
    else:
        rest_line = len(lines)
    return docstring, imports, "".join(lines[rest_line:]).strip("\n")


def tangle(root: Path = ROOT) -> dict[str, str]:
    """Map each generated file (relative path) to its full text."""
    bodies: dict[str, list[str]] = {}
    imports: dict[str, Imports] = {}
    docstrings: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    marked: dict[str, list[str]] = {}  # chapters whose code already has a "# --- chapter ---" line
    for chapter in nav_chapters(root):
        name = chapter.relative_to(root).as_posix()
        for target, code in code_blocks(chapter):
            module = target.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            docstring, nodes, rest = split_leading_imports(code)
            if target not in sources:
                sources[target], bodies[target] = [], []
                imports[target] = Imports(module)
                if docstring:
                    docstrings[target] = docstring.strip("\n") + "\n"
            elif docstring:
                raise SystemExit(f"{name}: only the first block of {target} may open with a docstring")
            for node in nodes:
                imports[target].add(node)
            if name not in sources[target]:
                sources[target].append(name)
            if rest:
                if name not in marked.setdefault(target, []):
                    marked[target].append(name)
                    bodies[target].append(f"# --- {name} ---\n")
                bodies[target].append(rest + "\n\n\n")
    files = {}
    for target, chunks in bodies.items():
        header = (
            f"# Generated by tools/tangle.py from {', '.join(sources[target])}.\n"
            "# Do not edit: change the chapter and run `python tools/tangle.py`.\n"
        )
        head = [header, docstrings.get(target, ""), imports[target].text()]
        body = "".join(chunks).rstrip("\n")
        text = "\n".join(part for part in head if part)
        files[target] = text + ("\n\n" + body + "\n" if body else "")
    return files


def current_files(root: Path = ROOT) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf8")
        for path in sorted((root / PACKAGE).rglob("*.py"))
    }


def drift(root: Path = ROOT) -> str:
    """A unified diff from the package on disk to what the chapters produce ('' if none)."""
    wanted, have = tangle(root), current_files(root)
    diff = []
    for name in sorted(set(wanted) | set(have)):
        old = have.get(name, "").splitlines(keepends=True)
        new = wanted.get(name, "").splitlines(keepends=True)
        diff += difflib.unified_diff(old, new, f"{name} (on disk)", f"{name} (from the chapters)")
    return "".join(diff)


def write(root: Path = ROOT) -> list[str]:
    """Write the generated files, delete generated files no chapter produces; return what changed."""
    wanted, have = tangle(root), current_files(root)
    changed = []
    for name, text in wanted.items():
        if have.get(name) != text:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf8")
            changed.append(name)
    for name in set(have) - set(wanted):
        (root / name).unlink()
        changed.append(name)
    return sorted(changed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print a diff and exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        diff = drift()
        if diff:
            sys.stdout.write(diff)
            print(f"\n{PACKAGE}/ differs from the chapters: edit docs/, then run python tools/tangle.py")
            return 1
        print(f"{PACKAGE}/ matches the chapters.")
        return 0
    changed = write()
    print("\n".join(f"wrote {name}" for name in changed) or f"{PACKAGE}/ already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
