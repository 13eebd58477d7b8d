"""End-to-end fixtures: a fresh emulator and real ansible-playbook / ansible-inventory runs against it."""

from __future__ import annotations

import json
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
CALLBACKS = Path(__file__).resolve().parent / "callbacks"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Played(Run):
    """A controller-side play's run plus every task result, as the record callback saw them."""

    entries: list[dict]

    def result(self, task: str) -> dict:
        """The result of the (last) task named ``task``; fails the test with the output if it did not run."""
        found = [entry for entry in self.entries if entry["task"] == task]
        assert found, f"task {task!r} did not run:\n{self.output}"
        return found[-1]["result"]

    def outcome(self, task: str) -> str:
        """ok, changed, failed, skipped or unreachable."""
        found = [entry for entry in self.entries if entry["task"] == task]
        assert found, f"task {task!r} did not run:\n{self.output}"
        return found[-1]["outcome"]


class Ansible:
    """Runs the real ansible CLIs with the emulator's credentials and endpoint in the environment."""

    def __init__(self, emulator: EmulatorProcess, tmp_path: Path) -> None:
        self.emulator = emulator
        self._tmp_path = tmp_path
        self._plays = 0
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

    def play(self, tasks: list[dict], *args: str, check: bool = False, diff: bool = False,
             env: dict[str, str] | None = None) -> Played:
        """Run ``tasks`` in one play on the controller (where alicloud.ecs modules run) and record results.

        Each task should carry a ``name`` so the test can find its result. The controller's own
        Python runs the modules, so they see the SDK and the emulator's environment.
        """
        self._plays += 1
        playbook = self._tmp_path / f"play-{self._plays}.yml"
        record = self._tmp_path / f"play-{self._plays}.json"
        playbook.write_text(json.dumps([{
            "name": "controller tasks", "hosts": "localhost", "gather_facts": False, "tasks": tasks,
        }]))
        inventory = self._tmp_path / "controller.ini"
        inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        options = [*(["--check"] if check else []), *(["--diff"] if diff else [])]
        run = self.run("ansible-playbook", "-i", str(inventory), str(playbook), *options, *args, env={
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record",
            "RECORD_FILE": str(record), **(env or {})})
        entries = json.loads(record.read_text()) if record.exists() else []
        return Played(run.rc, run.stdout, run.stderr, entries)

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
