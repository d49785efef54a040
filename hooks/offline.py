"""The build that works from a downloaded folder (file://): `OFFLINE=true ./dev build`.

OFFLINE=true enables Material's offline plugin (see mkdocs.yml), which turns directory URLs off
(a folder cannot serve a/index.html for a/) and inlines the search index into a script. For
search to run from file:// it also loads a polyfill, iframe-worker, from a CDN. This hook serves
that polyfill from the site instead (the npm package, pinned in package-lock.json), so that
nothing leaves the folder.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "node_modules" / "iframe-worker" / "shim" / "index.js"
SITE_PATH = "assets/javascripts/iframe-worker-shim.js"


def _offline(config) -> bool:
    plugin = config.plugins.get("material/offline") or config.plugins.get("offline")
    return bool(plugin and plugin.config.enabled)


def on_config(config):
    if _offline(config):  # runs after the plugin's on_config, which added the CDN's address
        polyfills = [url for url in config.extra.get("polyfills", []) if "iframe-worker" not in url]
        config.extra["polyfills"] = [*polyfills, SITE_PATH]
    return config


def on_files(files: Files, config) -> Files:
    if _offline(config):
        if not SHIM.is_file():
            raise PluginError(f"{SHIM} is missing; run `./dev setup` (or `npm ci`)")
        files.append(File.generated(config, SITE_PATH, abs_src_path=str(SHIM)))
    return files
