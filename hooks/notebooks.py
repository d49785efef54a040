"""Make mkdocs-jupyter's notebook pages fit the site.

- Its execution cache is keyed on the notebook's bytes only, so after a change to minigrad/ a
  build would show outputs of the old package. Key the cache folder on the package's sources
  too (computed after hooks/tangle.py has re-tangled, for `mkdocs serve`), and drop the folders
  of older packages.
- nbconvert's template loads MathJax and mermaid from a CDN. The site renders math at build time
  (hooks/katex.py handles the `$...$` of markdown cells) and uses no mermaid: remove both loaders.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "mkdocs-jupyter"
PLUGIN = "mkdocs-jupyter"

CDN_LOADERS = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->"
    r'|<script type="module">(?:(?!</script>).)*?mermaid.*?</script>',
    re.DOTALL,
)


def _package_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "minigrad").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def on_pre_build(config):
    plugin = config.plugins.get(PLUGIN)
    if plugin is None or not plugin.config["cache"]:
        return
    folder = CACHE / _package_digest()
    plugin.config["cache_dir"] = str(folder)
    if CACHE.is_dir():
        for old in CACHE.iterdir():
            if old != folder:
                shutil.rmtree(old) if old.is_dir() else old.unlink()


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = CDN_LOADERS.sub("", output)
    return output
