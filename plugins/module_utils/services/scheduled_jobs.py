# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled jobs as code: a job is a Cloud Assistant invocation that carries two tags of its own.

``alicloud-ecs:job=<name>`` says which job an invocation belongs to; ``alicloud-ecs:job-hash`` holds a
digest of the definition it was created from. Finding, comparing and replacing jobs is then a matter of
DescribeInvocations by tag, with no state kept anywhere but in the cloud itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import typing as t
from dataclasses import dataclass, field

from ..api.client import CloudClient
from .instances import describe_instances
from ..engine.invocations_api import (
    describe_invocation, describe_invocations, encode_content, invoke_command, invoke_instances, run_command,
    stop_invocation,
)
from ..api.pagination import paginate
from .schedules import Schedule, check_at_future, parse_schedule

JOB_TAG = "alicloud-ecs:job"
HASH_TAG = "alicloud-ecs:job-hash"
LIVE_STATUSES = frozenset({"Pending", "Scheduled", "Running"})   # batch InvocationStatus of a job still on (docs/api-contract.md#invocation-statuses)
STOPPED_INSTANCE_STATUSES = frozenset({"Stopping", "Cancelled", "Terminated"})
PAGE = 50
MAX_NAME = 128              # RunCommand Name and the tag value both stop at 128
MAX_INSTANCES = 100         # docs/api-contract.md#runcommand InstanceId.N
MAX_TAGS_RUN = 20           # docs/api-contract.md#runcommand ResourceTag.N
MAX_TAGS_INVOKE = 10        # docs/api-contract.md#invokecommand ResourceTag.N "≤10 per doc"
MAX_PARAMETERS = 10         # docs/api-contract.md#command-parameters Parameters keys
MAX_CONTENT_RUN = 24576     # docs/api-contract.md#runcommand Base64 content + parameters, KeepCommand=false
MAX_CONTENT_INVOKE = 18432  # docs/api-contract.md#invokecommand (the saved content counts too; only the parameters are known here)
MIN_TIMEOUT, MAX_TIMEOUT = 10, 86400  # ⚠ the maximum is not in the API reference (docs/api-contract.md#runcommand)


@dataclass
class JobSpec:
    """The desired job, validated; ``definition()`` is what its hash and the diff are made of."""

    name: str
    schedule: Schedule
    command_type: str = "RunShellScript"
    content: str | None = None
    command_id: str | None = None
    instance_ids: list[str] = field(default_factory=list)
    instance_tags: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    working_dir: str | None = None
    timeout: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def definition(self) -> dict[str, t.Any]:
        return {"name": self.name, "command_type": None if self.command_id else self.command_type,
                "content": self.content, "command_id": self.command_id,
                "instance_ids": sorted(self.instance_ids), "instance_tags": dict(sorted(self.instance_tags.items())),
                "schedule": self.schedule.as_dict(), "username": self.username, "working_dir": self.working_dir,
                "timeout": self.timeout, "parameters": dict(sorted(self.parameters.items()))}

    def digest(self) -> str:
        """Stable across runs and hosts: canonical JSON, sorted keys."""
        canonical = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


def _check_tags(tags: t.Mapping[str, t.Any], limit: int) -> None:
    if len(tags) > limit:
        raise ValueError(f"instance_tags: at most {limit} tags, got {len(tags)}")
    for key, value in tags.items():
        if not key or len(key) > 64 or key.startswith(("acs:", "aliyun")) or "http://" in key or "https://" in key:
            raise ValueError(f"instance_tags: key {key!r} must be 1-64 characters, not start with acs: or aliyun "
                             "and contain no http(s)://")
        if len(str(value)) > 128 or "http://" in str(value) or "https://" in str(value):
            raise ValueError(f"instance_tags: value of {key!r} must be at most 128 characters without http(s)://")


def build_spec(params: t.Mapping[str, t.Any], saved_timeout: int | None = None) -> JobSpec:
    """Validate the module's options into a JobSpec; raises ValueError naming the option and the limit.

    ``saved_timeout`` is the saved command's own Timeout, which applies when the job sets none.
    """
    name = params["name"]
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"name: must be 1-{MAX_NAME} characters, got {len(name)}")
    invoke = params.get("content") is None
    ids = list(dict.fromkeys(params.get("instance_ids") or []))
    tags = {key: str(value) for key, value in (params.get("instance_tags") or {}).items()}
    if not ids and not tags:
        raise ValueError("instance_ids or instance_tags: a job needs at least one target")
    if len(ids) > MAX_INSTANCES:
        raise ValueError(f"instance_ids: at most {MAX_INSTANCES} instances, got {len(ids)}")
    _check_tags(tags, MAX_TAGS_INVOKE if invoke else MAX_TAGS_RUN)
    timeout = params.get("timeout")
    if timeout is not None and not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout: must be between {MIN_TIMEOUT} and {MAX_TIMEOUT} seconds, got {timeout}")
    for option, limit in (("username", 255), ("working_dir", 200)):
        if len(params.get(option) or "") > limit:
            raise ValueError(f"{option}: at most {limit} characters")
    parameters = params.get("parameters") or {}
    if len(parameters) > MAX_PARAMETERS or any(not key or len(key) > 64 for key in parameters):
        raise ValueError(f"parameters: at most {MAX_PARAMETERS} keys of 1-64 characters")
    parameters = {key: str(value) for key, value in parameters.items()}
    size = len(base64.b64encode(json.dumps(parameters).encode())) if parameters else 0
    if not invoke:
        size += len(encode_content(params["content"]))
    if size > (MAX_CONTENT_INVOKE if invoke else MAX_CONTENT_RUN):
        raise ValueError(f"content and parameters: {size} bytes as Base64, the limit is "
                         f"{MAX_CONTENT_INVOKE if invoke else MAX_CONTENT_RUN}")
    effective = timeout if timeout is not None else saved_timeout
    if invoke and effective is None:
        effective = 0  # a saved command's own Timeout is not known yet: check the absolute limits only
    schedule = parse_schedule(params["schedule"] or {}, effective)
    return JobSpec(name=name, schedule=schedule, command_type=params.get("command_type") or "RunShellScript",
                   content=params.get("content"), command_id=params.get("command_id"), instance_ids=ids,
                   instance_tags=tags, username=params.get("username"), working_dir=params.get("working_dir"),
                   timeout=timeout, parameters=parameters)


def saved_command(client: CloudClient, command_id: str | None, command_name: str | None) -> dict[str, t.Any]:
    """The saved command a job invokes, by id or by exact name (a name must pick exactly one)."""
    found = list(paginate(client, "DescribeCommands", lambda r: (r.get("Commands") or {}).get("Command") or [],
                          PAGE, CommandId=command_id, Name=command_name))
    if command_name is not None:
        found = [item for item in found if item.get("Name") == command_name]
    if len(found) != 1:
        what = f"id {command_id!r}" if command_id else f"name {command_name!r}"
        raise ValueError(f"command_{'id' if command_id else 'name'}: {len(found)} saved commands with {what}, "
                         "need exactly one")
    return found[0]


def tags_of(invocation: t.Mapping[str, t.Any]) -> dict[str, str]:
    return {tag.get("TagKey", ""): tag.get("TagValue", "") for tag in (invocation.get("Tags") or {}).get("Tag") or []}


def find_jobs(client: CloudClient, name: str) -> list[dict[str, t.Any]]:
    """Every invocation of job ``name``, newest first (the tag is also checked here, not only by the API)."""
    found = describe_invocations(client, PAGE, Tag=[{"Key": JOB_TAG, "Value": name}])
    jobs = [item for item in found if tags_of(item).get(JOB_TAG) == name]
    return sorted(jobs, key=lambda item: item.get("CreationTime") or "", reverse=True)


def is_live(invocation: t.Mapping[str, t.Any]) -> bool:
    return invocation.get("InvocationStatus") in LIVE_STATUSES


def was_stopped(invocation: t.Mapping[str, t.Any]) -> bool:
    """Someone called StopInvocation on it: it did not end by itself."""
    return invocation.get("InvocationStatus") in ("Stopped", "Stopping") or any(
        item.get("StopTime") or item.get("InvocationStatus") in STOPPED_INSTANCE_STATUSES
        for item in invoke_instances(invocation))


@dataclass
class Plan:
    """What to do: keep one invocation as the job, stop others, and maybe start a new one."""

    keep: dict[str, t.Any] | None
    stop: list[dict[str, t.Any]]
    create: bool

    @property
    def changed(self) -> bool:
        return self.create or bool(self.stop)


def plan(spec: JobSpec | None, jobs: list[dict[str, t.Any]]) -> Plan:
    """``spec`` None means state=absent. A live invocation with the same hash is the job; so is a finished,
    never-stopped one when the schedule ends by itself (an ``at`` run that already happened)."""
    live = [job for job in jobs if is_live(job)]
    if spec is None:
        return Plan(None, live, False)
    digest = spec.digest()
    same = [job for job in live if tags_of(job).get(HASH_TAG) == digest]
    if same:
        return Plan(same[0], [job for job in live if job is not same[0]], False)
    if spec.schedule.finite and not live and jobs and tags_of(jobs[0]).get(HASH_TAG) == digest \
            and not was_stopped(jobs[0]):
        return Plan(jobs[0], [], False)
    return Plan(None, live, True)


def _targets(client: CloudClient, spec: JobSpec) -> tuple[list[str], dict[str, str]]:
    """Instance ids, or instance tags alone; both given → the tags resolved to ids (the API takes one kind)."""
    if not spec.instance_tags or not spec.instance_ids:
        return spec.instance_ids, spec.instance_tags
    tag_list = [{"Key": key, "Value": value} for key, value in spec.instance_tags.items()]
    tagged = [item["InstanceId"] for item in describe_instances(client, Tag=tag_list)]
    ids = list(dict.fromkeys(spec.instance_ids + tagged))
    if len(ids) > MAX_INSTANCES:
        raise ValueError(f"instance_ids and instance_tags: {len(ids)} instances, at most {MAX_INSTANCES}")
    return ids, {}


def create_job(client: CloudClient, spec: JobSpec) -> str:
    """Start the job's invocation (RunCommand for content, InvokeCommand for a saved command); its InvokeId.

    Each call is a new job, so each gets a fresh ClientToken (invocations_api), reused only by the retries of
    that one call."""
    check_at_future(spec.schedule)
    instance_ids, resource_tags = _targets(client, spec)
    common: dict[str, t.Any] = {
        "resource_tags": resource_tags, "repeat_mode": spec.schedule.repeat_mode,
        "frequency": spec.schedule.frequency, "timeout": spec.timeout, "username": spec.username,
        "working_dir": spec.working_dir, "parameters": spec.parameters,
        "tags": {JOB_TAG: spec.name, HASH_TAG: spec.digest()},
    }
    if spec.command_id:
        return invoke_command(client, instance_ids, spec.command_id, **common).invoke_id
    return run_command(client, instance_ids, spec.content or "", command_type=spec.command_type, name=spec.name,
                       enable_parameter=bool(spec.parameters), keep_command=False, **common).invoke_id


def stop_jobs(client: CloudClient, jobs: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    """StopInvocation on each; the InvokeIds stopped."""
    stopped = []
    for job in jobs:
        stop_invocation(client, job["InvokeId"])
        stopped.append(job["InvokeId"])
    return stopped


def describe_job(client: CloudClient, invoke_id: str) -> dict[str, t.Any] | None:
    return describe_invocation(client, invoke_id)


def job_result(name: str, invocation: t.Mapping[str, t.Any] | None, spec: JobSpec | None) -> dict[str, t.Any]:
    """The ``job`` the module returns. The API has no next-run time (docs/api-contract.md#describeinvocations), so none is returned."""
    schedule = spec.schedule.as_dict() if spec else None
    if invocation is None:
        return {"name": name, "invoke_id": None, "status": None, "schedule": schedule, "instances": []}
    return {
        "name": name, "invoke_id": invocation.get("InvokeId"), "status": invocation.get("InvocationStatus"),
        "schedule": {"repeat_mode": invocation.get("RepeatMode"), "frequency": invocation.get("Frequency") or None},
        "command_id": invocation.get("CommandId"), "creation_time": invocation.get("CreationTime"),
        "definition_hash": tags_of(invocation).get(HASH_TAG),
        "instances": [{"instance_id": item.get("InstanceId"), "status": item.get("InvocationStatus"),
                       "repeats": item.get("Repeats", 0), "exit_code": item.get("ExitCode"),
                       "error_code": item.get("ErrorCode") or ""} for item in invoke_instances(invocation)],
    }


def definition_of(invocation: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """What an existing invocation runs, in the shape of JobSpec.definition(), for the diff's 'before'."""
    if invocation is None:
        return {}
    content = invocation.get("CommandContent") or ""
    try:
        content = base64.b64decode(content).decode("utf-8")
    except ValueError:
        pass
    try:
        parameters = json.loads(invocation.get("Parameters") or "{}")
    except ValueError:
        parameters = {}
    return {"name": tags_of(invocation).get(JOB_TAG), "command_type": invocation.get("CommandType"),
            "content": content, "command_id": invocation.get("CommandId"),
            "instance_ids": sorted(item.get("InstanceId", "") for item in invoke_instances(invocation)),
            "schedule": {"repeat_mode": invocation.get("RepeatMode"), "frequency": invocation.get("Frequency") or None},
            "username": invocation.get("Username"), "working_dir": invocation.get("WorkingDir"),
            "timeout": invocation.get("Timeout"), "parameters": parameters}
