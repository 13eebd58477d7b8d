"""The full-output wrapper, run with the local /bin/sh: output, exit code, umask, spooling, cleanup."""

from __future__ import annotations

import os
import subprocess

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.full_output import unframe, wrap_script


def run_sh(script: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, cwd=cwd, check=False,
                          env={**os.environ, "TMPDIR": cwd})


def test_wrapper_keeps_output_exit_code_umask_and_placeholders(tmp_path):
    content = "echo '{{name}}' $0 >/dev/null; umask; printf 'out\\n'; printf 'err\\n' >&2; exit 5"
    script = wrap_script(content)
    assert "{{name}}" in script and script == wrap_script(content)  # plain placeholders, deterministic
    done = run_sh(f"umask 0027; {script}", str(tmp_path))
    assert done.returncode == 5
    assert unframe(done.stdout) == b"0027\nout\nerr\n"
    assert list(tmp_path.iterdir()) == []  # script, rc file and frame removed


def test_wrapper_spools_a_large_output(tmp_path):
    done = run_sh(wrap_script("seq 1 100000"), str(tmp_path))
    assert done.returncode == 0 and len(done.stdout) <= 24576
    assert unframe(done.stdout) is None  # spooled: only the page reader gets it back
    [spool] = tmp_path.iterdir()
    assert spool.name.startswith(".alicloud-ecs-spool.") and any(spool.iterdir())


def test_unframe_ignores_plain_output():
    assert unframe(b"just text\n") is None
    assert unframe(b"") is None
