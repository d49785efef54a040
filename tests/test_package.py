"""The release: the wheel holds the package and nothing else, its metadata is complete, and the
version, the repository and the licences agree everywhere they are written.

The wheel is built once for the module, by pip with build isolation (as a release is built), from
a copy of only what pyproject.toml says the build needs: the repository stays untouched (no
build/ or egg-info), and a file the build needs but pyproject.toml forgot would fail here.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import GITHUB_REPO, ROOT, SITE_URL

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))
PROJECT = PYPROJECT["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]
DIST_INFO = f"{NAME.replace('-', '_')}-{VERSION}.dist-info"
REPOSITORY = f"https://github.com/{GITHUB_REPO}"
BUILD_INPUTS = ["pyproject.toml", PROJECT["readme"]["file"], *PROJECT["license-files"], "minigrad"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [built] = out.glob("*.whl")
    assert built.name == f"{NAME.replace('-', '_')}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(built) as archive:
        yield archive


def metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    return email.message_from_string(wheel.read(f"{DIST_INFO}/METADATA").decode("utf8"), policy=email.policy.compat32)


def test_the_wheel_holds_the_package_its_data_and_nothing_else(wheel):
    names = set(wheel.namelist())
    package = {name for name in names if name.startswith("minigrad/")}
    expected = {f"minigrad/{path.name}" for path in (ROOT / "minigrad").glob("*.py")} | {
        "minigrad/py.typed",
        "minigrad/datasets/README.md",  # the data set's source, licence and attribution
        "minigrad/datasets/digits.csv.gz",
    }
    assert package == expected
    dist_info = names - package
    assert all(name.startswith(f"{DIST_INFO}/") for name in dist_info), sorted(dist_info)
    assert {f"{DIST_INFO}/{name}" for name in ("METADATA", "RECORD", "WHEEL", "licenses/LICENSE", "licenses/LICENSE-text")} <= dist_info
    assert "Attribution 4.0" in wheel.read("minigrad/datasets/README.md").decode()


def test_the_wheel_works_on_its_own(wheel, tmp_path):
    """Imported from the unpacked wheel, not from the repository: the README's example, and the bundled data."""
    wheel.extractall(tmp_path / "wheel")
    code = (
        "import numpy as np, minigrad\n"
        "x = minigrad.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)\n"
        "(x * x.log()).sum().backward()\n"
        "assert np.allclose(x.grad.array, np.log([1, 2, 3]) + 1)\n"
        "images, labels = minigrad.load_digits()\n"
        "assert images.shape == (1797, 8, 8) and labels.shape == (1797,)\n"
        "print(minigrad.__file__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path / "wheel")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "wheel" / "minigrad" / "__init__.py")


def test_the_metadata_names_the_distribution_its_licences_and_its_home(wheel):
    meta = metadata(wheel)
    assert meta["Name"] == "minigrad-notes" and meta["Version"] == VERSION
    assert meta["License-Expression"] == "MIT AND CC-BY-4.0"  # the code, and the bundled data set
    assert meta.get_all("License-File") == ["LICENSE", "LICENSE-text"]
    assert not any(c.startswith("License ::") for c in meta.get_all("Classifier"))  # PEP 639: the expression only
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert meta["Requires-Python"] == ">=3.11" and meta.get_all("Requires-Dist") == ["numpy>=1.26"]
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().strip() == (ROOT / "README-pypi.md").read_text(encoding="utf8").strip()
    assert "pip install minigrad-notes" in meta.get_payload()
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL"))
    assert urls["Source"] == REPOSITORY and urls["Homepage"] == SITE_URL, urls


def test_the_version_is_written_in_pyproject_and_repeated_where_it_must_be():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert "version" not in PROJECT.get("dynamic", [])
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf8")
    first = re.search(r"^## \[(?P<version>[^\]]+)\] - (?P<date>.+)$", changelog, re.M)
    assert first and first["version"] == VERSION, "the changelog's first entry is not this version"
    assert f"[{VERSION}]: {REPOSITORY}/releases/tag/v{VERSION}" in changelog
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf8"))
    assert citation["version"] == VERSION
    if first["date"] != "Unreleased":  # released: the same date in both
        assert str(citation["date-released"]) == first["date"]
    import minigrad

    assert minigrad.__version__ == VERSION  # installed (editable) from this pyproject


def test_citation_cff_is_valid_and_points_at_the_repository():
    """CFF 1.2.0's required keys and the types of those used (cffconvert --validate accepts it too)."""
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf8"))
    assert citation["cff-version"] == "1.2.0"
    assert isinstance(citation["message"], str) and isinstance(citation["title"], str)
    assert citation["type"] == "software"
    assert citation["authors"] and all(set(a) & {"name", "family-names"} for a in citation["authors"])
    datetime.date.fromisoformat(str(citation["date-released"]))
    assert citation["license"] == ["MIT", "CC-BY-4.0"]
    assert citation["repository-code"] == REPOSITORY and citation["url"] == SITE_URL


def test_every_address_of_the_project_follows_extra_github_repo():
    """mkdocs.yml's extra.github_repo names the repository; these files must say the same."""
    for name in ("pyproject.toml", "README-pypi.md", "CITATION.cff", "CHANGELOG.md"):
        text = (ROOT / name).read_text(encoding="utf8")
        for url in re.findall(r"https://github\.com/[^/\s\"')>]+/[^/\s\"')>]+", text):
            assert url == REPOSITORY, f"{name}: {url}, but extra.github_repo is {GITHUB_REPO}"
        for url in re.findall(r"https://[^/\s\"')>]+\.github\.io/[^\s\"')>]*", text):
            assert url.startswith(SITE_URL), f"{name}: {url}, but the site is {SITE_URL}"


def test_licences_are_in_place():
    assert (ROOT / "LICENSE").read_text(encoding="utf8").startswith("MIT License")
    text = (ROOT / "LICENSE-text").read_text(encoding="utf8")
    assert "Creative Commons Attribution 4.0 International Public License" in text and "Section 8 -- Interpretation." in text
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    section = readme.partition("\n## Licence\n")[2].partition("\n## ")[0]
    assert "MIT" in section and "CC BY 4.0" in section and "LICENSE-text" in section, "README.md needs a Licence section"


def test_the_pages_build_installs_only_pinned_packages():
    """requirements-site.txt (the Pages build) names packages that requirements.txt pins (its constraints)."""

    def names(path: Path) -> list[str]:
        lines = [line.split("#")[0].strip() for line in path.read_text(encoding="utf8").splitlines()]
        return [re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~; ]", line)[0]).lower() for line in lines if line]

    pinned = set(names(ROOT / "requirements.txt"))
    site = names(ROOT / "requirements-site.txt")
    assert site and not set(site) - pinned, f"not pinned in requirements.txt: {sorted(set(site) - pinned)}"
    assert not {"pytest", "hypothesis", "playwright", "autograd"} & set(site)
