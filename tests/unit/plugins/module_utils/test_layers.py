"""plugins/ is layered (docs/architecture.md): imports only go down, and nothing imports itself round a cycle.

From the bottom: module_utils, whose subpackages are layers of their own (ALLOWED); plugin_utils, shared by the
controller-side plugins; the plugin directories (action, connection, inventory, modules...), which import only
those two. A cycle is caught at module level anywhere in plugins/ (relative or absolute imports, those under
``if``/``try`` and ``if TYPE_CHECKING:`` included: a type-only import still ties the two rooms together); an
import inside a function does not count for cycles, as it runs only when called, but it must go down all the same.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"
MODULE_UTILS = PLUGINS / "module_utils"
PACKAGE = "ansible_collections.alicloud.ecs.plugins."
# What each layer may import from the other layers.
ALLOWED = {
    "services": {"api", "auth", "engine", "execution"},
    "execution": {"api", "engine"},
    "engine": {"api"},
    "api": {"auth"},
    "auth": set(),  # the bottom layer: CloudError and ConfigError live in auth/errors.py
}
# The tiers of plugins/, bottom first: a file may import its own tier and the ones before it.
TIERS = ("module_utils", "plugin_utils")  # every other directory of plugins/ is a plugin type, the top tier


def module_name(path: Path) -> str:
    """``module_utils.execution.page_reads`` for plugins/module_utils/execution/page_reads.py (a package: its dir)."""
    parts = list(path.relative_to(PLUGINS).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files() -> dict[str, Path]:
    return {module_name(path): path for path in PLUGINS.rglob("*.py") if "__pycache__" not in path.parts}


def module_level(tree: ast.Module) -> list[ast.stmt]:
    """The statements that run on import: the module's own, and those nested in its ``if``/``try``/``with``."""
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop(0)
        found.append(node)
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for name in ("body", "orelse", "finalbody"):
                pending.extend(getattr(node, name, []))
            pending.extend(statement for handler in getattr(node, "handlers", []) for statement in handler.body)
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path], everywhere: bool = False) -> set[str]:
    """The plugins/ modules that ``name`` imports at module level, or ``everywhere`` (in functions too);
    ``from pkg import sub`` names ``pkg.sub``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in (ast.walk(tree) if everywhere else module_level(tree)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            targets = [f"{target}.{alias.name}" for alias in node.names] + [target]
        for target in targets:
            target = target[len(PACKAGE):] if target.startswith(PACKAGE) else target
            if target in modules and target != name:
                found.add(target)
    return _without_parents(found)


def _without_parents(found: set[str]) -> set[str]:
    """``pkg`` drops out where ``pkg.sub`` is named (the package's __init__ is empty or only imports below it)."""
    return {target for target in found if not any(other.startswith(target + ".") for other in found)}


@functools.lru_cache(maxsize=None)
def import_graph(everywhere: bool = False) -> dict[str, set[str]]:
    modules = python_files()
    return {name: imports_of(name, path, modules, everywhere) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules in order, the first again at the end), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def tier(name: str) -> int:
    top = name.split(".")[0]
    return TIERS.index(top) if top in TIERS else len(TIERS)


def layer_imports(layer: str) -> set[str]:
    """The other layers' modules (``layer.module``) that the files of module_utils/``layer`` import."""
    graph = import_graph(everywhere=True)
    prefix = f"module_utils.{layer}."
    return {target.split(".", 1)[1] for name, targets in graph.items() if name.startswith(prefix)
            for target in targets
            if target.startswith("module_utils.") and not target.startswith(prefix)}


def test_every_module_utils_file_lives_in_a_layer() -> None:
    assert [path.name for path in MODULE_UTILS.glob("*.py") if path.name != "__init__.py"] == []
    assert {path.name for path in MODULE_UTILS.iterdir() if path.is_dir() and path.name != "__pycache__"} == set(ALLOWED)


def test_layers_import_only_the_layers_below_them() -> None:
    for layer, allowed in ALLOWED.items():
        wrong = {name for name in layer_imports(layer)
                 if name.split(".")[0] not in allowed and name not in allowed}
        assert wrong == set(), f"{layer} imports {sorted(wrong)}"


def test_no_file_of_plugins_imports_a_higher_tier_or_another_plugin_type() -> None:
    wrong = sorted(f"{name} -> {target}" for name, targets in import_graph(everywhere=True).items() for target in targets
                   if tier(target) > tier(name) or (tier(name) == len(TIERS) and tier(target) == len(TIERS)
                                                    and target.split(".")[0] != name.split(".")[0]))
    assert wrong == []


def test_nothing_in_plugins_imports_itself_round_a_cycle() -> None:
    assert find_cycle(import_graph()) == []


def test_the_cycle_check_sees_relative_absolute_and_type_only_imports(tmp_path: Path) -> None:
    """The checker itself: a two-file cycle made of a relative and a type-only absolute import is found."""
    (tmp_path / "a.py").write_text("from .b import thing\n", encoding="utf-8")
    (tmp_path / "b.py").write_text(
        "import typing as t\nif t.TYPE_CHECKING:\n"
        f"    from {PACKAGE}module_utils.execution.a import other\n"
        "def late():\n    from .c import nothing\n", encoding="utf-8")
    modules = {"module_utils.execution.a": tmp_path / "a.py", "module_utils.execution.b": tmp_path / "b.py",
               "module_utils.execution.c": tmp_path / "c.py"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items() if path.exists()}
    assert graph == {"module_utils.execution.a": {"module_utils.execution.b"},
                     "module_utils.execution.b": {"module_utils.execution.a"}}
    assert find_cycle(graph) == ["module_utils.execution.a", "module_utils.execution.b", "module_utils.execution.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) == []
    assert imports_of("module_utils.execution.b", tmp_path / "b.py", modules, everywhere=True) == {
        "module_utils.execution.a", "module_utils.execution.c"}, "a function's import still counts for the layers"
