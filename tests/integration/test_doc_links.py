"""The docs stand on their own: no citation of a document the collection lacks, every relative link resolves.

Code comments cite the API facts they rely on as ``docs/api-contract.md#<section>``; a renamed section or a
citation of the old, unshipped contract document (a section sign, or a path outside the repository) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("plugins", "emulator", "tests", "docs", "bench", "scripts")
SUFFIXES = {".py", ".md", ".yml", ".yaml", ".sh", ".txt", ".j2", ""}
# Built from parts so this file does not match itself.
FORBIDDEN = ("contract " + "\u00a7", "../" + "shared", "shared/" + "api/contract")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CITATION = re.compile(r"api-contract\.md((?:#[a-z0-9-]+(?:, )?)+)")


def scanned_files() -> list[Path]:
    """Text files of the scanned trees (build output and caches left out)."""
    files = []
    for top in SCANNED:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    return files + [ROOT / "README.md"]


def slug(heading: str) -> str:
    """The anchor GitHub (and most renderers) give a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


def test_no_file_cites_a_document_the_collection_lacks() -> None:
    offenders = []
    for path in scanned_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {word!r}" for word in FORBIDDEN if word in text]
    assert not offenders, "\n".join(offenders)


def test_every_api_contract_citation_names_a_section() -> None:
    known = anchors(ROOT / "docs" / "api-contract.md")
    cited = 0
    missing = []
    for path in scanned_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for match in CITATION.finditer(text):
            for anchor in match.group(1).replace(", ", "").split("#")[1:]:
                cited += 1
                if anchor not in known:
                    missing.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert cited > 50  # the code does cite it
    assert not missing, "\n".join(missing)


PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _sep, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def test_requirements_are_what_the_plugins_import() -> None:
    """requirements.txt lists exactly the third-party packages plugins/ imports (no jmespath kept 'just in case')."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    imported = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name not in ("ansible", "ansible_collections", "__future__")}
    owners = packages_distributions()
    wanted = {dist.lower() for name in third_party for dist in owners.get(name, [name])}
    listed = {re.split(r"[<>=!; ]", line.strip())[0].lower()
              for line in (ROOT / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert listed == wanted, f"requirements.txt {sorted(listed)} vs imported {sorted(wanted)}"


@pytest.mark.parametrize("plugin_type, name", [
    ("connection", "alicloud.ecs.cloud_assistant"), ("inventory", "alicloud.ecs.instances"),
    ("module", "alicloud.ecs.run"), ("module", "alicloud.ecs.instance_info"),
])
def test_each_plugin_page_lists_what_it_imports(ansible, plugin_type, name) -> None:
    """Every plugin goes through the same client, so each page names every package of requirements.txt."""
    import json

    run = ansible.run("ansible-doc", "--json", "-t", plugin_type, name)
    assert run.rc == 0, run.output
    requirements = " ".join(json.loads(run.stdout)[name]["doc"].get("requirements", []))
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip():
            assert re.split(r"[<>=!; ]", line.strip())[0] in requirements, (name, line)
