"""InstanceExecutor against a fake cloud that really runs each script with the local shell."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import json
import threading
import zlib
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution import (
    exec_errors, page_reads, remote_exec, run_timing, shell_dialect, stdin_script,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import split_chunks
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import InstanceCache
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import InstanceExecutor
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_delta import split_arguments

CAP = 24576


class FakeCloud:
    """Just enough of RunCommand, DescribeInvocationResults and SendFile, with the real output cap."""

    def __init__(self, chunk_root: Path) -> None:
        self.chunk_root = chunk_root
        self.results: dict[str, dict] = {}
        self.calls: Counter = Counter()
        self.lose_next_chunks = False
        self.lock = threading.Lock()
        self.largest_content = 0

    def call(self, action: str, **params):
        with self.lock:
            self.calls[action] += 1
        return getattr(self, action)(**params)

    def RunCommand(self, CommandContent, InstanceId, Tag=None, **_):
        self.largest_content = max(self.largest_content, len(CommandContent))
        script = base64.b64decode(CommandContent).decode()
        merged = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, check=False).stdout
        with self.lock:
            invoke_id = f"t-{len(self.results)}"
            self.results[invoke_id] = {}
        self.results[invoke_id] = {
            "InvokeId": invoke_id, "Tags": {"Tag": [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in Tag or []]},
            "InstanceId": InstanceId[0], "InvocationStatus": "Success", "ExitCode": 0,
            "Output": base64.b64encode(merged[-CAP:]).decode(), "Dropped": max(0, len(merged) - CAP)}
        return {"InvokeId": invoke_id}

    def DescribeInvocationResults(self, InvokeId=None, InstanceId=None, Tag=None, MaxResults=10, NextToken=None, **_):
        """By InvokeId, or by instance and invocation tags (at most MaxResults ≤ 50 a page, as the API)."""
        assert 1 <= MaxResults <= 50
        wanted = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in Tag or []]
        found = [result for invoke_id, result in self.results.items() if (InvokeId is None or invoke_id == InvokeId)
                 and (InstanceId is None or result["InstanceId"] == InstanceId)
                 and all(tag in result["Tags"]["Tag"] for tag in wanted)]
        start = int(NextToken or 0)
        more = start + MaxResults < len(found)
        return {"Invocation": {"InvocationResults": {"InvocationResult": found[start:start + MaxResults]},
                               "NextToken": str(start + MaxResults) if more else ""}}

    def SendFile(self, Name, TargetDir, Content, **_):
        if not self.lose_next_chunks:
            target = Path(TargetDir)
            target.mkdir(parents=True, exist_ok=True)
            (target / Name).write_bytes(base64.b64decode(Content))
        return {"InvokeId": f"f-{Name[:8]}"}


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    fake = FakeCloud(tmp_path / "instance")
    monkeypatch.setattr(shell_dialect, "chunk_dir_for", lambda user: str(fake.chunk_root / "chunks" / user))
    monkeypatch.setattr("ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_script.CHUNK_WAIT_SECONDS", 0)
    return fake


def executor(cloud: FakeCloud, tmp_path: Path) -> InstanceExecutor:
    cache = InstanceCache(str(tmp_path / "cache"), "endpoint|key", "i-1")
    return InstanceExecutor(cloud, "i-1", ExecOptions(schedule=PollSchedule(first=0)), cache)


def test_small_command_costs_one_run_and_one_poll(cloud, tmp_path) -> None:
    frame = executor(cloud, tmp_path).run(b"echo hi; echo oops >&2; exit 4")
    assert (frame.rc, frame.stdout, frame.stderr) == (4, b"hi\n", b"oops\n")
    assert cloud.calls == Counter(RunCommand=1, DescribeInvocationResults=1)


def test_large_stdin_is_staged_once_then_reused(cloud, tmp_path) -> None:
    payload = os.urandom(100_000)
    first = executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", payload)
    sent_first = cloud.calls["SendFile"]
    assert sent_first == 4  # 100000 = 1696 (inline head) + 4 x 24576 (staged)
    second = executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", payload)
    assert first.stdout == second.stdout
    assert cloud.calls["SendFile"] == sent_first, "known chunks must not be sent again"


def test_changed_head_of_a_payload_travels_inline(cloud, tmp_path) -> None:
    tail = os.urandom(80_000)
    executor(cloud, tmp_path).run(b"wc -c", b"args=1;" + tail)
    before = cloud.calls.copy()
    frame = executor(cloud, tmp_path).run(b"wc -c", b"args=22;" + tail)
    assert frame.stdout.strip() == str(8 + len(tail)).encode()
    assert cloud.calls - before == Counter(RunCommand=1, DescribeInvocationResults=1)


def test_chunks_lost_on_the_instance_are_sent_again(cloud, tmp_path) -> None:
    payload = os.urandom(60_000)
    runner = executor(cloud, tmp_path)
    runner.cache.update_chunks(add=[])  # an empty cache file
    cloud.lose_next_chunks = True
    runner._plan(remote_exec._Staging(payload))  # believed sent, but lost
    cloud.lose_next_chunks = False
    frame = runner.run(b"wc -c", payload)
    assert frame.stdout.strip() == b"60000"


def test_a_large_stdin_keeps_the_script_small_and_leaves_no_chunks(cloud, tmp_path) -> None:
    payload = os.urandom(3_000_000)
    runner = executor(cloud, tmp_path)
    first = runner.run(b"sha256sum | cut -c1-64", payload)
    assert first.stdout.strip().decode() == hashlib.sha256(payload).hexdigest()
    assert cloud.largest_content < 24 * 1024, "RunCommand content stays under the API's limit"
    assert cloud.calls["SendFile"] == len(split_chunks(payload)) + len(remote_exec._Staging(payload).manifest())
    assert not list((cloud.chunk_root / "chunks").glob("*/[!.]*")), "a large transfer's chunks are removed after use"
    assert not runner.cache.known_chunks()


def test_chunks_already_on_the_instance_are_not_sent_again(cloud, tmp_path) -> None:
    payload = os.urandom(600_000)  # below the manifest size: kept for reuse, like module payloads
    executor(cloud, tmp_path).run(b"wc -c", payload)
    sent = cloud.calls["SendFile"]
    assert 24 <= sent < len(split_chunks(payload)), "every full grain; some of the small head rides inline"
    executor(cloud, tmp_path).run(b"wc -c", payload)
    assert cloud.calls["SendFile"] == sent


SECRET = "arg-SENTINEL-51c7"


def module_payload(stamp: int, body: bytes, secret: str = SECRET, generation: str = "2.19") -> bytes:
    """Shaped like an AnsiballZ payload (module name, its arguments, then a zip stamped every few KB with
    its build time), run by this Python, so the instance side of a rebuild really runs here. ``generation``
    2.17 names the module and writes the arguments the older way, after the zip (see stdin_delta)."""
    stamped = bytearray(body)
    for offset in range(500, len(stamped), 3000):
        stamped[offset:offset + 2] = b"%02d" % stamp
    params = repr(json.dumps({"ANSIBLE_MODULE_ARGS": {"url_password": secret, "n": stamp}})).encode()
    zipped = b"zip_data='" + base64.b64encode(bytes(stamped)) + b"',\n"
    if generation == "2.17":
        return (f"#!{sys.executable}\n".encode() + zipped + b"def main():\n"
                + b"        runpy.run_module(mod_name='ansible.modules.fake', init_globals=dict(_module_fqn=1))\n"
                + b"    ANSIBALLZ_PARAMS = " + params + b"\n")
    return (f"#!{sys.executable}\n".encode() + b"module_fqn='ansible.modules.fake',\n"
            + b"params=" + params + b",\n" + zipped)


def scrubbed(payload: bytes) -> bytes:
    split = split_arguments(payload)
    assert split is not None
    return split.scrubbed


def kept_bases(cloud: FakeCloud) -> list[str]:
    return sorted(path.name for path in (cloud.chunk_root / "chunks").glob("*/*.base"))


def holders(root: Path, secret: str = SECRET) -> list[str]:
    """Files under ``root`` holding ``secret``, as written or inside gzip members (staged chunks)."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data.startswith(b"\x1f\x8b"):
            data += transport_members(data)
        if secret.encode() in data:
            found.append(str(path.relative_to(root)))
    return found


def transport_members(data: bytes) -> bytes:
    """Every gzip member of ``data``, decompressed (what ``gzip -dc`` of a chunk file gives)."""
    out = b""
    while data:
        member = zlib.decompressobj(31)
        out += member.decompress(data)
        data = member.unused_data
    return out


def test_a_module_from_a_new_playbook_run_is_rebuilt_from_the_kept_payload(cloud, tmp_path) -> None:
    body = os.urandom(150_000)
    first, second = module_payload(1, body), module_payload(2, body, secret="other-secret")
    frame = executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", first)
    assert frame.stdout.strip().decode() == hashlib.sha256(first).hexdigest()
    assert kept_bases(cloud) == [hashlib.sha256(scrubbed(first)).hexdigest() + ".base"]
    before = cloud.calls.copy()
    frame = executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", second)
    assert frame.stdout.strip().decode() == hashlib.sha256(second).hexdigest()
    assert cloud.calls - before == Counter(RunCommand=1, DescribeInvocationResults=1), "nothing sent again"
    assert kept_bases(cloud) == [hashlib.sha256(scrubbed(second)).hexdigest() + ".base"], "the newest replaces the older"
    for secret in (SECRET, "other-secret"):
        assert not holders(cloud.chunk_root, secret) and not holders(tmp_path / "cache", secret)


@pytest.mark.parametrize("generation", ["2.19", "2.17"])
def test_arguments_larger_than_the_inline_budget_are_staged_and_released(cloud, tmp_path, generation) -> None:
    """A ``copy content=`` or a command's ``stdin`` can make the arguments larger than the script's budget."""
    body = os.urandom(150_000)
    large = SECRET + base64.b64encode(os.urandom(30_000)).decode()  # does not compress below the budget
    runner = executor(cloud, tmp_path)
    for stamp in (1, 2):  # the first run sends the payload's chunks, the second (2.19) a delta
        payload = module_payload(stamp, body, secret=large, generation=generation)
        frame = runner.run(b"sha256sum | cut -c1-64", payload)
        assert frame.stdout.strip().decode() == hashlib.sha256(payload).hexdigest()
        assert not holders(cloud.chunk_root) and not holders(tmp_path / "cache")
    assert len(kept_bases(cloud)) == 1
    assert cloud.largest_content < 24 * 1024


def test_a_payload_whose_arguments_cannot_be_found_keeps_nothing(cloud, tmp_path) -> None:
    """Two arguments lines: which is real is not certain, so the run is as private as a no_log task's."""
    payload = module_payload(1, os.urandom(150_000))
    doubled = payload.replace(b"\nparams=", b"\nparams='{}',\nparams=", 1)
    assert split_arguments(doubled) is None
    runner = executor(cloud, tmp_path)
    frame = runner.run(b"sha256sum | cut -c1-64", doubled)
    assert frame.stdout.strip().decode() == hashlib.sha256(doubled).hexdigest()
    assert not kept_bases(cloud) and not runner.cache.known_chunks()
    assert not holders(cloud.chunk_root) and not holders(tmp_path / "cache")
    assert not list((cloud.chunk_root / "chunks").glob("*/[!.]*")), "its chunks were released"


def test_a_kept_payload_that_is_gone_costs_one_extra_round_trip(cloud, tmp_path) -> None:
    body = os.urandom(150_000)
    executor(cloud, tmp_path).run(b"true", module_payload(1, body))
    for path in (cloud.chunk_root / "chunks").glob("*/*"):
        path.unlink()  # the instance was cleaned up, or replaced by one from the same image
    before = cloud.calls.copy()
    frame = executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", module_payload(2, body))
    assert frame.stdout.strip().decode() == hashlib.sha256(module_payload(2, body)).hexdigest()
    assert (cloud.calls - before)["RunCommand"] == 2
    assert kept_bases(cloud) == [hashlib.sha256(scrubbed(module_payload(2, body))).hexdigest() + ".base"]


def test_stdin_behind_a_become_password_is_never_kept(cloud, tmp_path) -> None:
    executor(cloud, tmp_path).run(b"cat > /dev/null", b"hunter2\n" + module_payload(1, os.urandom(150_000)))
    assert not kept_bases(cloud)


@pytest.mark.parametrize("report_limit", [200, 5])
def test_a_stale_cache_costs_one_extra_round_trip(cloud, tmp_path, monkeypatch, report_limit) -> None:
    monkeypatch.setattr(stdin_script, "MISSING_REPORT_LIMIT", report_limit)
    payload = os.urandom(1_500_000)
    runner = executor(cloud, tmp_path)
    runner._plan(remote_exec._Staging(payload))  # sent and remembered...
    shutil.rmtree(cloud.chunk_root / "chunks")  # ...but the instance lost every chunk
    before = cloud.calls.copy()
    frame = executor(cloud, tmp_path).run(b"wc -c", payload)
    assert frame.stdout.strip() == b"1500000"
    delta = cloud.calls - before
    assert delta["RunCommand"] == 2, "one run reports the missing chunks, the rerun succeeds"
    assert delta["SendFile"] == len(split_chunks(payload)) + len(remote_exec._Staging(payload).manifest())


def test_output_beyond_the_cap_is_paged_back_exactly(cloud, tmp_path) -> None:
    frame = executor(cloud, tmp_path).run(b"head -c 200000 /dev/urandom | tee /dev/stderr | sha256sum")
    assert len(frame.stderr) == 200000
    assert frame.stdout.split()[0].decode() == hashlib.sha256(frame.stderr).hexdigest()
    pages = cloud.calls["RunCommand"] - 1
    assert pages >= 10, "one read per page of the Base64 frame"
    assert cloud.calls["DescribeInvocationResults"] == 1 + -(-pages // page_reads.ROUND_PAGES), \
        "one result poll per round of page reads"


def test_pages_are_removed_a_round_at_a_time_and_the_spool_goes(cloud, tmp_path, monkeypatch) -> None:
    """Reads of all but the last two rounds are a bare cat; one read a round removes a collected round's pages."""
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    scripts = []
    run = cloud.RunCommand

    def recording(CommandContent, **params):
        scripts.append(base64.b64decode(CommandContent).decode())
        return run(CommandContent, **params)

    monkeypatch.setattr(cloud, "RunCommand", recording)
    data = os.urandom(9 * page_reads.ROUND_PAGES * CAP * 3 // 8)  # about 4.5 rounds of pages once in Base64
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    frame = executor(cloud, tmp_path).run(f"cat {path}".encode())
    assert frame.stdout == data
    reads = scripts[1:]
    rounds = -(-len(reads) // page_reads.ROUND_PAGES)
    assert rounds >= 4
    bare = [script for script in reads if script.startswith("#!/bin/sh\nexec cat ")]
    # rounds 0 .. rounds-3 are bare but for the first read of rounds 2 .. rounds-3; the last two remove their own pages
    assert len(bare) == (rounds - 2) * page_reads.ROUND_PAGES - (rounds - 4)
    assert list(work.iterdir()) == [], "every page and the spool directory are gone"


def test_agent_failure_names_the_invocation(cloud, tmp_path) -> None:
    def aborted(**_):
        return {"Invocation": {"InvocationResults": {"InvocationResult": [{
            "InstanceId": "i-1", "InvocationStatus": "Aborted", "ErrorCode": "ClientNotResponse",
            "ErrorInfo": "the aliyun service in the instance does not response", "Output": ""}]}}}
    cloud.DescribeInvocationResults = aborted
    with pytest.raises(exec_errors.RemoteExecError, match=r"t-0.*ClientNotResponse"):
        executor(cloud, tmp_path).run(b"true")


def test_first_poll_is_aimed_at_the_learned_run_time(cloud, tmp_path, monkeypatch) -> None:
    runner = executor(cloud, tmp_path)
    kind = run_timing.timing_kind(b"true", None)
    runner.cache.set_timing(kind, {"run": 0.3, "spread": 0.02, "lag": 0.05})
    aims = []
    real_wait = remote_exec.wait_for_results

    def spy(*args, schedule, **kwargs):
        aims.append(schedule.first)
        return real_wait(*args, schedule=schedule, **kwargs)

    monkeypatch.setattr(remote_exec, "wait_for_results", spy)
    runner.run(b"true")
    assert aims == [pytest.approx(0.3 + 2 * 0.02 + 0.05)]
    learned = runner.cache.timing(kind)
    assert learned["run"] < 0.3, "the script's own clock said it ran in well under 0.3 s"


def test_a_payload_past_the_manifest_size_is_staged_without_its_arguments(cloud, tmp_path) -> None:
    body = os.urandom(700_000)  # Base64 in the payload: past MANIFEST_AFTER
    runner = executor(cloud, tmp_path)
    for stamp in (1, 2):
        payload = module_payload(stamp, body)
        assert remote_exec._Staging(payload, split=split_arguments(payload)).uses_manifest
        frame = runner.run(b"sha256sum | cut -c1-64", payload)
        assert frame.stdout.strip().decode() == hashlib.sha256(payload).hexdigest()
        assert not holders(cloud.chunk_root) and not holders(tmp_path / "cache")
