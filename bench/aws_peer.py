"""The peer beside our inventory plugin: amazon.aws's ``aws_ec2`` against a local moto server.

Both run through the same ``ansible-inventory`` with the same shape of fleet (instances spread over three
regions, one ``role`` tag each), one keyed group on that tag and one compose var, hosts named by
instance ID. moto answers EC2's API on 127.0.0.1 with no injected latency, as our emulator does.

Nothing here is a dependency of the collection: ``make bench`` installs boto3 and moto[server]
(bench/requirements-peer.txt) into the venv and the amazon.aws collection (from PyPI's ``ansible``
package, without its dependencies) under .build/bench-peer. Without them the row is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from bench.ssh import free_port

PEER_COLLECTIONS = Path(__file__).resolve().parent.parent / ".build" / "bench-peer"
AWS_REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
RUN_BATCH = 1000  # instances per RunInstances call while seeding moto
IMAGE = "ami-12345678"  # moto accepts any image ID; looking one up (DescribeImages) took 14 s of moto's time


def peer_missing() -> str | None:
    """Why the peer cannot run here, or None."""
    if not (PEER_COLLECTIONS / "ansible_collections" / "amazon" / "aws").is_dir():
        return f"amazon.aws is not installed under {PEER_COLLECTIONS} (make bench installs it)"
    for module in ("boto3", "moto"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed in this venv (make bench installs bench/requirements-peer.txt)"
    if not (Path(sys.executable).parent / "moto_server").exists():
        return "moto_server is missing (moto[server])"
    return None


@contextlib.contextmanager
def moto_server() -> t.Iterator[str]:
    """A throw-away moto server on a free local port; yields its URL."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if server.poll() is not None:
                raise RuntimeError("moto_server exited at start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def seed(url: str, size: int) -> float:
    """``size`` running instances spread over AWS_REGIONS, each tagged role=web; returns the seconds it took."""
    # A bench-only extra, so imported only when the peer runs.
    import boto3  # pylint: disable=import-outside-toplevel

    started = time.perf_counter()
    per_region = -(-size // len(AWS_REGIONS))
    for region in AWS_REGIONS:
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=url, aws_access_key_id="bench",
                           aws_secret_access_key="bench-secret")
        left = per_region
        while left:
            count = min(left, RUN_BATCH)
            ec2.run_instances(ImageId=IMAGE, MinCount=count, MaxCount=count, InstanceType="t3.large",
                              TagSpecifications=[{"ResourceType": "instance",
                                                  "Tags": [{"Key": "role", "Value": "web"}]}])
            left -= count
    return time.perf_counter() - started


def inventory_configs(url: str, work: Path, size: int) -> dict[str, Path]:
    """aws_ec2 configurations, cold and cached, with our bench's keyed group and compose var."""
    base = (f"plugin: amazon.aws.aws_ec2\nregions: {AWS_REGIONS}\nendpoint_url: {url}\n"
            "aws_access_key_id: bench\naws_secret_access_key: bench-secret\nhostnames: [instance-id]\n"
            "keyed_groups:\n  - key: ec2_tags.role\n    prefix: role\n"
            "compose:\n  ansible_python_interpreter: \"'/usr/bin/python3'\"\n")
    cache = (f"cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {work / f'aws-cache-{size}'}\n"
             "cache_timeout: 3600\n")
    paths = {}
    for label, text in (("aws_ec2 (moto), cold", base), ("aws_ec2 (moto), cached", base + cache)):
        paths[label] = work / f"bench-{size}-{'cold' if 'cold' in label else 'cached'}.aws_ec2.yml"
        paths[label].write_text(text)
    return paths
