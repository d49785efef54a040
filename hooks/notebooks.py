"""Make mkdocs-jupyter's notebook pages fit the site.

- Its execution cache is keyed on the notebook's bytes only, so after a change to minigrad/ a
  build would show outputs of the old package. Key the cache folder on the package's sources
  too (computed after hooks/tangle.py has re-tangled, for `mkdocs serve`), and drop the folders
  of older packages.
- nbconvert's template loads MathJax and mermaid from a CDN. The site renders math at build time
  (hooks/katex.py handles the `$...$` of markdown cells) and uses no mermaid: remove both loaders.
- The template inlines JupyterLab's whole stylesheet (575 KB: widget toolkits, editors, dialogs)
  into the page. Keep only the rules whose classes occur in the page, and the custom properties
  those rules use: the page looks the same and weighs a fraction (tests/test_weight.py).
- A progress bar (tqdm) redraws itself with carriage returns, which a live notebook honours and a
  static page cannot: each redraw would be a line of its own. Keep the bar's last state only
  (on standard output, where the training notebook writes it, or on standard error, tqdm's default).
- Code cells become the site's code blocks: nbconvert's `highlight-ipynb` markup, coloured by
  JupyterLab's palette and with a copy button of its own (a web component, inlined), becomes
  Material's (`<div class="language-python highlight"><pre><code>`), which the theme colours in
  both palettes and gives its copy button. The In/Out prompts, the paddings and the outputs' look
  are in assets/stylesheets/extra.css.
- Links to chapters in markdown cells (`../12-nn.md`) are not rewritten by mkdocs for notebook
  pages: point them at the chapters' pages, and fail the build on a link to a missing page.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError

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


MARKDOWN_LINK = re.compile(r'href="(?![a-z]+:|#|/)(?P<path>[^"#]+\.md)(?P<fragment>#[^"]*)?"')


def on_page_content(html: str, page, config, files) -> str:
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    html = code_blocks(html)

    def link(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), match["path"]))
        file = files.get_file_from_path(target)
        if file is None:
            raise PluginError(f"{page.file.src_uri} links to {match['path']}, which is not a page of the site")
        return f'href="{file.url_relative_to(page.file)}{match["fragment"] or ""}"'

    return MARKDOWN_LINK.sub(link, html)


def on_post_page(output: str, page, config) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = CDN_LOADERS.sub("", output)
        output = last_progress_only(output)
        output = prune_styles(output)
    return output


# A code cell's source as nbconvert writes it, and the copy button it puts before it.
CODE_CELL = re.compile(r'<div class="highlight-ipynb hl-(?P<language>[\w-]+)"><pre>(?P<spans>(?:<span></span>)?)'
                       r'(?P<code>.*?)</pre></div>', re.DOTALL)
COPY_BUTTON = re.compile(r'<div class="zeroclipboard-container">\s*<clipboard-copy\b.*?</clipboard-copy>\s*</div>\s*',
                         re.DOTALL)
COPY_TEXT = re.compile(r'\s*<div class="clipboard-copy-txt" id="cell-\d+">[^<]*</div>')  # what the button copies
# the script that defines <clipboard-copy>, and the one that shows its "Copied!"
COPY_SCRIPTS = re.compile(r"<script>(?:(?!</script>).)*?(?:ClipboardCopyElement|'clipboard-copy').*?</script>\s*",
                          re.DOTALL)


def code_blocks(html: str) -> str:
    """nbconvert's code cells as the site's code blocks (Material's markup: colours, copy button)."""
    html = COPY_TEXT.sub("", COPY_BUTTON.sub("", html))
    if "<clipboard-copy" not in html:
        html = COPY_SCRIPTS.sub("", html)
    return CODE_CELL.sub(
        lambda m: f'<div class="language-{m["language"]} highlight"><pre>{m["spans"]}<code>{m["code"]}</code></pre></div>',
        html,
    )


# One stream output of the notebook (stdout, shown as text/plain, or stderr): its text, and
# whether it is a progress bar ("  5%|██ ...").
STREAM_OUTPUT = re.compile(
    r'<div class="jp-OutputArea-child">\s*<div class="jp-OutputPrompt jp-OutputArea-prompt"></div>\s*'
    r'<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="(?P<stream>text/plain|application/vnd\.jupyter\.stderr)"'
    r'[^>]*>\s*<pre>(?P<text>[^<]*)</pre>\s*</div>\s*</div>\s*'
)
PROGRESS = re.compile(r"\d+%\|")


def last_progress_only(page_html: str) -> str:
    """Of each run of progress-bar outputs keep the last; drop the blank line a bar ends with."""
    drop, bar = [], None  # spans to remove; the previous output, if it was a bar
    for match in STREAM_OUTPUT.finditer(page_html):
        if PROGRESS.search(match["text"]):
            if bar is not None and bar.end() == match.start() and bar["stream"] == match["stream"]:
                drop.append(bar.span())  # redrawn by this one
            bar = match
        else:
            if not match["text"].strip():
                drop.append(match.span())
            bar = None
    for start, end in reversed(drop):
        page_html = page_html[:start] + page_html[end:]
    return page_html


# --- unused CSS -----------------------------------------------------------------------------------

STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL)
CLASS_ATTRIBUTE = re.compile(r'\bclass="([^"]*)"')
CLASS_IN_SELECTOR = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
# not classes of the selector: attribute selectors ([type="a.b"]), and what is in parentheses
# (:not(.x) matches without any .x)
NOT_CLASSES = re.compile(r"\[[^\]]*\]|\([^()]*\)")
VARIABLE_USE = re.compile(r"var\(\s*(--[\w-]+)")


def _split(text: str, separator: str) -> list[str]:
    """Split at `separator` outside parentheses, brackets and strings."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote and text[i - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _blocks(css: str):
    """Top-level statements of a stylesheet: (prelude, body or None for `@charset ...;`)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    i, n = 0, len(css)
    while i < n:
        j = i
        while j < n and css[j] not in "{;":
            j += 1
        if j >= n:
            return
        prelude = css[i:j].strip()
        if css[j] == ";":
            yield prelude, None
            i = j + 1
            continue
        depth, k, quote = 0, j, ""
        while k < n:  # the matching brace, skipping strings
            char = css[k]
            if quote:
                quote = "" if char == quote and css[k - 1] != "\\" else quote
            elif char in "\"'":
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        yield prelude, css[j + 1 : k]
        i = k + 1


def _prune_rules(css: str, classes: set[str]) -> str:
    out = []
    for prelude, body in _blocks(css):
        if body is None:
            out.append(prelude + ";")
        elif prelude.startswith(("@media", "@supports", "@layer", "@container")):
            inner = _prune_rules(body, classes)
            if inner:
                out.append(f"{prelude}{{{inner}}}")
        elif prelude.startswith("@"):  # @font-face, @keyframes, @page: keep
            out.append(f"{prelude}{{{body}}}")
        else:
            kept = [s for s in _split(prelude, ",")
                    if set(CLASS_IN_SELECTOR.findall(NOT_CLASSES.sub("", s))) <= classes]
            if kept:
                out.append(f"{','.join(s.strip() for s in kept)}{{{body.strip()}}}")
    return "".join(out)


def _drop_unused_variables(css: str, reads: str) -> str:
    """Remove `--name: value` declarations that neither css nor `reads` use, until none is left."""
    declaration = re.compile(r"(?<=[{;])\s*(--[\w-]+)\s*:(?:[^;{}()]|\([^()]*(?:\([^()]*\)[^()]*)*\))*;?")
    while True:
        used = set(VARIABLE_USE.findall(css)) | set(VARIABLE_USE.findall(reads))
        pruned = declaration.sub(lambda m: m[0] if m[1] in used else "", css)
        pruned = re.sub(r"(?<=})[^{}@;]+\{\s*\}", "", pruned)  # rules left empty
        if pruned == css:
            return css
        css = pruned


def prune_styles(page_html: str) -> str:
    """Drop the CSS rules of the page's <style> elements that cannot match anything in it."""
    without_styles = STYLE.sub("", page_html)
    classes = {c for value in CLASS_ATTRIBUTE.findall(without_styles) for c in value.split()}
    rules = [_prune_rules(match[2], classes) for match in STYLE.finditer(page_html)]
    # a variable defined in one <style> may be read in another, or by an inline style
    everything = without_styles + "".join(rules)
    pruned = iter(_drop_unused_variables(css, everything) for css in rules)
    return STYLE.sub(lambda match: match[1] + next(pruned) + match[3], page_html)
