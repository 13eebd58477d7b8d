"""Wire protocol: signature v1, common-parameter checks, routing, error envelope (docs/api-contract.md#wire-protocol, #api-error-codes)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkecs.request.v20140526.DescribeRegionsRequest import DescribeRegionsRequest

from emulator import protocol
from emulator.protocol import percent_encode, sign, string_to_sign
from emulator.testing import EmulatorProcess

from emulator_helpers import KEY_ID, SECRET


def request(emu: EmulatorProcess, client: AcsClient, action: str, method: str = "POST") -> CommonRequest:
    req = CommonRequest()
    req.set_domain(emu.endpoint.removeprefix("http://"))
    req.set_version("2014-05-26")
    req.set_action_name(action)
    req.set_method(method)
    return req


def raw_call(emu: EmulatorProcess, params: dict[str, str], secret: str = SECRET,
             method: str = "GET") -> tuple[int, dict[str, Any]]:
    """Sign and send by hand (to control Timestamp and nonce exactly)."""
    params = {"Format": "JSON", "Version": "2014-05-26", "AccessKeyId": KEY_ID, "SignatureMethod": "HMAC-SHA1",
              "SignatureVersion": "1.0", "SignatureNonce": uuid.uuid4().hex,
              "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **params}
    params["Signature"] = sign(secret, string_to_sign(method, params))
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
    req = urllib.request.Request(f"{emu.endpoint}/?{query}", method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_good_signature_get_and_post(emu: EmulatorProcess, client: AcsClient) -> None:
    for method in ("GET", "POST"):
        body = json.loads(client.do_action_with_exception(request(emu, client, "DescribeRegions", method)))
        assert body["RequestId"] == body["RequestId"].upper() and len(body["RequestId"]) == 36
        assert [r["RegionId"] for r in body["Regions"]["Region"]] == ["cn-hangzhou", "cn-shanghai"]


def test_body_params_are_signed(emu: EmulatorProcess, client: AcsClient) -> None:
    req = request(emu, client, "DescribeInstances")
    req.add_body_params("RegionId", "cn-shanghai")
    body = json.loads(client.do_action_with_exception(req))
    assert [i["InstanceName"] for i in body["Instances"]["Instance"]] == ["sh-1"]


def test_wrong_secret_is_reported_by_the_sdk(emu: EmulatorProcess) -> None:
    bad = AcsClient(KEY_ID, "not-the-secret", "cn-hangzhou", proxy={"http": "", "https": ""})
    generated = DescribeRegionsRequest()
    generated.set_endpoint(emu.endpoint.removeprefix("http://"))
    with pytest.raises(ServerException) as exc:
        bad.do_action_with_exception(generated)
    # a generated request keeps its string-to-sign: the SDK finds ours equal (split on ':') and rewrites the code
    assert exc.value.get_error_code() == "InvalidAccessKeySecret"
    assert exc.value.get_http_status() == 400
    with pytest.raises(ServerException) as exc:
        bad.do_action_with_exception(request(emu, bad, "DescribeRegions"))
    # CommonRequest signs an inner request, so the SDK has nothing to compare: the code stays as sent
    assert exc.value.get_error_code() == "SignatureDoesNotMatch"


def test_signature_mismatch_envelope(emu: EmulatorProcess) -> None:
    status, body = raw_call(emu, {"Action": "DescribeRegions"}, secret="wrong")
    assert status == 400 and body["Code"] == "SignatureDoesNotMatch"
    assert body["Message"].startswith("Specified signature is not matched with our calculation. "
                                      "server string to sign is:GET&%2F&AccessKeyId%3D")
    assert body["Message"].count(":") == 1
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_unknown_access_key(emu: EmulatorProcess) -> None:
    other = AcsClient("LTAIunknown", SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})
    with pytest.raises(ServerException) as exc:
        other.do_action_with_exception(request(emu, other, "DescribeRegions"))
    assert exc.value.get_error_code() == "InvalidAccessKeyId.NotFound"
    assert exc.value.get_http_status() == 404
    assert exc.value.get_error_msg() == "Specified access key is not found."


def test_expired_timestamp_and_replayed_nonce(emu: EmulatorProcess) -> None:
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 16 * 60))
    status, body = raw_call(emu, {"Action": "DescribeRegions", "Timestamp": old})
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Expired")
    nonce = uuid.uuid4().hex
    assert raw_call(emu, {"Action": "DescribeRegions", "SignatureNonce": nonce})[0] == 200
    status, body = raw_call(emu, {"Action": "DescribeRegions", "SignatureNonce": nonce})
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_unknown_action_and_missing_region(emu: EmulatorProcess) -> None:
    status, body = raw_call(emu, {"Action": "NoSuchThing"})
    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")
    status, body = raw_call(emu, {"Action": "DescribeInstances"})
    assert (status, body["Code"]) == (400, "MissingParameter")
    status, body = raw_call(emu, {"Action": "DescribeInstances", "RegionId": "us-nowhere-1"})
    assert (status, body["Code"]) == (404, "InvalidRegionId.NotFound")


def test_injected_fault_and_counters(emu: EmulatorProcess, client: AcsClient) -> None:
    emu.reset_counters()
    emu.faults(emu.error("DescribeRegions", times=1, code="ServiceUnavailable"))
    try:
        req = request(emu, client, "DescribeRegions")
        with pytest.raises(ServerException) as exc:
            client.do_action_with_exception(req)  # CommonRequest without product: the SDK does not retry
        assert exc.value.get_error_code() == "ServiceUnavailable"
        assert json.loads(client.do_action_with_exception(request(emu, client, "DescribeRegions")))["Regions"]
    finally:
        emu.clear_faults()
    assert emu.counters() == {"DescribeRegions": 2}


def test_nonce_cache_forgets_a_nonce_once_its_window_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(protocol, "time", SimpleNamespace(time=lambda: now[0]))
    cache = protocol.NonceCache(window=60)
    assert cache.check_and_add("a") and not cache.check_and_add("a")
    for second in range(59):  # a busy minute: every other nonce stays remembered alongside "a"
        now[0] = 1000.0 + second
        assert cache.check_and_add(f"n{second}")
    now[0] = 1059.5
    assert not cache.check_and_add("a") and not cache.check_and_add("n0")
    now[0] = 1060.0  # "a" has aged out of the window; "n0" (seen at 1000) too, "n1" not yet
    assert cache.check_and_add("a") and cache.check_and_add("n0") and not cache.check_and_add("n1")
    assert not cache.check_and_add("a")  # and once seen again, it is a replay again
