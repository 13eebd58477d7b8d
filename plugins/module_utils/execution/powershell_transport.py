# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection's envelope for Windows instances: RunPowerShellScript, same frame as on POSIX.

NOT VERIFIED against a real Windows instance: no Windows machine and no PowerShell were available
when this was written. The scripts are checked for structure and size only; see docs/connection.md.

The answer has exactly the POSIX shape (``base64(gzip("ACE1 rc outlen errlen\\n" + stdout +
stderr))`` and the ``<<ACE1 size= sha256= ...>>`` trailer, spooled pages when it does not fit one
output), so frame.parse_trailer and frame.decode_frame decode it unchanged. The command runs
in a child ``powershell.exe`` started through System.Diagnostics.Process, because only a process's
redirected streams give stdout and stderr apart and as raw bytes; PowerShell's own pipeline would
turn native output into strings in the console's code page. The script text itself is pure ASCII
(every user string rides as Base64), since Windows PowerShell 5.1 reads a .ps1 without a byte order
mark in the system's ANSI code page.
"""

from __future__ import annotations

import base64
import math
import re
import typing as t

from .become_script import BecomeAnswer
from .frame import OUTPUT_PAGE_BYTES, TAIL_BYTES, TransportError
from .shell_dialect import ShellEnvelope
from .stdin_plan import StdinPlan
from .stdin_script import CHUNK_WAIT_SECONDS, MISSING_REPORT_LIMIT, STALL_SECONDS

WINDOWS_ROOT = "C:\\ProgramData\\alicloud-ecs"  # chunks, work and spool directories, SYSTEM and Administrators only
PS_INLINE_BUDGET = 4 * 1024            # the PowerShell envelope is larger than the sh one; module commands ~4 KB
CONTENT_LIMIT = 24 * 1024              # RunCommand content, measured after Base64 (KeepCommand=false)
COMMAND_LINE_LIMIT = 32000             # CreateProcess takes at most 32767 characters
WINDOWS_POWERSHELL = "$env:SystemRoot + '\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'"
CHILD_FLAGS = "-NoProfile -NonInteractive -ExecutionPolicy Unrestricted"
# What ansible's powershell shell sends for modules and its own helpers: an -EncodedCommand line.
# It is started directly (one process fewer); its Base64 tokens may come single-quoted.
ENCODED_LINE_RE = re.compile(
    r"(?P<exe>powershell|pwsh)(?:\.exe)?"
    r"(?P<flags>(?: -(?:NoProfile|NonInteractive|NoLogo|InputFormat None|ExecutionPolicy (?:Unrestricted|Bypass)))*)"
    r" -EncodedCommand '?(?P<command>[A-Za-z0-9+/]+=*)'?(?: -EncodedArguments '?(?P<arguments>[A-Za-z0-9+/]+=*)'?)?",
    re.IGNORECASE)
# Output from a raw command's PowerShell strings is encoded with the console's encoding: make it UTF-8.
CONSOLE_UTF8 = "try { [Console]::OutputEncoding = New-Object Text.UTF8Encoding $false } catch {}\n"

PRELUDE = r"""# alicloud.ecs cloud_assistant envelope (PowerShell) v1
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = New-Object Text.UTF8Encoding $false } catch {}
$sw = [Diagnostics.Stopwatch]::StartNew()
$R = '@ROOT@'
function W([string]$s) { [Console]::Out.Write($s); [Console]::Out.Flush() }
function Gz($bytes, $sink) {
  $z = New-Object IO.Compression.GZipStream((New-Object IO.MemoryStream(, $bytes)), [IO.Compression.CompressionMode]::Decompress)
  try { $z.CopyTo($sink) } finally { $z.Dispose() }
}
function Sha($path) {
  $h = [Security.Cryptography.SHA256]::Create(); $f = [IO.File]::OpenRead($path)
  try { -join ($h.ComputeHash($f) | ForEach-Object { $_.ToString('x2') }) } finally { $f.Dispose() }
}
function ReadN($fs, $n) {
  $b = New-Object byte[] $n; $got = 0
  while ($got -lt $n) { $r = $fs.Read($b, $got, $n - $got); if ($r -le 0) { throw 'short frame' }; $got += $r }
  , $b
}
$null = New-Item -ItemType Directory -Force -Path $R
if (-not (Get-Acl -LiteralPath $R).AreAccessRulesProtected) {
  # Staged module payloads may hold secrets: SYSTEM and Administrators only, inherited below.
  $acl = New-Object Security.AccessControl.DirectorySecurity
  $acl.SetAccessRuleProtection($true, $false)
  foreach ($sid in 'S-1-5-18', 'S-1-5-32-544') {
    $acl.AddAccessRule((New-Object Security.AccessControl.FileSystemAccessRule(
      (New-Object Security.Principal.SecurityIdentifier $sid), 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')))
  }
  (Get-Item -LiteralPath $R).SetAccessControl($acl)
}
"""

RESTORE = r"""function Names {
  $ms = New-Object IO.MemoryStream
  foreach ($n in $M) { Gz ([IO.File]::ReadAllBytes((Join-Path $C $n))) $ms }
  [Text.Encoding]::ASCII.GetString($ms.ToArray()).Split([char[]]"`n", [StringSplitOptions]::RemoveEmptyEntries)
}
function Restore {
  try {
    $parts = $P
    if ($M) { $parts = @(Names | ForEach-Object { 'c' + $_ }) }
    $f = [IO.File]::Create("$d\in")
    try {
      foreach ($p in $parts) {
        if ($p.StartsWith('i')) { Gz ([Convert]::FromBase64String($p.Substring(1))) $f }
        else { Gz ([IO.File]::ReadAllBytes((Join-Path $C $p.Substring(1)))) $f }
      }
    } finally { $f.Dispose() }
    return ((-not $S) -or ((Sha "$d\in") -eq $S))
  } catch { return $false }
}
function Missing {
  $m = @(); $k = 0; $L = $M
  if (-not $M) { $L = @($P | Where-Object { $_.StartsWith('c') } | ForEach-Object { $_.Substring(1) }) }
  foreach ($n in $L) { if (-not (Test-Path -LiteralPath (Join-Path $C $n))) { $m += $n } }
  if ($M -and $m) { $m += '+' }
  elseif ($M) {
    try { $all = @(Names) } catch { $all = @(); $m += '+' }
    foreach ($n in $all) {
      if (Test-Path -LiteralPath (Join-Path $C $n)) { continue }
      $k++; if ($k -gt @LIMIT@) { $m += '+'; break }
      $m += $n
    }
  }
  if (-not $m) { $m = @('unverified') }
  $m -join ','
}
"""

WAIT_FOR_CHUNKS = r"""  $n = 0; $seen = -1; $still = 0
  while (-not (Restore)) {
    $now = @(Get-ChildItem -LiteralPath $C -ErrorAction SilentlyContinue).Count
    if ($now -eq $seen) { $still++ } else { $still = 0; $seen = $now }
    if ($n -ge @WAIT@ -or $still -ge @STALL@) { W ("`n<<ACE1 missing=" + (Missing) + ">>`n"); return }
    Start-Sleep -Milliseconds 100; $n++
  }
"""

RUN_AND_FRAME = r"""  $psi = New-Object Diagnostics.ProcessStartInfo
  $psi.FileName = $X; $psi.Arguments = $A
  $psi.UseShellExecute = $false; $psi.CreateNoWindow = $true
  $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
  $o = [IO.File]::Create("$d\out"); $e = [IO.File]::Create("$d\err")
  $p = [Diagnostics.Process]::Start($psi)
  $to = $p.StandardOutput.BaseStream.CopyToAsync($o); $te = $p.StandardError.BaseStream.CopyToAsync($e)
  $i = [IO.File]::OpenRead("$d\in")
  try { $i.CopyTo($p.StandardInput.BaseStream); $p.StandardInput.BaseStream.Flush() } catch {}
  finally { $i.Dispose(); try { $p.StandardInput.Close() } catch {} }
  $p.WaitForExit(); $to.Wait(); $te.Wait(); $rc = $p.ExitCode
  $o.Dispose(); $e.Dispose(); Remove-Item -LiteralPath "$d\in" -Force
  $olen = (Get-Item -LiteralPath "$d\out").Length; $elen = (Get-Item -LiteralPath "$d\err").Length
  $fr = [IO.File]::Create("$d\frame")
  $b64 = New-Object Security.Cryptography.CryptoStream($fr, (New-Object Security.Cryptography.ToBase64Transform),
    [Security.Cryptography.CryptoStreamMode]::Write)
  $z = New-Object IO.Compression.GZipStream($b64, [IO.Compression.CompressionMode]::Compress)
  $h = [Text.Encoding]::ASCII.GetBytes("ACE1 $rc $olen $elen`n"); $z.Write($h, 0, $h.Length)
  foreach ($n in 'out', 'err') { $s = [IO.File]::OpenRead("$d\$n"); try { $s.CopyTo($z) } finally { $s.Dispose() } }
  $z.Dispose()
  $size = (Get-Item -LiteralPath "$d\frame").Length; $sha = Sha "$d\frame"; $ms = $sw.ElapsedMilliseconds
  if ($size -le @TAIL@) {
    W ([IO.File]::ReadAllText("$d\frame")); W ("`n<<ACE1 size=$size sha256=$sha ms=$ms>>`n"); return
  }
  $head = $size - @TAIL@
  $sp = Join-Path $R ('spool\' + [guid]::NewGuid().ToString('N'))
  $null = New-Item -ItemType Directory -Force -Path $sp
  $fs = [IO.File]::OpenRead("$d\frame")
  try {
    $k = 0; $left = $head
    while ($left -gt 0) {
      $want = [Math]::Min(@PAGE@, $left)
      [IO.File]::WriteAllBytes("$sp\p$k", (ReadN $fs $want)); $left -= $want; $k++
    }
    $tail = ReadN $fs @TAIL@
  } finally { $fs.Dispose() }
  W ([Text.Encoding]::ASCII.GetString($tail))
  W ("`n<<ACE1 size=$size sha256=$sha ms=$ms spool=$sp head=$head>>`n")
"""

MAIN = r"""$d = Join-Path $R ('run\' + [guid]::NewGuid().ToString('N'))
$null = New-Item -ItemType Directory -Force -Path $d
try { Main } finally { Remove-Item -LiteralPath $d -Recurse -Force -ErrorAction SilentlyContinue }
"""

PAGE = r"""# alicloud.ecs cloud_assistant page (PowerShell) v1
$p = '@SPOOL@\p@INDEX@'
[Console]::Out.Write([IO.File]::ReadAllText($p)); [Console]::Out.Flush()
try {
  Remove-Item -LiteralPath $p -Force
  if (-not (Get-ChildItem -LiteralPath '@SPOOL@')) { Remove-Item -LiteralPath '@SPOOL@' -Force }
} catch {}
"""


def ps_string(value: str) -> str:
    """A PowerShell expression for ``value`` that keeps the script ASCII: a quoted literal, or decoded Base64."""
    if value.isascii() and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return f"[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}'))"


def child_process(command: str) -> tuple[str, str]:
    """PowerShell expressions for the child's executable and its argument string.

    An -EncodedCommand line is started as it stands. Anything else is a PowerShell command (as over
    SSH with PowerShell as the default shell) and runs as a script of its own, with UTF-8 output.
    """
    line = ENCODED_LINE_RE.fullmatch(command.strip())
    exe = WINDOWS_POWERSHELL
    if line:
        if line.group("exe").lower() == "pwsh":
            exe = "'pwsh.exe'"
        arguments = f"{line.group('flags').strip()} -EncodedCommand {line.group('command')}".strip()
        if line.group("arguments"):
            arguments += f" -EncodedArguments {line.group('arguments')}"
        length = len(arguments)
        expression = ps_string(arguments)
    else:
        script = CONSOLE_UTF8 + command
        length = len(CHILD_FLAGS) + 17 + 4 * math.ceil(len(script.encode("utf-16-le")) / 3)
        utf8 = base64.b64encode(script.encode("utf-8")).decode("ascii")
        expression = (f"'{CHILD_FLAGS} -EncodedCommand ' + [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes("
                      f"[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{utf8}'))))")
    if length > COMMAND_LINE_LIMIT:
        raise TransportError(f"the command is {length} characters as a Windows command line; "
                             f"at most {COMMAND_LINE_LIMIT} fit (CreateProcess)")
    return exe, expression


def _stdin_code(plan: StdinPlan | None) -> tuple[str, str]:
    """Variables describing stdin, and the code in Main that restores it into $d\\in."""
    if plan is None:
        return "", "  [IO.File]::WriteAllBytes(\"$d\\in\", [byte[]]@())\n"
    parts = ",".join(f"'i{part.inline}'" if part.inline is not None else f"'c{part.chunk}'" for part in plan.parts)
    chunked = bool(plan.manifest) or any(part.chunk for part in plan.parts)
    variables = (f"$C = {ps_string(plan.chunk_dir)}\n$P = @({parts})\n"
                 f"$M = @({','.join(ps_string(name) for name in plan.manifest)})\n$S = '{plan.sha256}'\n")
    if not chunked:
        return variables, "  if (-not (Restore)) { throw 'stdin could not be restored' }\n"
    wait = CHUNK_WAIT_SECONDS if plan.wait_seconds is None else plan.wait_seconds
    code = WAIT_FOR_CHUNKS.replace("@WAIT@", str(wait * 10)).replace("@STALL@", str(STALL_SECONDS * 10))
    if plan.manifest:
        # One large transfer's chunks go once it is rebuilt, as on POSIX.
        code += ("  foreach ($n in @(Names) + $M) "
                 "{ Remove-Item -LiteralPath (Join-Path $C $n) -Force -ErrorAction SilentlyContinue }\n")
    return variables, code


def build_ps_run_script(command: bytes, plan: StdinPlan | None = None) -> str:
    """The PowerShell script that restores stdin, runs ``command`` and prints the framed result."""
    try:
        text = command.decode("utf-8")
    except UnicodeDecodeError:
        raise TransportError("a PowerShell command must be UTF-8 text") from None
    exe, arguments = child_process(text)
    variables, restore = _stdin_code(plan)
    script = "".join((
        PRELUDE.replace("@ROOT@", WINDOWS_ROOT),
        variables, RESTORE.replace("@LIMIT@", str(MISSING_REPORT_LIMIT)) if variables else "",
        f"$X = {exe}\n$A = {arguments}\n",
        "function Main {\n", restore, "  $sw.Restart()\n",  # time the command alone, as on POSIX
        RUN_AND_FRAME.replace("@TAIL@", str(TAIL_BYTES)).replace("@PAGE@", str(OUTPUT_PAGE_BYTES)),
        "}\n", MAIN,
    ))
    encoded = 4 * math.ceil(len(script) / 3)
    if encoded > CONTENT_LIMIT:
        raise TransportError(f"the PowerShell envelope is {encoded} bytes after Base64; RunCommand takes at most "
                             f"{CONTENT_LIMIT} (the command itself is too long for one Windows invocation)")
    return script


def build_ps_page_script(spool: str, index: int) -> str:
    """Print page ``index`` of a spooled frame and remove it; the last page removed takes the directory."""
    if not re.fullmatch(r"[A-Za-z]:\\[\w\\.-]+", spool):
        raise TransportError(f"unexpected spool directory from the instance: {spool!r}")
    return PAGE.replace("@SPOOL@", spool).replace("@INDEX@", str(int(index)))


def ps_chunk_dir_for(user: str) -> str:
    """Where staged chunks live on a Windows instance (the SendFile TargetDir): per user, like on POSIX."""
    safe = re.sub(r"[^\w.-]", "_", user or "System")
    return f"{WINDOWS_ROOT}\\chunks\\{safe}"


class PowerShellEnvelope(ShellEnvelope):
    """Scripts for Windows instances; staging, retries and paging stay the executor's."""

    command_type = "RunPowerShellScript"
    inline_budget = PS_INLINE_BUDGET
    keeps_bases = False  # Windows modules are not AnsiballZ zips; no delta rebuild in PowerShell
    page_working_dir = None  # the agent's own directory (a Windows user always has one)

    def run_script(self, command: bytes, plan: StdinPlan | None, become: BecomeAnswer | None = None) -> str:
        if become is not None:
            raise TransportError("Windows instances escalate inside ansible's exec wrapper, never at a prompt")
        return build_ps_run_script(command, plan)

    def page_script(self, spool: str, index: int, removes: t.Sequence[int]) -> str:
        """Every Windows read removes its own page (``removes`` is for the POSIX reads, which save
        processes by removing a round at a time; a PowerShell start costs far more than a removal)."""
        return build_ps_page_script(spool, index)

    def chunk_dir(self, user: str) -> str:
        return ps_chunk_dir_for(user)

    def stages_by_run(self, user: str) -> bool:
        """Windows chunks always go with SendFile (only the default System user is supported there)."""
        return False


def put_command(path: str) -> str:
    """PowerShell that writes its raw stdin to ``path`` (relative paths resolve as PowerShell would)."""
    return ("$ErrorActionPreference = 'Stop'\n"
            f"$t = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath({ps_string(path)})\n"
            "$s = [Console]::OpenStandardInput(); $f = [IO.File]::Create($t)\n"
            "try { $s.CopyTo($f) } finally { $f.Dispose() }\n")


def fetch_command(path: str) -> str:
    """PowerShell that writes the raw bytes of ``path`` to stdout, or fails with rc 1 and a message."""
    return ("$ErrorActionPreference = 'Stop'\n"
            "try {\n"
            f"  $t = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath({ps_string(path)})\n"
            "  $f = [IO.File]::OpenRead($t)\n"
            "} catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }\n"
            "$o = [Console]::OpenStandardOutput()\n"
            "try { $f.CopyTo($o); $o.Flush() } finally { $f.Dispose() }\n")
