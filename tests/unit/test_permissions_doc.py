"""docs/permissions.md names exactly the API actions the code can call, and its policies cover its tables.

How the actions are collected (by reading the code, nothing is run):

1. Every request the collection sends is a ``CommonRequest`` built in ``CloudClient._request`` (api/client.py),
   reached only through ``CloudClient.call``: the test fails if ``CommonRequest``, ``do_action*`` or the private
   send path (``_request``, ``_send``, ``_call_once``, ``_call_renewing``) appears anywhere else, or if a typed
   SDK request class (``aliyunsdk<product>.request...``) is imported.
2. Each call of a function named ``call`` in plugins/ is a call site; its first argument (or ``action=``) is
   resolved in the function holding it: a string constant is an action; a local variable is resolved through
   every assignment to it (conditional expressions give both branches); a parameter makes the holding function
   a call site in turn (``paginate(client, "DescribeInstances", ...)``, ``start``'s ``action``), so helper
   functions taking the action name are followed to their callers, until nothing new is found. Anything else
   (an attribute, a call, a parameter never called with a constant) fails the test, naming the file and line,
   so a new way of calling cannot go unseen.
3. The product is the ``product=`` keyword of the call where the constant was written (``ecs`` without one).
4. STS is called by the alibabacloud-credentials library: each of its provider classes the plugins import maps
   to the STS action it calls (``RamRoleArnCredentialsProvider`` → ``sts:AssumeRole``), and an unknown one fails.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
DOC = ROOT / "docs" / "permissions.md"
CLIENT = PLUGINS / "module_utils" / "api" / "client.py"
PRIVATE_SEND_PATH = ("_request", "_send", "_call_once", "_call_renewing")
# The library's providers the plugins may import, and the STS action each calls (None: no API action).
LIBRARY_PROVIDERS = {"RamRoleArnCredentialsProvider": "sts:AssumeRole",
                     "OIDCRoleArnCredentialsProvider": "sts:AssumeRoleWithOIDC",
                     "ExternalCredentialsProvider": None, "URLCredentialsProvider": None, "Credentials": None}
ACTION = re.compile(r"\b(ecs|oos|sts|ram):([A-Z][A-Za-z]+)\b(?!\*)")


class Site:
    """One place an action name is passed: the function holding it (None at module level) and the file."""

    def __init__(self, path: Path, function: ast.FunctionDef | ast.AsyncFunctionDef | None, node: ast.Call) -> None:
        self.path, self.function, self.node = path, function, node

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.node.lineno}"


@functools.lru_cache(maxsize=1)
def parsed() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(PLUGINS.rglob("*.py"))}


def calls_with_function(tree: ast.Module) -> list[tuple[ast.FunctionDef | None, ast.Call]]:
    """Every call in the module, with the innermost function holding it."""
    found: list[tuple[ast.FunctionDef | None, ast.Call]] = []

    def visit(node: ast.AST, function: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                found.append((function, child))
            visit(child, inner)
    visit(tree, None)
    return found


def callee(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(
        node.func, ast.Attribute) else ""


def parameters(function: ast.FunctionDef) -> list[str]:
    names = [arg.arg for arg in function.args.posonlyargs + function.args.args]
    return names[1:] if names and names[0] in ("self", "cls") else names


def argument(node: ast.Call, index: int, name: str) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return node.args[index] if index < len(node.args) else None


def product_of(node: ast.Call) -> str:
    value = argument(node, 10 ** 6, "product")
    return value.value if isinstance(value, ast.Constant) else "ecs"


def values_of(name: str, function: ast.FunctionDef) -> list[ast.expr]:
    """The expressions assigned to local ``name`` in ``function``."""
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id == name
                                                for target in node.targets):
            found.append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                and node.value is not None:
            found.append(node.value)
    return found


def collect() -> tuple[dict[str, set[str]], list[str]]:
    """{"ecs:RunCommand": {"plugins/...:12", ...}}, and the call sites that could not be resolved."""
    trees = parsed()
    sites = [(Site(path, function, node)) for path, tree in trees.items() for function, node in calls_with_function(tree)]
    sinks: dict[str, tuple[int, str]] = {"call": (0, "action")}
    actions: dict[str, set[str]] = {}
    unresolved: list[str] = []
    done: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for site in sites:
            name = callee(site.node)
            if name not in sinks or (site.where(), name) in done:
                continue
            done.add((site.where(), name))
            index, keyword = sinks[name]
            expression = argument(site.node, index, keyword)
            for found in resolve(expression, site, sinks, unresolved):
                if found == "<parameter>":
                    changed = True
                    continue
                actions.setdefault(f"{product_of(site.node)}:{found}", set()).add(site.where())
    return actions, unresolved


def resolve(expression: ast.expr | None, site: Site, sinks: dict[str, tuple[int, str]],
            unresolved: list[str]) -> list[str]:
    """The action names ``expression`` can hold; "<parameter>" when its function became a new sink."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return [expression.value]
    if isinstance(expression, ast.IfExp):
        return resolve(expression.body, site, sinks, unresolved) + resolve(expression.orelse, site, sinks, unresolved)
    function = site.function
    if isinstance(expression, ast.Name) and function is not None:
        if expression.id in parameters(function):
            if function.name in ("call",) and site.path == CLIENT:
                return []  # CloudClient.call itself
            new = (parameters(function).index(expression.id), expression.id)
            if sinks.get(function.name) not in (None, new):
                unresolved.append(f"{site.where()}: {function.name} takes the action in two places")
                return []
            if function.name not in sinks:
                sinks[function.name] = new
                return ["<parameter>"]
            return []
        assigned = values_of(expression.id, function)
        if assigned:
            return [name for value in assigned for name in resolve(value, site, sinks, unresolved)]
    unresolved.append(f"{site.where()}: cannot tell which action {ast.unparse(expression) if expression else '?'} is")
    return []


def library_actions() -> tuple[dict[str, set[str]], list[str]]:
    found: dict[str, set[str]] = {}
    unknown: list[str] = []
    for path, tree in parsed().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("alibabacloud_credentials.provider"):
                for alias in node.names:
                    if alias.name not in LIBRARY_PROVIDERS:
                        unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}")
                    elif LIBRARY_PROVIDERS[alias.name]:
                        found.setdefault(LIBRARY_PROVIDERS[alias.name], set()).add(str(path.relative_to(ROOT)))
    return found, unknown


def code_actions() -> set[str]:
    actions, unresolved = collect()
    assert not unresolved, "call sites whose action the collector cannot resolve:\n" + "\n".join(unresolved)
    sts, unknown = library_actions()
    assert not unknown, f"alibabacloud_credentials providers with no known STS action: {unknown}"
    return set(actions) | set(sts)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def doc_actions(text: str) -> set[str]:
    return {f"{product}:{name}" for product, name in ACTION.findall(text)} - {"ram:PassRole"}


def test_every_request_goes_through_cloud_client_call() -> None:
    for path, tree in parsed().items():
        text = path.read_text(encoding="utf-8")
        if path != CLIENT:
            assert "CommonRequest" not in text and "do_action" not in text, path
            for name in PRIVATE_SEND_PATH:
                own = re.search(rf"def {name}\(", text)  # a method of the same name of its own
                assert own or not re.search(rf"\.{name}\(", text), f"{path} uses the client's private {name}"
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(re.match(r"aliyunsdk\w+\.request\.", module) for module in modules), (
                    f"{path}:{node.lineno} imports a typed SDK request: teach this collector its action")


def test_the_collector_finds_the_helper_and_conditional_call_sites() -> None:
    actions, unresolved = collect()
    assert not unresolved, unresolved
    # through paginate(client, "DescribeInstances", ...) and paginate_numbered
    assert any("services/instances.py" in where for where in actions["ecs:DescribeInstances"])
    assert "ecs:DescribeInstancesFullStatus" in actions
    # oos_parameters: action = "GetSecretParameter" if secret else "GetParameter", then client.call(action, ...)
    assert any("oos_parameters.py" in where for where in actions["oos:GetSecretParameter"])
    assert any("oos_parameters.py" in where for where in actions["oos:GetParameter"])
    assert "oos:ListTaskExecutions" in actions  # paginate(..., product="oos")
    assert "ecs:ListTaskExecutions" not in actions


def test_the_doc_names_every_action_the_code_calls_and_no_other() -> None:
    code = code_actions()
    documented = doc_actions(doc_text())
    assert not code - documented, f"docs/permissions.md misses {sorted(code - documented)}"
    assert not documented - code, f"docs/permissions.md names actions the code never calls: {sorted(documented - code)}"


def test_the_check_fails_when_an_action_is_removed_from_the_doc() -> None:
    code = code_actions()
    text = doc_text()
    for action in ("ecs:DescribeInstancesFullStatus", "ecs:DescribeInstances", "oos:StartExecution"):
        assert action in code
        assert action not in doc_actions(text.replace(action, "removed"))


def sections(text: str) -> dict[str, str]:
    """The doc's ``## `` sections by title."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def policies(text: str) -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def allowed(policy: dict) -> set[str]:
    return {action for statement in policy["Statement"] if statement["Effect"] == "Allow"
            for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}


def test_each_policy_is_valid_json_and_covers_its_setup() -> None:
    text = doc_text()
    found = policies(text)
    assert len(found) >= 6, "one policy per setup: inventory, connection, fleet, modules, OOS, tag-scoped"
    code = code_actions()
    for policy in found:
        assert policy["Version"] == "1"
        granted = allowed(policy)
        assert granted <= code | {"ram:PassRole"}, granted - code
    by_title = sections(text)
    setups = {title: body for title, body in by_title.items() if title.startswith("Policy:")}
    assert len(setups) >= 6, sorted(by_title)
    for title, body in setups.items():
        (policy,) = policies(body)
        needed = {f"{product}:{name}" for product, name in ACTION.findall(body.split("```json")[0])}
        assert needed <= allowed(policy), f"{title}: the policy lacks {sorted(needed - allowed(policy))}"


def string_constants(tree: ast.AST) -> dict[str, str]:
    """The ``NAME = "..."`` string assignments directly in ``tree``'s body (a module or a class)."""
    return {target.id: node.value.value for node in getattr(tree, "body", []) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def fragment_sections() -> dict[str, str]:
    """Each doc fragment section by the name a plugin extends it with: ``alicloud.ecs.api`` is api.py's
    DOCUMENTATION, ``alicloud.ecs.api.modules`` its MODULES (as ansible's fragment loader names them)."""
    sections: dict[str, str] = {}
    for path in sorted((PLUGINS / "doc_fragments").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        (fragment,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "ModuleDocFragment"]
        for attribute, text in string_constants(fragment).items():
            suffix = "" if attribute == "DOCUMENTATION" else f".{attribute.lower()}"
            sections[f"alicloud.ecs.{path.stem}{suffix}"] = text
    return sections


def shown_documentation(path: Path, sections: dict[str, str]) -> str:
    """What ansible-doc shows for a plugin: its own DOCUMENTATION and the fragment sections it extends, and no
    other section of the same fragment file (a plugin extending alicloud.ecs.api does not show api.modules)."""
    own = string_constants(ast.parse(path.read_text(encoding="utf-8"))).get("DOCUMENTATION", "")
    extends = (yaml.safe_load(own) or {}).get("extends_documentation_fragment") or [] if own else []
    extends = [extends] if isinstance(extends, str) else extends
    unknown = [name for name in extends if name.startswith("alicloud.ecs.") and name not in sections]
    assert not unknown, f"{path.relative_to(ROOT)} extends doc fragments that do not exist: {unknown}"
    return "\n".join([own, *(sections[name] for name in extends if name in sections)])


def test_every_plugin_and_module_links_to_the_doc() -> None:
    sections = fragment_sections()
    for path in [*PLUGINS.glob("modules/*.py"), *PLUGINS.glob("connection/*.py"), *PLUGINS.glob("inventory/*.py"),
                 *PLUGINS.glob("action/*.py")]:
        if path.parent.name == "action" and (PLUGINS / "modules" / path.name).exists():
            continue  # the module of the same name carries the documentation
        shown = shown_documentation(path, sections)
        assert "docs/permissions.md" in shown, f"{path.relative_to(ROOT)} does not show a link to docs/permissions.md"


def test_a_plugin_shows_only_the_fragment_sections_it_extends(tmp_path) -> None:
    sections = fragment_sections()
    plugin = tmp_path / "plugin.py"
    plugin.write_text('DOCUMENTATION = """\nname: x\nextends_documentation_fragment:\n  - alicloud.ecs.api\n'
                      '  - alicloud.ecs.api.plugins\n"""\n', encoding="utf-8")
    shown = shown_documentation(plugin, sections)
    assert sections["alicloud.ecs.api"] in shown and sections["alicloud.ecs.api.plugins"] in shown
    assert sections["alicloud.ecs.api.modules"] not in shown


@pytest.mark.parametrize("page", ["README.md", "docs/connection.md", "docs/modules.md"])
def test_no_other_page_carries_its_own_policy(page) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    assert '"Statement"' not in text, f"{page} has a RAM policy of its own; link docs/permissions.md"
    assert "permissions.md" in text, page


def imported_files(path: Path) -> set[Path]:
    """The collection's Python files ``path`` imports (relative or ansible_collections.alicloud.ecs imports)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level:
            base = path.parent
            for _level in range(node.level - 1):
                base = base.parent
            target = base.joinpath(*module.split(".")) if module else base
        elif module.startswith("ansible_collections.alicloud.ecs."):
            target = ROOT.joinpath(*module.split(".")[3:])
        else:
            continue
        for alias in node.names:
            for candidate in (target.with_suffix(".py"), target / f"{alias.name}.py"):
                if candidate.is_file():
                    found.add(candidate.resolve())
    return found


def reachable_actions(entry: Path, by_file: dict[str, set[str]]) -> set[str]:
    """The actions of every call site in ``entry`` and the files it imports, transitively (an over-estimate)."""
    seen: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_files(path))
    return {action for path in seen for action in by_file.get(str(path.relative_to(ROOT)), set())}


ROW_FILES = {"inventory `alicloud.ecs.instances`": "inventory/instances.py",
             "connection `alicloud.ecs.cloud_assistant`": "connection/cloud_assistant.py",
             "action and module `alicloud.ecs.run`": "action/run.py"}


def test_each_table_row_names_only_actions_its_plugin_can_reach() -> None:
    actions, _sites = collect()
    by_file: dict[str, set[str]] = {}
    for action, wheres in actions.items():
        for where in wheres:
            by_file.setdefault(where.rsplit(":", 1)[0], set()).add(action)
    table = sections(doc_text())["Actions by plugin and module"]
    checked = 0
    for row in (line for line in table.splitlines() if line.startswith("| ") and "alicloud.ecs." in line):
        label = row.split("|")[1].strip()
        relative = next((file for prefix, file in ROW_FILES.items() if label.startswith(prefix)), None)
        module = re.fullmatch(r"`alicloud\.ecs\.(\w+)`", label)
        if module:
            relative = f"modules/{module.group(1)}.py"
        if relative is None:
            continue
        named = {f"{product}:{name}" for product, name in ACTION.findall(row)} - {"ram:PassRole"}
        reachable = reachable_actions(PLUGINS / relative, by_file)
        assert named <= reachable, f"{label}: {sorted(named - reachable)} are not reachable from plugins/{relative}"
        checked += 1
    assert checked == len(list(PLUGINS.glob("modules/*.py"))) - 1 + len(ROW_FILES)  # run.py's row is the action's
