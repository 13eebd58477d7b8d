"""The controller's own state (fleet runs, API call slots) against another local user, end to end: a second user
plants the old and new shared directory names, forged results and a held lock; alicloud.ecs.run either never
goes near them and succeeds with the right results, or refuses them at once naming the path and its owner. And
the wait after a StopInvocation the agents ignore ends, naming the instance still running."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import Target
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_runner import CommandSpec, Phase
from emulator.testing import wait_for

from fleet_helpers import FleetPlay, names_to_ids, record_env, recorded

INTRUDER = "alicloud-intruder"
NODES = ["node-1", "node-2", "node-3", "node-4"]
# 4 running instances whose agents, like some real ones, let a command run on after StopInvocation.
FLEET_FILE = "per_host.yml"
EMULATOR_OPTIONS = {"stop_running": "continue"}
pytestmark = pytest.mark.usefixtures("fresh")
RUN = "fleet run"
ONCE = "fleet run once"
FORGED = '{"summary": {"counts": {"Forged": 1}}, "status": "Forged", "output": "forged\\n"}'


@pytest.fixture(scope="module")
def intruder() -> pwd.struct_passwd:
    """A second local user (the tests run as root, so they can make one)."""
    try:
        return pwd.getpwnam(INTRUDER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
                       check=False, capture_output=True)  # a parallel worker may make it first
        return pwd.getpwnam(INTRUDER)


@pytest.fixture
def shared():
    """A directory every local user can write to, like /tmp (sticky, 1777), standing for TMPDIR."""
    path = Path(tempfile.mkdtemp(prefix="alicloud-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_intruder(user: pwd.struct_passwd, script: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(["/bin/sh", "-c", script], user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                            env={"PATH": "/usr/bin:/bin"}, **popen)


def plant(user: pwd.struct_passwd, shared: Path, new_name: str = "directory") -> subprocess.Popen:
    """As the other user: the old fleet-run and call-slot directories, the new /tmp fallback name (a directory,
    or a link to a directory of root's), forged results in all of them, its own XDG_RUNTIME_DIR, and a process
    holding the flock of a slot file. Returns the lock holder (it prints ``held`` once it holds it)."""
    victim = shared.parent / f"{shared.name}-roots"
    victim.mkdir(mode=0o700)  # root's: a link to it would pass an owner check that follows links
    planted = as_intruder(user, f"""set -e
        cd {shared}
        umask 0
        mkdir -p alicloud-ecs-run-0/forged-run/forged-task alicloud-ecs-0/calls-1-1-32 runtime
        chmod 0700 runtime
        echo '{FORGED}' > alicloud-ecs-run-0/forged-run/forged-task/0.done
        echo '{FORGED}' > alicloud-ecs-0/calls-1-1-32/0.done
        if [ {new_name} = link ]; then mv alicloud-ecs-0 old-slots; ln -s {victim} alicloud-ecs-0; fi
        """)
    assert planted.wait(timeout=30) == 0
    holder = as_intruder(user, f"exec flock {shared}/{'old-slots' if new_name == 'link' else 'alicloud-ecs-0'}"
                               f"/calls-1-1-32/slot-0 sh -c 'echo held; exec sleep 600'",
                         stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def not_intruders(shared: Path, user: pwd.struct_passwd) -> list[str]:
    """Whatever in the planted tree is not the other user's: what a run of ours created or changed there."""
    return [str(path) for path in shared.rglob("*") if path.lstat().st_uid != user.pw_uid]


def play(ansible, emulator, tmp_path: Path, env: dict[str, str], tasks: list[dict]) -> FleetPlay:
    ids = names_to_ids(emulator)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"nodes": {"hosts": {
        name: {"ansible_alicloud_instance_id": ids[name], "ansible_alicloud_region": "cn-hangzhou"}
        for name in NODES}}}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "state", "hosts": "nodes", "gather_facts": False, "tasks": tasks}]))
    record = tmp_path / "record.json"
    run = ansible.run("ansible-playbook", "-i", str(inventory), str(playbook), "--forks", "2", timeout=300,
                      env={**record_env(record), **env})
    return recorded(run.rc, run.output, record)


def fleet_tasks() -> list[dict]:
    content = "hostname"
    return [{"name": RUN, "alicloud.ecs.run": {"content": content}, "ignore_errors": True},
            {"name": ONCE, "alicloud.ecs.run": {"content": content}, "run_once": True, "ignore_errors": True}]


def test_a_run_never_uses_directories_another_user_planted(ansible, emulator, tmp_path, intruder, shared):
    holder = plant(intruder, shared)
    try:
        played = play(ansible, emulator, tmp_path, {
            "TMPDIR": str(shared), "XDG_RUNTIME_DIR": str(shared / "runtime")}, fleet_tasks())
    finally:
        holder.kill()
        holder.wait()
    assert played.rc == 0, played.output[-3000:]
    assert {host: (item["stdout"], item["status"]) for host, item in played.per_host(RUN).items()} == {
        host: (f"{host}\n", "Success") for host in NODES}
    once = played.result(ONCE)
    assert {host: item["output"] for host, item in once["results"].items()} == {host: f"{host}\n" for host in NODES}
    assert emulator.counters()["RunCommand"] == 2
    assert not_intruders(shared, intruder) == []
    # The state went to ansible's local temp directory, private: 0700 directories, 0600 files.
    state = Path(ansible.env["ANSIBLE_LOCAL_TEMP"]) / "alicloud-ecs"
    assert {oct(path.lstat().st_mode & 0o777) for path in [state, *state.rglob("*")] if path.is_dir()} == {"0o700"}
    files = [path for path in state.rglob("*") if path.is_file()]
    assert any(b'"output": "node-3\\n"' in path.read_bytes() for path in files)  # the results were here
    assert {oct(path.lstat().st_mode & 0o777) for path in files} == {"0o600"}


@pytest.mark.parametrize("planted", ["directory", "link"])
def test_a_planted_fallback_directory_is_refused_at_once_naming_it_and_its_owner(
        ansible, emulator, tmp_path, intruder, shared, planted):
    holder = plant(intruder, shared, planted)
    # Neither XDG_RUNTIME_DIR (the other user's) nor ansible's local temp (a directory the other user can write)
    # is safe: the state would go to TMPDIR/alicloud-ecs-0, which the other user made first.
    local = shared / "local"
    as_intruder(intruder, f"mkdir -m 0777 {local}").wait(timeout=30)
    try:
        played = play(ansible, emulator, tmp_path, {
            "TMPDIR": str(shared), "XDG_RUNTIME_DIR": str(shared / "runtime"), "ANSIBLE_LOCAL_TEMP": str(local)},
            fleet_tasks())
    finally:
        holder.kill()
        holder.wait()
    path = shared / "alicloud-ecs-0"
    why = (f"it belongs to uid {intruder.pw_uid} ({INTRUDER}), not to this user (uid 0 (root))" if planted == "directory"
           else f"it is a symbolic link (owned by uid {intruder.pw_uid} ({INTRUDER})), which is never followed")
    refusal = f"refusing the controller state directory {path}: {why}"
    outcomes = {item["host"]: item["outcome"] for item in played.entries if item["task"] == RUN}
    assert outcomes == dict.fromkeys(NODES, "failed"), played.output[-3000:]
    for host, result in played.per_host(RUN).items():
        assert result["msg"] == f"alicloud.ecs.run: {refusal}; another local user may have " \
            "created it to interfere with this one. Remove it, or point ANSIBLE_LOCAL_TEMP or TMPDIR at a " \
            "directory of your own", (host, result["msg"])
    # run_once needs no shared run; its first API call needs a call slot, and is refused the same way.
    assert played.outcome(ONCE) == "failed" and refusal in played.result(ONCE)["msg"], played.result(ONCE)["msg"]
    assert emulator.counters().get("RunCommand", 0) == 0
    assert [name for name in not_intruders(shared, intruder) if not name.startswith(str(local))] == []
    assert not list((shared.parent / f"{shared.name}-roots").iterdir())


def test_the_wait_after_a_stop_the_agent_ignores_ends_naming_the_instance(emulator, monkeypatch):
    monkeypatch.setenv("ANSIBLE_ALICLOUD_STOP_WAIT", "30")
    client = CloudClient(resolve_settings(env=emulator.env()), region="cn-hangzhou")
    ids = {item["name"]: item["id"] for item in emulator.instances()}
    now = [0.0]  # the phase's own clock: its deadlines pass when the test says so, the API is the emulator's
    phase = Phase(lambda region: client, CommandSpec(
        'if [ "$(hostname)" = node-1 ]; then sleep 300; fi; echo finished', timeout=600),
        f"alicloud.ecs.run-{uuid.uuid4().hex[:12]}", clock=lambda: now[0])
    phase.launch([Target(name, ids[name], "cn-hangzhou") for name in ("node-1", "node-2")], 1)
    [launch] = phase.launches
    ended: list[tuple[str, bool]] = []

    def progressed() -> bool:
        ended.extend(phase.poll())
        return ("node-2", True) in ended and launch.last == {ids["node-1"]: "Running"}
    wait_for(progressed, "node-2 to finish while node-1 runs")

    now[0] = 600 + 120 + 1  # past the command's deadline: the phase stops it
    assert phase.poll() == []
    assert emulator.counters()["StopInvocation"] == 1
    listed = client.call("DescribeInvocations", InvokeId=launch.invoke_id)["Invocations"]["Invocation"]
    assert {item["InstanceId"]: item["InvocationStatus"] for item in listed[0]["InvokeInstances"]["InvokeInstance"]
            } == {ids["node-1"]: "Running", ids["node-2"]: "Success"}  # the agent runs on, as it may
    now[0] += 29
    assert phase.poll() == [] and not phase.finished

    now[0] += 2  # 31 s after the stop: given up, naming the instance and the invocation
    assert phase.poll() == [("node-1", False)] and phase.finished
    stuck, done = phase.results["node-1"], phase.results["node-2"]
    assert stuck["status"] == "NotStopped" and stuck["instance_id"] == ids["node-1"]
    assert stuck["error_info"] == (f"still Running 30 s after StopInvocation of {launch.invoke_id}, sent at the "
                                   "command's deadline; it may still be running there")
    assert (done["status"], done["output"]) == ("Success", "finished\n")
    assert emulator.counters()["StopInvocation"] == 1
