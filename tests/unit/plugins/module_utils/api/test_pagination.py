"""The two paging loops every list call uses, against a fake client that serves pages: every item once and in
order, the parameters of each request, where each loop stops, and that nothing is fetched before it is read."""

from __future__ import annotations

import typing as t

from ansible_collections.alicloud.ecs.plugins.module_utils.api.pagination import paginate, paginate_numbered


class TokenPages:
    """A NextToken-paged action: page n answers with the token of page n + 1, the last page with none."""

    def __init__(self, pages: list[list[str]], last_token: t.Any = "") -> None:
        self.pages = pages
        self.last_token = last_token
        self.requests: list[dict[str, t.Any]] = []

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        self.requests.append({"action": action, **params})
        index = int(params["NextToken"] or 0)
        more = index + 1 < len(self.pages)
        return {"Items": {"Item": self.pages[index]}, "NextToken": str(index + 1) if more else self.last_token}


class NumberedPages:
    """A PageNumber-paged action reporting ``total`` (which may disagree with what it really holds)."""

    def __init__(self, items: list[str], total: int | None) -> None:
        self.items = items
        self.total = total
        self.requests: list[dict[str, t.Any]] = []

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        self.requests.append({"action": action, **params})
        start = (params["PageNumber"] - 1) * params["PageSize"]
        answer: dict[str, t.Any] = {"Items": self.items[start:start + params["PageSize"]]}
        if self.total is not None:
            answer["TotalCount"] = self.total
        return answer


def items(response: dict[str, t.Any]) -> list[str]:
    return response["Items"]["Item"]


def test_next_token_pages_yield_every_item_in_order_and_pass_the_parameters() -> None:
    client = TokenPages([["a", "b"], ["c", "d"], ["e"]])
    got = list(paginate(client, "DescribeThings", items, 2, RegionId="cn-hangzhou"))
    assert got == ["a", "b", "c", "d", "e"]
    assert client.requests == [
        {"action": "DescribeThings", "MaxResults": 2, "NextToken": None, "RegionId": "cn-hangzhou"},
        {"action": "DescribeThings", "MaxResults": 2, "NextToken": "1", "RegionId": "cn-hangzhou"},
        {"action": "DescribeThings", "MaxResults": 2, "NextToken": "2", "RegionId": "cn-hangzhou"},
    ]


def test_a_missing_or_null_next_token_ends_the_list() -> None:
    for last in ("", None):
        client = TokenPages([["a"], ["b"]], last_token=last)
        assert list(paginate(client, "DescribeThings", items, 50)) == ["a", "b"]
        assert len(client.requests) == 2


def test_an_empty_first_page_is_an_empty_list() -> None:
    client = TokenPages([[]])
    assert list(paginate(client, "DescribeThings", items, 50)) == []
    assert len(client.requests) == 1


def test_pages_are_fetched_only_as_they_are_read() -> None:
    """A caller that stops early (say, after the first match) costs no further calls."""
    client = TokenPages([["a", "b"], ["c"]])
    pages = paginate(client, "DescribeThings", items, 2)
    assert client.requests == []
    assert next(pages) == "a" and next(pages) == "b"
    assert len(client.requests) == 1


def test_numbered_pages_stop_when_total_count_items_were_seen() -> None:
    client = NumberedPages(["a", "b", "c", "d", "e"], total=5)
    got = list(paginate_numbered(client, "DescribeCloudAssistantStatus", lambda response: response["Items"], 2,
                                 InstanceId=["i-1"]))
    assert got == ["a", "b", "c", "d", "e"]
    assert [(request["PageNumber"], request["PageSize"]) for request in client.requests] == [(1, 2), (2, 2), (3, 2)]
    assert all(request["InstanceId"] == ["i-1"] for request in client.requests)


def test_numbered_pages_stop_on_an_empty_page_when_the_total_overstates() -> None:
    client = NumberedPages(["a", "b", "c"], total=10)
    assert list(paginate_numbered(client, "DescribeInstancesFullStatus", lambda response: response["Items"], 2)) == [
        "a", "b", "c"]
    assert [request["PageNumber"] for request in client.requests] == [1, 2, 3]


def test_numbered_pages_without_a_total_count_read_one_page() -> None:
    client = NumberedPages(["a", "b", "c"], total=None)
    assert list(paginate_numbered(client, "DescribeThings", lambda response: response["Items"], 2)) == ["a", "b"]
    assert len(client.requests) == 1
