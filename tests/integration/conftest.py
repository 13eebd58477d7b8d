"""End-to-end fixtures: a fresh emulator and real ansible-playbook / ansible-inventory runs against it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DEMO_FLEET = REPO_ROOT / "emulator" / "fleets" / "demo.yml"
DEMO_INVENTORY = REPO_ROOT / "playbooks" / "inventory" / "demo.alicloud_ecs.yml"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Ansible:
    """Runs the real ansible CLIs with the emulator's credentials and endpoint in the environment."""

    def __init__(self, emulator: EmulatorProcess, tmp_path: Path) -> None:
        self.emulator = emulator
        self.env = dict(os.environ)
        self.env.update(emulator.env())
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / ".build" / "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_ALICLOUD_TRANSFER_CACHE": str(tmp_path / "transfer-cache"),
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_CONFIG": str(self._empty_config(tmp_path)),
        })

    @staticmethod
    def _empty_config(tmp_path: Path) -> Path:
        """ansible's defaults only: a stray ansible.cfg or ~/.ansible.cfg cannot change results."""
        path = tmp_path / "ansible.cfg"
        path.write_text("[defaults]\n")
        return path

    def run(self, tool: str, *args: str, env: dict[str, str] | None = None, timeout: int = 600) -> Run:
        merged = dict(self.env, **(env or {}))
        done = subprocess.run([str(BIN_DIR / tool), *args], env=merged, cwd=REPO_ROOT, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
        return Run(done.returncode, done.stdout, done.stderr)

    def playbook(self, playbook: str | Path, *args: str, inventory: str | Path = DEMO_INVENTORY,
                 env: dict[str, str] | None = None) -> Run:
        return self.run("ansible-playbook", "-i", str(inventory), str(playbook), *args, env=env)

    def inventory(self, *args: str, inventory: str | Path = DEMO_INVENTORY,
                  env: dict[str, str] | None = None) -> Run:
        return self.run("ansible-inventory", "-i", str(inventory), *args, env=env)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorProcess(fleet=DEMO_FLEET, state_dir=tmp_path_factory.mktemp("emulator-state")) as process:
        yield process


@pytest.fixture
def ansible(emulator, tmp_path) -> Ansible:
    return Ansible(emulator, tmp_path)


@pytest.fixture
def reachable(emulator) -> list[dict]:
    """The instances a Cloud Assistant playbook can reach: running, with the agent online."""
    return [item for item in emulator.instances() if item["status"] == "Running" and item["agent"] == "online"]
