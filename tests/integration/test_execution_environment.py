"""docs/execution-environment.yml is an EE definition ansible-builder accepts, and the EE gets the SDK.

`ansible-builder create` writes the build context (no container is built here: no container runtime
on the test machines); `ansible-builder introspect` on the installed collection shows the Python
requirements ansible-builder would install into the image, read from meta/execution-environment.yml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
EE_DEFINITION = REPO_ROOT / "docs" / "execution-environment.yml"


def run(*argv: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run([str(BIN_DIR / argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ansible_builder_creates_the_build_context(tmp_path) -> None:
    """As docs/awx.md says: the tarball `ansible-galaxy collection build` writes, beside the definition."""
    version = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    run("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO_ROOT))
    (tmp_path / "execution-environment.yml").write_text(EE_DEFINITION.read_text())
    context = tmp_path / "context"
    run("ansible-builder", "create", "-f", "execution-environment.yml", "-c", str(context),
        "--output-filename", "Containerfile", cwd=tmp_path)
    containerfile = (context / "Containerfile").read_text()
    assert 'EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ANSIBLE_INSTALL_REFS="ansible-core>=2.17,<2.22 ansible-runner"' in containerfile
    assert (context / "_build" / "collections" / f"alicloud-ecs-{version}.tar.gz").is_file()  # lands in /build/collections
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy["collections"] == [{"name": f"/build/collections/alicloud-ecs-{version}.tar.gz", "type": "file"}]
    awx = (REPO_ROOT / "docs" / "awx.md").read_text()
    assert f"alicloud-ecs-{version}.tar.gz" in awx and "/build/collections/" in awx


def test_the_installed_collection_tells_ansible_builder_its_python_requirements(tmp_path) -> None:
    run("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO_ROOT))
    (tarball,) = tmp_path.glob("alicloud-ecs-*.tar.gz")
    installed = tmp_path / "collections"
    run("ansible-galaxy", "collection", "install", "--offline", "--force", "-p", str(installed), str(tarball))
    found = yaml.safe_load(run("ansible-builder", "introspect", str(installed)))
    wanted = {line.split(">")[0].split("=")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    listed = {line.split(">")[0].split("=")[0].split("#")[0].strip() for line in found["python"]}
    assert wanted <= listed, found
