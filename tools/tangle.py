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
how the block runs alone, not something the module needs. So is a name imported only for a
definition that a later chapter replaced, when nothing left in the module reads it.

A later chapter can grow what an earlier one defined, and says so in the block's title:

    ```{.python title="minigrad/tensor.py — adds to Tensor"}
    class Tensor:
        @property
        def version(self) -> int: ...
    ```

    ```{.python title="minigrad/backprop.py — replaces backprop"}
    def backprop(end_node, end_grad=None): ...
    ```

"adds to C": the block holds one `class C:` (no docstring, no bases); each of its members
replaces the member of that name in C (a property's getter and setter count as one member), or is
added at the end of C's body. "replaces a, b": each named top-level definition (function, class or
assignment) replaces the earlier one where it stands, so the module still reads top to bottom.
Either way a comment in the generated file names the chapter the new code comes from. Without such
a title, defining a function or class a second time is an error: it would silently shadow the
first.

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
import textwrap
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
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
# "minigrad/x.py", optionally followed by " — adds to Class" or " — replaces name, name"
TITLE_FORM = re.compile(
    r"(?P<path>\S+)(?:\s+—\s+(?:adds to (?P<extends>\w+)|replaces (?P<replaces>\w+(?:, \w+)*)))?"
)


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


class Block:
    """A package block: its target file, what it does to earlier code, and its code."""

    def __init__(self, target: str, code: str, extends: str | None = None,
                 replaces: tuple[str, ...] = ()) -> None:
        self.target, self.code, self.extends, self.replaces = target, code, extends, replaces


def package_title(info: str) -> re.Match | None:
    """The parsed title of a fence whose title names a file of the package, else None."""
    match = TITLE.search(info)
    if not match or not match["title"].startswith(PACKAGE + "/"):
        return None
    form = TITLE_FORM.fullmatch(match["title"])
    if form is None:
        raise SystemExit(
            f"block title {match['title']!r}: expected 'minigrad/x.py', 'minigrad/x.py — adds to "
            "Class' or 'minigrad/x.py — replaces name, name'"
        )
    return form


def code_blocks(chapter: Path) -> list[Block]:
    """Every block of `chapter` titled with a file of the package, in order."""
    blocks = []
    for token in MarkdownIt("commonmark").parse(chapter.read_text(encoding="utf8")):
        if token.type != "fence":
            continue
        info = token.info.strip()
        form = package_title(info)
        if form:
            if not info.startswith("{.python"):
                raise SystemExit(f"{chapter}: block for {form['path']} must be a {{.python ...}} fence")
            replaces = tuple(form["replaces"].split(", ")) if form["replaces"] else ()
            blocks.append(Block(form["path"], token.content, form["extends"], replaces))
    return blocks


class Imports:
    """The imports of one generated file: `import x` lines and `from m import a, b` merged per m."""

    def __init__(self, own_module: str, is_package: bool = False):
        self.own_module = own_module
        # a package's __init__ imports its submodules from itself: `from minigrad import functional`
        self.is_package = is_package
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
        if node.module == self.own_module and not self.is_package:
            return
        names = self.from_names.setdefault(node.module, [])
        for alias in node.names:
            name = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            if name not in names:
                names.append(name)

    def text(self, body: str | None = None, replaced: list[str] = ()) -> str:
        """Standard library, then third-party, then minigrad; first-seen order within a group.

        Given the module's body and the source of the definitions later chapters replaced, leave
        out each `from m import name` that only a replaced definition read (chapter 15's SGD
        called sub_; the version that replaced it does not). Any other import stays, read or not:
        it may be there for its effect, or to be exported.
        """

        def group(module: str) -> int:
            top = module.split(".")[0]
            return 0 if top in sys.stdlib_module_names else 2 if top == PACKAGE else 1

        mentioned = set() if body is None else names_used(body)
        dropped = set().union(*map(names_used, replaced)) - mentioned

        def used(name: str) -> bool:
            return name.split(" as ")[-1] not in dropped

        lines = [(group(line.split()[1]), line) for line in self.plain]
        for module, all_names in self.from_names.items():
            names = [name for name in all_names if used(name)]
            if not names:
                continue
            line = f"from {module} import {', '.join(names)}"
            if len(line) > 100:
                line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
            lines.append((group(module), line))
        groups = [[line for g, line in lines if g == wanted] for wanted in range(3)]
        return "\n\n".join("\n".join(g) for g in groups if g) + "\n" if lines else ""


def names_used(source: str) -> set[str]:
    """Every name the code reads, including those inside string annotations ("Tensor | None")."""
    tree = ast.parse(source)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            for part in ast.walk(annotation) if annotation is not None else ():
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    names |= names_used(part.value)
    return names


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


class Unit:
    """One top-level statement of a generated file (or one member of a class), as source text.

    `text` runs from the statement's first line (comments just above it included) to the next
    statement's first line, so that joining unchanged units gives back the blocks as written.
    """

    def __init__(self, name: str | None, text: str, chapter: str, node: ast.stmt) -> None:
        self.name, self.text, self.chapter = name, text, chapter
        self.is_definition = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        self.class_parts: tuple[str, list[Unit], str] | None = None  # header, members, tail
        if isinstance(node, ast.ClassDef):
            self.class_parts = _class_parts(node, text, chapter)

    def end_with(self, ending: str) -> None:
        """Make the unit end with `ending` (its blank lines), whatever it ended with."""
        if self.class_parts is None:
            self.text = self.text.rstrip("\n") + ending
        else:
            header, members, tail = self.class_parts
            self.class_parts = header, members, tail.rstrip("\n") + ending

    def render(self) -> str:
        if self.class_parts is None:
            return self.text
        header, members, tail = self.class_parts
        return header + "".join(member.text for member in members) + tail


def _statement_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    if len(targets) == 1 and isinstance(targets[0], ast.Name):
        return targets[0].id
    return None


def _first_lines(nodes: list[ast.stmt], lines: list[str], offset: int = 0) -> list[int]:
    """The 0-based first line of each statement, moved up over comments written just above it."""
    starts = []
    for node in nodes:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        start -= offset
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        starts.append(start)
    return starts


def split_units(source: str, chapter: str) -> list[Unit]:
    """The top-level statements of `source`, each with the lines that belong to it."""
    lines = source.splitlines(keepends=True)
    body = ast.parse(source).body
    starts = _first_lines(body, lines)
    if starts:
        starts[0] = 0
    ends = starts[1:] + [len(lines)]
    return [
        Unit(_statement_name(node), "".join(lines[start:end]), chapter, node)
        for node, start, end in zip(body, starts, ends)
    ]


def _class_parts(node: ast.ClassDef, text: str, chapter: str) -> tuple[str, list[Unit], str]:
    """Split a class's source into its header (class line, docstring), its members, and the
    blank lines after it."""
    lines = text.splitlines(keepends=True)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    offset = first - 1 - next(i for i, line in enumerate(lines) if not line.lstrip().startswith("#"))
    members = node.body
    if members and isinstance(members[0], ast.Expr) and isinstance(members[0].value, ast.Constant):
        members = members[1:]  # the docstring stays in the header
    end = node.end_lineno - offset
    tail = "".join(lines[end:])
    if not members:
        return "".join(lines[:end]), [], tail
    starts = _first_lines(members, lines, offset)
    ends = starts[1:] + [end]
    units = [
        Unit(_statement_name(member), "".join(lines[start:stop]), chapter, member)
        for member, start, stop in zip(members, starts, ends)
    ]
    return "".join(lines[: starts[0]]), units, tail


def _with_ending_of(new_text: str, old_text: str) -> str:
    """new_text, ending with the blank lines that ended old_text."""
    ending = old_text[len(old_text.rstrip("\n")):]
    return new_text.rstrip("\n") + ending


def _provenance(unit: Unit, indent: str, replaced: Unit | None) -> str:
    line = f"{indent}# from {unit.chapter}"
    if replaced is not None and replaced.chapter != unit.chapter:
        line += f", replacing {replaced.chapter}'s version"
    return line + "\n"


class Module:
    """A generated file being assembled: its units in order, and where each name is defined."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.entries: list[Unit | str] = []  # units, and "# --- chapter ---" lines
        self.chapters_marked: list[str] = []
        self.replaced: list[str] = []  # the source of every definition a later chapter replaced

    def find(self, name: str) -> Unit | None:
        for entry in self.entries:
            if isinstance(entry, Unit) and entry.name == name:
                return entry
        return None

    def add(self, block: Block, rest: str, chapter: str) -> None:
        if block.extends:
            self._extend(block, rest, chapter)
            return
        units = split_units(rest, chapter)
        appended = []
        for unit in units:
            earlier = self.find(unit.name) if unit.name else None
            if unit.name in block.replaces:
                if earlier is None:
                    raise SystemExit(f"{chapter}: '{unit.name}' replaces nothing in {self.target}")
                text = _provenance(unit, "", earlier) + unit.text.lstrip("\n")
                self.replaced.append(earlier.render())
                earlier.text = _with_ending_of(text, earlier.render())
                earlier.class_parts, earlier.chapter = None, chapter
                continue
            if earlier is not None and unit.is_definition and earlier.is_definition:
                raise SystemExit(
                    f"{chapter}: {unit.name} is already defined in {self.target} by "
                    f"{earlier.chapter}; title the block '{self.target} — replaces {unit.name}' "
                    f"to replace it, or '{self.target} — adds to {unit.name}' to add to a class"
                )
            appended.append(unit)
        missing = set(block.replaces) - {unit.name for unit in units}
        if missing:
            raise SystemExit(f"{chapter}: the block's title replaces {sorted(missing)}, "
                             "which it does not define")
        if appended:
            if chapter not in self.chapters_marked:
                self.chapters_marked.append(chapter)
                self.entries.append(f"# --- {chapter} ---\n")
            appended[-1].end_with("\n\n\n")
            self.entries.extend(appended)

    def _extend(self, block: Block, rest: str, chapter: str) -> None:
        units = split_units(rest, chapter)
        cls = self.find(block.extends)
        if cls is None or cls.class_parts is None:
            raise SystemExit(f"{chapter}: adds to {block.extends}, which is not a class of {self.target}")
        if len(units) != 1 or units[0].name != block.extends or units[0].class_parts is None:
            raise SystemExit(f"{chapter}: a block that adds to {block.extends} holds one "
                             f"`class {block.extends}:` and nothing else")
        header, new_members, _ = units[0].class_parts
        if '"""' in header or "'''" in header or "(" in header.split(":")[0]:
            raise SystemExit(f"{chapter}: `class {block.extends}:` that adds to the class takes no "
                             "docstring and no base classes (they belong to its first definition)")
        members = cls.class_parts[1]
        for name in dict.fromkeys(member.name for member in new_members):
            group = [member for member in new_members if member.name == name]
            old = [i for i, member in enumerate(members) if name is not None and member.name == name]
            text = _provenance(group[0], "    ", members[old[0]] if old else None)
            text += "".join(member.text for member in group).lstrip("\n")
            if old:
                ending = members[old[-1]].text
                self.replaced.extend(textwrap.dedent(members[i].text) for i in old)
                for i in reversed(old):
                    del members[i]
                members.insert(old[0], Unit(name, _with_ending_of(text, ending), chapter, ast.Pass()))
            else:
                last = members[-1]
                if last.chapter == chapter and last.chapter != cls.chapter:
                    text = text.split("\n", 1)[1]  # same chapter as the member above: said once
                last.text = last.text.rstrip("\n") + "\n\n"
                members.append(Unit(name, text.rstrip("\n") + "\n", chapter, ast.Pass()))

    def body(self) -> str:
        return "".join(e if isinstance(e, str) else e.render() for e in self.entries).rstrip("\n")


def tangle(root: Path = ROOT) -> dict[str, str]:
    """Map each generated file (relative path) to its full text."""
    modules: dict[str, Module] = {}
    imports: dict[str, Imports] = {}
    docstrings: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    for chapter in nav_chapters(root):
        name = chapter.relative_to(root).as_posix()
        for block in code_blocks(chapter):
            target = block.target
            module = target.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            docstring, nodes, rest = split_leading_imports(block.code)
            if target not in sources:
                sources[target], modules[target] = [], Module(target)
                imports[target] = Imports(module, is_package=target.endswith("/__init__.py"))
                if docstring:
                    docstrings[target] = docstring.strip("\n") + "\n"
            elif docstring:
                raise SystemExit(f"{name}: only the first block of {target} may open with a docstring")
            for node in nodes:
                imports[target].add(node)
            if name not in sources[target]:
                sources[target].append(name)
            if rest:
                modules[target].add(block, rest, name)
    files = {}
    for target, module in modules.items():
        header = (
            f"# Generated by tools/tangle.py from {', '.join(sources[target])}.\n"
            "# Do not edit: change the chapter and run `python tools/tangle.py`.\n"
        )
        body = module.body()
        head = [header, docstrings.get(target, ""), imports[target].text(body, module.replaced)]
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
