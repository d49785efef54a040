"""Serve the top-level assets/ folder (images, styles, vendored files) as part of the site.

Every file under assets/ becomes a site file at the same path, as if it were in docs/, so a
chapter links `assets/images/x.svg` (relative to docs/) and strict link validation sees the
target. Stylesheets under assets/stylesheets/ are added to `extra_css`. Files are found at every
build, so generated images can be dropped into assets/ without touching mkdocs.yml.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


def _asset_files() -> list[Path]:
    return sorted(p for p in ASSETS.rglob("*") if p.is_file() and not p.name.startswith("."))


def on_config(config):
    for css in _asset_files():
        uri = css.relative_to(ROOT).as_posix()
        if uri.startswith("assets/stylesheets/") and css.suffix == ".css" and uri not in config.extra_css:
            config.extra_css.append(uri)
    # mkdocs serve: rebuild when an asset changes
    if str(ASSETS) not in config.watch:
        config.watch.append(str(ASSETS))
    return config


def on_files(files: Files, config) -> Files:
    for path in _asset_files():
        uri = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(uri) is not None:
            raise PluginError(f"{uri} exists both in assets/ and in docs/: keep one")
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
