"""The collection as users receive it: the tarball `ansible-galaxy collection build` makes.

It must carry its license and changelog, and no file in it may name a file it does not carry (a
document pointing at a file left out of the build, a development machine's path): whoever installs
the collection has only what is in the tarball. The source repository ships whole, less build products.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
TEXT_SUFFIXES = {".md", ".rst", ".yml", ".yaml", ".py", ".j2", ".txt", ".cfg", ".ini", ".sh", ".ps1"}
# Paths of the machine the collection was developed on, and the design notes kept beside the repository.
# A path the source repository ignores (.build/, bench/results/*.json) is something a run makes, not a
# file to ship; galaxy.yml is the build's input, carried as MANIFEST.json.
BUILD_INPUTS = {"galaxy.yml"}
FOREIGN = re.compile(r"\.\./shared/|(?:^|[\s`'\"(=])/work/")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def source_top_names() -> list[str]:
    """The first path component of every file in the source repository (docs, tests, Makefile, ...)."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return sorted({line.split("/")[0] for line in listed.splitlines()}, key=len, reverse=True)


def made_by_a_run(path: str) -> bool:
    return any(subprocess.run(["git", "check-ignore", "-q", "--no-index", candidate], cwd=REPO_ROOT, check=False).returncode == 0
               for candidate in (path, path.rstrip("/") + "/"))


def path_references(text: str, tops: list[str]) -> set[str]:
    """Repository-relative paths named in ``text``: a top-level name of the repository and what follows it."""
    names = "|".join(re.escape(name) for name in tops)
    pattern = re.compile(rf"(?<![\w/.~$@-])(?:{names})(?:/[\w.*-]+)*(?![\w-])")
    found = set()
    for match in pattern.finditer(text):
        reference = match.group(0).rstrip(".")
        if "/" in reference or "." in reference:  # a bare word such as "docs" or "tests" is prose
            found.add(reference)
    return found


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    done = subprocess.run([str(BIN_DIR / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO_ROOT)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (found,) = out.glob("alicloud-ecs-*.tar.gz")
    return found


@pytest.fixture(scope="module")
def built(tarball) -> dict[str, bytes]:
    """Every regular file of the built tarball, by its path inside the collection."""
    with tarfile.open(tarball) as archive:
        return {member.name.removeprefix("./"): archive.extractfile(member).read()
                for member in archive.getmembers() if member.isfile()}


def test_the_tarball_carries_license_changelog_and_the_source(built) -> None:
    for name in ("LICENSE", "CHANGELOG.rst", "README.md", "meta/runtime.yml", "requirements.txt",
                 "docs/execution-environment.yml", "meta/execution-environment.yml", "docs/architecture.md",
                 "docs/awx.md", "docs/migration.md", "CONTRIBUTING.md"):
        assert name in built, f"{name} is not in the built collection"
    assert b"GNU GENERAL PUBLIC LICENSE" in built["LICENSE"] and b"Version 3, 29 June 2007" in built["LICENSE"]
    for part in ("emulator/", "tests/", "scripts/", "Makefile"):
        assert any(name.startswith(part) for name in built), f"{part} is part of the collection"
    for name in built:
        assert not name.startswith((".venv", ".build/", ".pytest_cache/", "tests/output/")), f"{name} should not be shipped"
        assert not name.endswith((".pyc", ".tar.gz")), f"{name} should not be shipped"


def test_no_shipped_file_names_a_file_the_tarball_lacks(built) -> None:
    tops = source_top_names()
    directories = {str(Path(name).parent) for name in built} | {str(parent) for name in built for parent in Path(name).parents}
    missing = []
    for name, data in sorted(built.items()):
        if Path(name).suffix not in TEXT_SUFFIXES:
            continue
        text = data.decode("utf-8")
        for line_number, line in enumerate(text.splitlines(), 1):
            if FOREIGN.search(line):
                missing.append(f"{name}:{line_number}: a path outside the collection: {line.strip()}")
        for target in MARKDOWN_LINK.findall(text) if name.endswith(".md") else []:
            if re.match(r"[a-z]+:|#", target):
                continue
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target.split("#")[0]))
            if joined not in built and joined not in directories:
                missing.append(f"{name}: links to {target}, which is not in the collection")
        for reference in path_references(text, tops):
            if "*" in reference:
                prefix = reference.split("*")[0]
                present = any(item.startswith(prefix) for item in built)
            else:
                present = reference in built or reference.rstrip("/") in directories
            if not present and reference not in BUILD_INPUTS and not made_by_a_run(reference):
                missing.append(f"{name}: names {reference}, which is not in the collection")
    assert not missing, "\n".join(missing)


def test_galaxy_metadata_points_inside_the_collection(built) -> None:
    info = json.loads(built["MANIFEST.json"])["collection_info"]
    for field in ("repository", "documentation", "issues", "homepage"):
        value = info.get(field)
        if value and not re.match(r"https?://", value):
            assert value in built, f"galaxy.yml {field}: {value} is not in the collection"
    assert "alibaba" in info["tags"] and "cloud_assistant" in info["tags"]
    assert info["license"] == ["GPL-3.0-or-later"]


def test_first_use_from_an_installed_collection(tarball, tmp_path) -> None:
    """README's first use: the installed collection's own emulator and demo inventory, nothing from this checkout."""
    installed = tmp_path / "collections"
    done = subprocess.run([str(BIN_DIR / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p",
                           str(installed), str(tarball)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    home = installed / "ansible_collections" / "alicloud" / "ecs"
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "ALIBABA_CLOUD_", "ALICLOUD_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CONFIG=str(config), PYTHONPATH="",
               PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}")
    run = subprocess.run([sys.executable, "-m", "emulator", "run", "--state-dir", str(tmp_path / "state"), "--",
                          "ansible-inventory", "-i", "playbooks/inventory/demo.alicloud_ecs.yml", "--graph"],
                         cwd=home, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "@role_web:" in run.stdout and "web-1" in run.stdout, run.stdout
