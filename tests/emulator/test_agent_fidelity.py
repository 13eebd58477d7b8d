"""The emulated instances run commands as the real Cloud Assistant agent does. Each test names the file of the
agent's public source (github.com/aliyun/aliyun_assist_client, ``agent/...``) whose behaviour it checks, so a
playbook that passes against the emulator behaves the same on a real instance."""
from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from emulator_helpers import FLEET, KEY_ID, SECRET, output, run, sdk_call, wait_result

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]
R = {"RegionId": "cn-hangzhou"}
QUOTA = 24576  # the emulator's --output-limit (the server's logQuota for the agent)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """The agent's own defaults: running output every 1 s (its minimum), 10 commands at once; fast transitions
    and schedules (1 s minimum interval)."""
    with EmulatorProcess(fleet=FLEET, min_timeout=1, delivery_timeout=0.5, transition_delay=0.2,
                         period_min=1) as proc:
        yield proc


def start(api: Api, instance_id: str, script: str, **params: Any) -> str:
    """RunCommand on one instance; the InvokeId."""
    return api("RunCommand", Type="RunShellScript", CommandContent=script, **{"InstanceId.1": instance_id},
               **params, **R)["InvokeId"]


def record(api: Api, invoke_id: str) -> dict[str, Any]:
    """The first (only) result record of an invocation, as it is now."""
    return api("DescribeInvocationResults", InvokeId=invoke_id, **R)["Invocation"]["InvocationResults"][
        "InvocationResult"][0]


def test_the_shebang_picks_the_interpreter(api: Api, ids: dict[str, str]) -> None:
    """host/processor.go: the script is saved with mode 0755 and run as ``sh -c <path>``, so its ``#!`` line
    chooses bash or python; a script without one runs under sh."""
    bash = ("#!/bin/bash\nset -o pipefail\nwords=(alpha beta)\n"
            "[[ ${words[1]} == beta ]] && echo \"bash ${BASH_VERSINFO[0]}\"")
    python = "#!/usr/bin/env python3\nimport sys\nprint('python', sys.version_info[0])"
    [from_bash] = run(api, [ids["web-1"]], bash)
    [from_python] = run(api, [ids["web-1"]], python)
    [plain] = run(api, [ids["web-1"]], "[ -x \"$0\" ] && echo executable")
    assert (from_bash["InvocationStatus"], output(from_bash).split()[0]) == ("Success", "bash")
    assert (from_python["InvocationStatus"], output(from_python)) == ("Success", "python 3\n")
    assert (plain["InvocationStatus"], output(plain)) == ("Success", "executable\n")


def test_a_username_runs_in_its_home_with_its_home_only(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """host/processor_unix.go ``checkWorkingDirectory``: without WorkingDir the user's home is the working directory
    (missing → Invalid); host/processor.go: a Username's script is saved under /tmp; util/process/process_unix.go
    ``prepareProcess``: the agent's environment plus HOME, no USER/LOGNAME/SHELL."""
    iid = ids["web-1"]
    assert emu.exec(iid, "useradd -m alice && useradd -M -d /home/nobody-here bob")["exit_code"] == 0
    probe = 'pwd; echo "$HOME"; id -un; dirname "$0"; env | grep -c -E "^(USER|LOGNAME|SHELL)=" || true'
    [alice] = run(api, [iid], probe, Username="alice")
    assert (alice["InvocationStatus"], output(alice)) == ("Success", "/home/alice\n/home/alice\nalice\n/tmp\n0\n")
    [root] = run(api, [iid], probe)
    assert output(root) == "/root\n/root\nroot\n/usr/local/share/aliyun-assist/work/script\n0\n"
    [bob] = run(api, [iid], "true", Username="bob")
    assert (bob["InvocationStatus"], bob["ErrorCode"]) == ("Invalid", "DirectoryNotExists")
    [given] = run(api, [iid], "pwd", Username="bob", WorkingDir="/tmp")
    assert (given["InvocationStatus"], output(given)) == ("Success", "/tmp\n")


def test_a_long_command_reports_a_streamed_head_and_the_tail(api: Api, ids: dict[str, str]) -> None:
    """basetask.go: while a command runs the agent reports at most 2,048 bytes a tick (≥ 1 s apart) until more than
    6,000 were reported; the final report is the end of the rest within the quota left (``getReportString``)."""
    script = 'i=0; while [ $i -lt 8000 ]; do i=$((i+1)); echo "line $i"; [ $((i % 500)) = 0 ] && sleep 0.3; done'
    everything = b"".join(b"line %d\n" % n for n in range(1, 8001))
    invoke_id = start(api, ids["web-2"], script)
    heads = []

    def streamed() -> bool:
        now = record(api, invoke_id)
        if now["InvocationStatus"] == "Running" and now["Output"]:
            heads.append(base64.b64decode(now["Output"]))
        return len(heads[-1]) > 6000 if heads else False
    wait_for(streamed, "the head to be streamed", step=0.2)
    assert all(everything.startswith(head) and len(head) % 2048 == 0 for head in heads)
    [final] = wait_result(api, invoke_id)
    data = base64.b64decode(final["Output"])
    head = len(heads[-1])
    assert 6000 < head <= 6000 + 2048
    assert (final["InvocationStatus"], len(data), final["Dropped"]) == ("Success", QUOTA, len(everything) - QUOTA)
    assert data == everything[:head] + everything[-(QUOTA - head):]


def test_a_fast_command_reports_the_tail(api: Api, ids: dict[str, str]) -> None:
    """basetask.go: a command done before the first tick streamed nothing; its Output is the tail in the quota."""
    [r] = run(api, [ids["web-2"]], "seq 1 20000")
    everything = b"".join(b"%d\n" % n for n in range(1, 20001))
    assert (base64.b64decode(r["Output"]), r["Dropped"]) == (everything[-QUOTA:], len(everything) - QUOTA)


def test_a_periodic_run_streams_nothing(api: Api, ids: dict[str, str]) -> None:
    """basetask.go: a task with a schedule (cron/rate/at) sends no running output; its run reports it all at the
    end."""
    invoke_id = start(api, ids["web-1"], "head -c 3000 /dev/zero | tr '\\0' a; sleep 2.5; echo end",
                      Frequency="rate(5s)", Timeout=4)
    wait_for(lambda: record(api, invoke_id)["InvocationStatus"] == "Running", "the first run to start", step=0.1)
    time.sleep(1.5)  # a tick or more into the run: a Once task would have streamed its 3,000 bytes by now
    assert (record(api, invoke_id)["InvocationStatus"], record(api, invoke_id)["Output"]) == ("Running", "")
    wait_for(lambda: record(api, invoke_id)["Repeats"] == 1 and record(api, invoke_id)["InvocationStatus"] ==
             "Scheduled", "the first run to end")
    assert base64.b64decode(record(api, invoke_id)["Output"]) == b"a" * 3000 + b"end\n"
    api("StopInvocation", InvokeId=invoke_id, **R)


def test_exit_194_reboots_the_instance(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """host/processor.go ``SideEffect`` with host/processor_unix.go's exit codes: 194 reboots the instance once the
    result is reported, so its EveryReboot tasks run."""
    iid = ids["db-1"]
    every = start(api, iid, "echo booted >> /root/boots", RepeatMode="EveryReboot")
    wait_for(lambda: record(api, every)["InvocationStatus"] == "Scheduled", "the reboot task to be armed")
    [r] = run(api, [iid], "echo rebooting; exit 194")
    assert (r["InvocationStatus"], r["ExitCode"], output(r)) == ("Failed", 194, "rebooting\n")
    wait_for(lambda: record(api, every)["Repeats"] == 1 and emu.exec(iid, "cat /root/boots")["stdout"] == "booted\n",
             "the EveryReboot task to run after the reboot")
    assert [i["status"] for i in emu.instances() if i["id"] == iid] == ["Running"]
    api("StopInvocation", InvokeId=every, **R)


def test_exit_193_powers_the_instance_off(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """host/processor.go ``SideEffect``: 193 shuts the instance down (``shutdown -h now``): it ends Stopped."""
    iid = ids["sh-1"]
    [r] = wait_result(api, start_in(api, iid, "exit 193"), region="cn-shanghai")
    assert (r["InvocationStatus"], r["ExitCode"]) == ("Failed", 193)
    wait_for(lambda: [i["status"] for i in emu.instances() if i["id"] == iid] == ["Stopped"],
             "the instance to power off")
    api("StartInstance", InstanceId=iid, RegionId="cn-shanghai")


def start_in(api: Api, instance_id: str, script: str) -> str:
    """RunCommand on an instance of cn-shanghai; the InvokeId."""
    return api("RunCommand", Type="RunShellScript", CommandContent=script, RegionId="cn-shanghai",
               **{"InstanceId.1": instance_id})["InvokeId"]


def test_twelve_commands_run_ten_at_a_time(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """taskpool.go: 10 workers take tasks from a queue of 50; the 11th and 12th wait (Pending), none is aborted,
    and each one's Timeout counts from its own start."""
    iid = ids["web-1"]
    emu.exec(iid, "rm -rf /tmp/slots; mkdir /tmp/slots")
    script = "touch /tmp/slots/$$; ls /tmp/slots | wc -l >> /tmp/slots.log; sleep 2; rm /tmp/slots/$$"
    invoke_ids = [start(api, iid, script, Timeout=3) for _n in range(12)]

    def split() -> bool:
        states = [record(api, i)["InvocationStatus"] for i in invoke_ids]
        return sorted(states) == ["Pending"] * 2 + ["Running"] * 10
    wait_for(split, "10 commands running and 2 waiting", step=0.1)
    finals = [wait_result(api, i)[0] for i in invoke_ids]
    assert [f["InvocationStatus"] for f in finals] == ["Success"] * 12
    assert max(int(n) for n in emu.exec(iid, "cat /tmp/slots.log")["stdout"].split()) <= 10


def test_built_in_parameters_follow_the_agents_pattern(api: Api, ids: dict[str, str]) -> None:
    """parameters/environment.go: spaces around ``::`` are allowed; an unknown name makes the task Invalid."""
    iid = ids["web-2"]
    [known] = run(api, [iid], "echo '{{ ACS :: InstanceId }}' '{{ACS::RegionId}}'", EnableParameter="true")
    assert (known["InvocationStatus"], output(known)) == ("Success", f"{iid} cn-hangzhou\n")
    [unknown] = run(api, [iid], "echo '{{ACS::Instance-Name.v2}}'", EnableParameter="true")
    assert (unknown["InvocationStatus"], unknown["ErrorCode"]) == ("Invalid", "InvalidEnvironmentParameter")
    assert "Instance-Name.v2" in unknown["ErrorInfo"]
    [plain] = run(api, [iid], "echo '{{ACS::Nope}}'")
    assert output(plain) == "{{ACS::Nope}}\n"  # without EnableParameter the agent resolves nothing


def test_exit_codes_of_timeout_stop_and_signals(api: Api, ids: dict[str, str]) -> None:
    """util/process/process.go: a timeout kills the child and reports 1; basetask.go ``Cancel``: StopInvocation
    reports the exit code known so far (0) before killing; a child ended by a signal has Go's ExitCode -1."""
    iid = ids["web-2"]
    [timed_out] = run(api, [iid], "sleep 30", Timeout=1)
    assert (timed_out["InvocationStatus"], timed_out["ExitCode"]) == ("Timeout", 1)
    stopped = start(api, iid, "echo started; sleep 30")
    wait_for(lambda: record(api, stopped)["InvocationStatus"] == "Running", "the command to run")
    api("StopInvocation", InvokeId=stopped, **R)
    [terminated] = wait_result(api, stopped)
    assert (terminated["InvocationStatus"], terminated["ExitCode"]) == ("Terminated", 0)
    [signalled] = run(api, [iid], "kill -9 $PPID")  # $PPID: the agent's child, ``sh -c <script>``
    assert (signalled["InvocationStatus"], signalled["ExitCode"]) == ("Failed", -1)


def test_switches_for_the_servers_unknown_part() -> None:
    """The readings the agent's source cannot settle (⚠): ``--agent-queue`` aborts a task that finds the queue
    full (TaskConcurrencyLimit), ``--killed-exit-code N`` reports N for timeouts, stops and signals."""
    with EmulatorProcess(fleet=FLEET, min_timeout=1, delivery_timeout=0.5, agent_concurrency=1, agent_queue=1,
                         killed_exit_code="-1") as emu:
        client = AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})

        def api(action: str, **params: Any) -> dict[str, Any]:
            return sdk_call(client, emu.endpoint, action, **params)
        iid = emu.instance_id("web-1")
        busy, queued, refused = (start(api, iid, "sleep 2", Timeout=1) for _n in range(3))
        assert [r["ErrorCode"] for r in wait_result(api, refused)] == ["TaskConcurrencyLimit"]
        assert [(r["InvocationStatus"], r["ExitCode"]) for r in wait_result(api, busy) + wait_result(api, queued)] == [
            ("Timeout", -1)] * 2


def test_many_scripts_at_once_in_host_mode(tmp_path) -> None:
    """Host mode (no isolation) runs every instance's script on this machine, hundreds at once, each by its path
    (``sh -c <script>``, host/processor.go): none may find its script still open for writing ("Text file busy")."""
    fleet = {**FLEET, "instances": [{"name": "host", "region": "cn-hangzhou", "count": 200}]}
    with EmulatorProcess(fleet=fleet, state_dir=tmp_path, isolation="none", min_timeout=1) as emu:
        client = AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})

        def api(action: str, **params: Any) -> dict[str, Any]:
            return sdk_call(client, emu.endpoint, action, **params)
        ids = [item["id"] for item in emu.instances()]
        invokes = [api("RunCommand", Type="RunShellScript", CommandContent="#!/bin/sh\necho ran", **R,
                       **{f"InstanceId.{n}": iid for n, iid in enumerate(ids[start:start + 50], 1)})["InvokeId"]
                   for start in range(0, 200, 50)]  # 50 a call: wait_result reads one page of 50 records
        records = [r for invoke_id in invokes for r in wait_result(api, invoke_id)]
        assert [(r["InvocationStatus"], output(r)) for r in records] == [("Success", "ran\n")] * 200
