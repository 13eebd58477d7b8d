"""The README says what has been verified where, and every benchmark table says it holds emulator figures."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A table is a benchmark table when its header names a measured time or rate.
MEASURED = re.compile(r"\bseconds\b|MB/s|forks=|\bs/task\b|cloud_assistant, inventory plugin")
LABEL = re.compile(r"Emulator figures .*20 ms agent delivery delay")


def tables(text: str) -> list[tuple[str, str]]:
    """(header line, the paragraph just before the table) for every markdown table."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if line.startswith("|") and (number == 0 or not lines[number - 1].startswith("|")):
            before = "\n".join(lines[max(0, number - 3):number])
            found.append((line, before))
    return found


def test_every_benchmark_table_is_labelled_as_emulator_figures() -> None:
    measured = 0
    for page in PAGES:
        for header, before in tables(page.read_text(encoding="utf-8")):
            if MEASURED.search(header):
                measured += 1
                assert LABEL.search(before), f"{page.name}: the table {header[:60]!r} is not labelled"
    assert measured >= 5


def test_the_readme_says_what_was_verified_and_where() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What has been verified, and where", 1)[1].split("\n## ", 1)[0]
    for needed in ("not yet against a real Alibaba Cloud account", "documented API", "both official Python SDKs",
                   "aliyun/aliyun_assist_client", "Windows instances are not verified", "PowerShell",
                   "20 ms agent delivery delay"):
        assert needed in section, needed


def test_the_delivery_delay_named_is_the_emulators_default() -> None:
    config = (ROOT / "emulator" / "config.py").read_text(encoding="utf-8")
    assert re.search(r"delivery_delay: float = 0\.02\b", config), "the docs say 20 ms: update them with the default"
