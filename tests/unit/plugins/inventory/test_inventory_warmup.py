"""The inventory plugin loads the connection's code in ansible's parent process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

COLLECTIONS_ROOT = Path(__file__).resolve().parents[4] / ".build" / "collections"

PROBE = """
import json, sys
import ansible_collections.alicloud.ecs.plugins.inventory.instances
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_inventory_plugin_loads_the_connection_engine_and_the_sdk() -> None:
    """ansible forks a worker per task after parsing the inventory: what the plugin imported, every
    worker inherits compiled (the import looks unused; this test is why it stays)."""
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(COLLECTIONS_ROOT)))
    loaded = set(json.loads(run.stdout))
    module_utils = "ansible_collections.alicloud.ecs.plugins.module_utils."
    for name in ("execution.remote_exec", "execution.frame", "execution.shell_scripts", "execution.file_transfer",
                 "execution.instance_cache", "execution.powershell_transport", "api.client"):
        assert module_utils + name in loaded
    assert "aliyunsdkcore.client" in loaded
