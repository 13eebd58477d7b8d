"""Every fenced block of README.md and docs/*.md, run or parsed against the emulator's demo fleet.

Issue 26 asks for a docs test that runs every shell and YAML example that can run against the emulator, so
that an example which no longer works fails a test instead of a reader. Each block is classified by its
language and content (``kind``):

- a playbook (a YAML list of plays) runs for real with ansible-playbook against the demo fleet;
- a task list runs wrapped in a play on localhost, where alicloud.ecs modules run;
- an inventory source (``plugin: alicloud.ecs.instances``) is listed with ``ansible-inventory --list``;
- a shell block runs command by command in a work directory with the emulator's environment
  (``RUN_KINDS`` / ``NOT_RUN_KINDS`` say which kinds of command run and why the others do not);
- JSON, INI, other YAML mappings and Python at least parse.

The playbooks and task lists of one document run in one ansible-playbook run, in document order (a later
block may use what an earlier one registered, as a reader would), and one emulator serves the module.

A block that cannot run here is in ``NOT_RUN``, keyed by file and a fingerprint of its text, with the
reason. These are not skips: the test asserts the list is exact (every entry names an existing block,
every other block is classified and run), so a new or changed block is never passed over silently.

How the examples' placeholders are filled (documented here, not hidden):

- credentials: the emulator's key stands in for every key, profile and STS token an example sets
  (``export`` of a credential variable is not applied; the emulator's environment already holds its key),
  and a config file names the profiles the docs use (``PROFILES``) with that key;
- ``vault_*`` variables: ``extra_vars``;
- values the demo fleet lacks: ``PLACEHOLDERS`` (text substitutions applied to every block);
- files the examples name but do not show: ``FILES``; a YAML block whose first line is ``# name.yml``
  is written to the work directory under that name, for the shell blocks of the same document;
- the collection's install directory (``cd ~/.ansible/collections/.../alicloud/ecs``) is the work
  directory, which links the checkout's playbooks, emulator, docs and extensions;
- ``python -m emulator run [--fleet F] -- COMMAND`` runs COMMAND against the module's emulator.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# As tests/integration/conftest.py has them (a plain `from conftest import` can pick another directory's conftest).
REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DEMO_INVENTORY = REPO_ROOT / "playbooks" / "inventory" / "demo.alicloud_ecs.yml"


DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "console", "shell"}
INSTALL_DIR = "~/.ansible/collections/ansible_collections/alicloud/ecs"
LINKED = ("playbooks", "emulator", "docs", "extensions", "roles")

# (file, fingerprint) -> why the block cannot run here. Fingerprint: the first 8 hex digits of the
# sha256 of the block's text (test output prints it for a new or changed block).
NOT_RUN = {
    ("README.md", "fdc2b8ac"): "make targets: the whole set-up and suite, too heavy inside a test",
    ("README.md", "029f07f2"): "builds and installs the tarball, pip from the network (test_package.py builds it)",
    ("docs/architecture.md", "abe6e9b7"): "a diagram: the layers",
    ("docs/architecture.md", "584669b6"): "a diagram: a module task over RunCommand",
    ("docs/architecture.md", "787377fc"): "a diagram: a module task over the session",
    ("docs/architecture.md", "38885733"): "a diagram: a file transfer",
    ("docs/architecture.md", "989b2077"): "a diagram: a fleet run",
    ("docs/architecture.md", "af2fb4f6"): "a diagram: the two fleet engines",
    ("docs/architecture.md", "721e4a49"): "a diagram: an inventory parse",
    ("docs/architecture.md", "abc7c4d3"): "a file tree: the emulator",
    ("docs/awx.md", "6783c972"): "builds and pushes a container image (ansible-builder, podman, a registry)",
    ("docs/credentials.md", "923b25ae"): "assumes a RAM role of a real account (the demo fleet has no roles)",
    ("docs/credentials.md", "79d6d248"): "assumes a RAM role of a real account (the demo fleet has no roles)",
    ("docs/credentials.md", "86d96a8f"): "the host_vars of the play above, which assumes a real account's role",
    ("docs/emulator.md", "cdab0bc4"): "starts a server that runs until stopped (the module's emulator is one) "
                                      "and shows its output",
    ("docs/modules.md", "cc27e014"): "needs yum on the instances (a real image)",
    ("docs/fleet.md", "35d4bc8b"): "needs yum and nginx on the instances (a real image)",
    ("docs/fleet.md", "a6f691c5"): "needs nginx on the instances (a real image)",
    ("docs/fleet.md", "b8292925"): "shows output",
    ("docs/fleet.md", "e34bafe2"): "a fragment of a larger example (its upgrade.sh.j2 and rollback script)",
    ("docs/fleet.md", "f70c8d12"): "needs a package manager, deploy.sh.j2 and an application on the instances",
}

RUN_KINDS = {"export", "cd", "cat", "cp", "curl", "ansible", "ansible-playbook", "ansible-inventory",
             "ansible-doc", "python -m emulator twin"}
NOT_RUN_KINDS = {
    "make": "make targets set everything up and run the whole suite: too heavy inside a test",
    "pip": "installs from the network",
    "ansible-galaxy": "builds and installs the collection (test_package.py does)",
    "ansible-builder": "builds a container image",
    "podman": "pushes to a registry",
    "bash": "an interactive shell",
    "python -m emulator serve": "a server that runs until stopped; the module's emulator is one",
}
CREDENTIAL_VARIABLES = {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                        "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_PROFILE", "ALICLOUD_ACCESS_KEY",
                        "ALICLOUD_SECRET_KEY", "ALICLOUD_SECURITY_TOKEN", "ALICLOUD_PROFILE"}
PROFILES = ("prod", "ops", "laptop")
# The demo fleet has cn-hangzhou and cn-shanghai (docs/rehearsal.md's account, which test_twin.py builds,
# has cn-beijing); /tmp/ would be shared with other users of the machine.
PLACEHOLDERS = {"cn-beijing": "cn-shanghai", "/tmp/": "{work}/"}
FILES = {
    "prod.alicloud_ecs.yml": "plugin: alicloud.ecs.instances\nregions: [cn-hangzhou]\nfilters: {status: Running}\n"
                             "cloud_assistant_only: true\nhostnames: [instance_name, instance_id]\n"
                             "keyed_groups: [{key: instance_tags.role, prefix: role}]\n",
    "site.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n",
    "files/agent.conf": "# agent configuration shipped by docs/modules.md's example\nlevel = info\n",
    "files/restart-app.yml": "FormatVersion: OOS-2019-06-01\nDescription: List the instances of the region\n"
                             "Tasks:\n  - Name: describe\n    Action: ACS::ExecuteAPI\n"
                             "    Properties: {Service: ECS, API: DescribeInstances, Parameters: {}}\n",
}
FILES["my.alicloud_ecs.yml"] = FILES["prod.alicloud_ecs.yml"]


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    lang: str
    text: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:8]

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.fingerprint)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.lang or 'no language'}, fingerprint {self.fingerprint})"


def blocks_of(document: Path) -> list[Block]:
    """The fenced blocks of a document, each with its opening line and language."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = re.match(r"^\s*```(\S*)", lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        found.append(Block(str(document.relative_to(REPO_ROOT)), index + 1, opening.group(1),
                           "\n".join(lines[index + 1:end]) + "\n"))
        index = end + 1
    return found


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks_of(document)]


def commands_of(block: Block) -> list[str]:
    """A shell block's commands: continuation lines joined, comments dropped; in a console block only the
    lines after a ``$`` prompt (the others are output)."""
    lines = block.text.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    found, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = re.sub(r"(^|\s+)#.*$", "", pending + line).strip()
        pending = ""
        if command:
            found.append(command)
    return found


def unwrap(command: str) -> str:
    """``python -m emulator run [--fleet F] -- COMMAND`` is COMMAND against the module's emulator."""
    words = shlex.split(command)
    if words[:4] == ["python", "-m", "emulator", "run"] and "--" in words:
        return command.split(" -- ", 1)[1].strip()
    return command


def command_kind(command: str) -> str:
    words = shlex.split(unwrap(command))
    if words[:3] in (["python", "-m", "emulator"],) and len(words) > 3:
        return f"python -m emulator {words[3]}"
    return words[0]


def kind(block: Block) -> str | None:
    """What the test does with the block; None: nothing it knows (the block must then be in NOT_RUN)."""
    if block.lang in ("yaml", "yml"):
        data = yaml.safe_load(block.text)
        if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
            plays = [item for item in data if "hosts" in item]
            return "playbook" if len(plays) == len(data) else "tasks" if not plays else None
        if isinstance(data, dict):
            return "inventory" if data.get("plugin") == "alicloud.ecs.instances" else "yaml"
        return None
    if block.lang in SHELL:
        kinds = [command_kind(command) for command in commands_of(block)]
        if any(item not in RUN_KINDS and item not in NOT_RUN_KINDS for item in kinds):
            return None
        return "shell" if any(item in RUN_KINDS for item in kinds) else None
    return {"json": "json", "ini": "ini", "python": "python"}.get(block.lang)


def test_the_blocks_not_run_are_exactly_the_listed_ones() -> None:
    """Every NOT_RUN entry names an existing block, and every other block is one the test runs or parses."""
    keys = {block.key for block in ALL_BLOCKS}
    stale = [f"{path} {fingerprint}: {reason}" for (path, fingerprint), reason in NOT_RUN.items()
             if (path, fingerprint) not in keys]
    assert not stale, "NOT_RUN names blocks that no longer exist (changed or removed):\n" + "\n".join(stale)
    unknown = []
    for block in ALL_BLOCKS:
        if block.key in NOT_RUN:
            continue
        try:
            found = kind(block)
        except (yaml.YAMLError, ValueError) as error:
            found = None
            block_error = f" ({error})"
        else:
            block_error = ""
        if found is None:
            unknown.append(f"{block}{block_error}:\n{block.text}")
    assert not unknown, ("blocks the test cannot run or parse; fix them or list them in NOT_RUN with the "
                         "reason:\n" + "\n".join(unknown))
    assert set(NOT_RUN_KINDS).isdisjoint(RUN_KINDS)


def data_blocks() -> list[Block]:
    return [block for block in ALL_BLOCKS if block.key not in NOT_RUN and safe_kind(block) in
            ("json", "ini", "yaml", "python")]


def safe_kind(block: Block) -> str | None:
    try:
        return kind(block)
    except (yaml.YAMLError, ValueError):
        return None


@pytest.mark.parametrize("block", data_blocks(), ids=str)
def test_data_block_parses(block: Block) -> None:
    """RAM policies, config files, fleet fragments and the emulator's API example are valid as written."""
    text = substitute(block.text, {})
    if block.lang == "json":
        assert isinstance(json.loads(text), dict)
    elif block.lang == "ini":
        parser = configparser.ConfigParser()
        parser.read_string(text)
        assert parser.sections()
    elif block.lang == "python":
        compile(text, str(block), "exec")
    else:
        data = yaml.safe_load(text)
        assert isinstance(data, dict)
        if "access_keys" in data:
            from emulator.fleet import load
            assert load(data).regions, f"{block}: a fleet without regions"


def substitute(text: str, values: dict[str, str]) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value.format(**values) if values else value)
    return text


def runnable(document: Path) -> list[Block]:
    path = str(document.relative_to(REPO_ROOT))
    return [block for block in ALL_BLOCKS if block.path == path and block.key not in NOT_RUN
            and safe_kind(block) in ("playbook", "tasks", "inventory", "shell")]


RUN_DOCUMENTS = [document for document in DOCUMENTS if runnable(document)]


def prepare(work: Path, emulator, document: Path) -> dict[str, str]:
    """The work directory (FILES, the document's named YAML blocks, links to the checkout) and the
    environment: the emulator's, a config file with the docs' profiles, the checkout on PYTHONPATH."""
    for name in LINKED:
        (work / name).symlink_to(REPO_ROOT / name)
    for name, text in FILES.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    path = str(document.relative_to(REPO_ROOT))
    for block in (block for block in ALL_BLOCKS if block.path == path and block.key not in NOT_RUN):
        named = re.match(r"# ([\w./-]+\.ya?ml)\n", block.text)
        if named and block.lang in ("yaml", "yml"):
            (work / named.group(1)).parent.mkdir(parents=True, exist_ok=True)
            (work / named.group(1)).write_text(substitute(block.text, {"work": str(work)}))
    given = emulator.env()
    config = work / "aliyun-config.json"
    config.write_text(json.dumps({"current": PROFILES[0], "profiles": [
        {"name": name, "mode": "AK", "access_key_id": given["ALIBABA_CLOUD_ACCESS_KEY_ID"],
         "access_key_secret": given["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "region_id": "cn-hangzhou"}
        for name in PROFILES]}))
    return {"ALIBABA_CLOUD_CONFIG_FILE": str(config), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "PYTHONPATH": str(REPO_ROOT), "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(ansible, argv: list[str] | str, work: Path, env: dict[str, str], cwd: Path | None = None):
    merged = dict(ansible.env, **env)
    return subprocess.run(argv, shell=isinstance(argv, str), executable="/bin/bash" if isinstance(argv, str)
                          else None, cwd=cwd or work, env=merged, text=True, capture_output=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)


def as_plays(block: Block, work: Path) -> list[dict]:
    data = yaml.safe_load(substitute(block.text, {"work": str(work)}))
    if kind(block) == "playbook":
        return data
    return [{"name": f"{block.path}:{block.line}", "hosts": "localhost", "connection": "local",
             "gather_facts": False, "tasks": data}]


def run_playbooks(ansible, emulator, blocks: list[Block], work: Path, env: dict[str, str]) -> None:
    """The document's playbooks and task lists in one run, in order; every play must succeed."""
    plays = [play for block in blocks if kind(block) in ("playbook", "tasks") for play in as_plays(block, work)]
    if not plays:
        return
    playbook = work / "doc-examples.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    given = emulator.env()
    extra = {"vault_access_key": given["ALIBABA_CLOUD_ACCESS_KEY_ID"],
             "vault_secret_key": given["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
             "vault_db_password": "docs-test-password"}
    done = run(ansible, [str(BIN_DIR / "ansible-playbook"), "-i", str(DEMO_INVENTORY), str(playbook),
                         "-e", json.dumps(extra)], work, env)
    names = ", ".join(str(block) for block in blocks if kind(block) in ("playbook", "tasks"))
    assert done.returncode == 0, f"{names}:\n{done.stdout}{done.stderr}"
    assert re.search(r"ok=[1-9]", done.stdout), done.stdout
    assert not re.search(r"(failed|unreachable)=[1-9]", done.stdout), done.stdout
    assert "no hosts matched" not in done.stdout + done.stderr, f"{names}:\n{done.stdout}{done.stderr}"
    # every named task ran (a name with a template is shown templated, or not at all if it cannot be)
    missing = [task["name"] for play in plays for task in play["tasks"]
               if "name" in task and "{{" not in task["name"] and f"TASK [{task['name']}]" not in done.stdout]
    assert not missing, f"{names}: tasks that did not run: {missing}\n{done.stdout}"


def list_inventory(ansible, block: Block, work: Path, env: dict[str, str]) -> None:
    """An inventory source lists hosts of the demo fleet."""
    source = work / f"block-{block.line}.alicloud_ecs.yml"
    source.write_text(substitute(block.text, {"work": str(work)}))
    done = run(ansible, [str(BIN_DIR / "ansible-inventory"), "-i", str(source), "--list"], work, env)
    assert done.returncode == 0, f"{block}:\n{done.stdout}{done.stderr}"
    hostvars = json.loads(done.stdout)["_meta"]["hostvars"]
    assert hostvars, f"{block} lists no host:\n{done.stdout}{done.stderr}"


def run_shell(ansible, block: Block, work: Path, env: dict[str, str]) -> None:
    """The block's commands in order, each of a kind that runs here; export and cd carry over."""
    cwd = work
    for command in commands_of(block):
        what = command_kind(command)
        if what in NOT_RUN_KINDS:
            continue
        command = substitute(unwrap(command), {"work": str(work)})
        words = shlex.split(command)
        if what == "export":
            name, _sep, value = words[1].partition("=")
            if name not in CREDENTIAL_VARIABLES:
                env[name] = value
            continue
        if what == "cd":
            target = words[1].replace(INSTALL_DIR, str(work))
            cwd = (cwd / Path(target).expanduser()).resolve() if not target.startswith("/") else Path(target)
            assert cwd.is_dir(), f"{block}: {command}: no such directory"
            continue
        done = run(ansible, command, work, env, cwd=cwd)
        assert done.returncode == 0, f"{block}: {command}:\n{done.stdout}{done.stderr}"
        # ansible exits 0 when the pattern matched nothing (no inventory given, a group the file lacks)
        assert not re.search(r"no hosts matched|provided hosts list is empty", done.stdout + done.stderr), (
            f"{block}: {command} reached no host:\n{done.stdout}{done.stderr}")


@pytest.mark.parametrize("document", RUN_DOCUMENTS, ids=lambda document: document.name)
def test_document_examples_run(document: Path, ansible, emulator, reachable, tmp_path) -> None:
    """The document's playbooks, task lists, inventory sources and shell commands, against the demo fleet."""
    assert reachable, "the demo fleet has reachable instances"
    work = tmp_path / "work"
    work.mkdir()
    env = prepare(work, emulator, document)
    blocks = runnable(document)
    run_playbooks(ansible, emulator, blocks, work, env)
    for block in blocks:
        if kind(block) == "inventory":
            list_inventory(ansible, block, work, env)
    for block in blocks:
        if kind(block) == "shell":
            run_shell(ansible, block, work, env)
