"""Fault injection through the control API, observed with the real legacy SDK: throttling, 5xx with the SDK's own
retries, act-then-drop with a ClientToken retry, per-instance agent delivery delay."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.DescribeRegionsRequest import DescribeRegionsRequest
from emulator_helpers import output, wait_result

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]
T = EmulatorProcess


@pytest.fixture(autouse=True)
def no_faults(emu: EmulatorProcess) -> Iterator[None]:
    """Every test starts and ends without faults and with zeroed counters."""
    emu.clear_faults()
    emu.reset_counters()
    yield
    emu.clear_faults()


def failure(api: Api, action: str, **params: Any) -> tuple[str, int]:
    """(code, HTTP status) of a call expected to fail."""
    with pytest.raises(ServerException) as exc:
        api(action, **params)
    return exc.value.get_error_code(), exc.value.get_http_status()


def test_throttle_fires_a_counted_number_of_times(emu: EmulatorProcess, api: Api) -> None:
    emu.faults(T.throttle("DescribeRegions", times=2))
    assert failure(api, "DescribeRegions") == ("Throttling", 400)
    assert failure(api, "DescribeRegions") == ("Throttling", 400)
    assert api("DescribeRegions")["Regions"]["Region"]
    assert api("DescribeInstances", RegionId="cn-hangzhou")["TotalCount"] == 4  # other actions untouched
    assert emu.counters()["DescribeRegions"] == 3
    [rule] = emu.fault_plan()["rules"]
    assert (rule["times"], rule["fired"], rule["code"], rule["http_status"]) == (0, 2, "Throttling", 400)


def test_throttle_user_code_status_and_after(emu: EmulatorProcess, api: Api) -> None:
    emu.faults(T.throttle("*", times=1, code="Throttling.User", after=1, http_status=429))
    assert api("DescribeRegions")["Regions"]["Region"]  # the first matching call passes
    with pytest.raises(ServerException) as exc:
        api("DescribeInstances", RegionId="cn-hangzhou")
    assert (exc.value.get_error_code(), exc.value.get_http_status()) == ("Throttling.User", 429)
    assert exc.value.get_error_msg() == "Request was denied due to user flow control."
    assert api("DescribeRegions")["Regions"]["Region"]


def test_every_nth_call_is_a_deterministic_rate(emu: EmulatorProcess, api: Api) -> None:
    emu.faults(T.throttle("DescribeRegions", times=None, every=3))
    outcomes = []
    for _call in range(7):
        try:
            api("DescribeRegions")
            outcomes.append("ok")
        except ServerException as exc:
            outcomes.append(exc.get_error_code())
    assert outcomes == ["ok", "ok", "Throttling", "ok", "ok", "Throttling", "ok"]
    assert emu.fault_plan()["rules"][0]["fired"] == 2


def test_server_errors_and_sdk_retries(emu: EmulatorProcess, client: AcsClient, api: Api) -> None:
    emu.faults(T.error("DescribeRegions", times=1, code="ServiceUnavailable"))
    assert failure(api, "DescribeRegions") == ("ServiceUnavailable", 503)  # CommonRequest: no SDK retry
    emu.faults(T.error("DescribeRegions", times=2))
    req = DescribeRegionsRequest()  # generated request: the SDK retries InternalError on a Describe* action
    req.set_endpoint(emu.endpoint.removeprefix("http://"))
    assert json.loads(client.do_action_with_exception(req))["Regions"]["Region"]
    assert emu.counters()["DescribeRegions"] == 4  # 1 + 2 failed attempts + 1 served
    assert emu.fault_plan()["rules"][0]["fired"] == 2


def test_drop_after_acting_and_client_token_retry_runs_once(emu: EmulatorProcess, api: Api,
                                                            ids: dict[str, str]) -> None:
    iid = ids["web-1"]
    emu.exec(iid, "rm -f /tmp/drop-count")
    emu.faults(T.drop("RunCommand", times=1))
    params = {"RegionId": "cn-hangzhou", "Type": "RunShellScript", "InstanceId.1": iid,
              "CommandContent": "echo ran >> /tmp/drop-count; echo done", "ClientToken": "drop-retry-1"}
    with pytest.raises(ClientException) as exc:
        api("RunCommand", **params)
    assert exc.value.get_error_code() == "SDK.HttpError"
    body = api("RunCommand", **params)  # the retry with the same token answers the first InvokeId
    [record] = wait_result(api, body["InvokeId"])
    assert output(record) == "done\n"
    invocations = api("DescribeInvocations", RegionId="cn-hangzhou", InstanceId=iid, PageSize=50)
    assert [i["InvokeId"] for i in invocations["Invocations"]["Invocation"]].count(body["InvokeId"]) == 1
    time.sleep(0.3)
    assert emu.exec(iid, "cat /tmp/drop-count")["stdout"] == "ran\n"
    assert emu.counters()["RunCommand"] == 2


def test_drop_without_token_still_acts(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    emu.faults(T.drop("RunCommand", times=1))
    before = api("DescribeInvocations", RegionId="cn-hangzhou", PageSize=50)["TotalCount"]
    with pytest.raises(ClientException):
        api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="true",
            **{"InstanceId.1": ids["web-2"]})
    assert api("DescribeInvocations", RegionId="cn-hangzhou", PageSize=50)["TotalCount"] == before + 1


def test_per_instance_delivery_delay(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """A delayed instance stays Pending while the other one of the same invocation finishes, then runs too.

    The delay (12 s) is far longer than web-1's run takes even on a loaded machine, so seeing web-2 still Pending
    when web-1 is done proves the delay without timing anything."""
    emu.delay_delivery(ids["web-2"], 12)
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo hi",
               **{"InstanceId.1": ids["web-1"], "InstanceId.2": ids["web-2"]})

    def web_1_done() -> dict[str, str] | None:
        records = api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])[
            "Invocation"]["InvocationResults"]["InvocationResult"]
        states = {r["InstanceId"]: r["InvocationStatus"] for r in records}
        return states if states[ids["web-1"]] == "Success" else None

    assert wait_for(web_1_done, "web-1 to finish", step=0.05) == {ids["web-1"]: "Success", ids["web-2"]: "Pending"}
    assert {r["InvocationStatus"] for r in wait_result(api, body["InvokeId"])} == {"Success"}
    assert emu.fault_plan()["delivery_delay"] == {ids["web-2"]: 12.0}


def test_plan_validation_and_merge(emu: EmulatorProcess) -> None:
    with pytest.raises(RuntimeError, match="400"):
        emu.faults({"fault": "explode"})
    with pytest.raises(RuntimeError, match="400"):
        emu.control("POST", "faults", {"errors": []})
    emu.faults(T.throttle("RunCommand"), latency_ms=5)
    plan = emu.add_faults(T.error("SendFile", times=None))
    assert [(r["fault"], r["action"], r["times"]) for r in plan["rules"]] == [
        ("throttle", "RunCommand", 1), ("error", "SendFile", None)]
    assert plan["latency_ms"] == 5 and plan["rules"][1]["http_status"] == 500
