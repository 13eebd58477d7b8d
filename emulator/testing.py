"""Test helper: a real ``python -m emulator serve`` subprocess on a free port, as a context manager.

    with EmulatorProcess(fleet="emulator/fleets/demo.yml") as emu:
        env = emu.env()          # ALIBABA_CLOUD_* variables for the SDK / ansible
        emu.exec(instance_id, "cat /etc/hostname")
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
# The interpreter that serves the emulator. `make test-matrix` runs the tests from an older ansible-core's
# venv and points this at the main venv, so the emulator stays one program whatever line is tested.
EMULATOR_PYTHON = os.environ.get("ALICLOUD_ECS_EMULATOR_PYTHON") or sys.executable


class EmulatorProcess:
    """Start/stop an emulator server; ``opts`` are serve flags (``delivery_delay=0.01`` → ``--delivery-delay``)."""

    def __init__(self, fleet: str | Path | dict[str, Any] | None = None, state_dir: str | Path | None = None,
                 **opts: Any) -> None:
        self._own_state = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="emulator-test-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(fleet, dict):
            path = self.state_dir / "fleet.yml"
            path.write_text(yaml.safe_dump(fleet), encoding="utf-8")
            fleet = path
        self.fleet_path = Path(fleet) if fleet else REPO_ROOT / "emulator" / "fleets" / "demo.yml"
        self.fleet = yaml.safe_load(self.fleet_path.read_text(encoding="utf-8"))
        self.opts = opts
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.token = ""  # the control API's secret, read from the state dir at each start (a new one each time)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> EmulatorProcess:
        """Launch the server and wait until /_emulator/health answers (with the token it wrote before its port)."""
        port_file = self.state_dir / "port"
        port_file.unlink(missing_ok=True)
        # A restart (after ``crash``) keeps the port, so clients find the API where it was.
        argv = [EMULATOR_PYTHON, "-m", "emulator", "serve", "--fleet", str(self.fleet_path),
                "--state-dir", str(self.state_dir), "--port", str(self.port), "--port-file", str(port_file)]
        for key, value in self.opts.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}")
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                self.token = (self.state_dir / "control-token").read_text(encoding="ascii").strip()
                try:
                    self.health()
                    return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("emulator did not become healthy")

    def stop(self) -> None:
        """SIGTERM (clean shutdown kills instance inits), then remove a temp state dir we created."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def crash(self) -> None:
        """SIGKILL the API process, as a control plane outage: instances and their running commands live on, and
        ``start()`` on the same state dir (and port) takes them over."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The environment ``python -m emulator run`` gives its command (first access key, first region)."""
        key = self.fleet["access_keys"][0]
        env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": str(key["id"]), "ALIBABA_CLOUD_ACCESS_KEY_SECRET": str(key["secret"]),
               "ALIBABA_CLOUD_REGION_ID": str(self.fleet["regions"][0]["id"]),
               "ALIBABA_CLOUD_ECS_ENDPOINT": self.endpoint}
        if key.get("security_token"):
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = str(key["security_token"])
        env["ALICLOUD_ECS_EMULATOR_TOKEN"] = self.token
        return env

    def control_headers(self) -> dict[str, str]:
        """What a request to the control API must carry (for callers that make their own requests)."""
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the control API; raises RuntimeError with the server's message on non-2xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint}/_emulator/{path}", data=data, method=method,
                                     headers=self.control_headers())
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}") from None

    def health(self) -> dict[str, Any]:
        """GET /_emulator/health."""
        return self.control("GET", "health")

    def counters(self) -> dict[str, int]:
        """Per-action API call counts."""
        return self.control("GET", "counters")

    def reset_counters(self) -> None:
        """Zero the counters."""
        self.control("DELETE", "counters")

    def instances(self) -> list[dict[str, Any]]:
        """Instances with status, agent state and isolation facts."""
        return self.control("GET", "instances")["instances"]

    def instance_id(self, name: str) -> str:
        """Id of the instance with this name."""
        return next(i["id"] for i in self.instances() if i["name"] == name)

    def set_instance(self, instance_id: str, **state: str) -> dict[str, Any]:
        """PATCH status / agent of an instance."""
        return self.control("PATCH", f"instances/{instance_id}", state)

    def exec(self, instance_id: str, command: str) -> dict[str, Any]:
        """Run a shell command inside the instance: {"stdout", "stderr", "exit_code"}."""
        return self.control("POST", f"instances/{instance_id}/exec", {"command": command})

    def faults(self, *rules: dict[str, Any], latency_ms: int = 0,
               delivery_delay: dict[str, float] | None = None) -> dict[str, Any]:
        """Replace the fault plan: rules (see ``throttle``/``error``/``drop``), latency, per-instance delays."""
        return self.control("POST", "faults", {"rules": list(rules), "latency_ms": latency_ms,
                                               "delivery_delay": delivery_delay or {}})

    def add_faults(self, *rules: dict[str, Any], **spec: Any) -> dict[str, Any]:
        """Append rules to the plan (PATCH); ``latency_ms=`` / ``delivery_delay=`` update those settings."""
        return self.control("PATCH", "faults", {"rules": list(rules), **spec})

    def clear_faults(self) -> None:
        """No faults."""
        self.control("POST", "faults", {})

    def fault_plan(self) -> dict[str, Any]:
        """The plan with each rule's remaining ``times`` and ``fired`` count."""
        return self.control("GET", "faults")

    def delay_delivery(self, instance_id: str, seconds: float) -> dict[str, Any]:
        """Slow this instance's agent: tasks are picked up ``seconds`` after they are created."""
        return self.add_faults(delivery_delay={instance_id: seconds})

    @staticmethod
    def throttle(action: str = "*", times: int | None = 1, code: str = "Throttling", **extra: Any) -> dict[str, Any]:
        """Rule: answer ``code`` (HTTP 400 unless ``http_status=``) instead of serving the call."""
        return {"fault": "throttle", "action": action, "times": times, "code": code, **extra}

    @staticmethod
    def error(action: str = "*", times: int | None = 1, code: str = "InternalError", **extra: Any) -> dict[str, Any]:
        """Rule: a server error (InternalError 500, ServiceUnavailable 503, or any code with ``http_status=``)."""
        return {"fault": "error", "action": action, "times": times, "code": code, **extra}

    @staticmethod
    def drop(action: str = "*", times: int | None = 1, **extra: Any) -> dict[str, Any]:
        """Rule: perform the call, then close the connection without an HTTP response."""
        return {"fault": "drop", "action": action, "times": times, **extra}

    def reset(self) -> None:
        """Back to the fleet file."""
        self.control("POST", "reset", {})


def wait_for(condition: Any, what: str, timeout: float = 120, step: float = 0.2) -> Any:
    """Poll ``condition`` every ``step`` seconds until it returns something truthy, and return that (tests assert
    outcomes, never timing: ``timeout`` is only when to give up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")
