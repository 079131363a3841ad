"""`tools/demo.py`: configurable ports, and it refuses to start when one is taken by a server it did
not start (it would otherwise seed and reset that server). Free ports and a temp state dir only:
never the real demo ports, never this checkout's demo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from sandboxes.testing import free_port
from tests.conftest import REPO_ROOT

DEMO = REPO_ROOT / "tools" / "demo.py"


def demo_env(tmp_path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "AIRFLOW", "HQ_SYNC_"))}
    env["DEMO_STATE_DIR"] = str(tmp_path)
    for name in ("AIRFLOW", "AWORK", "PERSONIO", "HQ"):
        env[f"DEMO_{name}_PORT"] = str(ports.get(name.lower()) or free_port())
    return env


def test_start_refuses_when_a_demo_port_is_taken(tmp_path):
    with socket.socket() as other:  # "something already on the port": a server the demo did not start
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        env = demo_env(tmp_path, personio=taken)
        result = subprocess.run([sys.executable, str(DEMO), "start"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"port {taken} (personio sandbox, DEMO_PERSONIO_PORT): something is listening on it" in result.stderr
    assert "refusing to start" in result.stderr
    assert "UTC" in result.stdout and "this takes" in result.stdout  # timestamps and the expected duration
    # Nothing was started or reset: no sandbox data, no Airflow home.
    assert not (tmp_path / ".data" / "sandboxes").exists()
    assert not (tmp_path / ".airflow").exists()


def test_ports_configured_twice_are_refused(tmp_path):
    port = free_port()
    env = demo_env(tmp_path, awork=port, hq=port)
    result = subprocess.run([sys.executable, str(DEMO), "start"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and f"port(s) {port} configured twice" in result.stderr


def test_env_prints_the_exports_of_the_demo(tmp_path):
    port = free_port()
    env = demo_env(tmp_path, airflow=port)
    result = subprocess.run([sys.executable, str(DEMO), "env"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
                   if line.startswith("export "))
    assert exports["HQ_SYNC_AIRFLOW_URL"] == f"http://localhost:{port}"
    assert exports["AIRFLOW_HOME"] == str(tmp_path / ".airflow")
    assert exports["HQ_SYNC_DATA_DIR"] == str(tmp_path / ".data")
    assert {"HQ_SYNC_AIRFLOW_USERNAME", "HQ_SYNC_AIRFLOW_PASSWORD", "HQ_SYNC_STAGING_URL", "AIRFLOW__CORE__DAGS_FOLDER",
            "PYTHONPATH"} <= set(exports)
    # The output is shell: eval it and read a value back.
    shown = subprocess.run(["bash", "-c", f'eval "$({sys.executable} {DEMO} env)"; echo "$AIRFLOW__API__PORT"'],
                           env=env, capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip() == str(port)
