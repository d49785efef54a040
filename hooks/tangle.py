"""Keep minigrad/ in step with the chapters while the site builds.

- `mkdocs serve`: re-tangle before every build, so editing a chapter rewrites minigrad/ (the
  package is not watched, so writing it does not trigger another build).
- `mkdocs build` / `gh-deploy`: fail the build with the diff if minigrad/ differs from the
  chapters, so a published site never describes code the package does not have.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.hooks.tangle")

# tools/ is not a package on sys.path when mkdocs runs; load the tangler by path.
_spec = importlib.util.spec_from_file_location("_book_tangle", ROOT / "tools" / "tangle.py")
tangle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tangle)

_command = "build"


def on_startup(command, dirty):
    global _command
    _command = command


def on_pre_build(config):
    try:
        if _command == "serve":
            for name in tangle.write(ROOT):
                log.info("tangled %s", name)
            return
        diff = tangle.drift(ROOT)
    except (SystemExit, SyntaxError) as error:
        # the tangler's own message (a bad fence, a relative import, a block that doesn't parse);
        # SystemExit would otherwise end `mkdocs serve`
        raise PluginError(f"tools/tangle.py: {error}") from None
    if diff:
        raise PluginError(
            "minigrad/ differs from the chapters; run `python tools/tangle.py` "
            "(never edit minigrad/ by hand):\n" + diff
        )
