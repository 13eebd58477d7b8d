"""RunCommand targeting by ResourceTag.N instead of InstanceId.N (docs/api-contract.md#runcommand)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from emulator_helpers import output, wait_result

Api = Callable[..., dict[str, Any]]


def test_resource_tags_select_the_tagged_instances_of_the_region(api: Api, ids: dict[str, str]) -> None:
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="hostname",
               **{"ResourceTag.1.Key": "role", "ResourceTag.1.Value": "web"})
    records = wait_result(api, body["InvokeId"])
    assert {record["InstanceId"] for record in records} == {ids["web-1"], ids["web-2"]}  # not sh-1 (other region)
    assert {output(record).strip() for record in records} == {"web-1", "web-2"}


def test_several_tags_must_all_match(api: Api, ids: dict[str, str]) -> None:
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="true",
               **{"ResourceTag.1.Key": "role", "ResourceTag.1.Value": "web",
                  "ResourceTag.2.Key": "env", "ResourceTag.2.Value": "test"})
    assert [record["InstanceId"] for record in wait_result(api, body["InvokeId"])] == [ids["web-1"]]


@pytest.mark.parametrize("params, code", [
    ({"ResourceTag.1.Key": "role", "ResourceTag.1.Value": "nobody"}, "InvalidResourceTag.InstanceNotFound"),
    ({"ResourceTag.1.Key": "role", "ResourceTag.1.Value": "web", "InstanceId.1": "i-x"},
     "InvalidResourceTag.ConflictWithInstanceIds"),
])
def test_resource_tag_errors(api: Api, params: dict[str, str], code: str) -> None:
    with pytest.raises(ServerException) as raised:
        api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="true", **params)
    assert raised.value.get_error_code() == code
