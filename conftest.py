"""pytest configuration shared by the chapters' code blocks and tests/.

Chapter blocks that define part of the package also run on their own under pytest-markdown-docs.
Running them re-registers backward functions and re-attaches Tensor methods, using the block's
fresh copies of functions the package already has. The fixture below puts the package back the
way it was after every chapter block, so that no block can change what later tests see.
"""

import pytest

import minigrad
from minigrad.modes import is_float64_kept, is_grad_enabled


def pytest_markdown_docs_markdown_it():
    """Also collect code blocks inside admonitions and collapsible blocks (!!!, ???)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.admon import admon_plugin

    return MarkdownIt("commonmark").use(admon_plugin)


def _classes_with_attached_methods():
    return [cls for cls in vars(minigrad).values() if isinstance(cls, type) and cls.__module__.startswith("minigrad")]


@pytest.fixture(autouse=True)
def _restore_package_state(request):
    """Snapshot the backward-function table and every minigrad class; restore after the test."""
    table = dict(minigrad.BACK_FUNCS.back_funcs)
    classes = {cls: dict(vars(cls)) for cls in _classes_with_attached_methods()}
    yield
    minigrad.BACK_FUNCS.back_funcs.clear()
    minigrad.BACK_FUNCS.back_funcs.update(table)
    for cls, attributes in classes.items():
        for name in set(vars(cls)) - set(attributes):
            delattr(cls, name)
        for name, value in attributes.items():
            if vars(cls).get(name) is not value and name not in ("__dict__", "__weakref__"):
                setattr(cls, name, value)
    assert is_grad_enabled(), f"{request.node.nodeid} left gradient recording switched off"
    assert not is_float64_kept(), f"{request.node.nodeid} left float64 switched on"
