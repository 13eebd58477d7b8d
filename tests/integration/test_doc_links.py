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
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"
