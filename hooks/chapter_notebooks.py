"""Every chapter as a notebook: serve it from the site and link to it from the chapter's page.

- The site gets notebooks/NN-topic.ipynb for every chapter (appendix-topic.ipynb for an appendix
  page), generated from the chapter at build time by tools/notebooks.py (so the download always
  matches the page).
- Each chapter page, and the training notebook page, gets a "Download notebook" and an "Open in
  Colab" link under its title. Colab opens the copy committed in notebooks/ on GitHub, which
  tests/test_notebooks.py keeps equal to the chapters; `extra.github_repo` in mkdocs.yml names
  the repository.
- `mkdocs serve` rewrites notebooks/ when a chapter changes, as hooks/tangle.py does for minigrad/.
"""

from __future__ import annotations

import importlib.util
import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.hooks.chapter_notebooks")

# tools/ is not a package on sys.path when mkdocs runs; load the generator by path.
_spec = importlib.util.spec_from_file_location("_book_notebooks", ROOT / "tools" / "notebooks.py")
notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebooks)

_command = "build"
_chapters: dict[str, Path] = {}  # docs-relative source path -> chapter


def on_startup(command, dirty):
    global _command
    _command = command


def on_pre_build(config):
    if _command == "serve":
        for name in notebooks.write(ROOT):
            log.info("wrote %s", name)


def on_files(files: Files, config) -> Files:
    _chapters.clear()
    for name, text in notebooks.notebooks(ROOT, pages=False).items():  # a page's own: include_source
        files.append(File.generated(config, name, content=text))
    for chapter in notebooks.chapters(ROOT):
        _chapters[chapter.relative_to(ROOT / "docs").as_posix()] = chapter
    return files


def _links_html(download: str, colab: str, what: str) -> str:
    return (
        '<p class="notebook-links">'
        f'<a href="{download}" download>Download {what} as a notebook</a> · '
        f'<a href="{colab}">Open in Colab</a></p>'
    )


def on_page_markdown(markdown: str, page, config, files):
    chapter = _chapters.get(page.file.src_uri)
    if chapter is None:
        return markdown
    download = posixpath.relpath(notebooks.notebook_name(chapter), posixpath.dirname(page.file.src_uri) or ".")
    links = (
        f'<p class="notebook-links" markdown>[Download this {notebooks.page_kind(chapter)} as a notebook]({download}){{ download="{chapter.stem}.ipynb" }} · '
        f"[Open in Colab]({notebooks.colab_url(config.extra['github_repo'], chapter)})</p>"
    )
    # Right under the title (the first line of every chapter is its `# Title`).
    title, _, rest = markdown.partition("\n")
    return f"{title}\n\n{links}\n{rest}"


def on_page_content(html: str, page, config, files):
    """The training notebook page (mkdocs-jupyter) links to its own .ipynb, copied by include_source."""
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    name = posixpath.basename(page.file.src_uri)
    repo = config.extra["github_repo"]
    # Colab opens the committed copy in notebooks/, which has the cell that installs minigrad
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/{notebooks.FOLDER}/{name}"
    links = _links_html(name, colab, "this page")
    # after the notebook's first heading, or first of all if it has none
    match = re.search(r"</h1>", html)
    return html[: match.end()] + links + html[match.end():] if match else links + html
