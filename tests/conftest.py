"""Fixtures shared by the tests of the built site (test_site, test_links, test_browser, ...)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_book_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site_url_hook = _load(ROOT / "hooks" / "site_url.py")
GITHUB_REPO = _load(ROOT / "tools" / "notebooks.py").github_repo(ROOT)  # extra.github_repo, "owner/name"
SITE_URL = site_url_hook.pages_url(GITHUB_REPO)  # where the site is published, e.g. https://owner.github.io/name/
SITE_PATH = urlsplit(SITE_URL).path  # the path the site is served under there, e.g. /name/
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's end-of-life banner


def mkdocs_build(config: Path, site_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "--site-dir", str(site_dir)],
        cwd=config.parent, capture_output=True, text=True, env={**ENV, **(env or {})},
    )


@pytest.fixture(scope="session")
def build_log() -> str:
    """Build the site once per session into site/ (so `./dev test` leaves it to look at)."""
    result = mkdocs_build(ROOT / "mkdocs.yml", SITE)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{log[-6000:]}", pytrace=False)
    return log
