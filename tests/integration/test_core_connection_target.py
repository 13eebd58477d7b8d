"""ansible-core's own generic connection test target, run over alicloud.ecs.cloud_assistant.

ansible-core tests every connection plugin it ships with one shared target,
``test/integration/targets/connection`` of its source distribution (``test.sh`` runs
``test_connection.yml`` — raw with unicode, copy and fetch of a unicode file name with brackets and a
space, file, wait_for_connection —, an ad-hoc ``set_fact`` whose verbose output must not show
``ansible_host``, and two ``meta: reset_connection`` plays). Each ``connection_<plugin>`` target drives it
from its ``runme.sh`` with a ``test_connection.inventory`` of one group holding a pipelining host and a
non-pipelining host, and ``-e target_hosts=<group> -e action_prefix= -e local_tmp=… -e remote_tmp=…``.
Passing it is what "behaves as a connection plugin" means to ansible-core itself.

The target is not copied into this repository: the test downloads the source distribution of the exact
ansible-core version installed (``pip download --no-deps --no-binary :all: ansible-core==<version>``)
into .build/ansible-core-sdist/<version>/ and unpacks only that directory. Without the package index and
without a cached copy the test fails saying so; it never skips.

How the inventory differs from the sample ``connection_local/test_connection.inventory``:

* ``ansible_host`` is the instance ID (the connection takes a host address that looks like an instance
  ID as the instance), so the target's check that connection variables stay out of the output still
  looks at a real ``ansible_host``; ``ansible_alicloud_region`` names its region.
* pipelining is set by ``ansible_pipelining`` (the sample's ``ansible_ssh_pipelining`` belongs to ssh).
* ``ansible_python_interpreter`` is the instance's ``/usr/bin/python3`` (the sample's
  ``ansible_playbook_python`` is the controller's, right only where controller and target are one machine).
* become, which the shared target leaves to each runner, is a second inventory variant: remote user
  ``deploy`` (created on the instance with password-less sudo) with ``ansible_become=true``, so every module,
  copy and fetch of the target runs as root through sudo from a non-root login.
* the transport (``ansible_alicloud_transport``: ``run_command`` or ``session``) is a third axis; over the session
  the emulator's counters must show a session started (at most one per inventory host and playbook), every one
  ended by the end, and no RunCommand, SendFile or result poll at all (the target's files are small: they
  travel over the session too).

Besides the target's own exit status, a callback (tests/integration/callbacks/result_lines.py) records
every result, so the test also proves each task of ``test_connection.yml`` ran and succeeded on both hosts
(a run of zero tasks cannot pass), and the emulator's counters show which transport carried the tasks.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".build" / "ansible-core-sdist"
CALLBACKS = Path(__file__).resolve().parent / "callbacks"
TARGET = "test/integration/targets/connection"
GROUP = "alicloud"
HOSTS = {f"{GROUP}-pipelining": "true", f"{GROUP}-no-pipelining": "false"}
# The target's playbooks that reach the hosts (meta: reset_connection included); the ad-hoc set_fact does not.
PLAYS = ("test_connection.yml", "test_reset_connection.yml", "test_reset_connection_templated.yml")
DOWNLOAD_TIMEOUT = 600
RUN_TIMEOUT = 900
DEPLOY_SETUP = ("id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; "
                "echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/core-target-deploy; "
                "chmod 0440 /etc/sudoers.d/core-target-deploy")


def core_version() -> str:
    """The ansible-core that runs the playbooks (this interpreter's, the one ansible-playbook is beside)."""
    return importlib.metadata.version("ansible-core")


def download_sdist(version: str, into: Path) -> Path:
    """The sdist from the package index; fails the test with pip's own words when it cannot be had."""
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", f"ansible-core=={version}", "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ansible-core {version}'s source distribution: pip download took over {DOWNLOAD_TIMEOUT} s "
                    "(is the package index reachable from this machine?)")
    found = sorted(into.glob(f"ansible*core-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        pytest.fail(f"cannot download ansible-core {version}'s source distribution from the package index, which "
                    f"this test needs for ansible-core's connection test target ({' '.join(command)} exited "
                    f"{done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return found[0]


def unpack_target(sdist: Path, dest: Path) -> None:
    """Only the target's regular files, by their path below it (nothing else of the archive is written)."""
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".unpack-"))
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            _top, _sep, inner = member.name.partition("/")
            if not member.isfile() or not inner.startswith(TARGET + "/"):
                continue
            relative = Path(inner[len(TARGET) + 1:])
            if relative.is_absolute() or ".." in relative.parts:
                continue
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.extractfile(member).read())
    if not (staging / "test.sh").is_file():
        shutil.rmtree(staging)
        pytest.fail(f"{sdist.name} has no {TARGET}/test.sh")
    try:
        staging.rename(dest)
    except OSError:  # another worker unpacked it first
        shutil.rmtree(staging)


@pytest.fixture(scope="module")
def core_target() -> Path:
    """The unpacked target of the installed ansible-core version, from the cache or the package index."""
    version = core_version()
    dest = CACHE / version / "connection"
    if not (dest / "test.sh").is_file():
        unpack_target(download_sdist(version, CACHE / version), dest)
    return dest


def write_inventory(path: Path, instance: dict, transport: str, become: bool) -> None:
    """The target's sample inventory shape (one group, a pipelining and a non-pipelining host) for one instance."""
    group_vars = {
        "ansible_host": instance["id"], "ansible_connection": "alicloud.ecs.cloud_assistant",
        "ansible_alicloud_region": instance["region"], "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_alicloud_transport": transport,
        **({"ansible_user": "deploy", "ansible_become": "true"} if become else {}),
    }
    lines = [f"[{GROUP}]", *(f"{host} ansible_pipelining={value}" for host, value in HOSTS.items()),
             f"[{GROUP}:vars]", *(f"{key}={value}" for key, value in group_vars.items())]
    path.write_text("\n".join(lines) + "\n")


def target_tasks(target: Path) -> list[str]:
    """The task names of test_connection.yml as ansible reports them (an unnamed task by its action)."""
    play = yaml.safe_load((target / "test_connection.yml").read_text(encoding="utf-8"))[0]
    names = []
    for task in play["tasks"]:
        names.append(task.get("name") or next(key for key in task if key not in ("vars", "register")))
    return names


def run_target(ansible, target: Path, tmp_path: Path, inventory: Path, remote_tmp: str):
    """test.sh exactly as a connection_<plugin>/runme.sh calls it, from a copy of the target."""
    work = tmp_path / "connection"
    shutil.copytree(target, work)
    lines = tmp_path / "results.jsonl"
    env = dict(ansible.env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               INVENTORY=str(inventory), RESULT_LINES_FILE=str(lines), ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
               ANSIBLE_CALLBACKS_ENABLED="result_lines", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    command = ["bash", "./test.sh", "-e", f"target_hosts={GROUP}", "-e", "action_prefix=",
               "-e", f"local_tmp={tmp_path / 'ansible-local'}", "-e", f"remote_tmp={remote_tmp}"]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          stdin=subprocess.DEVNULL, check=False)
    results = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()] if lines.exists() else []
    return done, results


def check_results(results: list[dict], tasks: list[str], output: str) -> None:
    """Every task of test_connection.yml succeeded on both hosts; the ad-hoc set_fact and the two
    reset_connection plays ran."""
    bad = [line for line in results if line.get("outcome") in ("failed", "unreachable")]
    assert not bad, f"failed results: {bad}\n{output}"
    for host in HOSTS:
        done = [line["task"] for line in results
                if line.get("playbook") == "test_connection.yml" and line.get("host") == host
                and line["outcome"] in ("ok", "changed")]
        assert sorted(done) == sorted(tasks), f"{host}: ran {done}, expected {tasks}\n{output}"
        adhoc = [line for line in results if line.get("host") == host and line.get("task") == "set_fact"
                 and not line.get("playbook", "").endswith(".yml")]
        assert adhoc, f"the ad-hoc set_fact did not run on {host}\n{output}"
    started = {line["playbook"] for line in results if line.get("event") == "start"}
    assert set(PLAYS) <= started, f"playbooks started: {sorted(started)}\n{output}"
    assert "SUCCESS: Connection vars not found" in output, output


@pytest.mark.parametrize("become", [False, True], ids=["no-become", "become"])
@pytest.mark.parametrize("transport", ["run_command", "session"])
def test_ansible_core_connection_target(ansible, emulator, reachable, core_target, tmp_path, transport,
                                        become) -> None:
    """The target passes with pipelining on and off (its two hosts), become on and off, on each transport."""
    instance = reachable[0]
    if become:
        setup = emulator.exec(instance["id"], DEPLOY_SETUP)
        assert setup["exit_code"] == 0, setup
    inventory = tmp_path / "test_connection.inventory"
    write_inventory(inventory, instance, transport, become)
    emulator.reset_counters()
    done, results = run_target(ansible, core_target, tmp_path, inventory,
                               f"/tmp/core-target-{transport}-{'become' if become else 'plain'}")
    output = f"{done.stdout[-20000:]}\n{done.stderr[-5000:]}"
    assert done.returncode == 0, f"test.sh exited {done.returncode}\n{output}"
    check_results(results, target_tasks(core_target), output)
    counters = emulator.counters()
    print(f"{transport} {'become' if become else 'no become'}: API calls {counters}")
    if transport == "session":  # at most one session per inventory host and play, each ended; nothing over RunCommand
        started = counters.get("StartTerminalSession", 0)
        assert 1 <= started <= len(HOSTS) * len(PLAYS), counters
        assert counters.get("EndTerminalSession", 0) == started, counters
        assert not any(counters.get(action) for action in ("RunCommand", "SendFile", "DescribeInvocationResults")), \
            counters
        assert "transport=session is not available" not in output, output  # the fallback's warning
    else:
        assert counters.get("RunCommand", 0) > 0 and not counters.get("StartTerminalSession"), counters
