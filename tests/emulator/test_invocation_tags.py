"""DescribeInvocations filtered by the invocation's own tags (Tag.N, contract §2.7)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

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
