"""The oldest Python the collection and the emulator promise (3.10, README) can parse every file.

The test runs on a newer Python, whose parser accepts what 3.10's refuses; the one such construct that slips in
unnoticed is an f-string holding its own quote character (PEP 701, Python 3.12), so it is looked for token by token.
(An emulator module written that way once made ``python -m emulator`` fail on 3.10.)
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for top in ("plugins", "emulator") for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def nested_quote_lines(source: str) -> list[int]:
    """Lines where a string inside an f-string's replacement field reuses the f-string's quote (3.12+ only)."""
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    if fstring_start is None:  # a parser older than 3.12 refuses such a file outright
        compile(source, "<checked>", "exec")
        return []
    quotes: list[str] = []
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == fstring_start:
            quote = token.string.lstrip("rRbBfF")
            if any(quote.startswith(outer) or outer.startswith(quote) for outer in quotes):
                found.append(token.start[0])
            quotes.append(quote)
        elif token.type == tokenize.FSTRING_END:
            quotes.pop()
        elif token.type == tokenize.STRING and quotes:
            body = token.string.lstrip("rRbBuU")
            if any(body.startswith(outer) for outer in quotes):
                found.append(token.start[0])
    return found


def test_the_detector_finds_a_nested_quote() -> None:
    nested = "x = f\"{d[\"a\"]}\"\n"
    if hasattr(tokenize, "FSTRING_START"):
        assert nested_quote_lines(nested) == [1]
    else:  # before 3.12 the parser itself refuses it
        with pytest.raises(SyntaxError):
            nested_quote_lines(nested)
    assert nested_quote_lines("x = f\"{d['a']}\"\n") == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_parses_on_python_3_10(path: Path) -> None:
    assert nested_quote_lines(path.read_text()) == []
