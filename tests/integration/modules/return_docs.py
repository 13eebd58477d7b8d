"""Checks that a module's result holds only what its RETURN documentation describes.

Used by the module tests on real results against the emulator, so a key added to the code without its
documentation (or documented under another name) fails the test of that module.
"""

from __future__ import annotations

import ast
import typing as t
from pathlib import Path

import yaml

MODULES = Path(__file__).resolve().parents[3] / "plugins" / "modules"

# Keys ansible itself adds to every result, or that are documented by ansible's common return values.
COMMON = {"changed", "failed", "invocation", "warnings", "deprecations", "diff", "_ansible_no_log",
          "_ansible_verbose_always", "_ansible_delegated_vars", "skipped", "exception", "module_stdout",
          "module_stderr", "rc", "stdout", "stdout_lines", "stderr", "stderr_lines", "msg", "attempts"}

# Lists whose entries the module documents as open: instance_info passes every scalar field of a DescribeInstances
# item through (their set depends on the API version), and documents the ones it derives and the common ones.
OPEN = {("instance_info", "instances")}


def documented(module: str) -> dict[str, t.Any]:
    """The parsed RETURN block of ``plugins/modules/<module>.py``."""
    tree = ast.parse((MODULES / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "RETURN" for target in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value)) or {}
    raise AssertionError(f"{module} has no RETURN")


def _undocumented(value: t.Any, docs: dict[str, t.Any], where: str, open_keys: t.Collection[str] = ()) -> list[str]:
    missing: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            missing += _undocumented(item, docs, f"{where}[{index}]", open_keys)
        return missing
    if not isinstance(value, dict) or not docs:
        return missing
    for key, item in value.items():
        path = f"{where}.{key}" if where else key
        if key not in docs:
            missing.append(path)
        elif isinstance(docs[key], dict) and docs[key].get("contains") and key not in open_keys:
            missing += _undocumented(item, docs[key]["contains"], path)
    return missing


def assert_documented(module: str, result: dict[str, t.Any]) -> None:
    """Every key of ``result`` (and of its documented dicts and lists of dicts) is in the module's RETURN."""
    docs = documented(module)
    top = {key: value for key, value in result.items() if key not in COMMON or key in docs}
    missing = _undocumented(top, docs, "", {key for name, key in OPEN if name == module})
    assert not missing, f"{module} returns undocumented keys: {', '.join(missing)}"
