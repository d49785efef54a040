"""pytest configuration shared by the chapters' code blocks and tests/.

Chapter blocks that define part of the package (their title names a file of it) also run under
pytest-markdown-docs, each in a copy of the namespace of the module it belongs to: a block of
minigrad/tensor.py sees every name of minigrad.tensor, as its code does in the package, so it
needs no import of its own module. Running them re-registers backward functions and re-attaches
Tensor methods, using the block's fresh copies of functions the package already has. The fixture
below puts the package back the way it was after every chapter block, so that no block can change
what later tests see.
"""

import functools
import importlib
from pathlib import Path

import pytest

import minigrad
from minigrad.modes import is_float64_kept, is_grad_enabled


def pytest_markdown_docs_markdown_it():
    """Also collect code blocks inside admonitions and collapsible blocks (!!!, ???)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.admon import admon_plugin

    return MarkdownIt("commonmark").use(admon_plugin)


@functools.cache
def _package_blocks(path: Path) -> dict[int, str]:
    """First code line of each package block of a chapter -> the module it belongs to."""
    from tools.tangle import package_title

    blocks = {}
    for token in pytest_markdown_docs_markdown_it().parse(path.read_text(encoding="utf8")):
        form = package_title(token.info.strip()) if token.type == "fence" and token.map else None
        if form:
            module = form["path"].removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            blocks[token.map[0] + 1] = module  # pytest-markdown-docs' start_line
    return blocks


_block_module: list[str | None] = [None]  # the module of the package block being run, if any


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    is_chapter_block = item.path.suffix == ".md" and hasattr(item, "start_line")
    _block_module[0] = _package_blocks(item.path).get(item.start_line) if is_chapter_block else None
    try:
        yield
    finally:
        _block_module[0] = None


def pytest_markdown_docs_globals():
    """A package block runs with the names of its module (a copy: the module is not changed)."""
    if _block_module[0] is None:
        return {}
    module = importlib.import_module(_block_module[0])
    return {name: value for name, value in vars(module).items() if not name.startswith("__")}


def _classes_with_attached_methods():
    return [cls for cls in vars(minigrad).values() if isinstance(cls, type) and cls.__module__.startswith("minigrad")]


@pytest.fixture(autouse=True)
def _restore_package_state(request):
    """Snapshot the backward-function table and every minigrad class; restore after the test."""
    table = dict(minigrad.BACK_FUNCS.back_funcs)
    rules = dict(minigrad.TENSOR_BACK_FUNCS.rules)  # chapter 22's second table
    classes = {cls: dict(vars(cls)) for cls in _classes_with_attached_methods()}
    yield
    minigrad.BACK_FUNCS.back_funcs.clear()
    minigrad.BACK_FUNCS.back_funcs.update(table)
    minigrad.TENSOR_BACK_FUNCS.rules.clear()
    minigrad.TENSOR_BACK_FUNCS.rules.update(rules)
    for cls, attributes in classes.items():
        for name in set(vars(cls)) - set(attributes):
            delattr(cls, name)
        for name, value in attributes.items():
            if vars(cls).get(name) is not value and name not in ("__dict__", "__weakref__"):
                setattr(cls, name, value)
    assert is_grad_enabled(), f"{request.node.nodeid} left gradient recording switched off"
    assert not is_float64_kept(), f"{request.node.nodeid} left float64 switched on"
