"""The ansible.builtin staples run unchanged over Cloud Assistant, and a second run changes nothing."""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def build_inputs(work: Path) -> None:
    """A script, a tarball and a small .deb, made here so the test depends on nothing outside."""
    work.mkdir(parents=True, exist_ok=True)
    script = work / "hello.sh"
    script.write_text("#!/bin/sh\necho hello \"$1\"\n")
    script.chmod(0o755)
    bundle = work / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "readme.txt").write_text("bundle readme\n")
    with tarfile.open(work / "bundle.tar.gz", "w:gz") as archive:
        archive.add(bundle, arcname="bundle")
    package = work / "deb"
    (package / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (package / "DEBIAN" / "control").write_text(
        "Package: alicloud-ecs-staples\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: alicloud.ecs tests <tests@example.invalid>\nDescription: staples test package\n")
    (package / "opt" / "alicloud-ecs-staples").mkdir(parents=True, exist_ok=True)
    (package / "opt" / "alicloud-ecs-staples" / "installed.txt").write_text("installed by apt\n")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(package), str(work / "alicloud-ecs-staples.deb")],
                   check=True, capture_output=True)


@pytest.fixture
def served_url(tmp_path):
    """A file served on 127.0.0.1 (the emulated instances share this machine's network)."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "served.txt").write_text("served over loopback\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/served.txt"
    server.shutdown()


def changed_counts(output: str) -> dict[str, int]:
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+:.*changed=(\d+)", output, re.M)}


def test_staples_pass_and_are_idempotent(ansible, tmp_path, served_url) -> None:
    work = tmp_path / "work"
    build_inputs(work)
    extra = json.dumps({"work_dir": str(work), "served_url": served_url})
    first = ansible.playbook(PLAYBOOKS / "staples.yml", "-e", extra)
    assert first.rc == 0, first.output
    assert (work / "fetched").exists()
    second = ansible.playbook(PLAYBOOKS / "staples.yml", "-e", extra)
    assert second.rc == 0, second.output
    assert set(changed_counts(second.stdout).values()) == {0}, second.stdout
