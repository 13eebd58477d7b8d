"""Scheduled invocations through the legacy SDK: Period with rate/at/cron, NextRebootOnly/EveryReboot driven by
RebootInstance, IncludeHistory, Timed, StopInvocation ending a schedule, Frequency validation."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from emulator_helpers import FLEET, output

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]
R = {"RegionId": "cn-hangzhou"}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """Fast schedules (1 s minimum interval) and power transitions."""
    with EmulatorProcess(fleet=FLEET, min_timeout=1, delivery_timeout=0.5, period_min=1,
                         transition_delay=0.2) as proc:
        yield proc


def start(api: Api, iid: str, script: str, **params: Any) -> str:
    """RunCommand with Timeout 1; returns the InvokeId."""
    return api("RunCommand", Type="RunShellScript", CommandContent=script, Timeout=1, **{"InstanceId.1": iid},
               **params, **R)["InvokeId"]


def results(api: Api, invoke_id: str, **params: Any) -> list[dict[str, Any]]:
    """DescribeInvocationResults records."""
    return api("DescribeInvocationResults", InvokeId=invoke_id, PageSize=50, **params, **R)[
        "Invocation"]["InvocationResults"]["InvocationResult"]


def invocation(api: Api, invoke_id: str) -> dict[str, Any]:
    """DescribeInvocations item."""
    return api("DescribeInvocations", InvokeId=invoke_id, **R)["Invocations"]["Invocation"][0]


def failure(api: Api, **params: Any) -> tuple[str, int]:
    """(code, status) of a failing RunCommand."""
    with pytest.raises(ServerException) as exc:
        api("RunCommand", Type="RunShellScript", CommandContent="true", **params, **R)
    return exc.value.get_error_code(), exc.value.get_http_status()


def test_rate_runs_repeatedly_keeps_history_and_stops(api: Api, ids: dict[str, str]) -> None:
    invoke_id = start(api, ids["web-1"], "echo tick", Frequency="rate(2s)")
    [first] = wait_for(lambda: [r for r in results(api, invoke_id) if r["InvocationStatus"] == "Scheduled"],
                       "the schedule armed")
    item = invocation(api, invoke_id)
    assert (item["RepeatMode"], item["Timed"], item["Frequency"]) == ("Period", True, "rate(2s)")
    assert first["Repeats"] == 0
    wait_for(lambda: results(api, invoke_id)[0]["Repeats"] >= 2, "two runs of the schedule")
    history = results(api, invoke_id, IncludeHistory="true")
    assert len(history) >= 2 and all(output(h) == "tick\n" for h in history if h["InvocationStatus"] == "Success")
    assert [h["Repeats"] for h in history][:2] == [1, 2]
    api("StopInvocation", InvokeId=invoke_id, **R)
    final = wait_for(lambda: [r for r in results(api, invoke_id)
                              if r["InvocationStatus"] in ("Cancelled", "Terminated")], "the stopped schedule")
    assert final and invocation(api, invoke_id)["Timed"] is False
    repeats = results(api, invoke_id)[0]["Repeats"]
    time.sleep(2.5)
    assert results(api, invoke_id)[0]["Repeats"] == repeats  # the schedule is over


def test_cron_with_seconds_and_time_zone(api: Api, ids: dict[str, str]) -> None:
    invoke_id = start(api, ids["web-2"], "echo cron", Frequency="*/2 * * * * ? * Asia/Shanghai")
    record = wait_for(lambda: [r for r in results(api, invoke_id) if r["Repeats"] >= 1 and r["InvocationStatus"] in (
        "Scheduled", "Success")], "a cron run")
    assert record
    api("StopInvocation", InvokeId=invoke_id, **R)


def test_at_runs_once(api: Api, ids: dict[str, str]) -> None:
    when = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(seconds=2)
    invoke_id = start(api, ids["db-1"], "echo at", Frequency=f"at({when:%Y-%m-%d %H:%M:%S} GMT+8:00)")
    [record] = wait_for(lambda: [r for r in results(api, invoke_id) if r["InvocationStatus"] == "Success"],
                        "the at() run")
    assert (record["Repeats"], output(record)) == (1, "at\n")
    item = invocation(api, invoke_id)
    assert (item["InvocationStatus"], item["Timed"]) == ("Success", False)


def test_reboot_modes(api: Api, ids: dict[str, str]) -> None:
    iid = ids["web-1"]
    every = start(api, iid, "echo every", RepeatMode="EveryReboot")
    once = start(api, iid, "echo next", RepeatMode="NextRebootOnly")
    wait_for(lambda: all(results(api, i)[0]["InvocationStatus"] == "Scheduled" for i in (every, once)),
             "both reboot modes armed")

    def rearmed_after(boot: int) -> bool:
        [record] = results(api, every)
        return record["Repeats"] == boot and record["InvocationStatus"] == "Scheduled"
    for boot in (1, 2):
        api("RebootInstance", InstanceId=iid, **R)
        # pylint: disable-next=cell-var-from-loop  # evaluated before the next loop
        wait_for(lambda: rearmed_after(boot), f"re-armed after boot {boot}")
    [done] = results(api, once)
    assert (done["InvocationStatus"], done["Repeats"], output(done)) == ("Success", 1, "next\n")
    assert [h["Repeats"] for h in results(api, every, IncludeHistory="true")] == [1, 2, 2]
    api("StopInvocation", InvokeId=every, **R)
    assert results(api, every)[0]["InvocationStatus"] == "Cancelled"


def test_frequency_validation(api: Api, ids: dict[str, str]) -> None:
    iid = {"InstanceId.1": ids["web-1"]}
    bad = ("InvalidParam.Frequency", 400)
    assert failure(api, Frequency="rate(8d)", **iid) == bad
    assert failure(api, Frequency="rate(5x)", **iid) == bad
    assert failure(api, Frequency="rate(3s)", Timeout=5, **iid) == bad  # interval must exceed Timeout
    assert failure(api, Frequency="at(2020-01-01 00:00:00)", **iid) == bad
    assert failure(api, Frequency="at(2099-01-01 00:00:00 GMT+08:00)", **iid) == bad
    assert failure(api, Frequency="0 0 0 L * ?", **iid) == bad
    assert failure(api, Frequency="0 0 0 * * ? 2099 Mars/Base", **iid) == bad
    assert failure(api, RepeatMode="Period", **iid) == ("MissingParam.Frequency", 400)
    assert failure(api, RepeatMode="Sometimes", **iid) == ("InvalidRepeatMode.NotFound", 404)
