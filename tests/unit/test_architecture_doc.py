"""docs/architecture.md names only what exists, and names every file of plugins/ and of the emulator's top level.

The page fell behind the code once (issue 27: files it listed had moved, files that existed were missing), so it is
checked both ways:

- every name it gives must exist: a path starting with a top directory (``plugins/``, ``emulator/``, ``tests/``,
  ``docs/``, ``bench/``, ``scripts/``...) from the repository root; a shorter path (``execution/frame.py``,
  ``session/``) as the end of some path of the tree; a dotted name whose first part is a module of plugins/ or
  emulator/ (``fleet_share.Gathering``, ``client.CloudClient.call``) as a module plus names defined in it;
- every file of plugins/ (``__init__.py`` aside) must be named in a way that points at it alone: ``remote_exec``
  does, ``errors`` does not (api/ and auth/ both have one) and needs its directory (``api/errors.py``);
- every top-level file and subpackage of emulator/ must be named by its path from the root (``emulator/agent.py``);
- the layers diagram says what each layer of module_utils may import exactly as test_layers.py's ALLOWED does.

Names are read from backticked spans in the text and from the tokens of fenced blocks (diagrams) that hold a
``/``, a ``.`` or a ``_``; a path anywhere in the text that starts with a top directory is read too.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
TOP = ("plugins", "emulator", "tests", "docs", "bench", "scripts", "playbooks", "roles", "changelogs", "meta",
       "extensions")
TREES = ("plugins", "emulator", "tests", "docs", "bench", "scripts")
DATA_SUFFIXES = (".yml", ".yaml", ".md", ".txt", ".ini", ".json", ".cfg", ".toml", ".j2", ".sh")
TOKEN = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_./-]*")  # a leading / marks a path on an instance: not ours
ROOTED = re.compile(r"(?<![\w./-])(?:%s)/[A-Za-z0-9_./-]*" % "|".join(TOP))
DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")


def _clean(token: str) -> str:
    return token.rstrip(".,:;")


def doc_tokens(text: str) -> list[str]:
    """The names the page gives: backticked words, path-like tokens of fenced blocks, rooted paths anywhere."""
    found: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            found += [token for token in TOKEN.findall(line) if re.search(r"[/._]", token)]
        else:
            for span in re.findall(r"`([^`]+)`", line):
                found += TOKEN.findall(span)
        found += ROOTED.findall(line)
    return [token for token in (_clean(token) for token in found) if token and not token.startswith("/")]


@functools.lru_cache(maxsize=None)
def tree_paths() -> frozenset[tuple[str, ...]]:
    """Every file and directory of the scanned trees as path parts from the root (``.py`` dropped)."""
    paths = set()
    for top in TREES:
        for path in [ROOT / top, *(ROOT / top).rglob("*")]:
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(ROOT).parts
            paths.add(parts[:-1] + (parts[-1][:-3],) if parts[-1].endswith(".py") else parts)
    return frozenset(paths)


def ends_with(parts: tuple[str, ...], tail: tuple[str, ...]) -> bool:
    return len(parts) >= len(tail) and parts[len(parts) - len(tail):] == tail


def matches(tail: tuple[str, ...], within: str | None = None) -> list[tuple[str, ...]]:
    """The paths of the tree (of ``within`` only, if given) that end with ``tail``."""
    return [parts for parts in tree_paths()
            if ends_with(parts, tail) and (within is None or parts[0] == within)]


@functools.lru_cache(maxsize=None)
def module_names() -> frozenset[str]:
    """First parts a dotted or slashed name must start with to be checked: the modules and directories of plugins/
    and emulator/ (``execution/frame.py``, ``fleet_share.Gathering``)."""
    return frozenset(part for parts in tree_paths() if parts[0] in ("plugins", "emulator") for part in parts)


@functools.lru_cache(maxsize=None)
def defined_names(parts: tuple[str, ...]) -> frozenset[str]:
    """Classes, functions and assigned names anywhere in a module (imported names do not count)."""
    path = ROOT.joinpath(*parts[:-1], parts[-1] + ".py")
    if not path.is_file():
        return frozenset()
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def split(token: str) -> tuple[str, ...]:
    token = token[:-3] if token.endswith(".py") else token
    return tuple(part for part in token.split("/") if part)


def missing_reason(token: str) -> str | None:
    """Why ``token`` names nothing that exists, or None when it does (or is not a name of the tree)."""
    first = token.split("/")[0]
    if token.startswith("/"):
        return None
    if "/" in token and first in TOP:
        path = ROOT / token
        return None if path.exists() or path.with_suffix(".py").exists() else "no such path"
    if "/" in token and (first in module_names() or token.endswith(".py")):
        return None if matches(split(token)) else "no path of the tree ends so"
    if "/" in token:
        return None  # words joined by a slash (NextToken/MaxResults, include/exclude)
    if token.endswith(DATA_SUFFIXES):
        return None  # a bare file name of an example (demo.alicloud_ecs.yml): not a path of the tree
    if token.endswith(".py"):
        return None if matches(split(token)) else "no such module"
    if DOTTED.match(token) and token.split(".")[0] in module_names():
        return dotted_reason(token.split("."))
    return None


def dotted_reason(parts: list[str]) -> str | None:
    """``module.Name[.attr]``, ``package.module`` ...: the longest leading run that is a module of the tree, then
    names defined in it."""
    for cut in range(len(parts), 0, -1):
        modules = matches(tuple(parts[:cut]))
        if not modules:
            continue
        rest = parts[cut:]
        if any(all(name in defined_names(module) for name in rest) for module in modules):
            return None
        return f"{'.'.join(rest)} is not defined in {'.'.join(parts[:cut])}"
    return "no such module"


def names_of(token: str) -> list[tuple[str, ...]]:
    """The readings of a token as a path tail: ``a/b.py`` -> (a, b); ``m.Name.x`` -> (m,), (m, Name), ..."""
    if "/" in token or token.endswith(".py"):
        return [split(token)]
    if DOTTED.match(token):
        parts = token.split(".")
        return [tuple(parts[:cut]) for cut in range(1, len(parts) + 1)]
    return [(token,)]


def plugins_files() -> list[tuple[str, ...]]:
    return sorted(parts for parts in tree_paths() if parts[0] == "plugins" and (
        ROOT.joinpath(*parts[:-1], parts[-1] + ".py").is_file()) and parts[-1] != "__init__")


def test_every_name_in_the_doc_exists() -> None:
    wrong = sorted({f"{token}: {reason}" for token in doc_tokens(DOC.read_text(encoding="utf-8"))
                    for reason in [missing_reason(token)] if reason})
    assert wrong == [], "docs/architecture.md names what does not exist:\n" + "\n".join(wrong)


def test_every_file_of_plugins_is_named_alone() -> None:
    """A name counts for a file when it points at that file only (among plugins/' files and directories)."""
    named = set()
    for token in doc_tokens(DOC.read_text(encoding="utf-8")):
        if token.startswith("emulator"):
            continue
        for tail in names_of(token):
            found = matches(tail, within="plugins")
            if len(found) == 1:
                named.add(found[0])
    unnamed = ["/".join(parts) + ".py" for parts in plugins_files() if parts not in named]
    assert unnamed == [], "docs/architecture.md does not name (or names ambiguously):\n" + "\n".join(unnamed)


def test_every_part_of_the_emulator_is_listed() -> None:
    tokens = {token.rstrip("/") for token in doc_tokens(DOC.read_text(encoding="utf-8"))}
    parts = [path for path in (ROOT / "emulator").iterdir()
             if path.name not in ("__init__.py", "__pycache__") and (path.is_dir() or path.suffix == ".py")]
    unlisted = sorted(name for name in (str(path.relative_to(ROOT)) for path in parts)
                      if not any(token == name or token.startswith(name + "/") for token in tokens))
    assert unlisted == [], "docs/architecture.md does not list:\n" + "\n".join(unlisted)


def doc_layer_rules(text: str) -> dict[str, set[str]]:
    """The layers diagram's ``services/  ──may import──>  execution/ engine/ ...`` lines (``auth/`` alone: nothing)."""
    rules: dict[str, set[str]] = {}
    rule = re.compile(r"^\s*(?:module_utils/)?\s*(\w+)/\s+(?:──may import──>\s+(.*)|\(imports no other layer\))$")
    for line in text.splitlines():
        found = rule.match(line)
        if found:
            rules[found.group(1)] = set(re.findall(r"(\w+)/", found.group(2) or ""))
    return rules


def test_the_layer_rules_are_the_tested_ones() -> None:
    """The page's table of what each layer may import is test_layers.py's ALLOWED, no more and no less."""
    spec = importlib.util.spec_from_file_location(
        "architecture_layers", ROOT / "tests" / "unit" / "plugins" / "module_utils" / "test_layers.py")
    layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layers)
    assert doc_layer_rules(DOC.read_text(encoding="utf-8")) == layers.ALLOWED


def test_the_checks_catch_what_they_are_for() -> None:
    """The checker itself: moved files, unknown names and ambiguous names are caught; prose and FQCNs are not names."""
    # Built from parts: tests/integration/test_package.py fails on a shipped file naming a path that is not there.
    assert missing_reason("plugins/module_utils/" + "fleet.py") == "no such path"
    assert missing_reason("execution/transport.py") == "no path of the tree ends so"
    assert missing_reason("fleet_share.Nothing") == "Nothing is not defined in fleet_share"
    assert missing_reason("fleet_share.Gathering") is None
    assert missing_reason("client.CloudClient.call") is None
    assert missing_reason("alicloud.ecs.run") is None and missing_reason("ansible.builtin.copy") is None
    assert len(matches(("errors",), within="plugins")) == 2, "errors alone names no single file"
    assert matches(("api", "errors"), within="plugins") == [("plugins", "module_utils", "api", "errors")]
    assert doc_tokens("a `remote_exec` word\n```text\nsession/route.py  plain words\n```\nsee tests/unit.\n") == [
        "remote_exec", "session/route.py", "tests/unit"]
