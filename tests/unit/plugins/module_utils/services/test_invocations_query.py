"""invocation_info filters: the API ones and those applied on the client."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocations_query import (
    InvocationQuery, parse_time, query_params,
)


def test_query_filters_and_client_side_ones():
    params = {"invoke_id": None, "command_name": "n", "instance_id": "i-1", "invoke_status": "Failed",
              "tags": {"a": "b"}, "created_after": "2026-01-02T00:00:00Z", "created_before": None,
              "include_output": False, "include_history": False, "max_results": 5}
    assert query_params(params) == {"CommandName": "n", "InstanceId": "i-1", "InvokeStatus": "Failed",
                                    "Tag": [{"Key": "a", "Value": "b"}]}
    query = InvocationQuery(client=None, params=params)
    item = {"CreationTime": "2026-01-03T00:00:00Z", "CommandName": "n", "InvocationStatus": "Failed"}
    assert query.wanted(item)
    assert not query.wanted({**item, "CreationTime": "2026-01-01T00:00:00Z"})
    assert not query.wanted({**item, "CommandName": "m"})  # ignored by the API with an InstanceId: applied here
    assert not query.wanted({**item, "InvocationStatus": "Success", "InvokeStatus": "Finished"})
    assert parse_time("2026-01-01T08:00:00", "x") == parse_time("2026-01-01T08:00:00Z", "x")
    with pytest.raises(ValueError, match="max_results"):
        query_params({"max_results": 51})
