# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one API client of the collection: settings resolution, the SDK, and ``call()``.

Modules, the connection, the inventory and the action plugins all go through here, so credentials,
endpoints, retries and error translation behave identically everywhere. The endpoint override is the
only switch between the real cloud and the emulator.
"""

from __future__ import annotations

import ipaddress
from contextlib import nullcontext
import json
import logging
import os
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from .call_slots import DEFAULT_LIMIT as DEFAULT_API_CONCURRENCY, shared as shared_slots
from .contact import Contacts, process_contacts
from ..auth.credential_chain import CredentialOptions, first_env, resolve_credentials, role_spec
from ..auth.credentials import Credential, CredentialProvider
from .errors import CloudError, ConfigError
from .redaction import scrub, unreachable_reason
from .retries import DEFAULT_BUDGET, NO_RETRY, RetryPolicy, is_expired_token

try:
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
    from aliyunsdkecs.endpoint import EndpointData as EcsEndpointData
    HAS_SDK = True
    SDK_IMPORT_ERROR: Exception | None = None
    # The SDK logs every failed request with its signed URL (STS token included) at ERROR level. Ansible's
    # log_path sets up the root logger, which would write those lines to the log file: keep them in the SDK.
    logging.getLogger("aliyunsdkcore").propagate = False
except ImportError as import_error:  # pragma: no cover - exercised only without the SDK
    HAS_SDK = False
    SDK_IMPORT_ERROR = import_error

# galaxy.yml is the one source of the version; this copy rides in the user agent. Modules run as AnsiballZ payloads
# that carry module_utils but no galaxy.yml or MANIFEST.json, so it cannot be read at run time, and a generated file
# would need a build step ``ansible-galaxy collection build`` does not run: a unit test fails when the two differ.
COLLECTION_VERSION = "0.1.0"
API_VERSIONS = {"ecs": "2014-05-26", "oos": "2019-06-01"}
READ_ONLY_PREFIXES = ("Describe", "List", "Get")
# Longer values (file content, scripts) ride in the form body: the signature covers them there too, the URL
# stays short for gateways that cap it, and the SDK percent-encodes them three times instead of five.
BODY_PARAM_BYTES = 1024

# The optional diagnostics hook: log(verbosity, message), verbosity as ansible's -v count (3: retries, 4: API calls).
LogHook = t.Callable[[int, str], None]
TRACE_VERBOSITY = 4
PROGRESS_VERBOSITY = 1  # long transfers and long-running commands
INVOCATION_VERBOSITY = 3
RETRY_VERBOSITY = 3
OUTAGE_VERBOSITY = 0  # a call still failing after 10 s, every 10 s: shown without -v, the run is stalled
NAMED_INSTANCES = 5  # an invocation line names this many instances, then counts the rest

# Where each setting may come from, in order of preference after the explicit option (credentials: see
# credential_chain.py, which owns their order).
ENV_REGION = ("ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION")
ENV_ENDPOINT = ("ALIBABA_CLOUD_ECS_ENDPOINT", "ALICLOUD_ECS_ENDPOINT")
ENV_RETRY_BUDGET = ("ANSIBLE_ALICLOUD_RETRY_BUDGET",)
ENV_CONNECT_TIMEOUT = ("ANSIBLE_ALICLOUD_CONNECT_TIMEOUT",)
ENV_READ_TIMEOUT = ("ANSIBLE_ALICLOUD_READ_TIMEOUT",)
ENV_API_CONCURRENCY = ("ANSIBLE_ALICLOUD_API_CONCURRENCY",)
# The SDK's code for a request that got no HTTP answer at all (refused, DNS, TLS, timeouts).
UNREACHABLE_CODE = "SDK.HttpError"
# An endpoint this run has never reached gets this long, not the outage budget (contact.py says why): another
# attempt is made only when it can end (connect_timeout included) within these seconds of the call's start.
FIRST_CONTACT_SECONDS = 10.0


class Json:
    """Marks a parameter the API wants as a JSON string (the SDK would send a Python repr)."""

    def __init__(self, value: t.Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return json.dumps(self.value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Settings:
    """Everything needed to reach the API. The credentials are a provider: temporary ones are renewed
    before they expire, so one Settings serves a play of any length; no secret appears in a repr."""

    credentials: CredentialProvider
    region: str = ""
    endpoint: str | None = None
    connect_timeout: int = 5
    read_timeout: int = 10
    retry_budget: float = DEFAULT_BUDGET  # seconds a call that is safe to repeat keeps being retried
    api_concurrency: int = DEFAULT_API_CONCURRENCY  # calls in flight at once per ansible run (0: no cap)
    vpc_endpoint: bool = False

    @property
    def access_key_id(self) -> str:
        """The AccessKey ID signing now (for messages and cache keys; never the secret)."""
        return self.credentials.current().access_key_id


def resolve_settings(
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    security_token: str | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    connect_timeout: int | None = None,
    read_timeout: int | None = None,
    env: t.Mapping[str, str] | None = None,
    require_region: bool = True,
    retry_budget: float | None = None,
    api_concurrency: int | None = None,
    profile: str | None = None,
    profile_file: str | None = None,
    assume_role_arn: str | None = None,
    assume_role_session_name: str | None = None,
    assume_role_duration: int | None = None,
    assume_role_external_id: str | None = None,
    assume_role_policy: str | None = None,
    sts_endpoint: str | None = None,
    sts_region: str | None = None,
    vpc_endpoint: bool | None = None,
    inherited: CredentialProvider | None = None,
) -> Settings:
    """Credentials in the order credential_chain.py defines; region and endpoint from the option, then the
    ALIBABA_CLOUD_* variables, then the older ALICLOUD_* ones (the region last from the profile used)."""
    env = os.environ if env is None else env
    options = CredentialOptions(
        access_key_id, access_key_secret, security_token, profile, profile_file,
        role_spec(assume_role_arn, assume_role_session_name, assume_role_duration, assume_role_external_id,
                  assume_role_policy),
        sts_endpoint, sts_region, vpc_endpoint)
    endpoint = endpoint or first_env(ENV_ENDPOINT, env)
    if endpoint:
        split_endpoint(endpoint)  # validates early
    for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1 second, got {value}")
    if retry_budget is not None and retry_budget < 0:
        raise ConfigError(f"retry_budget must be 0 seconds (no retries) or more, got {retry_budget}")
    if api_concurrency is not None and api_concurrency < 0:
        raise ConfigError(f"api_concurrency must be 0 (no cap) or more calls, got {api_concurrency}")
    credentials = resolve_credentials(options, env, inherited)
    region = region or first_env(ENV_REGION, env) or credentials.region or ""
    if require_region and not region:
        raise ConfigError("No region: set the region option or ALIBABA_CLOUD_REGION_ID.")
    return Settings(
        credentials=credentials,
        region=region,
        endpoint=endpoint,
        connect_timeout=connect_timeout or 5,
        read_timeout=read_timeout or 10,
        retry_budget=DEFAULT_BUDGET if retry_budget is None else float(retry_budget),
        api_concurrency=DEFAULT_API_CONCURRENCY if api_concurrency is None else int(api_concurrency),
        vpc_endpoint=bool(options.sts(env).vpc),
    )


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """('http'|'https', 'host[:port]') from 'http://host:port', 'host:port' or 'host'.

    The port stays in the host string so the SDK (whose own port defaults to 80) never appends it twice.
    """
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"endpoint must look like http(s)://host[:port], got {endpoint!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(f"endpoint must not carry a path or query, got {endpoint!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise ConfigError(f"endpoint has an invalid port: {endpoint!r}") from error
    return parts.scheme, parts.netloc


def vendor_endpoints(product: str) -> t.Mapping[str, str]:
    """The vendor's public endpoint per region for ``product``, as its SDK ships them (aliyun-python-sdk-ecs's
    endpoint data: about 35 regions whose host is not the regional rule, e.g. cn-hangzhou → ecs-cn-hangzhou,
    cn-wuhan → ecs.aliyuncs.com). The OOS SDK is not a requirement and its data is empty: OOS uses the rule."""
    if product != "ecs" or not HAS_SDK:
        return {}
    return EcsEndpointData().endpoint_map


def default_domain(product: str, region: str, vpc: bool = False) -> str:
    """The endpoint the vendor's SDK would resolve without a network call: its data for the region, else the
    regional rule ``<product>.<region>.aliyuncs.com``; VPC endpoints (controllers without internet access) always
    follow the rule ``<product>-vpc.<region>.aliyuncs.com``, as the SDK's do. Computed here so the SDK never asks
    the Location service."""
    if vpc:
        return f"{product}-vpc.{region}.aliyuncs.com"
    return vendor_endpoints(product).get(region) or f"{product}.{region}.aliyuncs.com"


def bypasses_proxy(host: str, env: t.Mapping[str, str]) -> bool:
    """True for loopback hosts and hosts NO_PROXY covers (the SDK itself ignores NO_PROXY)."""
    hostname = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    try:
        if ipaddress.ip_address(hostname).is_loopback:
            return True
    except ValueError:
        if hostname == "localhost":
            return True
    no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
    for entry in (item.strip().lstrip(".") for item in no_proxy.split(",")):
        if entry == "*" or (entry and (hostname == entry or hostname.endswith("." + entry))):
            return True
    return False


def flatten_params(params: t.Mapping[str, t.Any]) -> dict[str, str]:
    """Turn Python values into the RPC wire form: lists → Name.N, dicts → Name.Key, bools → true/false.

    None is dropped (the SDK would send the string "None"); Json values become compact JSON strings.
    """
    flat: dict[str, str] = {}

    def add(key: str, value: t.Any) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value, 1):
                add(f"{key}.{index}", item)
        elif isinstance(value, dict):
            for sub_key, item in value.items():
                add(f"{key}.{sub_key}", item)
        else:
            flat[key] = str(value)

    for name, value in params.items():
        add(name, value)
    return flat


def _readable_message(code: str, message: str) -> str:
    """The server's message, minus what only hides the point.

    A signature mismatch echoes the server's whole string-to-sign (every parameter, a whole script
    for RunCommand); what an operator needs is that the secret does not belong to the key.
    """
    if code == "SignatureDoesNotMatch":
        return ("the request signature does not match: the AccessKey secret is wrong for this "
                "AccessKey ID (or the request was altered on its way)")
    return message


def _instances_named(params: t.Mapping[str, str]) -> str:
    """The InstanceId.N values of a request, the first few by name."""
    ids = [value for key, value in params.items() if key.startswith("InstanceId.")]
    named = ", ".join(ids[:NAMED_INSTANCES])
    return f"{named} and {len(ids) - NAMED_INSTANCES} more" if len(ids) > NAMED_INSTANCES else (named or "no instance")


class CloudClient:
    """One region's view of the API. Cheap to create: the SDK client is built on first use."""

    def __init__(self, settings: Settings, region: str | None = None, retry: RetryPolicy | None = None,
                 env: t.Mapping[str, str] | None = None, log: LogHook | None = None,
                 contacts: Contacts | None = None) -> None:
        if not HAS_SDK:
            raise ConfigError(f"aliyun-python-sdk-core and aliyun-python-sdk-ecs are required: {SDK_IMPORT_ERROR}")
        self.settings = settings
        self.region = region or settings.region
        self.retry = retry or RetryPolicy(settings.retry_budget)
        self.log = log
        # Which endpoints this ansible run has reached (the first contact fails fast, an outage is waited out).
        self.contacts = process_contacts() if contacts is None else contacts
        self._env = os.environ if env is None else env
        self._sdk: t.Any = None
        self._sdk_credential: Credential | None = None

    def for_region(self, region: str) -> CloudClient:
        """A client for another region with the same credentials, endpoint, retry policy and log hook."""
        return CloudClient(self.settings, region, self.retry, self._env, self.log, self.contacts)

    def say(self, verbosity: int, message: str) -> None:
        """Hand a diagnostics line to the log hook, with any secret value masked."""
        if self.log is not None:
            self.log(verbosity, scrub(message, self._secrets()))

    def _secrets(self) -> tuple[str | None, ...]:
        current = self.settings.credentials.current()
        return (current.access_key_secret, current.security_token)

    def _endpoint_url(self, product: str) -> str:
        """scheme://host[:port] the requests of ``product`` go to (no path, no query)."""
        if self.settings.endpoint:
            protocol, domain = split_endpoint(self.settings.endpoint)
        else:
            protocol, domain = "https", default_domain(product, self.region, self.settings.vpc_endpoint)
        return f"{protocol}://{domain}"

    def _hosts(self) -> list[str]:
        """Every host this client's calls go to (the SDK client is shared by ECS and OOS calls)."""
        if self.settings.endpoint:
            return [split_endpoint(self.settings.endpoint)[1]]
        region = self.region or "cn-hangzhou"
        return [default_domain(product, region, self.settings.vpc_endpoint) for product in API_VERSIONS]

    def _sdk_client(self) -> t.Any:
        """The SDK client, rebuilt whenever the credential provider has renewed its credentials."""
        current = self.settings.credentials.current()
        if self._sdk is None or (self._sdk_credential is not None and current is not self._sdk_credential):
            settings = self.settings
            if current.security_token:
                credential = StsTokenCredential(
                    current.access_key_id, current.access_key_secret, current.security_token)
            else:
                credential = AccessKeyCredential(current.access_key_id, current.access_key_secret)
            proxy = {"http": "", "https": ""} if all(bypasses_proxy(host, self._env) for host in self._hosts()) else None
            self._sdk = AcsClient(
                region_id=self.region or "cn-hangzhou",
                credential=credential,
                auto_retry=False,
                connect_timeout=settings.connect_timeout,
                timeout=settings.read_timeout,
                proxy=proxy,
            )
            self._sdk.append_user_agent("alicloud.ecs", COLLECTION_VERSION)
            self._sdk_credential = current
        return self._sdk

    def _request(self, action: str, product: str, params: dict[str, str]) -> t.Any:
        protocol, domain = self._endpoint_url(product).split("://", 1)
        request = CommonRequest(domain=domain, version=API_VERSIONS[product], action_name=action)
        request.set_method("POST")
        request.set_protocol_type(protocol)
        request.set_accept_format("JSON")
        if self.region and "RegionId" not in params:
            request.add_query_param("RegionId", self.region)
        for key, value in params.items():
            if len(value) > BODY_PARAM_BYTES:
                request.add_body_params(key, value)
            else:
                request.add_query_param(key, value)
        return request

    def call(self, action: str, *, product: str = "ecs", retry: bool | None = None,
             budget: float | None = None, **params: t.Any) -> dict[str, t.Any]:
        """Call ``action`` and return the decoded JSON body, or raise CloudError.

        Retries happen only for calls that are safe to repeat: reads, and writes that carry a
        ClientToken (the service then answers a repeat with the first result). ``retry`` overrides;
        ``budget`` replaces the policy's seconds of retrying for this one call. An endpoint this ansible run has
        never reached is given FIRST_CONTACT_SECONDS instead (contact.py).
        """
        flat = flatten_params(params)
        safe = retry if retry is not None else (
            action.startswith(READ_ONLY_PREFIXES) or "ClientToken" in flat)
        policy = NO_RETRY if not safe else self.retry if budget is None else self.retry.within(budget)
        url = self._endpoint_url(product)
        started = policy.now()
        attempts = 0

        def note_retry(error: CloudError, attempt: int, pause: float) -> None:
            self.say(RETRY_VERBOSITY, f"{action} attempt {attempt} failed with {error.code}"
                                      f"{f' (request id {error.request_id})' if error.request_id else ''}; "
                                      f"retrying in {pause:.1f}s")

        def first_contact_over(error: CloudError, elapsed: float, pause: float) -> bool:
            too_late = elapsed + pause + self.settings.connect_timeout > FIRST_CONTACT_SECONDS
            return error.code == UNREACHABLE_CODE and not self.contacts.known(url) and too_late

        def note_wait(error: CloudError, seconds: float) -> None:
            if self.log is None or not self.contacts.turn_to_report(url):
                return
            self.say(OUTAGE_VERBOSITY, f"{action} has failed for {seconds:.0f} s ({error.code}: {error.message}); "
                                       f"retrying for up to {max(0.0, policy.budget - seconds):.0f} s more "
                                       f"(retry_budget {policy.budget:g} s)")

        def attempt() -> dict[str, t.Any]:
            nonlocal attempts
            attempts += 1
            return self._call_renewing(action, product, flat, attempts - 1)

        try:
            body = policy.run(attempt, note_retry, first_contact_over, note_wait)
        except CloudError as error:
            if error.code == UNREACHABLE_CODE and not self.contacts.known(url):
                raise self._never_reached(error, attempts, policy.now() - started) from None
            raise
        if self.log is not None and isinstance(body, dict) and body.get("InvokeId"):
            self.say(INVOCATION_VERBOSITY, f"{action} invocation {body['InvokeId']} on "
                                           f"{_instances_named(flat)} in {self.region or '-'}")
        return body

    def _call_renewing(self, action: str, product: str, params: dict[str, str], retry: int) -> dict[str, t.Any]:
        """One call; if the API refuses its STS token as expired, renew the credentials and repeat it once.

        Our clock decides when to renew, the API's when a token has expired: a controller clock running behind,
        or a token expiring while the request travels, gets the refusal although the set looked fresh. Any
        action may be repeated here, as the refused request never ran.
        """
        provider = self.settings.credentials
        used = provider.current()  # the set this call signs with (the SDK client follows the provider)
        try:
            return self._call_once(action, product, params, retry)
        except CloudError as error:
            if not is_expired_token(error):
                raise
            rejected, first = used, error
        if not provider.renew(rejected):
            raise self._expired(first, "they are fixed and cannot be renewed: supply a fresh STS token, or let the "
                                       "collection obtain one (assume_role_* options, a RamRoleArn profile)"
                                if not provider.renewable else
                                "renewing them gave the same token again; check the controller's clock (NTP)")
        self.say(RETRY_VERBOSITY, f"{action}: the security token was refused as expired; renewed the credentials "
                                  f"from {provider.description}, repeating the call once")
        try:
            return self._call_once(action, product, params, retry)
        except CloudError as error:
            if is_expired_token(error):
                raise self._expired(error, "the fresh ones were refused as expired too: the controller's clock is "
                                           "probably far off the service's; check it (NTP)") from None
            raise

    @staticmethod
    def _never_reached(error: CloudError, attempts: int, seconds: float) -> CloudError:
        """The failure of a first contact, saying why it was not waited out like an outage."""
        return CloudError(error.code, f"{error.message}; gave up after {attempts} attempt(s) in {seconds:.1f} s, since "
                                      "this run has not reached that endpoint yet (an outage is waited out only once "
                                      "it has answered): check the endpoint, the region and the network (proxy, DNS, "
                                      "firewall)", action=error.action, request_id=error.request_id,
                          http_status=error.http_status, access_key_id=error.access_key_id)

    def _expired(self, error: CloudError, why: str) -> CloudError:
        """The refusal of an expired token, saying which credentials and what was tried."""
        return CloudError(error.code, f"{error.message} The credentials from {self.settings.credentials.description} "
                                      f"were refused as expired; {why}.", action=error.action,
                          request_id=error.request_id, http_status=error.http_status,
                          access_key_id=error.access_key_id)

    def _call_once(self, action: str, product: str, params: dict[str, str], retry: int = 0) -> dict[str, t.Any]:
        """One request; the log hook gets one line for it (action, request id, HTTP status, duration, retry)."""
        slot = shared_slots(self.settings.api_concurrency).held() if self.settings.api_concurrency else nullcontext()
        with slot:  # the time waited for a slot is not the call's: its duration starts once it holds one
            started = time.monotonic()
            try:
                body = self._send(action, product, params)
            except CloudError as error:
                self._trace(action, started, retry, error.request_id, error.http_status, error.code)
                raise
        self._trace(action, started, retry, body.get("RequestId") if isinstance(body, dict) else None, None, None)
        return body

    def _trace(self, action: str, started: float, retry: int, request_id: str | None, http_status: int | None,
               code: str | None) -> None:
        if self.log is None:
            return
        # The SDK hands back only 2xx answers as success, so a success's exact status is not known here.
        outcome = f"{code}, HTTP {http_status or 'none'}" if code else "HTTP 2xx"
        self.say(TRACE_VERBOSITY, f"API {action} {self.region or '-'}: {outcome}, request id {request_id or 'none'}, "
                                  f"{time.monotonic() - started:.3f} s, retry {retry}")

    def _send(self, action: str, product: str, params: dict[str, str]) -> dict[str, t.Any]:
        """The decoded answer, or a CloudError whose text holds no secret, token or signed URL."""
        request = self._request(action, product, params)
        secrets = self._secrets()
        try:
            body = self._sdk_client().do_action_with_exception(request)
        except ServerException as error:
            self.contacts.note(self._endpoint_url(product))  # it answered, if only to refuse
            raise CloudError(
                error.get_error_code(),
                scrub(_readable_message(error.get_error_code(), error.get_error_msg()), secrets), action=action,
                request_id=error.get_request_id(), http_status=error.get_http_status(),
                access_key_id=self.settings.access_key_id) from None
        except ClientException as error:
            if error.get_error_code() == "SDK.HttpError":
                # The SDK's text is the HTTP stack's, with the whole signed URL in it: keep only where and why.
                reason = unreachable_reason(
                    error.get_error_msg(), self.settings.connect_timeout, self.settings.read_timeout)
                message = f"cannot reach {self._endpoint_url(product)}: {reason}"
            else:
                message = scrub(error.get_error_msg(), secrets)
            raise CloudError(error.get_error_code(), message, action=action,
                             access_key_id=self.settings.access_key_id) from None
        self.contacts.note(self._endpoint_url(product))
        try:
            return json.loads(body)
        except ValueError as error:
            raise CloudError("InvalidResponse", f"response is not JSON: {error}", action=action,
                             access_key_id=self.settings.access_key_id) from None
