"""The PowerShell envelope: structure, sizes and the shared frame format.

No PowerShell runs here (none is installable on this machine), so these tests check what the
controller sends and that a PowerShell-shaped answer decodes with the POSIX decoder; whether the
script behaves on a real Windows instance is NOT verified (docs/connection.md, "Windows (unverified)").
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import pytest
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import shell_loader

from ansible_collections.alicloud.ecs.plugins.connection import cloud_assistant
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import powershell_transport as pst
from ansible_collections.alicloud.ecs.plugins.module_utils.api.options import option_names
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import GRAIN_BYTES, STORED_GRAINS
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.frame import (
    OUTPUT_PAGE_BYTES, TAIL_BYTES, TransportError, decode_frame, parse_trailer,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import InstanceExecutor
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_plan import StdinPart, StdinPlan, pack_inline

CHUNK = "a" * 64 + ".gz"
NOISE = b"".join(hashlib.sha256(str(index).encode()).digest() for index in range(2000))  # 64 KB that will not compress


def module_command() -> str:
    """The command line the installed ansible-core sends to run a pipelined PowerShell module.

    ansible-core 2.19 and later build it from their bootstrap wrapper in ``ansible._internal``; older
    lines let the powershell shell plugin's ``build_module_command`` build it.
    """
    try:
        from ansible._internal._powershell import _script
        from ansible.executor.powershell.module_manifest import _get_powershell_script
    except ImportError:
        return shell_loader.get("powershell").build_module_command("", "#!powershell", "")
    wrapper = _get_powershell_script("bootstrap_wrapper.ps1").decode()
    return " ".join(_script.get_pwsh_encoded_cmdline(wrapper, override_execution_policy=True))


def windows_answer(rc: int, stdout: bytes, stderr: bytes, spool: bool = False) -> tuple[bytes, bytes]:
    """What the envelope prints (before any API cut), built the way the script builds it, and its frame text."""
    frame = base64.b64encode(gzip.compress(f"ACE1 {rc} {len(stdout)} {len(stderr)}\n".encode() + stdout + stderr))
    sha = hashlib.sha256(frame).hexdigest()
    if not spool:
        return frame + f"\n<<ACE1 size={len(frame)} sha256={sha} ms=41>>\n".encode(), frame
    head = len(frame) - TAIL_BYTES
    trailer = f"\n<<ACE1 size={len(frame)} sha256={sha} ms=41 spool=C:\\ProgramData\\alicloud-ecs\\spool\\0f3a head={head}>>\n"
    return frame[head:] + trailer.encode(), frame


def inline_parts(script: str) -> list[bytes]:
    return [base64.b64decode(match) for match in re.findall(r"'i([A-Za-z0-9+/=]+)'", script)]


def test_the_envelope_is_run_as_powershell_and_keeps_posix_paging_sizes() -> None:
    envelope = pst.PowerShellEnvelope()
    assert envelope.command_type == "RunPowerShellScript"
    assert envelope.chunk_dir("System") == "C:\\ProgramData\\alicloud-ecs\\chunks\\System"
    assert envelope.chunk_dir("x y\\z") == "C:\\ProgramData\\alicloud-ecs\\chunks\\x_y_z"
    script = envelope.run_script(b"Get-Date", None)
    assert script.isascii() and f"-le {TAIL_BYTES}" in script and f"[Math]::Min({OUTPUT_PAGE_BYTES}," in script


def test_a_module_command_is_started_directly_and_fits_with_full_stdin_budget() -> None:
    command = module_command()
    encoded = command.split()[-1].strip("'")
    parts = [StdinPart(chunk=CHUNK)] * 32 + [StdinPart(inline="A" * pst.PS_INLINE_BUDGET)]
    script = pst.build_ps_run_script(command.encode(), StdinPlan(parts=parts, chunk_dir="C:\\c", sha256="0" * 64))
    assert script.isascii()
    assert f"-NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {encoded}'" in script
    assert "$X = $env:SystemRoot + '\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'" in script
    assert len(base64.b64encode(script.encode())) <= 24 * 1024


def test_quoted_base64_and_pwsh_are_taken_apart_for_the_command_line() -> None:
    exe, arguments = pst.child_process("pwsh -NoProfile -EncodedCommand 'QQB+AA==' -EncodedArguments 'PABPAD4A'")
    assert exe == "'pwsh.exe'"
    assert arguments == "'-NoProfile -EncodedCommand QQB+AA== -EncodedArguments PABPAD4A'"


def test_a_raw_command_runs_as_its_own_script_with_utf8_output() -> None:
    exe, arguments = pst.child_process("Write-Output 'héllo'; exit 3")
    assert exe == pst.WINDOWS_POWERSHELL
    carried = re.search(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", arguments).group(1)
    assert base64.b64decode(carried).decode() == pst.CONSOLE_UTF8 + "Write-Output 'héllo'; exit 3"
    assert arguments.isascii()


def test_stdin_rides_inline_as_gzip_members_and_chunks_by_name() -> None:
    data = "ünïcode stdin\n".encode() * 20
    plan = StdinPlan(parts=[StdinPart(inline=pack_inline(data)), StdinPart(chunk=CHUNK)],
                     chunk_dir="C:\\ProgramData\\alicloud-ecs\\chunks\\System", sha256="ab" * 32)
    script = pst.build_ps_run_script(b"$input | Measure-Object", plan)
    assert [gzip.decompress(part) for part in inline_parts(script)] == [data]
    assert f"'c{CHUNK}'" in script and "$S = '" + "ab" * 32 + "'" in script
    assert "$C = 'C:\\ProgramData\\alicloud-ecs\\chunks\\System'" in script
    assert f"-ge {pst.CHUNK_WAIT_SECONDS * 10}" in script  # waits for freshly sent chunks
    inline_only = pst.build_ps_run_script(b"x", StdinPlan(parts=[StdinPart(inline=pack_inline(b"1"))]))
    assert "missing=" not in inline_only.split("function Main")[1]


def test_a_manifest_plan_lists_only_the_manifest_and_releases_its_chunks() -> None:
    plan = StdinPlan(manifest=["m1.gz", "m2.gz"], chunk_dir="C:\\c", sha256="cd" * 32, wait_seconds=0)
    script = pst.build_ps_run_script(b"x", plan)
    assert "$M = @('m1.gz','m2.gz')" in script and "$P = @()" in script
    assert "foreach ($n in @(Names) + $M)" in script and "-ge 0 -or" in script


def test_oversized_commands_fail_clearly_instead_of_being_cut() -> None:
    with pytest.raises(TransportError, match="Windows command line"):
        pst.build_ps_run_script(("Write-Output '" + "x" * 13000 + "'").encode())
    with pytest.raises(TransportError, match="RunCommand takes at most"):
        pst.build_ps_run_script(b"x", StdinPlan(parts=[StdinPart(inline="A" * 20000)]))
    with pytest.raises(TransportError, match="UTF-8"):
        pst.build_ps_run_script(b"\xff")


def test_a_powershell_shaped_answer_decodes_with_the_posix_decoder() -> None:
    stdout, stderr = "ütf-8 ✓\r\n".encode(), b"#< CLIXML\r\n<Objs/>"
    output, frame = windows_answer(-1073741819, stdout, stderr)
    trailer = parse_trailer(b"icacls noise\r\n" + output)
    assert (trailer.spool, trailer.run_seconds) == (None, 0.041)
    decoded = decode_frame(trailer.frame_tail, trailer.sha256)
    assert trailer.frame_tail == frame
    assert (decoded.rc, decoded.stdout, decoded.stderr) == (-1073741819, stdout, stderr)


def test_a_spooled_windows_answer_names_pages_the_page_script_reads() -> None:
    output, frame = windows_answer(0, NOISE, b"", spool=True)
    assert len(frame) > 2 * OUTPUT_PAGE_BYTES
    trailer = parse_trailer(output[-OUTPUT_PAGE_BYTES:])
    assert trailer.spool == "C:\\ProgramData\\alicloud-ecs\\spool\\0f3a"
    assert [length for _index, length in trailer.pages][-1] == trailer.head - (len(trailer.pages) - 1) * OUTPUT_PAGE_BYTES
    page = pst.build_ps_page_script(trailer.spool, 2)
    assert "$p = 'C:\\ProgramData\\alicloud-ecs\\spool\\0f3a\\p2'" in page and page.isascii()
    with pytest.raises(TransportError):
        pst.build_ps_page_script("C:\\x'; Remove-Item C:\\ -Recurse; '", 0)


def test_put_and_fetch_commands_resolve_windows_paths_and_move_raw_bytes() -> None:
    put = pst.put_command("C:\\Users\\Administrator\\AppData\\Local\\Temp\\ansible-tmp-1\\it's.ps1")
    assert "'C:\\Users\\Administrator\\AppData\\Local\\Temp\\ansible-tmp-1\\it''s.ps1'" in put
    assert "OpenStandardInput" in put
    fetch = pst.fetch_command("C:\\données\\é.txt")
    assert fetch.isascii() and "OpenStandardOutput" in fetch and "exit 1" in fetch
    carried = re.search(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)", fetch).group(1)
    assert base64.b64decode(carried).decode() == "C:\\données\\é.txt"


class CannedCloud:
    """RunCommand records the script type and content; every answer is one PowerShell-shaped frame."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        self.sent: list[str] = []

    def call(self, action: str, **params):
        if action == "RunCommand":
            self.runs.append((params["Type"], base64.b64decode(params["CommandContent"]).decode()))
            return {"InvokeId": f"t-{len(self.runs)}"}
        if action == "SendFile":
            self.sent.append(params["TargetDir"])
            return {"InvokeId": "f-1"}
        output, _frame = windows_answer(0, b"ok\n", b"")
        result = {"InstanceId": "i-1", "InvocationStatus": "Success", "ExitCode": 0,
                  "Output": base64.b64encode(output).decode(), "Dropped": 0}
        return {"Invocation": {"InvocationResults": {"InvocationResult": [result]}}}


def test_the_executor_sends_powershell_and_stages_into_the_windows_directory() -> None:
    cloud = CannedCloud()
    options = ExecOptions(schedule=PollSchedule(first=0), envelope=pst.PowerShellEnvelope())
    frame = InstanceExecutor(cloud, "i-1", options).run(module_command().encode(), NOISE)
    assert (frame.rc, frame.stdout) == (0, b"ok\n")
    assert [kind for kind, _script in cloud.runs] == ["RunPowerShellScript"]
    assert set(cloud.sent) == {"C:\\ProgramData\\alicloud-ecs\\chunks\\root"}
    assert len(cloud.sent) * STORED_GRAINS * GRAIN_BYTES >= len(NOISE) - pst.PS_INLINE_BUDGET


class OptionsConnection(cloud_assistant.Connection):
    """The connection with its options given directly (no plugin loader in a unit test)."""

    def __init__(self, shell: str, cache: str) -> None:
        super().__init__(PlayContext(), shell=shell_loader.get(shell))
        self.values = {**dict.fromkeys(("credential_source",) + option_names()),
                       "instance_id": "i-1", "region": "cn-hangzhou", "access_key": "ak", "secret_key": "sk",
                       "security_token": None, "endpoint": None, "remote_user": None, "audit_tags": False,
                       "invocation_name": None, "play_name": None, "command_timeout": 60, "wait_margin": 5,
                       "poll_first_delay": 0, "poll_max_interval": 0.1, "transfer_parallelism": 2,
                       "transfer_cache": cache, "retry_budget": None, "connect_timeout": None, "read_timeout": None,
                       "api_concurrency": None,
                       "staging_max_age": 168, "staging_max_size": 512, "transport": "run_command"}

    def get_option(self, option, hostvars=None):
        return self.values[option]


@pytest.mark.parametrize("shell, command_type", [("powershell", "RunPowerShellScript"), ("sh", "RunShellScript")])
def test_the_connection_picks_the_script_type_from_the_shell(shell, command_type, tmp_path, monkeypatch) -> None:
    connection = OptionsConnection(shell, str(tmp_path / "cache"))
    cloud = CannedCloud()
    monkeypatch.setattr(cloud_assistant, "CloudClient", lambda settings, **_options: cloud)
    assert connection.exec_command("whoami") == (0, b"ok\n", b"")
    fetched = tmp_path / "fetched"
    connection.fetch_file("C:\\Windows\\win.ini" if shell == "powershell" else "/etc/hostname", str(fetched))
    assert fetched.read_bytes() == b"ok\n"
    assert [kind for kind, _script in cloud.runs] == [command_type, command_type]
    windows = shell == "powershell"
    assert (connection.module_implementation_preferences == (".ps1", ".exe", "")) is windows
    pattern = r"FromBase64String\('([A-Za-z0-9+/=]+)'\)" if windows else r"printf '%s' '([A-Za-z0-9+/=]+)'"
    fetch = base64.b64decode(re.search(pattern, cloud.runs[1][1]).group(1)).decode()
    assert ("OpenStandardOutput" in fetch) if windows else (fetch == "cat -- /etc/hostname")
