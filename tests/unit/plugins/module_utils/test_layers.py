"""module_utils is grouped in layers (docs/architecture.md): each subpackage imports only those below it."""

from __future__ import annotations

import ast
from pathlib import Path

MODULE_UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"
# What each layer may import from the other layers.
ALLOWED = {
    "services": {"api", "auth", "engine", "execution"},
    "execution": {"api", "engine"},
    "engine": {"api"},
    "api": {"auth"},
    "auth": {"api.errors"},
}


def layer_imports(layer: str) -> set[str]:
    """The other layers (or layer.module) that the files of ``layer`` import, relative or absolute."""
    found = set()
    for path in (MODULE_UTILS / layer).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 2 and node.module:
                target = node.module
            elif node.level == 0 and node.module and ".plugins.module_utils." in node.module:
                target = node.module.split(".plugins.module_utils.", 1)[1]
            else:
                continue
            found.add(target)
    return {name for name in found if name.split(".")[0] != layer}


def test_every_module_utils_file_lives_in_a_layer() -> None:
    assert [path.name for path in MODULE_UTILS.glob("*.py") if path.name != "__init__.py"] == []
    assert {path.name for path in MODULE_UTILS.iterdir() if path.is_dir() and path.name != "__pycache__"} == set(ALLOWED)


def test_layers_import_only_the_layers_below_them() -> None:
    for layer, allowed in ALLOWED.items():
        wrong = {name for name in layer_imports(layer)
                 if name.split(".")[0] not in allowed and name not in allowed}
        assert wrong == set(), f"{layer} imports {sorted(wrong)}"
