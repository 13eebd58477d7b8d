"""Deferred temporary-directory steps: recognised, answered as ansible expects, and run for real by sh."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.deferred_steps import MAX_PUT_PACKED, DeferredSteps, StepFailed


def mkdtemp_command(base: str, name: str) -> str:
    """What ansible-core's sh shell plugin asks for (ShellBase.mkdtemp, wrapped in the executable)."""
    path = f"{base}/{name}"
    return (f"/bin/sh -c '( umask 77 && mkdir -p \"` echo {base} `\"&& mkdir \"` echo {path} `\" && "
            f"echo {name}=\"` echo {path} `\" )'")


def run_sh(script: bytes, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", script.decode()], input=stdin, capture_output=True, check=False)


def test_the_directory_steps_answer_now_and_run_in_front_of_the_next_command(tmp_path) -> None:
    base, name = str(tmp_path / "remote-tmp"), "ansible-tmp-1.2-3-4"
    tmpdir = f"{base}/{name}"
    steps = DeferredSteps()
    assert steps.defer(mkdtemp_command(base, name), None) == (0, f"{name}={tmpdir}\n".encode(), b"")
    assert steps.defer_put(b"hello\n", f"{tmpdir}/.source.txt", tmpdir + "/")
    assert steps.defer(f"/bin/sh -c 'chmod u+rwx {tmpdir}/ {tmpdir}/.source.txt'", tmpdir + "/") == (0, b"", b"")
    assert not os.path.exists(base), "nothing runs before the next command"

    script, queued, nonce = steps.take(b"cat; cat " + f"{tmpdir}/.source.txt".encode())
    assert [step.kind for step in queued] == ["mkdtemp", "put", "chmod"] and not steps.steps
    done = run_sh(script, stdin=b"module stdin\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"module stdin\nhello\n", b"")
    DeferredSteps.check(done.stderr, queued, nonce)
    assert oct(os.stat(tmpdir).st_mode & 0o777) == "0o700"


def test_a_failing_step_stops_the_command_and_is_reported_with_its_own_output(tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    steps = DeferredSteps()
    steps.defer(mkdtemp_command(str(blocker), "ansible-tmp-9"), None)
    script, queued, nonce = steps.take(b"echo the command ran")
    done = run_sh(script)
    assert done.returncode != 0 and b"the command ran" not in done.stdout
    with pytest.raises(StepFailed) as failed:
        DeferredSteps.check(done.stderr, queued, nonce)
    assert failed.value.step.kind == "mkdtemp" and failed.value.rc == done.returncode
    assert b"mkdir" in failed.value.output


def test_a_forged_report_with_another_nonce_is_not_taken_for_a_step_failure(tmp_path) -> None:
    steps = DeferredSteps()
    steps.defer(mkdtemp_command(str(tmp_path), "ansible-tmp-5"), None)
    _script, queued, _nonce = steps.take(b"true")
    DeferredSteps.check(b"\n<<alicloud-ecs step 0 of 0123456789abcdef failed rc=1>>\n", queued, "fedcba9876543210")


def test_only_what_concerns_the_tasks_own_directory_waits() -> None:
    steps = DeferredSteps()
    assert steps.defer("/bin/sh -c 'chmod u+rwx /etc/passwd'", "/root/.ansible/tmp/ansible-tmp-1/") is None
    assert steps.defer("/bin/sh -c 'chmod u+rwx /tmp/x'", None) is None
    assert steps.defer("/bin/sh -c 'echo ~'", None) is None
    assert steps.defer("/bin/sh -c 'chmod u+rwx /tmp/a\\ b'", "/tmp/") is None, "quoted paths are run as they are"
    assert not steps.defer_put(b"x", "/etc/motd", "/root/.ansible/tmp/ansible-tmp-1/")
    assert not steps.defer_put(os.urandom(MAX_PUT_PACKED), "/t/ansible-tmp-1/f", "/t/ansible-tmp-1/"), "too big"
    assert steps.steps == []


def test_removing_a_directory_never_created_costs_nothing_and_drops_its_steps() -> None:
    tmpdir = "/root/.ansible/tmp/ansible-tmp-7"
    steps = DeferredSteps()
    steps.defer(mkdtemp_command("/root/.ansible/tmp", "ansible-tmp-7"), None)
    steps.defer_put(b"data", f"{tmpdir}/.source", tmpdir + "/")
    assert steps.defer(f"/bin/sh -c 'rm -f -r {tmpdir}/ > /dev/null 2>&1'", tmpdir + "/") == (0, b"", b"")
    assert steps.steps == []


def test_removing_a_created_directory_runs_but_drops_what_was_queued_for_it() -> None:
    tmpdir = "/root/.ansible/tmp/ansible-tmp-8"
    steps = DeferredSteps()
    steps.defer_put(b"data", f"{tmpdir}/.source", tmpdir + "/")
    assert steps.defer(f"/bin/sh -c 'rm -f -r {tmpdir}/ > /dev/null 2>&1'", tmpdir + "/") is None
    assert steps.steps == []
