"""pytest imports test files by basename (rootdir-relative "prepend" mode): two test files with the same
name in different folders make the whole run stop at collection. Catch that here, with the names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_name_is_unique() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if "output" not in path.parts)
    assert [name for name, count in names.items() if count > 1] == []
