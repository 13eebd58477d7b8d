"""galaxy.yml is the one source of the collection's version: every copy of it must say the same.

The client keeps a copy for its user agent because module_utils runs where galaxy.yml is not (see the comment at
COLLECTION_VERSION); this test is what keeps the copy true when a release bumps galaxy.yml.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import COLLECTION_VERSION

ROOT = Path(__file__).resolve().parents[5]
TARBALL = re.compile(r"alicloud-ecs-(\d+\.\d+\.\d+[^\s`'\"]*?)\.tar\.gz")


def galaxy_version() -> str:
    return str(yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"])


def test_the_client_reports_the_version_galaxy_yml_gives() -> None:
    assert COLLECTION_VERSION == galaxy_version()


def test_the_documents_name_the_tarball_of_this_version() -> None:
    """README and docs/ tell users which tarball ``ansible-galaxy collection build`` writes: this version's."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "docs").rglob("*.yml"))]
    named = {(page.relative_to(ROOT).as_posix(), version) for page in pages
             for version in TARBALL.findall(page.read_text(encoding="utf-8"))}
    assert named, "no document names the collection tarball any more: drop this test or the pattern"
    assert {version for _page, version in named} == {galaxy_version()}, sorted(named)
