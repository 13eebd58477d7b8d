"""become_password_store: oos_secret in parts: the script carries the reference (never the password) and the
agent's substitution of the stored Base64 gives the same password file; the secret parameter's life (created,
deleted however the command ends, expired leftovers pruned once per process); the local name and value rules;
oos references left to the agent by the invocation module."""

from __future__ import annotations

import base64
import itertools
import subprocess
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation_spec import placeholders
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.oos_parameters import (
    check_name, check_value, reference,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import become_store
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.become_script import BecomeAnswer
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.frame import decode_frame, parse_trailer
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.shell_scripts import build_run_script

PASSWORD = b"pw 'quoted' $HOME `x` \\ SENTINEL"
PROMPT = "[sudo via ansible, key=abc] password:"
SUCCESS = "BECOME-SUCCESS-abc"
REGIONS = itertools.count()
SUDO = f"printf '{PROMPT}' >&2; read -r pw; echo \"got:$pw\""


class FakeClient:
    """Records the OOS calls; holds secret parameters by name."""

    def __init__(self, names: t.Sequence[str] = (), fail: str = "") -> None:
        self.settings = type("S", (), {"endpoint": "http://emu"})()
        self.region = f"cn-test-{next(REGIONS)}"  # pruning is once per process and region: a fresh one each
        self.store = {name: "eA==" for name in names}
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail

    def call(self, action: str, **params: t.Any) -> dict:
        self.calls.append((action, params))
        if action == self.fail:
            raise CloudError("Forbidden.RAM", "not allowed", request_id="r-1")
        if action == "CreateSecretParameter":
            self.store[params["Name"]] = params["Value"]
            return {"Parameter": {"Name": params["Name"]}}
        if action == "DeleteSecretParameter":
            self.store.pop(params["Name"])
            return {}
        if action == "ListSecretParameters":
            return {"Parameters": [{"Name": name} for name in self.store if params["Name"] in name]}
        raise AssertionError(action)


def run_envelope(script: str) -> bytes:
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, timeout=60, check=False)
    trailer = parse_trailer(done.stdout)
    return decode_frame(trailer.frame_tail, trailer.sha256, compressed=trailer.compressed).stdout


def test_the_script_carries_the_reference_and_the_agent_substitution_gives_the_password() -> None:
    client, warnings = FakeClient(), []
    with become_store.stored_password(client, PASSWORD, 600, warnings.append) as ref:
        script = build_run_script(SUDO.encode(), None, BecomeAnswer(b"", PROMPT, SUCCESS, reference=ref))
        assert ref in script and base64.b64encode(PASSWORD).decode() not in script
        [name] = client.store
        assert ref == f"{{{{oos-secret:{name}}}}}"
        resolved = script.replace(ref, client.store[name])  # what the agent does with the raw value
        assert run_envelope(resolved) == b"got:" + PASSWORD + b"\n"
    assert client.store == {} and warnings == []
    actions = [action for action, _params in client.calls]
    assert actions == ["ListSecretParameters", "CreateSecretParameter", "DeleteSecretParameter"]


def test_the_secret_goes_even_when_the_command_fails_and_a_failed_delete_is_a_warning() -> None:
    client, warnings = FakeClient(), []
    with pytest.raises(RuntimeError):
        with become_store.stored_password(client, b"pw", 60, warnings.append):
            raise RuntimeError("the command failed")
    assert client.store == {}
    stuck = FakeClient(fail="DeleteSecretParameter")
    with become_store.stored_password(stuck, b"pw", 60, warnings.append):
        pass
    assert len(stuck.store) == 1 and "could not delete the become secret" in warnings[-1]


def test_prune_deletes_only_expired_store_names_once_per_process_and_region() -> None:
    client = FakeClient(["ansible-become-1000-dead", "ansible-become-9999999999-live", "ansible-become-x-other",
                         "someone-else"])
    assert become_store.prune(client, print, now=2000) == ["ansible-become-1000-dead"]
    assert sorted(client.store) == ["ansible-become-9999999999-live", "ansible-become-x-other", "someone-else"]
    assert become_store.prune(client, print, now=10 ** 11) == []  # once per process and region
    denied, warnings = FakeClient(fail="ListSecretParameters"), []
    assert become_store.prune(denied, warnings.append) == []
    assert "could not prune" in warnings[0]


def test_the_missing_instance_permission_is_named() -> None:
    message = become_store.instance_role_message("ParameterFailed", "Get secret parameter 'x' failed")
    assert "oos:GetSecretParameter" in message and "docs/permissions.md" in message
    assert become_store.instance_role_message("ExecutionTimeout", "timed out") == "timed out"


@pytest.mark.parametrize("name, error", [
    ("", "1 to 180"), ("x" * 181, "1 to 180"), ("a b", "1 to 180"), ("Aliyun-x", "reserved"), ("acs", "reserved"),
    ("alibaba/x", "reserved"), ("ALICLOUD_y", "reserved"), ("oos-z", "reserved"),
])
def test_names_are_checked_before_any_call(name, error) -> None:
    with pytest.raises(ValueError, match=error):
        check_name(name)


def test_values_and_references() -> None:
    assert check_name("a/b_c-d") == "a/b_c-d" and check_value("v" * 4096)
    with pytest.raises(ValueError, match="1 to 4096"):
        check_value("v" * 4097)
    with pytest.raises(ValueError, match="cannot be referenced"):
        reference("a/b", secret=True)
    assert reference("db.pw", secret=False) == "{{oos:db.pw}}"


def test_oos_references_are_left_to_the_agent() -> None:
    assert placeholders("echo {{ oos-secret : pw }} {{oos:x}} {{name}}") == (["name"], True)
