"""Endpoints without an ``endpoint`` option: the vendor's endpoint data from aliyun-python-sdk-ecs, as its SDK resolves.

The collection computes the host itself (so the SDK never calls the Location service), which is only right while it
agrees with the SDK's own rule resolver fed with the ECS SDK's ``endpoint_map``; these tests ask that resolver.
"""

from __future__ import annotations

import pytest
from aliyunsdkcore.endpoint.endpoint_resolver_rules import EndpointResolverRules
from aliyunsdkcore.endpoint.resolver_endpoint_request import ResolveEndpointRequest
from aliyunsdkecs.endpoint import EndpointData

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import default_domain

ORDINARY = ("cn-beijing", "ap-southeast-1", "eu-central-1", "us-west-1", "cn-shanghai")


def sdk_resolves(product: str, region: str, network: str = "public", data: EndpointData | None = None) -> str:
    """The host the SDK's rule resolver gives for ``region`` (the regional rule plus the product's map)."""
    request = ResolveEndpointRequest(region, product, None, None)
    request.endpoint_map = data.endpoint_map if data else {}
    request.endpoint_regional = data.endpoint_regional if data else "regional"
    request.request_network = network
    return EndpointResolverRules().resolve(request)


@pytest.mark.parametrize("region", sorted(EndpointData().endpoint_map) + list(ORDINARY))
def test_ecs_host_is_the_one_the_sdk_resolves(region: str) -> None:
    assert default_domain("ecs", region) == sdk_resolves("ecs", region, data=EndpointData())


def test_special_regions_are_not_the_regional_rule() -> None:
    """The data is used, not just consulted: the two documented exceptions differ from the plain rule."""
    assert default_domain("ecs", "cn-hangzhou") == "ecs-cn-hangzhou.aliyuncs.com"
    assert default_domain("ecs", "cn-wuhan") == "ecs.aliyuncs.com"
    assert default_domain("ecs", "cn-beijing") == "ecs.cn-beijing.aliyuncs.com"


@pytest.mark.parametrize("region", ["cn-hangzhou", "cn-wuhan", "cn-beijing"])
def test_vpc_endpoints_follow_the_rule_as_the_sdk_does(region: str) -> None:
    assert default_domain("ecs", region, vpc=True) == sdk_resolves("ecs", region, "vpc", EndpointData())
    assert default_domain("oos", region, vpc=True) == sdk_resolves("oos", region, "vpc")


@pytest.mark.parametrize("region", ["cn-hangzhou", "cn-wuhan", "ap-southeast-1"])
def test_oos_uses_the_regional_rule(region: str) -> None:
    """OOS has no endpoint map (its SDK is not a requirement): oos.<region>.aliyuncs.com everywhere."""
    assert default_domain("oos", region) == sdk_resolves("oos", region) == f"oos.{region}.aliyuncs.com"


class CapturingAcsClient:
    """Stands in for AcsClient: keeps the keyword arguments it was built with."""

    built: list[dict] = []

    def __init__(self, **kwargs) -> None:
        CapturingAcsClient.built.append(kwargs)

    def append_user_agent(self, *_args) -> None:
        pass


@pytest.mark.parametrize("no_proxy, vpc, bypassed", [
    (".aliyuncs.com", False, True),          # both ECS and OOS hosts covered
    ("ecs-cn-hangzhou.aliyuncs.com", False, False),  # OOS is not: the proxy stays for the shared client
    ("aliyuncs.com", True, True),            # VPC endpoints
    ("example.com", False, False),
])
def test_no_proxy_covers_the_default_endpoints_too(monkeypatch, no_proxy, vpc, bypassed) -> None:
    """The SDK ignores NO_PROXY once HTTPS_PROXY is set: the collection applies it, for the vendor's hosts as well
    as for an explicit endpoint (a controller in a VPC reaching ecs-vpc.* directly, everything else by proxy)."""
    from ansible_collections.alicloud.ecs.plugins.module_utils.api import client as client_mod

    env = {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": no_proxy}
    if vpc:
        env["ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"] = "true"
    settings = client_mod.resolve_settings("id", "secret", region="cn-hangzhou", env=env)
    assert settings.vpc_endpoint is vpc
    monkeypatch.setattr(client_mod, "AcsClient", CapturingAcsClient)
    CapturingAcsClient.built.clear()
    client_mod.CloudClient(settings, env=env)._sdk_client()
    assert CapturingAcsClient.built[0]["proxy"] == ({"http": "", "https": ""} if bypassed else None)
