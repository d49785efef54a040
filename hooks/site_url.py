"""The site's address, from the one setting that names the repository: `extra.github_repo`.

GitHub Pages publishes the repository "owner/name" at https://owner.github.io/name/ (and
"owner/owner.github.io" at https://owner.github.io/). This hook sets `site_url` to that address,
so that mkdocs.yml names the repository once. With site_url set, the sitemap lists real URLs,
every page has a canonical link, and 404.html, which is served at any depth of the site, loads its
styles and scripts from absolute paths under /name/ instead of paths relative to wherever the
missing page was.

`mkdocs serve` sets site_url to its own address before the build; the hook leaves a site_url that
is already set.

Run as a script, it checks that the repository is no longer the placeholder (the Pages workflow
runs it before anything else, with a bare Python: it reads mkdocs.yml without PyYAML):

    python hooks/site_url.py --check   # prints the site's address, or fails with the reason
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "your-github-org/backprop-from-scratch"


def pages_url(repo: str) -> str:
    """GitHub Pages' address of the repository "owner/name"."""
    owner, _, name = repo.partition("/")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", owner) or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"extra.github_repo in mkdocs.yml must be 'owner/name' of a GitHub repository, not {repo!r}")
    host = f"{owner.lower()}.github.io"
    return f"https://{host}/" if name.lower() == host else f"https://{host}/{name}/"


def on_config(config):
    if not config.site_url:
        config.site_url = pages_url(config.extra["github_repo"])
    return config


def github_repo_of(mkdocs_yml: Path) -> str:
    """`extra.github_repo` read with the standard library (the key appears once in mkdocs.yml)."""
    found = re.findall(r"""^[ \t]+github_repo:[ \t]*["']?([^"'\s#]+)""", mkdocs_yml.read_text(encoding="utf8"), re.M)
    if len(found) != 1:
        raise SystemExit(f"{mkdocs_yml}: expected one `github_repo:` under `extra:`, found {len(found)}")
    return found[0]


def check(mkdocs_yml: Path = ROOT / "mkdocs.yml") -> int:
    repo = github_repo_of(mkdocs_yml)
    if repo == PLACEHOLDER:
        print(f"::error file=mkdocs.yml::Not publishing: extra.github_repo in mkdocs.yml is still the placeholder "
              f"{PLACEHOLDER!r}. Set it to this repository's 'owner/name' (and the URLs in pyproject.toml, "
              f"README-pypi.md and CITATION.cff with it; the tests check they agree).", file=sys.stderr)
        return 1
    try:
        url = pages_url(repo)
    except ValueError as error:
        print(f"::error file=mkdocs.yml::{error}", file=sys.stderr)
        return 1
    print(f"The site will be published at {url} (extra.github_repo: {repo})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        raise SystemExit(__doc__.split("\n\n")[-1])
    sys.exit(check())
