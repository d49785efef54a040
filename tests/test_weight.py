"""Every page of the site weighs at most 500 KB, fonts excluded.

A page's weight is its HTML plus what it loads that is its own (images, a notebook's plots are
inside the HTML already). What every page shares, the theme's CSS and JavaScript and KaTeX's
stylesheet, is loaded once and cached: it is measured and printed separately, with a budget of its
own. Fonts are excluded (KaTeX's load only the faces a page uses). Sizes are bytes as stored,
uncompressed: what a reader of the downloaded site (file://) reads; a web server's gzip divides
them by about 8.
"""

from __future__ import annotations

import gzip
import posixpath
from collections import Counter
from pathlib import Path

from tests.conftest import SITE
from tests.test_links import parse

PAGE_BUDGET = 500_000  # bytes
SHARED_BUDGET = 600_000
FONTS = (".woff", ".woff2", ".ttf", ".otf", ".eot")


def resources(page: Path) -> list[Path]:
    """The site files a page loads (stylesheets, scripts, images), fonts excluded."""
    here = posixpath.dirname("/" + page.relative_to(SITE).as_posix())
    found = []
    for url in parse(page).resources:
        if "://" in url or url.startswith(("data:", "//")):
            continue
        path = SITE / posixpath.normpath(posixpath.join(here, url.split("#")[0].split("?")[0])).lstrip("/")
        if path.is_file() and path.suffix not in FONTS:
            found.append(path)
    return found


def weigh() -> tuple[dict[Path, int], dict[Path, int]]:
    """(weight of each page, size of each resource shared by several pages)."""
    pages = sorted(SITE.rglob("*.html"))
    loaded = {page: resources(page) for page in pages}
    users = Counter(r for found in loaded.values() for r in set(found))
    shared = {r: r.stat().st_size for r, n in users.items() if n > 1}
    weights = {
        page: page.stat().st_size + sum(r.stat().st_size for r in set(found) if r not in shared)
        for page, found in loaded.items()
    }
    return weights, shared


def test_every_page_is_light(build_log):
    weights, shared = weigh()
    table = [f"{'page':44} {'bytes':>9} {'gzip':>8}"]
    for page, weight in sorted(weights.items(), key=lambda item: -item[1]):
        zipped = len(gzip.compress(page.read_bytes()))
        table.append(f"{page.relative_to(SITE).as_posix():44} {weight:9,d} {zipped:8,d}")
    table.append(f"shared by every page, loaded once: {sum(shared.values()):,d} bytes in {len(shared)} files")
    print("\n".join(table))
    heavy = {p.relative_to(SITE).as_posix(): w for p, w in weights.items() if w > PAGE_BUDGET}
    assert not heavy, (
        f"pages over {PAGE_BUDGET:,d} bytes: {heavy}. Split the chapter, or make its figures and "
        "math lighter (hooks/katex.py and hooks/code.py already strip what they can)"
    )
    assert sum(shared.values()) <= SHARED_BUDGET, {r.name: s for r, s in shared.items()}
    assert len(weights) > 20
