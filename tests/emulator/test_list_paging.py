"""The emulator's paging and JSON parameters, the pieces every list action and JSON-carrying parameter goes through
(pure functions, no server): NextToken pages cover the list once, in order; a token the emulator did not issue is
refused; a JSON parameter of the wrong kind is the action's own error (docs/api-contract.md#pagination)."""
from __future__ import annotations

import pytest

from emulator.errors import ApiError
from emulator.pagination import paginate, token_page
from emulator.protocol import Params


def test_token_pages_cover_the_list_once_in_order_and_end_with_an_empty_token() -> None:
    items, seen, token = list(range(23)), [], ""
    while True:
        page, token = token_page(items, Params({"NextToken": token}), 10)
        seen += page
        if not token:
            break
    assert seen == items
    assert token_page([], Params({}), 10) == ([], "")


def test_a_token_not_issued_by_the_emulator_is_refused() -> None:
    with pytest.raises(ApiError) as refused:
        token_page([1, 2], Params({"NextToken": "bm90LW91cnM"}), 1)
    assert refused.value.code == "InvalidParameter.NextToken"


def test_paginate_in_token_mode_uses_the_same_pages() -> None:
    items = list(range(5))
    page, counters = paginate(items, Params({"MaxResults": "2"}))
    assert page == [0, 1] and counters["TotalCount"] == 5 and counters["PageNumber"] == 1
    assert paginate(items, Params({"MaxResults": "2", "NextToken": counters["NextToken"]}))[0] == [2, 3]


def test_a_json_parameter_is_parsed_absent_or_refused_with_the_actions_error() -> None:
    error = ApiError("InvalidParameter.Tags", 'The specified parameter "Tags" is not valid.')
    assert Params({"Tags": '{"team": "web"}'}).json("Tags", dict, error) == {"team": "web"}
    assert Params({}).json("Tags", dict, error) is None
    assert Params({"Tags": ""}).json("Tags", dict, error) is None
    for bad in ("{not json", '["a list"]'):
        with pytest.raises(ApiError) as refused:
            Params({"Tags": bad}).json("Tags", dict, error)
        assert refused.value is error
