"""resource_state.converge, the order every present/absent module runs in: local rules before any API call, the
resource read, the change, the diff only when asked for; a ValueError or an API error ends the task cleanly."""

from __future__ import annotations

import contextlib
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import (
    STATE_OPTION, api_tags, converge,
)


class Ended(Exception):
    """fail_json or exit_json was called: the module run is over."""


class FakeModule:
    """What converge uses of a CloudModule: fail_json, exit_json, failures() and _diff."""

    def __init__(self, diff: bool = False) -> None:
        self._diff = diff
        self.outcome: tuple[str, dict[str, t.Any]] | None = None

    def fail_json(self, **result: t.Any) -> t.NoReturn:
        self.outcome = ("failed", result)
        raise Ended()

    def exit_json(self, **result: t.Any) -> t.NoReturn:
        self.outcome = ("ok", result)
        raise Ended()

    @contextlib.contextmanager
    def failures(self) -> t.Iterator[None]:
        try:
            yield
        except CloudError as error:
            self.fail_json(msg=str(error), error=error.to_dict())


def run(module: FakeModule, calls: list[str], prepare=None, apply=None) -> tuple[str, dict[str, t.Any]]:
    def read() -> dict[str, t.Any]:
        calls.append("read")
        return {"name": "old"}

    def default_apply(current, prepared):
        calls.append("apply")
        return {"changed": True, "item": {"name": prepared}}, {"what": "name"}

    def diff(current, prepared, result, note):
        calls.append("diff")
        return {"before": current, "after": result["item"], "note": note}

    with pytest.raises(Ended):
        converge(module, prepare or (lambda: calls.append("prepare") or "new"), read, apply or default_apply, diff)
    assert module.outcome is not None
    return module.outcome


def test_the_steps_run_in_order_and_the_diff_only_when_asked_for() -> None:
    calls: list[str] = []
    assert run(FakeModule(), calls) == ("ok", {"changed": True, "item": {"name": "new"}})
    assert calls == ["prepare", "read", "apply"]
    calls.clear()
    kind, result = run(FakeModule(diff=True), calls)
    assert calls == ["prepare", "read", "apply", "diff"]
    assert result["diff"] == {"before": {"name": "old"}, "after": {"name": "new"}, "note": {"what": "name"}}


def test_a_local_rule_fails_the_task_before_the_resource_is_read() -> None:
    calls: list[str] = []

    def prepare() -> str:
        raise ValueError("name must be at most 200 characters")
    assert run(FakeModule(), calls, prepare=prepare) == ("failed", {"msg": "name must be at most 200 characters"})
    assert calls == []


def test_a_rule_found_while_applying_and_an_api_error_fail_the_task_cleanly() -> None:
    calls: list[str] = []

    def refuse(current, prepared):
        raise ValueError("parameter p is of type String, not Secret")
    assert run(FakeModule(), calls, apply=refuse) == ("failed", {"msg": "parameter p is of type String, not Secret"})

    def api_error(current, prepared):
        raise CloudError("Throttling", "Request was denied due to request throttling.", action="UpdateParameter")
    kind, result = run(FakeModule(diff=True), calls, apply=api_error)
    assert kind == "failed" and "Throttling" in result["msg"] and result["error"]["code"] == "Throttling"


def test_tags_go_to_the_api_as_strings_and_no_tags_means_leave_them_alone() -> None:
    assert api_tags({"version": 2, 3: True}) == {"version": "2", "3": "True"}
    assert api_tags({}) == {}
    assert api_tags(None) is None
    assert STATE_OPTION == {"type": "str", "choices": ["present", "absent"], "default": "present"}
