"""Invocations filtered by their own tags (Tag.N): DescribeInvocations and DescribeInvocationResults
(docs/api-contract.md#describeinvocations, #describeinvocationresults)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from emulator_helpers import wait_result

Api = Callable[..., dict[str, Any]]
R = {"RegionId": "cn-hangzhou"}


def tagged(api: Api, iid: str, **tags: str) -> str:
    """RunCommand carrying ``tags`` as Tag.N; returns the InvokeId."""
    flat: dict[str, str] = {}
    for n, (key, value) in enumerate(tags.items(), 1):
        flat[f"Tag.{n}.Key"], flat[f"Tag.{n}.Value"] = key, value
    return api("RunCommand", Type="RunShellScript", CommandContent="true", **{"InstanceId.1": iid}, **flat, **R)[
        "InvokeId"]


def listed(api: Api, **params: str) -> set[str]:
    """InvokeIds DescribeInvocations returns for ``params``."""
    body = api("DescribeInvocations", PageSize=50, **params, **R)
    return {item["InvokeId"] for item in body["Invocations"]["Invocation"]}


def test_tag_filter_selects_invocations_having_every_tag(api: Api, ids: dict[str, str]) -> None:
    first = tagged(api, ids["web-1"], job="a", team="x")
    second = tagged(api, ids["web-1"], job="b", team="x")
    untagged = tagged(api, ids["web-1"])
    assert listed(api, **{"Tag.1.Key": "job", "Tag.1.Value": "a"}) == {first}
    assert listed(api, **{"Tag.1.Key": "team", "Tag.1.Value": "x"}) == {first, second}
    assert listed(api, **{"Tag.1.Key": "team", "Tag.1.Value": "x", "Tag.2.Key": "job", "Tag.2.Value": "b"}) == {second}
    assert listed(api, **{"Tag.1.Key": "job"}) == {first, second}  # ⚠ no value: any value of the key
    assert listed(api, **{"Tag.1.Key": "job", "Tag.1.Value": "c"}) == set()
    assert untagged in listed(api)


def test_tag_filter_limits(api: Api) -> None:
    too_many = {f"Tag.{n}.{part}": f"k{n}" for n in range(1, 22) for part in ("Key", "Value")}
    with pytest.raises(ServerException) as raised:
        api("DescribeInvocations", **too_many, **R)
    assert raised.value.get_error_code() == "NumberExceed.Tags"
    with pytest.raises(ServerException) as raised:
        api("DescribeInvocations", **{"Tag.1.Value": "v"}, **R)
    assert raised.value.get_error_code() == "MissingParameter.TagKey"


def results(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Every DescribeInvocationResults record for ``params``, following NextToken."""
    found, token = [], None
    while True:
        body = api("DescribeInvocationResults", **params, **({"NextToken": token} if token else {}), **R)
        found += body["Invocation"]["InvocationResults"]["InvocationResult"]
        token = body["Invocation"].get("NextToken")
        if not token:
            return found


def test_results_by_instance_and_tag_return_many_invocations_outputs_in_pages(api: Api, ids: dict[str, str]) -> None:
    """One poll by instance and tag collects the outputs of many invocations (at most 50 a page)."""
    mine = []
    for n in range(7):
        flat = {"Tag.1.Key": "round", "Tag.1.Value": "r1", "Tag.2.Key": "n", "Tag.2.Value": str(n)}
        mine.append(api("RunCommand", Type="RunShellScript", CommandContent=f"echo page {n}",
                        **{"InstanceId.1": ids["web-1"]}, **flat, **R)["InvokeId"])
    other_round = tagged(api, ids["web-1"], round="r2")
    other_instance = tagged(api, ids["web-2"], round="r1")
    for invoke_id in [*mine, other_round, other_instance]:
        wait_result(api, invoke_id)
    by_tag = {"InstanceId": ids["web-1"], "Tag.1.Key": "round", "Tag.1.Value": "r1"}
    records = results(api, MaxResults=3, ContentEncoding="PlainText", **by_tag)
    assert sorted(record["InvokeId"] for record in records) == sorted(mine)
    assert {record["InvokeId"]: record["Output"] for record in records} == {
        invoke_id: f"page {n}\n" for n, invoke_id in enumerate(mine)}
    assert all(record["InvocationStatus"] == "Success" for record in records)
    assert len(results(api, MaxResults=50, **by_tag)) == 7
    with pytest.raises(ServerException) as raised:
        api("DescribeInvocationResults", MaxResults=51, **by_tag, **R)
    assert raised.value.get_error_code() == "InvalidParameter.MaxResults"
    finished = results(api, InvokeRecordStatus="Finished", PageSize=50, **by_tag)
    assert len(finished) == 7
    assert results(api, **{"InstanceId": ids["web-1"], "Tag.1.Key": "round", "Tag.1.Value": "r3"}) == []
