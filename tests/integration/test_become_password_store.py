"""become_password_store: oos_secret keeps the become password out of invocation records, script copies, logs
and caches; without the instance role's permission the task fails naming it.

The agent facts the emulator follows (resolution of {{oos-secret:…}} with EnableParameter, deletion of the script
copy, the Invalid outcomes) are cited in tests/emulator/oos/test_oos_parameters.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from emulator.testing import EmulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_FLEET = REPO_ROOT / "emulator" / "fleets" / "demo.yml"
# Made at run time: the instance's /tmp may show the host's, where copies of this file can sit.
SENTINEL = f"Keeper-{uuid.uuid4().hex[:12]}-pw"
SECRET_ENV = {"BECOME_SECRET": SENTINEL}
PASSWORD = "{{ lookup('env', 'BECOME_SECRET') }}"  # no file on the controller or instance holds the text


def fleet(allow: list[str] | None) -> dict:
    """The demo fleet, its instances running with a role allowed ``allow`` (None: no role at all)."""
    data = yaml.safe_load(DEMO_FLEET.read_text(encoding="utf-8"))
    if allow is not None:
        data["instance_role"] = {"name": "ecs-instance-role", "allow": allow}
    return data


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """This module's emulator: the instances' role may read secret parameters."""
    with EmulatorProcess(fleet=fleet(["oos:GetSecretParameter"]),
                         state_dir=tmp_path_factory.mktemp("emulator-state")) as process:
        yield process


def hashed() -> str:
    """The sentinel's SHA-512 crypt hash, made here (ansible's password_hash needs passlib, which not every
    ansible-core line's venv has); only the hash goes to the instance."""
    done = subprocess.run(["openssl", "passwd", "-6", "-salt", "fixedsalt", "-stdin"], input=SENTINEL, text=True,
                          capture_output=True, check=True)
    return done.stdout.strip()


def plays(store: str) -> list[dict]:
    """Create a user whose sudo asks for the sentinel password, then become root through it."""
    return [
        {"name": "a user whose sudo wants its password", "hosts": "web-1", "gather_facts": False, "tasks": [
            {"name": "user", "ansible.builtin.user": {"name": "keeper", "shell": "/bin/sh", "password": hashed()}},
            {"name": "sudo rule", "ansible.builtin.copy": {
                "dest": "/etc/sudoers.d/keeper", "content": "keeper ALL=(ALL) ALL\n", "mode": "0440"}},
        ]},
        {"name": "become with the password", "hosts": "web-1", "gather_facts": False, "remote_user": "keeper",
         "become": True,
         "vars": {"ansible_become_password": PASSWORD, "ansible_alicloud_become_password_store": store},
         "tasks": [
             {"name": "module as root", "ansible.builtin.command": "id -un", "register": "module",
              "changed_when": False},
             {"name": "raw as root", "ansible.builtin.raw": "id -un", "register": "raw", "changed_when": False},
             {"ansible.builtin.assert": {"that": ["module.stdout == 'root'", "raw.stdout | trim == 'root'"]}},
         ]},
    ]


def forms(text: str) -> list[str]:
    """The password as it could sit anywhere: clear, Base64 (as the envelope carries it), Base64 of a line."""
    return [text, base64.b64encode(text.encode()).decode(), base64.b64encode(f"{text}\n".encode()).decode()]


def recorded_contents(emulator: EmulatorProcess, ansible) -> list[str]:
    """Every invocation's CommandContent in the emulator's records (DescribeInvocations), decoded."""
    run = ansible.run("python", "-c", (
        "import json, os, sys\n"
        "from aliyunsdkcore.client import AcsClient\n"
        "from aliyunsdkcore.request import CommonRequest\n"
        "c = AcsClient(os.environ['ALIBABA_CLOUD_ACCESS_KEY_ID'], os.environ['ALIBABA_CLOUD_ACCESS_KEY_SECRET'],"
        " 'cn-hangzhou', proxy={'http': '', 'https': ''})\n"
        "out, token = [], None\n"
        "while True:\n"
        "    r = CommonRequest(domain=sys.argv[1], version='2014-05-26', action_name='DescribeInvocations')\n"
        "    r.add_query_param('RegionId', 'cn-hangzhou'); r.add_query_param('MaxResults', '50')\n"
        "    if token: r.add_query_param('NextToken', token)\n"
        "    body = json.loads(c.do_action_with_exception(r))\n"
        "    out += [i['CommandContent'] for i in body['Invocations']['Invocation']]\n"
        "    token = body.get('NextToken')\n"
        "    if not token: break\n"
        "print(json.dumps(out))\n"), emulator.endpoint.removeprefix("http://"))
    assert run.rc == 0, run.output
    return [base64.b64decode(content).decode("utf-8", "replace") for content in json.loads(run.stdout)]


def instance_files_holding(emulator: EmulatorProcess, texts: list[str]) -> str:
    """Files on web-1 where scripts, work directories, become helpers and staged data go that hold any of
    ``texts``: /tmp (the script copy of a Username run, work directories), /dev/shm (the become helper), the
    homes, the staging directory, the agent's script directory."""
    places = "/tmp /root /home /dev/shm /var/lib/alicloud-ecs /usr/local/share/aliyun-assist"
    patterns = " ".join(f"-e '{text}'" for text in texts)
    found = emulator.exec(emulator.instance_id("web-1"), f"grep -rlF {patterns} {places} 2>/dev/null || true")
    return found["stdout"].strip()


def secrets_left(ansible) -> list[str]:
    """The become store's secret parameters the region still holds."""
    run = ansible.run("python", "-c", (
        "import json, os, sys\n"
        "from aliyunsdkcore.client import AcsClient\n"
        "from aliyunsdkcore.request import CommonRequest\n"
        "c = AcsClient(os.environ['ALIBABA_CLOUD_ACCESS_KEY_ID'], os.environ['ALIBABA_CLOUD_ACCESS_KEY_SECRET'],"
        " 'cn-hangzhou', proxy={'http': '', 'https': ''})\n"
        "r = CommonRequest(domain=sys.argv[1], version='2019-06-01', action_name='ListSecretParameters')\n"
        "r.add_query_param('RegionId', 'cn-hangzhou'); r.add_query_param('MaxResults', '100')\n"
        "print(json.dumps([p['Name'] for p in json.loads(c.do_action_with_exception(r))['Parameters']]))\n"),
        ansible.emulator.endpoint.removeprefix("http://"))
    assert run.rc == 0, run.output
    return json.loads(run.stdout)


def test_become_password_never_lands_in_records_files_logs_or_caches(ansible, emulator, tmp_path) -> None:
    playbook = tmp_path / "store.yml"
    playbook.write_text(json.dumps(plays("oos_secret")))
    run = ansible.playbook(playbook, "-vvvv", env=SECRET_ENV)
    assert run.rc == 0, run.output
    assert "ok=" in run.stdout
    contents = recorded_contents(emulator, ansible)
    for form in forms(SENTINEL):
        assert form not in run.output, "in the -vvvv output"
        assert not [c for c in contents if form in c], "in an invocation record"
        held = [p for p in tmp_path.rglob("*") if p.is_file() and form.encode() in p.read_bytes()]
        assert not held, f"in the controller's cache or temp files: {held}"
    assert not instance_files_holding(emulator, forms(SENTINEL)), "in a file on the instance"
    assert any("{{oos-secret:ansible-become-" in c for c in contents)
    assert secrets_left(ansible) == []  # each command's secret is deleted when it ends


def test_inline_store_carries_the_password_in_the_record(ansible, emulator, tmp_path) -> None:
    """The default, for contrast: the same scan finds the password in the record (what the store avoids)."""
    playbook = tmp_path / "inline.yml"
    playbook.write_text(json.dumps(plays("inline")))
    run = ansible.playbook(playbook, env=SECRET_ENV)
    assert run.rc == 0, run.output
    contents = recorded_contents(emulator, ansible)
    assert any(base64.b64encode(SENTINEL.encode()).decode() in c for c in contents)
    assert instance_files_holding(emulator, forms(SENTINEL))  # the agent's script copy of a Username run


def test_expired_leftovers_are_pruned(ansible, emulator, tmp_path) -> None:
    """A killed controller's secret (its expiry passed) goes at the next run's first become command; one that
    has not expired yet (another controller's command in flight) stays."""
    run = ansible.run("python", "-c", (
        "import os, sys\n"
        "from aliyunsdkcore.client import AcsClient\n"
        "from aliyunsdkcore.request import CommonRequest\n"
        "c = AcsClient(os.environ['ALIBABA_CLOUD_ACCESS_KEY_ID'], os.environ['ALIBABA_CLOUD_ACCESS_KEY_SECRET'],"
        " 'cn-hangzhou', proxy={'http': '', 'https': ''})\n"
        "for name in sys.argv[2:]:\n"
        "    r = CommonRequest(domain=sys.argv[1], version='2019-06-01', action_name='CreateSecretParameter')\n"
        "    r.add_query_param('RegionId', 'cn-hangzhou'); r.add_query_param('Name', name)\n"
        "    r.add_query_param('Value', 'eA=='); c.do_action_with_exception(r)\n"),
        emulator.endpoint.removeprefix("http://"), "ansible-become-1000-dead", "ansible-become-9999999999-live")
    assert run.rc == 0, run.output
    playbook = tmp_path / "store.yml"
    playbook.write_text(json.dumps(plays("oos_secret")[1:]))
    run = ansible.playbook(playbook, env=SECRET_ENV)
    assert run.rc == 0, run.output
    assert secrets_left(ansible) == ["ansible-become-9999999999-live"]


@pytest.mark.parametrize("allow, code", [(None, "RoleNameFailed"), ([], "ParameterFailed")])
def test_without_the_instance_role_the_task_fails_naming_the_permission(ansible, tmp_path, allow, code) -> None:
    with EmulatorProcess(fleet=fleet(allow), state_dir=tmp_path / "state") as other:
        runner = type(ansible)(other, tmp_path)
        playbook = tmp_path / "denied.yml"
        playbook.write_text(json.dumps([{
            "name": "root becomes nobody, a password given", "hosts": "web-1", "gather_facts": False,
            "become": True, "become_user": "nobody",
            "vars": {"ansible_become_password": PASSWORD, "ansible_alicloud_become_password_store": "oos_secret"},
            "tasks": [{"name": "whoami", "ansible.builtin.command": "id -un"}]}]))
        run = runner.playbook(playbook, env=SECRET_ENV)
        assert run.rc != 0
        assert code in run.output and "oos:GetSecretParameter" in run.output, run.output
        assert SENTINEL not in run.output


def test_a_secret_the_module_keeps_reaches_a_command_by_reference(ansible, emulator) -> None:
    """oos_parameter stores it, alicloud.ecs.invocation sends {{oos-secret:…}} (EnableParameter set for it), the
    agent fills it in through the instances' role; the record holds only the reference."""
    iid = emulator.instance_id("web-1")
    played = ansible.play([
        {"name": "keep", "alicloud.ecs.oos_parameter": {"name": "app-token", "type": "Secret", "value": PASSWORD}},
        {"name": "use", "register": "used", "alicloud.ecs.invocation": {
            "instance_ids": [iid], "content": "echo \"token=" + "{{ '{{' }}oos-secret:app-token{{ '}}' }}\""}},
    ], env=SECRET_ENV)
    assert played.rc == 0, played.output
    [result] = played.result("use")["results"]
    assert (result["status"], result["output"]) == ("Success", f"token={SENTINEL}\n"), result
    assert not [c for c in recorded_contents(emulator, ansible) if SENTINEL in c]
    assert any("{{oos-secret:app-token}}" in c for c in recorded_contents(emulator, ansible))
