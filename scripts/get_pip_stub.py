"""Install offline stand-ins for the pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it creates by running a ``get-pip.py``
fetched from a CI file host, which is unreachable from our machines. Before downloading it looks
in ``~/.ansible/test/cache/get_pip_<version>.py``. This writes a small script there that gets pip
from the interpreter's own ``ensurepip`` and then upgrades it from the package index we do reach.

Usage: python scripts/get_pip_stub.py  (run with the venv's Python so it sees its ansible-test)
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

STUB = '''\
"""Offline stand-in for get-pip.py, written by alicloud.ecs scripts/get_pip_stub.py.

ansible-test runs this with pip options and package specs (e.g. pip==25.2); the two get-pip
options it adds are not pip options, so they are dropped.
"""
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
'''
MARKER = "Offline stand-in for get-pip.py, written by alicloud.ecs"


def pip_versions(ansible_test_dir: Path) -> set[str]:
    """Every pip version ansible-test may ask for, read from its requirements table."""
    source = (ansible_test_dir / "_internal" / "python_requirements.py").read_text(encoding="utf-8")
    return set(re.findall(r"""\bpip\s*=\s*['"]([0-9][0-9.]*)['"]""", source))


def main() -> int:
    spec = importlib.util.find_spec("ansible_test")
    if spec is None or not spec.submodule_search_locations:
        print("get_pip_stub: ansible_test is not importable from this Python", file=sys.stderr)
        return 1
    versions = pip_versions(Path(next(iter(spec.submodule_search_locations))))
    if not versions:
        print("get_pip_stub: could not find the pip version ansible-test bootstraps", file=sys.stderr)
        return 1
    cache = Path("~/.ansible/test/cache").expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    for version in sorted(versions):
        target = cache / f"get_pip_{version.replace('.', '_')}.py"
        # keep a real get-pip.py someone put there; refresh our own stub if it changed
        if target.exists() and MARKER not in target.read_text(encoding="utf-8", errors="replace"):
            continue
        if not target.exists() or target.read_text(encoding="utf-8") != STUB:
            target.write_text(STUB, encoding="utf-8")
            print(f"get_pip_stub: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
