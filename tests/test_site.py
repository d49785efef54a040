"""The site builds strictly, shows its math without JavaScript, and loads nothing from outside.

The build runs once per session into site/ (so `./dev test` leaves the site to look at).
"""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from tools.tangle import nav_chapters

from tests.conftest import GITHUB_REPO, ROOT, SITE, SITE_PATH, SITE_URL, mkdocs_build, site_url_hook  # build_log, the session's build, is a fixture there


def page_of(chapter: Path) -> Path:
    """site/ page of a docs/ file (use_directory_urls: a.md -> a/index.html)."""
    relative = chapter.relative_to(ROOT / "docs").with_suffix("")
    return SITE / ("index.html" if relative.name == "index" else relative / "index.html")


def html_pages() -> list[Path]:
    return sorted(SITE.rglob("*.html"))


class VisibleText(HTMLParser):
    """Text a reader sees as prose: no scripts, styles, code, or KaTeX's MathML copy of the TeX."""

    SKIP = {"script", "style", "code", "pre", "annotation"}

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.depth += tag in self.SKIP

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIP

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "".join(parser.parts)


def has_math(chapter: Path) -> bool:
    tokens = MarkdownIt("commonmark").use(dollarmath_plugin).parse(chapter.read_text(encoding="utf8"))
    stack = list(tokens)
    while stack:
        token = stack.pop()
        if token.type.startswith("math_"):
            return True
        stack.extend(token.children or [])
    return False


CHAPTERS = nav_chapters(ROOT)


def test_build_has_no_warnings(build_log):
    warnings = [line for line in build_log.splitlines() if re.match(r"WARNING\b", line)]
    assert not warnings, "\n".join(warnings)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_has_a_page(build_log, chapter):
    assert page_of(chapter).is_file(), f"no page for {chapter.name}"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if has_math(c)], ids=lambda p: p.name)
def test_math_is_rendered_by_katex(build_log, chapter):
    html = page_of(chapter).read_text(encoding="utf8")
    assert 'class="katex"' in html


def test_no_math_left_unrendered(build_log):
    problems = []
    for page in html_pages():
        html = page.read_text(encoding="utf8")
        name = page.relative_to(SITE).as_posix()
        if "katex-error" in html or 'class="arithmatex"' in html:
            problems.append(f"{name}: KaTeX error or arithmatex output left")
        text = visible_text(html)
        for delimiter in ("\\(", "\\)", "\\[", "\\]", "$$"):
            if delimiter in text:
                at = text.index(delimiter)
                problems.append(f"{name}: {delimiter!r} in the text: ...{text[max(0, at - 60):at + 60]!r}")
    assert not problems, "\n".join(problems)


EXTERNAL = "(?:https?:)?//"  # also protocol-relative URLs
EXTERNAL_IN_HTML = re.compile(
    rf"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\ssrc\s*=\s*["']?{EXTERNAL}"""
    rf"""|<link\b(?![^>]*\brel\s*=\s*["']?canonical\b)[^>]*\shref\s*=\s*["']?{EXTERNAL}"""  # canonical: an address, not a load
    rf"""|\bimport\s*\(\s*["']{EXTERNAL}""",  # a module script's dynamic import
    re.IGNORECASE,
)
EXTERNAL_IN_CSS = re.compile(rf"""url\(\s*["']?{EXTERNAL}|@import\s+["']?{EXTERNAL}""", re.IGNORECASE)


def test_nothing_is_loaded_from_outside_the_site(build_log):
    found = []
    for path in [*html_pages(), *sorted(SITE.rglob("*.css"))]:
        text = path.read_text(encoding="utf8")
        for pattern in (EXTERNAL_IN_HTML, EXTERNAL_IN_CSS):  # CSS also sits in <style> in HTML
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(SITE)}: {text[match.start():match.end() + 60]!r}")
    assert not found, "\n".join(found)


def test_a_canonical_link_is_not_a_load():
    assert EXTERNAL_IN_HTML.search('<link rel="stylesheet" href="https://cdn.example/x.css">')
    assert EXTERNAL_IN_HTML.search('<link href="//cdn.example/x.css" rel="stylesheet">')
    assert not EXTERNAL_IN_HTML.search('<link rel="canonical" href="https://owner.github.io/book/">')


def test_katex_css_and_fonts_are_served(build_log):
    css = SITE / "assets" / "katex" / "katex.min.css"
    assert css.is_file()
    urls = re.findall(r"url\(([^)]+)\)", css.read_text(encoding="utf8"))
    assert any(url.endswith(".woff2") for url in urls)
    missing = [url for url in urls if not (css.parent / url.strip("'\"")).is_file()]
    assert not missing, f"KaTeX fonts missing from the site: {missing}"
    page = page_of(CHAPTERS[1]).read_text(encoding="utf8")
    assert 'href="../assets/katex/katex.min.css"' in page
    assert "katex.min.js" not in page and "katex.js" not in page, "KaTeX must not run in the browser"


def test_assets_are_served(build_log):
    for asset in (ROOT / "assets").rglob("*"):
        if asset.is_file() and not asset.name.startswith("."):
            assert (SITE / asset.relative_to(ROOT)).is_file(), asset
    assert 'href="assets/stylesheets/extra.css"' in (SITE / "index.html").read_text(encoding="utf8")


# --- a TeX error fails the build --------------------------------------------------------------------


def load_katex_hook():
    spec = importlib.util.spec_from_file_location("katex_hook", ROOT / "hooks" / "katex.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "tex, display, complaint",
    [
        (r"\frac{a", True, "Unexpected end of input"),  # a parse error
        (r"\bar{x} \mathbb{R}\undefinedmacro", False, "undefinedmacro"),  # an unknown macro
        ("x ― y", False, "Unrecognized Unicode"),  # without strict mode only a console warning
    ],
)
def test_bad_tex_is_an_error_naming_the_page_and_expression(tex, display, complaint):
    katex = load_katex_hook()
    try:
        with pytest.raises(katex.KatexError) as error:
            katex.render([("x^2", False), (tex, display)], "docs/some-chapter.md")
    finally:
        katex._stop()
    message = str(error.value)
    assert "docs/some-chapter.md" in message and tex in message and complaint in message


def test_bad_tex_fails_the_build(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Good\n\nFine: $x^2$.\n", encoding="utf8")
    (tmp_path / "docs" / "bad.md").write_text("# Bad\n\n$$\n\\frac{a}{\n$$\n", encoding="utf8")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\n"
        f"hooks: ['{(ROOT / 'hooks' / 'katex.py').as_posix()}']\n"
        "markdown_extensions: [{pymdownx.arithmatex: {generic: true}}]\n",
        encoding="utf8",
    )
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "docs/bad.md" in log and "\\frac{a}{" in log, log


# --- notebook pages -------------------------------------------------------------------------------


def test_notebook_page_is_executed_with_math_rendered_and_no_cdn(tmp_path):
    """A notebook under docs/notebooks/ renders with the site's hooks (docs/ may have none yet)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A notebook\n\nInline $\\bar{x} < 1$, and\n\n$$\n\\frac{\\partial L}{\\partial x}\n$$"),
        nbformat.v4.new_code_cell("import minigrad\nprint('ran', 6 * 7)"),
    ]
    (tmp_path / "docs" / "notebooks").mkdir(parents=True)
    (tmp_path / "docs" / "index.md").write_text("# Home\n", encoding="utf8")
    nbformat.write(notebook, tmp_path / "docs" / "notebooks" / "demo.ipynb")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\n"
        "theme: {name: material, font: false}\n"  # mkdocs' own theme loads highlight.js from a CDN
        "nav: [index.md, notebooks/demo.ipynb]\n"
        f"hooks: ['{(ROOT / 'hooks' / 'notebooks.py').as_posix()}', '{(ROOT / 'hooks' / 'katex.py').as_posix()}']\n"
        "plugins: [{mkdocs-jupyter: {include: ['notebooks/*.ipynb'], execute: true, allow_errors: false, cache: false}}]\n",
        encoding="utf8",
    )
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    html = (tmp_path / "site" / "notebooks" / "demo" / "index.html").read_text(encoding="utf8")
    assert "ran 42" in html, "the notebook was not executed (or could not import minigrad)"
    assert html.count('class="katex"') == 2 and "katex-display" in html
    assert "$" not in visible_text(html).replace("$5", "")
    assert not EXTERNAL_IN_HTML.search(html) and "cdnjs" not in html and "mathjax" not in html.lower()


# --- graphs drawn at build time -------------------------------------------------------------------


def test_graphs_are_well_formed_inline_svg(build_log):
    """The figures of minigrad.viz: XML that parses, in the pages of the chapters that draw them."""
    import xml.etree.ElementTree as ET

    found = {}
    for page in html_pages():
        svgs = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="minigrad-graph".*?</svg>',
                          page.read_text(encoding="utf8"), re.DOTALL)
        for svg in svgs:
            root = ET.fromstring(svg)  # raises on anything malformed
            assert root.find("{http://www.w3.org/2000/svg}title").text.startswith("Computational graph")
            assert "id=" not in svg, "an id would clash when a page shows several graphs"
        if svgs:
            found[page.relative_to(SITE).parent.as_posix()] = len(svgs)
    assert found == {"01-backward-by-hand": 1, "03-machinery": 1, "05-backprop": 2, "18-drawing-graphs": 1}


def test_tables_are_rendered_not_printed(build_log):
    """Markdown tables, typed or printed by a build-time block, must become <table>s, not text."""
    leftovers = []
    for page in html_pages():
        text = visible_text(page.read_text(encoding="utf8"))
        if re.search(r"\|\s*-{3,}:?\s*\|", text):
            leftovers.append(page.relative_to(SITE).as_posix())
    assert not leftovers, f"raw Markdown tables on {leftovers}"
    chapter17 = page_of(ROOT / "docs" / "17-making-it-fast.md").read_text(encoding="utf8")
    # MLP steps, the two floors, fresh processes, allocator, known losses, deep chains, per-op
    assert chapter17.count("<table>") == 7


# --- the site's address: site_url from extra.github_repo (hooks/site_url.py) ------------------------


def url_of(page: Path) -> str:
    """The published URL of a site/ page (use_directory_urls: a/index.html is served as a/)."""
    return SITE_URL + page.relative_to(SITE).as_posix().removesuffix("index.html")


@pytest.mark.parametrize("repo, url", [
    ("your-github-org/backprop-from-scratch", "https://your-github-org.github.io/backprop-from-scratch/"),
    ("Some-Org/Some.Book", "https://some-org.github.io/Some.Book/"),
    ("Some-Org/some-org.github.io", "https://some-org.github.io/"),  # a user or organisation site
])
def test_site_url_is_the_pages_address_of_the_repository(repo, url):
    assert site_url_hook.pages_url(repo) == url


@pytest.mark.parametrize("repo", ["", "owner", "owner/", "/name", "owner/name/more", "https://github.com/o/n", "-o/n"])
def test_a_repository_that_is_not_owner_slash_name_is_an_error(repo):
    with pytest.raises(ValueError, match="owner/name"):
        site_url_hook.pages_url(repo)


def test_the_repository_is_written_once():
    """mkdocs.yml names the repository in extra.github_repo only; site_url comes from it."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf8")
    assert not re.search(r"^site_url\s*:", text, re.M), "set extra.github_repo, not site_url (hooks/site_url.py)"
    assert text.count(GITHUB_REPO) == 1
    assert site_url_hook.github_repo_of(ROOT / "mkdocs.yml") == GITHUB_REPO  # the workflow's reading = YAML's


@pytest.mark.parametrize("repo, code, says", [
    ("your-github-org/backprop-from-scratch", 1, "placeholder"),
    ("someone/backprop-from-scratch", 0, "https://someone.github.io/backprop-from-scratch/"),
    ("some one/book", 1, "owner/name"),
])
def test_the_publishing_check_refuses_the_placeholder(tmp_path, capsys, repo, code, says):
    """What the Pages workflow runs first: `python hooks/site_url.py --check`."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf8").replace(GITHUB_REPO, repo)
    (tmp_path / "mkdocs.yml").write_text(config, encoding="utf8")
    assert site_url_hook.check(tmp_path / "mkdocs.yml") == code
    assert says in capsys.readouterr()[code == 1]  # stdout when it passes, stderr when it fails


def test_sitemap_lists_the_published_url_of_every_page(build_log):
    import xml.etree.ElementTree as ET

    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = [loc.text for loc in ET.parse(SITE / "sitemap.xml").getroot().findall("s:url/s:loc", namespace)]
    assert urls and all(url.startswith(SITE_URL) for url in urls), urls[:5]  # not "None", not relative
    pages = {url_of(page) for page in html_pages() if page.name != "404.html"}
    assert set(urls) == pages


def test_every_page_has_its_canonical_link(build_log):
    wrong = []
    for page in html_pages():
        if page.name == "404.html":
            continue
        found = re.findall(r'<link rel="canonical" href="([^"]*)"', page.read_text(encoding="utf8"))
        if found != [url_of(page)]:
            wrong.append(f"{page.relative_to(SITE)}: {found}, expected {url_of(page)}")
    assert not wrong, "\n".join(wrong)


def test_404_page_loads_its_assets_from_absolute_paths(build_log):
    """GitHub Pages serves 404.html for a missing URL at any depth: relative paths would break there."""
    html = (SITE / "404.html").read_text(encoding="utf8")
    loads = re.findall(r'<(?:link|script)\b[^>]*\s(?:href|src)="([^"]+)"', html)
    stylesheets = re.findall(r'<link\b[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert any("main" in url for url in stylesheets) and any("katex" in url for url in stylesheets), stylesheets
    assert any("bundle" in url and url.endswith(".js") for url in loads), loads
    for url in loads:
        assert url.startswith(SITE_PATH), f"404.html loads {url!r}: not an absolute path under {SITE_PATH}"
        assert (SITE / url.removeprefix(SITE_PATH)).is_file(), url
    assert f'"base": "{SITE_PATH}"' in html  # Material's scripts (search) find the site from there


def test_pages_workflow_publishes_only_after_the_check_and_the_tests():
    import yaml

    def workflow(name):
        loaded = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf8"))
        return loaded.get("on", loaded.get(True)), loaded["jobs"]  # YAML 1.1 reads `on:` as True

    ci_on, ci = workflow("ci.yml")
    pages_on, pages = workflow("pages.yml")
    assert "workflow_call" in ci_on and any(step.get("run") == "bash .ci/run" for step in ci["test"]["steps"])
    assert [step["run"] for step in pages["check"]["steps"] if "run" in step] == ["python hooks/site_url.py --check"]
    assert pages["test"] == {"needs": "check", "uses": "./.github/workflows/ci.yml"}
    assert pages["build"]["needs"] == "test" and pages["deploy"]["needs"] == "build"
    assert any("MINIGRAD_SETUP=site ./dev build" in step.get("run", "") for step in pages["build"]["steps"])
    assert "pages" not in str(workflow("pages.yml")[1]["build"].get("permissions", ""))  # only deploy may write Pages
    nodes = [step["with"]["node-version"] for jobs in (ci, pages) for job in jobs.values()
             for step in job.get("steps", []) if step.get("uses", "").startswith("actions/setup-node@")]
    assert nodes and all(int(version) >= 22 and int(version) % 2 == 0 for version in nodes), nodes  # an LTS line


def test_the_training_chapter_trains_on_fashion_mnist_in_the_build(build_log):
    """Chapter 15 trains the MLP on Fashion-MNIST while the site is built and shows the result:
    a test accuracy of at least 85%, its curves, the confusion matrix and misclassified images."""
    import os

    from minigrad.data import FASHION_MNIST_FOLDER

    if not (FASHION_MNIST_FOLDER / "t10k-images-idx3-ubyte.gz").exists() and not os.environ.get("CI"):
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); CI installs it")
    page = (SITE / "15-training" / "index.html").read_text(encoding="utf8")
    section = page[page.index('id="2828-images-fashion-mnist"'):]
    accuracy = re.search(r"final test accuracy (\d+\.\d+)% after (\d+) s of training", section)
    assert accuracy, "the Fashion-MNIST run printed no final accuracy"
    assert float(accuracy[1]) >= 85.0
    for label in ("Fashion-MNIST: loss and test accuracy after each epoch",
                  "Confusion matrix of the 10,000 Fashion-MNIST test images",
                  "The first twelve Fashion-MNIST test images the model gets wrong"):
        assert f'<svg role="img" aria-label="{label}"' in section, label
    assert 'style="max-width:100%;height:auto"' in section


def _printing_blocks(markdown: str) -> list[str]:
    """The info strings of the Python blocks that print (package blocks excluded)."""
    from mdit_py_plugins.admon import admon_plugin

    infos = []
    for token in MarkdownIt("commonmark").use(admon_plugin).parse(markdown):
        info = token.info.strip()
        if token.type == "fence" and info.split()[:1] == ["python"] and "print(" in token.content:
            infos.append(info)
    return infos


def test_the_printing_blocks_show_their_output_on_the_page(build_log):
    """Every check block that prints runs while the site is built (markdown-exec) and its output
    is shown under the code, labelled: counted in the chapters and found in the built pages."""
    total = shown = 0
    for chapter in nav_chapters(ROOT):
        infos = _printing_blocks(chapter.read_text(encoding="utf8"))
        total += len(infos)
        shown += sum('exec="on"' in info for info in infos)
        blocks = sum('source="block"' in info for info in infos)
        relative = chapter.relative_to(ROOT / "docs").with_suffix("")
        page = SITE / ("" if relative.name == "index" else relative) / "index.html"
        if relative.name == "index" and relative.parent != Path("."):
            page = SITE / relative.parent / "index.html"
        html = page.read_text(encoding="utf8")
        assert html.count('<div class="result"') == blocks, chapter.name
    assert total > 50 and shown / total >= 0.9, (shown, total)
    css = (ROOT / "assets" / "stylesheets" / "extra.css").read_text(encoding="utf8")
    assert '.md-typeset .result::before' in css and 'content: "Output"' in css
