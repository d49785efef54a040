"""The built site in a real browser: Debian's Chromium, driven by Playwright's Python package.

The session's build (site/) is served on 127.0.0.1 and every page is opened. On each: no console
error, no failed request, no request anywhere but 127.0.0.1; math rendered by KaTeX with no error;
graphs drawn with a size; notebook links that download a valid notebook. On each, at a desktop
width (1280 px) and a phone's (390 px): every figure, notebook plot and display formula fits the
text column, and the page does not scroll sideways. Then: math and graphs are there with
JavaScript off, search finds "unbroadcast", the palette toggle switches to dark, the notebook page
looks like a chapter, the offline build works from file://, and a missing page gets the styled 404
page. The site is served under its path on GitHub Pages (/name/ of https://owner.github.io/name/),
as it will be published. Screenshots go to test-artifacts/screenshots/ to look at.

Needs Chromium: `sudo apt-get install -y chromium` (never `playwright install`, which downloads a
browser build). Without it these tests fail, unless MINIGRAD_SKIP_BROWSER=1 says to skip them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import nbformat
import pytest

from tests.conftest import ROOT, SITE, SITE_PATH, mkdocs_build

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST_MATH_PAGE = "02-broadcasting/"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# chapters photographed at both widths (test_chapter_screenshots), and the one also in dark
PHOTOGRAPHED = ("01-backward-by-hand", "02-broadcasting", "10-matmul", "16-backprop-by-hand")
PHOTOGRAPHED_DARK = ("10-matmul",)

# What must fit the text column (the content box of .md-content__inner): figures (an inline SVG or
# an image in a <figure>; not the SVGs inside a formula or a drawing), a notebook's plots, display
# formulas and computational graphs (wider ones scroll inside their own box, which must fit). Each
# one's box must lie within the column, to a pixel; and the page must not scroll sideways. Hidden
# ones (a closed <details>) have no box. A graph must also be drawn at 70% of its natural size or
# more, where its text stays readable (hooks/graphs.py, extra.css).
FITS = """() => {
    const column = document.querySelector('.md-content__inner');
    const style = getComputedStyle(column), box = column.getBoundingClientRect();
    const left = box.left + column.clientLeft + parseFloat(style.paddingLeft);
    const width = column.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const items = [...column.querySelectorAll(
        'figure svg, figure img, .jp-OutputArea-output img, .katex-display, .graph-scroll')].filter(
        e => !e.parentElement.closest('svg, .katex, .graph-scroll'));
    const name = e => e.tagName.toLowerCase() + (e.classList.length ? '.' + [...e.classList].join('.') : '')
        + ' "' + (e.getAttribute('aria-label') || e.getAttribute('alt') || e.textContent || '').trim().slice(0, 50) + '"';
    const wide = items.map(e => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.width > 0 && (r.width > width + 1 || r.left < left - 1 || r.right > left + width + 1))
        .map(([e, r]) => `${name(e)}: ${Math.round(r.width)} px wide from x = ${Math.round(r.left - left)}, `
                         + `in a column of ${Math.round(width)} px`);
    const small = [...column.querySelectorAll('svg.minigrad-graph')]
        .map(s => [s, s.getBoundingClientRect().width / s.width.baseVal.value])
        .filter(([s, scale]) => scale > 0 && scale < 0.69)
        .map(([s, scale]) => `${name(s)}: drawn at ${Math.round(100 * scale)}% of its natural size`);
    return {checked: items.length, wide, small, scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth};
}"""


def misfits(page, where: str, counts: dict) -> list[str]:
    """What sticks out of the column on the page, and whether the page scrolls sideways."""
    found = page.evaluate(FITS)
    counts["fitted"] += found["checked"]
    problems = [f"{where}: {wide}" for wide in found["wide"] + found["small"]]
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(f"{where}: the page scrolls sideways ({found['scrollWidth']} px in a "
                        f"{found['innerWidth']} px window)")
    return problems


def chromium() -> str:
    # MINIGRAD_CHROMIUM: another Chromium build, e.g. the one a CI image ships
    path = os.environ.get("MINIGRAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("MINIGRAD_SKIP_BROWSER") == "1":
        pytest.skip("MINIGRAD_SKIP_BROWSER=1: browser tests skipped")
    pytest.fail("the browser tests need Chromium: install it with `sudo apt-get install -y chromium` "
                "(Debian's package; never `playwright install`), or set MINIGRAD_SKIP_BROWSER=1 to skip "
                "them", pytrace=False)


class PagesHandler(SimpleHTTPRequestHandler):
    """site/ served as GitHub Pages serves it: under the site's path (/name/ of owner.github.io/name/),
    and 404.html, with status 404, for any URL that has no file."""

    def translate_path(self, path):
        path = urlsplit(path).path
        if not (path + "/").startswith(SITE_PATH):
            return str(SITE / "no such file")  # outside the site
        return super().translate_path("/" + path[len(SITE_PATH):])

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "index.html")):
            path = "missing"  # no directory listings on Pages
        if os.path.exists(path):
            return super().send_head()
        body = (SITE / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(build_log):
    """site/ on 127.0.0.1, on a free port, in a thread, under the site's path as on GitHub Pages."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(PagesHandler, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}{SITE_PATH}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield browser
        browser.close()


class Watch:
    """Everything a page asks the network for, and everything that goes wrong."""

    def __init__(self, context, allowed):
        self.allowed = allowed
        self.requests: list[str] = []
        self.problems: list[str] = []
        context.on("request", lambda r: self.requests.append(r.url))
        context.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        context.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def page(self, context):
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        return page

    def outside(self) -> list[str]:
        return [u for u in self.requests if not self.allowed(u)]


def site_pages() -> list[str]:
    return sorted(p.relative_to(SITE).as_posix().removesuffix("index.html") for p in SITE.rglob("*.html"))


def local(base: str):
    host = urlsplit(base).netloc
    return lambda url: urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == host


def test_every_page_in_the_browser(server, browser):
    start = time.perf_counter()
    context = browser.new_context(viewport=DESKTOP)
    watch = Watch(context, local(server))
    page = watch.page(context)
    counts = dict(pages=0, math=0, math_pages=0, graphs=0, notebooks=0, fitted=0)
    problems = []
    for path in site_pages():
        page.goto(server + path, wait_until="networkidle")  # every request answered, the search index too
        counts["pages"] += 1
        problems += misfits(page, f"{path or 'index'} at {DESKTOP['width']} px", counts)
        found = page.evaluate("""() => ({
            katex: document.querySelectorAll('.md-content .katex').length,
            errors: document.querySelectorAll('.katex-error').length,
            unsized: [...document.querySelectorAll('.md-content .katex')].filter(e => {  // closed <details> hide theirs
                const r = e.getBoundingClientRect();
                return !e.closest('details:not([open])') && !(r.width > 0 && r.height > 0); }).length,
            font: (e => e && getComputedStyle(e).fontFamily)(document.querySelector('.katex')),
            graphs: [...document.querySelectorAll('svg.minigrad-graph')].map(s => {
                const r = s.getBoundingClientRect(); return [r.width, r.height, s.querySelectorAll('g.node').length]; }),
            downloads: [...document.querySelectorAll('.notebook-links a[download]')].map(a => a.href),
        })""")
        if found["katex"]:
            counts["math_pages"] += 1
            counts["math"] += found["katex"]
            if found["errors"] or found["unsized"] or "KaTeX_Main" not in found["font"]:
                problems.append(f"{path}: KaTeX errors {found['errors']}, unsized {found['unsized']}, font {found['font']}")
        for width, height, nodes in found["graphs"]:
            counts["graphs"] += 1
            if not (width > 50 and height > 20 and nodes > 0):
                problems.append(f"{path}: a graph of {nodes} nodes drawn {width}x{height}")
        for url in found["downloads"]:
            response = page.request.get(url)
            counts["notebooks"] += 1
            try:
                nbformat.validate(nbformat.reads(response.text(), as_version=4))
            except Exception as error:  # noqa: BLE001 (any failure is the finding)
                problems.append(f"{path}: {url} is not a valid notebook ({response.status}: {error})")
    context.close()
    counts["requests"] = len(watch.requests)
    counts["seconds"] = round(time.perf_counter() - start, 1)
    print("browser:", json.dumps(counts))
    assert counts["pages"] == len(site_pages()) > 20
    assert counts["math_pages"] >= 15 and counts["graphs"] >= 5 and counts["notebooks"] >= 18, counts
    assert not watch.outside(), f"requests outside 127.0.0.1: {sorted(set(watch.outside()))}"
    assert not watch.problems + problems, "\n".join(watch.problems + problems)


def test_every_page_fits_a_phone(server, browser):
    """At 390 px, as on a phone: figures, plots and formulas within the column, no sideways scroll.
    (At 1280 px test_every_page_in_the_browser checks the same.)"""
    start = time.perf_counter()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    counts = dict(pages=0, fitted=0)
    problems = []
    for path in site_pages():
        page.goto(server + path, wait_until="load")
        counts["pages"] += 1
        problems += misfits(page, f"{path or 'index'} at {PHONE['width']} px", counts)
    context.close()
    counts["seconds"] = round(time.perf_counter() - start, 1)
    print("phone:", json.dumps(counts))
    assert counts["pages"] == len(site_pages()) and counts["fitted"] > 100, counts
    assert not problems, "\n".join(problems)


def test_math_and_graphs_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    math_pages = 0
    for path in site_pages():
        page.goto(server + path)
        katex = page.locator(".md-content .katex:not(details:not([open]) *)")  # closed <details> hide theirs
        if katex.count():
            math_pages += 1
            box = katex.first.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0, path
            assert page.locator(".katex-error").count() == 0, path
        for graph in page.locator("svg.minigrad-graph").all():
            box = graph.bounding_box()
            assert box and box["width"] > 50 and box["height"] > 20, path
    context.close()
    assert math_pages >= 15


def test_search_finds_unbroadcast(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context, local(server))
    page = watch.page(context)
    page.goto(server, wait_until="load")
    page.locator("input.md-search__input").click()  # the search box of the header
    page.keyboard.type("unbroadcast", delay=20)
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    text = page.locator(".md-search-result").inner_text()
    assert "unbroadcast" in text.lower() and results.count() >= 3
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "search-unbroadcast.png")
    context.close()
    assert not watch.problems and not watch.outside(), watch.problems + watch.outside()


def test_dark_mode_toggle_switches_the_palette(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.goto(server + "05-backprop/", wait_until="load")
    scheme = lambda: page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    assert scheme() == "default"
    page.locator("form[data-md-component='palette'] label:visible").first.click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    # the graphs follow the text colour: light lines on the dark page
    colour = page.evaluate("getComputedStyle(document.querySelector('svg.minigrad-graph')).color")
    assert colour == page.evaluate("getComputedStyle(document.querySelector('.md-typeset')).color")
    page.locator("svg.minigrad-graph").last.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("figure:has(svg.minigrad-graph)").last.screenshot(path=SCREENSHOTS / "graph-dark.png")
    context.close()


def test_code_names_keep_their_colour(server, browser):
    """hooks/code.py drops Pygments' <span class="n">: on both palettes it had the code's colour."""
    for scheme, palette in (("light", "default"), ("dark", "slate")):
        context = browser.new_context(color_scheme=scheme)  # Material follows the system's choice
        page = context.new_page()
        page.goto(server + "05-backprop/", wait_until="load")
        colours = page.evaluate("""() => {
            const code = document.querySelector('.highlight pre code');
            const name = document.createElement('span'); name.className = 'n'; name.textContent = 'x';
            code.appendChild(name);
            return [document.body.getAttribute('data-md-color-scheme'),
                    getComputedStyle(code).color, getComputedStyle(name).color]; }""")
        assert colours[0] == palette and colours[1] == colours[2], colours
        context.close()


def test_screenshots(server, browser):
    """Pictures of a math page, graphs, the notebook's plots and an open exercise solution."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = context.new_page()
    page.goto(server + FIRST_MATH_PAGE, wait_until="load")
    page.screenshot(path=SCREENSHOTS / "math-page.png")
    page.goto(server + "01-backward-by-hand/", wait_until="load")
    page.locator("figure:has(svg.minigrad-graph)").first.screenshot(path=SCREENSHOTS / "graph.png")
    page.goto(server + "18-drawing-graphs/", wait_until="load")  # the widest graph, in its scroll box
    page.locator("figure:has(svg.minigrad-graph)").first.screenshot(path=SCREENSHOTS / "graph-widest.png")
    page.goto(server + "notebooks/training-run/", wait_until="load")
    plots = page.locator(".jp-OutputArea-output img")
    assert plots.count() == 2 and all(plot.bounding_box()["height"] > 100 for plot in plots.all())
    plots.first.screenshot(path=SCREENSHOTS / "notebook-plot.png")
    page.goto(server + "05-backprop/", wait_until="load")
    solution = page.locator("details.success").first
    solution.locator("summary").click()
    assert solution.get_attribute("open") is not None
    assert solution.locator("pre code").first.is_visible()
    solution.screenshot(path=SCREENSHOTS / "exercise-solution.png")
    context.close()
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 5_000
               for name in ("math-page", "graph", "graph-widest", "notebook-plot", "exercise-solution"))


def test_chapter_screenshots(server, browser):
    """A few chapters as a reader sees them (PHOTOGRAPHED, light; PHOTOGRAPHED_DARK also dark): the
    whole page at 1280 px, NN-topic-desktop.png; at 390 px the top of the page, NN-topic-phone.png,
    and the region around its first figure, NN-topic-phone-figure.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []
    for scheme, chapters in (("light", PHOTOGRAPHED), ("dark", PHOTOGRAPHED_DARK)):
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=viewport, color_scheme=scheme)  # Material follows it
            page = context.new_page()
            for chapter in chapters:
                page.goto(server + chapter + "/", wait_until="load")
                page.evaluate("document.fonts.ready.then(() => true)")
                palette = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
                assert palette == {"light": "default", "dark": "slate"}[scheme], (chapter, scheme, palette)
                name = f"{chapter}-{device}" + ("-dark" if scheme == "dark" else "")
                if device == "desktop":
                    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
                    taken.append(name)
                    continue
                page.screenshot(path=SCREENSHOTS / f"{name}.png")
                taken.append(name)
                # the first figure with what is just above and below it, the window's whole width
                top, height = page.evaluate("""() => { const r = document.querySelector('.md-content figure')
                    .getBoundingClientRect(); return [r.top + window.scrollY, r.height]; }""")
                clip = {"x": 0, "y": max(0, top - 160), "width": viewport["width"], "height": height + 320}
                page.screenshot(path=SCREENSHOTS / f"{name}-figure.png", full_page=True, clip=clip)
                taken.append(f"{name}-figure")
            context.close()
    assert len(taken) == 3 * (len(PHOTOGRAPHED) + len(PHOTOGRAPHED_DARK))
    assert all((SCREENSHOTS / f"{name}.png").stat().st_size > 5_000 for name in taken)


def test_the_notebook_page_looks_like_a_chapter(server, browser):
    """hooks/notebooks.py and extra.css: the notebook's code cells are the site's code blocks (font,
    size, colours, copy button) as wide as the column, with no In/Out prompts; its outputs are set off
    as a chapter's are; none looks like an error (tqdm's bar is on stdout, in its last state only)."""
    looks = """() => {
        const code = document.querySelector('.md-content .highlight pre > code'), style = getComputedStyle(code);
        const column = document.querySelector('.md-content__inner');
        const output = document.querySelector('.md-content .highlight + .result, .md-content .jp-Cell-outputWrapper');
        return {font: style.fontFamily, size: style.fontSize, background: style.backgroundColor,
                keyword: getComputedStyle(code.querySelector('.kn, .k')).color,
                fills_column: Math.abs(code.getBoundingClientRect().width - column.clientWidth) <= 1,
                copy_button: !!code.parentElement.querySelector('button[data-md-type=copy]'),  // Material's
                output: ['borderLeft', 'backgroundColor', 'paddingLeft', 'marginTop'].map(p => getComputedStyle(output)[p])
                        .concat(getComputedStyle(output, '::before').content)};
    }"""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, color_scheme="light")
    page = context.new_page()
    page.goto(server + "15-training/", wait_until="load")
    chapter = page.evaluate(looks)
    page.goto(server + "notebooks/training-run/", wait_until="load")
    notebook = page.evaluate(looks)
    assert notebook == chapter, (notebook, chapter)
    assert page.locator(".jp-InputPrompt:visible, .jp-OutputPrompt:visible").count() == 0
    assert page.locator(".jp-Cell .highlight pre > code").count() == 4  # every code cell
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    bars = page.locator(".jp-RenderedText pre", has_text="%|")
    assert bars.count() == 1 and "100%|" in bars.inner_text() and "20/20" in bars.inner_text()
    page.screenshot(path=SCREENSHOTS / "notebook-training-run-desktop.png", full_page=True)
    context.close()
    context = browser.new_context(viewport=PHONE, color_scheme="light")
    page = context.new_page()
    page.goto(server + "notebooks/training-run/", wait_until="load")
    page.screenshot(path=SCREENSHOTS / "notebook-training-run-phone.png", full_page=True)
    context.close()


def test_a_missing_page_gets_the_styled_404_page(server, browser):
    """As on GitHub Pages: a missing URL, however deep, shows 404.html, which must find its assets."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context, local(server))
    page = watch.page(context)
    response = page.goto(server + "no/such/chapter/", wait_until="networkidle")
    assert response.status == 404
    expected = [f"HTTP 404: {server}no/such/chapter/", "console: Failed to load resource: the server responded with a status of 404 (Not Found)"]
    for problem in expected:  # the page's own 404, once as a response and once in the console
        watch.problems.remove(problem)
    loaded = [url for url in watch.requests if url.endswith((".css", ".js"))]
    assert any("/assets/stylesheets/main" in url for url in loaded) and any("katex" in url for url in loaded), loaded
    # styled: Material's header is a coloured bar, and the page says what went wrong
    header = page.evaluate("getComputedStyle(document.querySelector('.md-header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
    assert "404" in page.locator(".md-content").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "404.png")
    context.close()
    assert not watch.problems and not watch.outside(), watch.problems + watch.outside()


@pytest.fixture(scope="module")
def offline_site(tmp_path_factory):
    """The OFFLINE=true build, for file://."""
    site = tmp_path_factory.mktemp("offline") / "site"
    result = mkdocs_build(ROOT / "mkdocs.yml", site, env={"OFFLINE": "true"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return site


def test_offline_build_works_from_a_folder(offline_site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = Watch(context, lambda url: urlsplit(url).scheme in ("file", "data", "blob", "about"))
    page = watch.page(context)
    page.goto((offline_site / "index.html").as_uri(), wait_until="load")
    page.locator("a[href='05-backprop.html']").first.click()  # plain .html links between pages
    page.wait_for_url("**/05-backprop.html")
    assert page.locator(".md-content .katex").count() > 10
    assert page.locator("svg.minigrad-graph").count() == 2
    page.locator("input.md-search__input").click()
    page.keyboard.type("unbroadcast", delay=20)
    page.locator(".md-search-result__item").first.wait_for(timeout=15_000)
    context.close()
    assert not watch.outside(), f"the offline site asked the network for {sorted(set(watch.outside()))}"
    assert not watch.problems, "\n".join(watch.problems)
