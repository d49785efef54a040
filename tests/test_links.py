"""No broken links or anchors anywhere in the built site.

The strict build already refuses a Markdown link to a missing page; this checks the HTML that
readers get, including what hooks, plugins and the theme add: every internal href/src resolves to
a file of site/, and every #fragment is an id of the page it points to. Links that leave the site
are only allowed as plain links (<a href>), never as something the page loads; they are listed.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.conftest import SITE, SITE_PATH

RESOURCE_ATTRIBUTES = {("link", "href"), ("script", "src"), ("img", "src"), ("source", "src"),
                       ("iframe", "src"), ("video", "src"), ("audio", "src"), ("embed", "src"),
                       ("image", "href"), ("use", "href")}
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


class Page(HTMLParser):
    """A page's ids and the URLs it links (a href) or loads (src, link href)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag, attrs):
        canonical = tag == "link" and ("rel", "canonical") in attrs  # the page's published address, not a load
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif ((tag, name) in RESOURCE_ATTRIBUTES or (tag, name) == ("use", "xlink:href")) and not canonical:
                self.resources.append(value)
            elif name == "href" and (tag == "a" or canonical):
                self.links.append(value)

    handle_startendtag = handle_starttag


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf8"))
    return page


def site_path(url_path: str) -> Path:
    """The file a site URL path serves: a folder's index.html for a path ending in /."""
    path = SITE / unquote(url_path).lstrip("/")
    return path / "index.html" if url_path.endswith("/") or path.is_dir() else path


def check_site() -> tuple[list[str], Counter, Counter]:
    """(problems, counts of what was checked, external links by host)."""
    pages = {p: parse(p) for p in sorted(SITE.rglob("*.html"))}
    problems, counts, external = [], Counter(pages=len(pages)), Counter()
    for path, page in pages.items():
        here = "/" + path.relative_to(SITE).as_posix()
        for url, kind in [(u, "link") for u in page.links] + [(u, "resource") for u in page.resources]:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                if kind == "resource":
                    problems.append(f"{here}: loads {url} from outside the site")
                external[parts.netloc] += 1
                continue
            if parts.scheme in ("mailto", "data", "javascript"):
                continue
            counts[f"internal {kind}s"] += 1
            url_path = parts.path
            if url_path.startswith("/"):  # 404.html: absolute paths, under the site's path on its host
                if not (url_path + "/").startswith(SITE_PATH):
                    problems.append(f"{here}: {url} is outside {SITE_PATH}, the path the site is served under")
                    continue
                url_path = "/" + url_path[len(SITE_PATH):]
            target = site_path(posixpath.normpath(posixpath.join(posixpath.dirname(here), url_path))
                               + ("/" if url_path.endswith("/") else "")) if url_path else path
            if not target.is_file():
                problems.append(f"{here}: {url} -> {target.relative_to(SITE)} does not exist")
                continue
            if parts.fragment:
                counts["fragments"] += 1
                if target.suffix == ".html":
                    ids = (pages.get(target) or parse(target)).ids
                    if unquote(parts.fragment) not in ids:
                        problems.append(f"{here}: {url}: no id {parts.fragment!r} in {target.relative_to(SITE)}")
    for css in sorted(SITE.rglob("*.css")):
        for url in CSS_URL.findall(css.read_text(encoding="utf8")):
            if url.startswith(("data:", "#")):
                continue
            counts["css urls"] += 1
            if urlsplit(url).scheme or url.startswith("//"):
                problems.append(f"{css.relative_to(SITE)}: loads {url} from outside the site")
            elif not (css.parent / urlsplit(url).path).resolve().is_file():
                problems.append(f"{css.relative_to(SITE)}: {url} does not exist")
    return problems, counts, external


def test_no_broken_links_or_anchors(build_log):
    problems, counts, external = check_site()
    print("checked:", dict(counts))
    print("external links (plain <a href> only):", dict(external))
    assert counts["pages"] > 20 and counts["fragments"] > 100, counts
    assert not problems, f"{len(problems)} broken:\n" + "\n".join(problems[:50])


def test_the_checker_finds_a_broken_anchor(tmp_path, monkeypatch):
    """The checker itself: a missing page, a missing id and an external script are reported."""
    import tests.test_links as module

    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<p id="top"><a href="a/">ok</a> <a href="a/#here">ok</a> <a href="#top">ok</a>'
        '<a href="b.html">missing page</a> <a href="a/#nowhere">missing id</a>'
        '<script src="https://cdn.example/x.js"></script> <a href="https://example.org">fine</a>'
        f'<a href="{module.SITE_PATH}a/#here">ok</a> <link rel="stylesheet" href="/elsewhere/x.css"></p>',
        encoding="utf8",
    )
    (tmp_path / "a" / "index.html").write_text('<h1 id="here">A</h1>', encoding="utf8")
    monkeypatch.setattr(module, "SITE", tmp_path)
    problems, counts, external = module.check_site()
    assert len(problems) == 4, problems
    assert any("b.html" in p for p in problems) and any("nowhere" in p for p in problems)
    assert any("/elsewhere/x.css is outside" in p for p in problems)
    assert any("cdn.example" in p for p in problems) and external["example.org"] == 1
