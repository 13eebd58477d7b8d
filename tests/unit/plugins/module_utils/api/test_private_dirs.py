"""The controller's private state directory: ours and 0700, or refused with the path and its owner; locks in it
are waited for with a deadline that ends in an error naming the lock file."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api import call_slots, private_dirs
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import LocalStateError

OTHER_UID = 65534  # nobody: the tests run as root, so they can give a directory away


def env_for(tmp_path, **extra: str) -> dict[str, str]:
    return {"ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"), **extra}


def mode(path) -> int:
    return os.lstat(path).st_mode & 0o777


def test_the_state_directory_is_made_private_in_ansibles_local_temp(tmp_path) -> None:
    path = private_dirs.state_directory(env_for(tmp_path))
    assert path == str(tmp_path / "local" / "alicloud-ecs")
    assert mode(path) == 0o700 and os.lstat(path).st_uid == os.getuid()


def test_a_loose_mode_on_our_own_directory_is_fixed(tmp_path) -> None:
    (tmp_path / "local" / "alicloud-ecs").mkdir(parents=True)
    os.chmod(tmp_path / "local" / "alicloud-ecs", 0o777)
    path = private_dirs.state_directory(env_for(tmp_path))
    assert mode(path) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user takes root")
def test_a_directory_planted_by_another_user_is_refused_naming_it_and_its_owner(tmp_path) -> None:
    planted = tmp_path / "local" / "alicloud-ecs"
    planted.mkdir(parents=True)
    os.chown(planted, OTHER_UID, OTHER_UID)
    with pytest.raises(LocalStateError, match=f"{planted}: it belongs to uid {OTHER_UID}") as raised:
        private_dirs.state_directory(env_for(tmp_path))
    assert "not to this user (uid 0 (root))" in str(raised.value)
    assert os.lstat(planted).st_uid == OTHER_UID and not list(planted.iterdir())


def test_a_symbolic_link_is_refused_and_never_followed(tmp_path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "alicloud-ecs").symlink_to(target)
    with pytest.raises(LocalStateError, match="alicloud-ecs: it is a symbolic link"):
        private_dirs.state_directory(env_for(tmp_path))
    assert mode(target) == 0o755 and not list(target.iterdir())
    (tmp_path / "local" / "alicloud-ecs").unlink()
    (tmp_path / "local" / "alicloud-ecs").symlink_to(tmp_path / "missing")  # dangling: still a link
    with pytest.raises(LocalStateError, match="symbolic link"):
        private_dirs.state_directory(env_for(tmp_path))
    assert not (tmp_path / "missing").exists()


def test_a_file_in_its_place_is_refused(tmp_path) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "alicloud-ecs").write_text("")
    with pytest.raises(LocalStateError, match="it is not a directory"):
        private_dirs.state_directory(env_for(tmp_path))


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user takes root")
def test_a_runtime_directory_of_another_user_is_passed_over(tmp_path) -> None:
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, OTHER_UID, OTHER_UID)
    assert private_dirs.state_directory(env_for(tmp_path, XDG_RUNTIME_DIR=str(runtime))) == \
        str(tmp_path / "local" / "alicloud-ecs")
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    assert private_dirs.state_directory(env_for(tmp_path, XDG_RUNTIME_DIR=str(ours))) == str(ours / "alicloud-ecs")


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user takes root")
def test_a_local_temp_others_can_write_falls_back_to_the_temp_directory_where_a_plant_is_refused(
        tmp_path, monkeypatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, OTHER_UID, OTHER_UID)  # another user's directory: they could swap what we make in it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(mode=0o1777)
    path = private_dirs.state_directory({"ANSIBLE_LOCAL_TEMP": str(shared)})
    assert path == str(tmp_path / "tmp" / f"alicloud-ecs-{os.getuid()}") and mode(path) == 0o700
    os.rmdir(path)
    os.mkdir(path)
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(LocalStateError, match=f"refusing the controller state directory {path}: it belongs to uid "):
        private_dirs.state_directory({"ANSIBLE_LOCAL_TEMP": str(shared)})


def test_a_temp_directory_others_can_write_without_a_sticky_bit_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "tmp").mkdir()
    os.chmod(tmp_path / "tmp", 0o777)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("HOME", str(tmp_path / "no-home"))
    (tmp_path / "no-home").write_text("")  # not a directory: ansible's local temp cannot be made there
    with pytest.raises(LocalStateError, match=f"{tmp_path / 'tmp'} \\(TMPDIR\\) can be written by other users"):
        private_dirs.state_directory({})
    assert not (tmp_path / "tmp" / f"alicloud-ecs-{os.getuid()}").exists()


def test_a_bad_lock_wait_is_refused_naming_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("ANSIBLE_ALICLOUD_LOCK_WAIT", "soon")
    with pytest.raises(ConfigError, match="ANSIBLE_ALICLOUD_LOCK_WAIT must be a number of seconds"):
        private_dirs.lock_any([0], "file x")


def _holder(path) -> subprocess.Popen:
    """Another process that holds the flock of ``path`` until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"handle = open({str(path)!r}, 'a')\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_lock_held_too_long_ends_in_an_error_naming_the_file_and_the_wait(tmp_path, monkeypatch) -> None:
    lock = tmp_path / "lock"
    holder = _holder(lock)
    try:
        monkeypatch.setenv("ANSIBLE_ALICLOUD_LOCK_WAIT", "0.3")
        descriptor = private_dirs.open_private(str(lock))
        try:
            with pytest.raises(LocalStateError, match=f"waited 0.3 s for the lock file {lock}, held"):
                private_dirs.lock_any([descriptor], f"file {lock}")
        finally:
            os.close(descriptor)
    finally:
        holder.kill()
        holder.wait()
    descriptors = [private_dirs.open_private(str(lock)) for _index in range(2)]
    try:  # the holder is gone: the lock is free at once, and then it is ours
        assert private_dirs.lock_any(descriptors[:1], f"file {lock}", seconds=0) == 0
        assert not private_dirs.try_lock(descriptors[1])
    finally:
        for descriptor in descriptors:
            os.close(descriptor)


def test_waiting_for_a_call_slot_has_a_deadline_that_names_the_slot_files(tmp_path) -> None:
    directory = tmp_path / "pool"
    directory.mkdir()
    holder = _holder(directory / "slot-0")
    try:
        with pytest.raises(CloudError, match=f"LocalSlotTimeout: waited 0.2 s for the lock files {directory}/slot-0"):
            with call_slots.CallSlots(str(directory), 1, wait=0.2).held():
                pytest.fail("the slot is another process's")
    finally:
        holder.kill()
        holder.wait()
    with call_slots.CallSlots(str(directory), 1, wait=0.2).held():  # the holder is gone: the slot is free
        pass


def test_the_shared_pool_lives_in_the_private_state_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path / "local"))
    monkeypatch.setattr(call_slots, "_POOLS", {})
    pool = call_slots.shared(3)
    assert pool.directory.startswith(str(tmp_path / "local" / "alicloud-ecs" / "call-slots" / "calls-"))
    with pool.held():
        assert {mode(os.path.join(pool.directory, name)) for name in os.listdir(pool.directory)} == {0o600}


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user takes root")
def test_an_api_call_refuses_a_planted_state_directory_with_a_cloud_error(tmp_path, monkeypatch) -> None:
    planted = tmp_path / "local" / "alicloud-ecs"
    planted.mkdir(parents=True)
    os.chown(planted, OTHER_UID, OTHER_UID)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path / "local"))
    monkeypatch.setattr(call_slots, "_POOLS", {})
    with pytest.raises(CloudError, match=f"LocalState: refusing the controller state directory {planted}"):
        call_slots.shared(3)
