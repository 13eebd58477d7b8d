"""The staging directory the envelope claims, and what it reads and prunes there, run by the local /bin/sh.

These tests run as root (like the envelope of a root remote user) and plant what an unprivileged user could not
plant in root's real directory (/var/lib is root's only): the envelope must refuse or skip it anyway.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocations_api import encode_content
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import (
    file_transfer, frame as codec, shell_dialect, shell_scripts, staging_dir, stdin_plan,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import InstanceCache
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_errors import RemoteExecError
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import InstanceExecutor
from test_remote_exec import FakeCloud

NOBODY = 65534
RUN_LIMIT = 60  # seconds: only a hang (a FIFO opened for reading) gets near it


def run(script: str, env: dict[str, str] | None = None) -> bytes:
    """Run ``script`` as the agent would; a hang fails the test instead of the suite."""
    return subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=True,
                          timeout=RUN_LIMIT, env=dict(os.environ, **(env or {}))).stdout


def chunk_plan(directory: Path, data: bytes, **extra) -> tuple[stdin_plan.StdinPlan, file_transfer.Chunk]:
    chunk = file_transfer.make_chunk(data)
    return stdin_plan.StdinPlan(parts=[stdin_plan.StdinPart(chunk=chunk.name)], chunk_dir=str(directory),
                                sha256=hashlib.sha256(data).hexdigest(), wait_seconds=0, **extra), chunk


def envelope(plan: stdin_plan.StdinPlan, command: bytes = b"wc -c") -> codec.Trailer:
    return codec.parse_trailer(run(shell_scripts.build_run_script(command, plan)))


def test_a_missing_directory_is_created_private(tmp_path) -> None:
    staging = tmp_path / "lib" / "alicloud-ecs" / "root"
    plan, chunk = chunk_plan(staging, b"x" * 100)
    assert envelope(plan).missing == [chunk.name]
    assert staging.is_dir() and (staging.stat().st_mode & 0o777) == 0o700
    assert (staging.parent.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("plant", ["symlink", "file", "foreign owner", "foreign parent", "symlinked parent"])
def test_a_directory_that_is_not_a_real_one_of_the_user_is_refused_by_path(tmp_path, plant) -> None:
    """Planted as root here; on an instance only root could plant these in /var/lib/alicloud-ecs."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    staging = tmp_path / "lib" / "root"
    staging.parent.mkdir()
    if plant == "symlink":
        staging.symlink_to(elsewhere)
    elif plant == "file":
        staging.write_text("not a directory")
    elif plant == "foreign owner":
        staging.mkdir()
        os.chown(staging, NOBODY, NOBODY)
    elif plant == "foreign parent":
        staging.mkdir()
        os.chown(staging.parent, NOBODY, NOBODY)
    else:
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "root").mkdir()
        staging.parent.rmdir()
        staging.parent.symlink_to(tmp_path / "real")
    marker = tmp_path / "ran"
    plan, chunk = chunk_plan(staging, b"y" * 100, prune=stdin_plan.StagingLimits(), release=["ab" * 32 + ".gz"])
    (elsewhere / chunk.name).write_bytes(chunk.blob)
    trailer = envelope(plan, f"touch {marker}".encode())
    assert trailer.refused == str(staging)
    assert not marker.exists(), "nothing runs"
    assert sorted(path.name for path in elsewhere.iterdir()) == [chunk.name], "nothing is created or removed there"


def test_the_refusal_names_the_path_and_the_user(tmp_path, monkeypatch) -> None:
    cloud = FakeCloud(tmp_path / "instance")
    staging = tmp_path / "planted"
    staging.symlink_to("/etc")
    monkeypatch.setattr(shell_dialect, "chunk_dir_for", lambda user: str(staging))
    runner = InstanceExecutor(cloud, "i-1", ExecOptions(schedule=PollSchedule(first=0)),
                              InstanceCache(str(tmp_path / "cache"), "endpoint|key", "i-1"))
    with pytest.raises(RemoteExecError, match=f"refusing the staging directory {staging} on i-1: .*owned by root"):
        runner.run(b"wc -c", os.urandom(60_000))


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_chunk_that_is_not_a_regular_file_counts_as_missing(tmp_path, kind) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    plan, chunk = chunk_plan(staging, b"z" * 100)
    secret = tmp_path / "secret"
    secret.write_bytes(chunk.blob)
    if kind == "fifo":
        os.mkfifo(staging / chunk.name)
    else:
        (staging / chunk.name).symlink_to(secret)
    assert envelope(plan).missing == [chunk.name]


def test_a_fifo_among_a_manifests_chunks_counts_as_missing(tmp_path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    data = os.urandom(100_000)
    chunks = file_transfer.split_chunks(data)
    manifest = file_transfer.split_chunks("".join(f"{chunk.name}\n" for chunk in chunks).encode())
    for chunk in chunks[1:] + manifest:
        (staging / chunk.name).write_bytes(chunk.blob)
    os.mkfifo(staging / chunks[0].name)
    plan = stdin_plan.StdinPlan(manifest=[chunk.name for chunk in manifest], chunk_dir=str(staging),
                                sha256=hashlib.sha256(data).hexdigest(), wait_seconds=0)
    assert envelope(plan).missing == [chunks[0].name]


def test_a_fifo_as_the_kept_base_counts_as_missing(tmp_path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    os.mkfifo(staging / "base.base")
    edit = stdin_plan.BaseEdit(base="base.base", interpreter=["python3"], prefix=0, resume=0,
                               middle=stdin_plan.pack_inline(b""), edits=stdin_plan.pack_inline(b""),
                               patch=stdin_plan.pack_inline(b""))
    plan = stdin_plan.StdinPlan(chunk_dir=str(staging), sha256="ab" * 32, wait_seconds=0, from_base=edit)
    assert envelope(plan).missing == ["base.base"]


def pruned_plan(staging: Path) -> stdin_plan.StdinPlan:
    data = b"p" * 100
    chunk = file_transfer.make_chunk(data)
    (staging / chunk.name).write_bytes(chunk.blob)
    return stdin_plan.StdinPlan(parts=[stdin_plan.StdinPart(chunk=chunk.name)], chunk_dir=str(staging),
                                sha256=hashlib.sha256(data).hexdigest(), wait_seconds=0,
                                prune=stdin_plan.StagingLimits(max_age_hours=1, max_size_mb=1))


def aged(path: Path, hours: float = 3) -> None:
    past = time.time() - hours * 3600
    os.utime(path, (past, past), follow_symlinks=not path.is_symlink())


def test_a_planted_stamp_link_is_replaced_not_followed(tmp_path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o755)
    victim = tmp_path / "nologin"
    (staging / ".pruned").symlink_to(victim)
    trailer = envelope(pruned_plan(staging))
    assert not trailer.missing and not trailer.refused
    assert not victim.exists()
    assert (staging / ".pruned").is_file() and not (staging / ".pruned").is_symlink()
    assert (staging.stat().st_mode & 0o777) == 0o700, "the mode is fixed when pruning"


def test_pruning_by_size_skips_fifos_and_links(tmp_path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    outside.write_bytes(b"o" * 3_000_000)
    os.mkfifo(staging / "f1f0")
    (staging / "l1nk").symlink_to(outside)
    (staging / "b1g0").write_bytes(b"b" * 2_000_000)
    for name in ("f1f0", "l1nk", "b1g0"):
        aged(staging / name, 0.5)
    envelope(pruned_plan(staging))
    assert not (staging / "b1g0").exists(), "over the size budget"
    assert outside.stat().st_size == 3_000_000, "a link is never measured through, and never followed"


def test_stray_work_directories_go_only_when_the_runner_owns_them(tmp_path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("keep")
    own, foreign, linked = temp / ".alicloud-ecs.own00000", temp / ".alicloud-ecs.foreign0", temp / ".alicloud-ecs-run.l1nk"
    own.mkdir()
    foreign.mkdir()
    (foreign / "in").write_text("x")
    os.chown(foreign, NOBODY, NOBODY)
    linked.symlink_to(target)
    for path in (own, foreign, linked, target):
        aged(path)
    run(shell_scripts.build_run_script(b"true", pruned_plan(staging)), env={"TMPDIR": str(temp)})
    assert not own.exists()
    assert (foreign / "in").exists(), "another user's directory (or a name another user took) stays"
    assert linked.is_symlink() and (target / "keep").exists(), "a link is not followed"


def test_a_non_root_user_stages_in_its_own_home(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    plan, chunk = chunk_plan(Path("/unused"), b"h" * 100)
    plan.chunk_dir = staging_dir.HOME_STAGING_DIR
    assert codec.parse_trailer(run(shell_scripts.build_run_script(b"true", plan), env={"HOME": str(home)})).missing
    staging = home / ".alicloud-ecs"
    assert staging.is_dir() and (staging.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("home", ["/", "", "not owned", "missing"])
def test_without_a_usable_home_the_fallback_is_claimed_the_same_way(tmp_path, monkeypatch, home) -> None:
    monkeypatch.setattr(staging_dir, "FALLBACK_STAGING_PREFIX", str(tmp_path / "fallback-"))
    if home == "not owned":
        home = str(tmp_path / "shared")
        os.mkdir(home)
        os.chown(home, NOBODY, NOBODY)
    elif home == "missing":
        home = str(tmp_path / "gone")
    plan, _chunk = chunk_plan(Path("/unused"), b"f" * 100)
    plan.chunk_dir = staging_dir.HOME_STAGING_DIR
    trailer = codec.parse_trailer(run(shell_scripts.build_run_script(b"true", plan), env={"HOME": home}))
    fallback = tmp_path / f"fallback-{os.getuid()}"
    assert trailer.missing and fallback.is_dir() and (fallback.stat().st_mode & 0o777) == 0o700
    # Another user who took the name first gets a refusal, not a directory shared with them.
    os.chown(fallback, NOBODY, NOBODY)
    trailer = codec.parse_trailer(run(shell_scripts.build_run_script(b"true", plan), env={"HOME": home}))
    assert trailer.refused == str(fallback)


def test_a_staging_run_fits_runcommand_and_writes_the_chunk(tmp_path) -> None:
    """The largest chunk a RunCommand stages (random data: stored grains) keeps the script's Base64 within the
    24 KB RunCommand takes with KeepCommand=false."""
    chunk = max(file_transfer.split_chunks(os.urandom(200_000), file_transfer.RUN_STAGE_BYTES),
                key=lambda piece: len(piece.blob))
    assert len(chunk.blob) > file_transfer.RUN_STAGE_BYTES - file_transfer.GRAIN_BYTES
    script = file_transfer.stage_script(staging_dir.HOME_STAGING_DIR, chunk)
    assert len(encode_content(script)) <= 24 * 1024
    home = tmp_path / "home"
    home.mkdir()
    run(script, env={"HOME": str(home)})
    written = home / ".alicloud-ecs" / chunk.name
    assert written.read_bytes() == chunk.blob and (written.stat().st_mode & 0o777) == 0o600
    assert [path.name for path in written.parent.iterdir()] == [chunk.name], "no part file stays"


def user_executor(cloud: FakeCloud, tmp_path: Path) -> InstanceExecutor:
    cache = InstanceCache(str(tmp_path / "cache"), "endpoint|key", "i-1", user="deploy",
                          place=staging_dir.HOME_STAGING_DIR)
    return InstanceExecutor(cloud, "i-1", ExecOptions(username="deploy", schedule=PollSchedule(first=0)), cache)


def test_a_non_root_user_never_gets_sendfile_and_reuses_what_it_staged(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    cloud = FakeCloud(tmp_path / "instance")
    payload = os.urandom(150_000)
    frame = user_executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", payload)
    assert frame.stdout.strip().decode() == hashlib.sha256(payload).hexdigest()
    assert cloud.calls["SendFile"] == 0
    staged = len(file_transfer.split_chunks(payload, file_transfer.RUN_STAGE_BYTES))
    assert staged - 2 <= cloud.calls["RunCommand"] - 1 <= staged, "one staging run per chunk, bar the inline head"
    assert len(list((home / ".alicloud-ecs").glob("*.gz"))) == cloud.calls["RunCommand"] - 1
    before = cloud.calls.copy()
    frame = user_executor(cloud, tmp_path).run(b"sha256sum | cut -c1-64", payload)
    assert frame.stdout.strip().decode() == hashlib.sha256(payload).hexdigest()
    assert cloud.calls - before == Counter(RunCommand=1, DescribeInvocationResults=1)


def test_a_change_of_staging_place_forgets_what_the_instance_held(tmp_path) -> None:
    old = InstanceCache(str(tmp_path), "endpoint|key", "i-1", user="root", place="/var/tmp/.alicloud-ecs/root")
    old.update_chunks(add=["a.gz"])
    old.set_timing("kind", {"run": 1.0})
    new = InstanceCache(str(tmp_path), "endpoint|key", "i-1", user="root", place=staging_dir.ROOT_STAGING_DIR)
    assert new.known_chunks() == set() and new.timing("kind") == {"run": 1.0}
    other = InstanceCache(str(tmp_path), "endpoint|key", "i-1", user="deploy", place=staging_dir.ROOT_STAGING_DIR)
    assert other.path != new.path


def test_release_of_a_no_log_task_works_for_the_owner(tmp_path) -> None:
    staging = tmp_path / "stage"
    staging.mkdir(mode=0o700)
    data = b"secret" * 20
    plan, chunk = chunk_plan(staging, data, release=[file_transfer.make_chunk(data).name])
    (staging / chunk.name).write_bytes(chunk.blob)
    trailer = envelope(plan)
    assert not trailer.missing
    assert not (staging / chunk.name).exists()
    assert base64.b64decode(trailer.frame_tail)  # the command ran


def test_pruning_works_when_the_command_starts_in_a_directory_the_user_cannot_read() -> None:
    """find -exec gives up when it cannot return to its starting directory: the agent may start a user's
    command in root's home."""
    top = Path(tempfile.mkdtemp(prefix="staging-cwd-"))
    try:
        top.chmod(0o755)
        locked = top / "locked"
        locked.mkdir(mode=0o700)
        staging = top / "stage"
        staging.mkdir(mode=0o700)
        plan = pruned_plan(staging)
        (staging / "0ld0").write_text("old")
        aged(staging / "0ld0")
        for path in (top, staging, *staging.iterdir()):
            os.chown(path, NOBODY, NOBODY)
        subprocess.run(["runuser", "-u", "nobody", "--", "/bin/sh", "-c", shell_scripts.build_run_script(b"true", plan)],
                       cwd=locked, check=True, timeout=RUN_LIMIT, stdout=subprocess.DEVNULL)
        assert not (staging / "0ld0").exists()
    finally:
        shutil.rmtree(top)
