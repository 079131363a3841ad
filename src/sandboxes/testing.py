"""Start the sandboxes in a subprocess for tests and benchmarks, and drive their admin surface.

    with SandboxServers(tmp_path) as sb:
        sb.reset()
        sb.admin("hq").add_fault(path="do.CreateReporting", mode="lose_answer", count=1)
        requests.get(sb.url("hq") + "/v1/Users", headers=...)
        sb.admin("hq").requests(path="Reportings")

The servers run in their own process, so a hung or dropped connection never blocks the test
process, and what is measured is real HTTP over loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from sandboxes import VENDORS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxAdmin:
    """The ``/_sandbox/`` admin endpoints of one vendor's server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.base_url}/_sandbox{path}", timeout=30, **kwargs)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} /_sandbox{path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self._call("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    def reset(self) -> None:
        self.post("/reset", {})

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        return self.post("/faults", rule)

    def clear_faults(self) -> None:
        self.delete("/faults")

    def requests(self, path: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since}
        if path:
            params["path"] = path
        return list(self.get("/requests", params)["requests"])

    def clear_requests(self) -> None:
        self.delete("/requests")

    def set_rate_limit(self, per_minute: int | None, per_second: int | None = None) -> None:
        self.put("/rate-limit", {"per_minute": per_minute, "per_second": per_second})


class SandboxServers:
    """The three sandbox servers in one subprocess, on free loopback ports."""

    def __init__(self, data_dir: Path, ports: dict[str, int] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.ports = ports or {vendor: free_port() for vendor in VENDORS}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path = self.data_dir / "sandboxes.log"

    def url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.ports[vendor]}"

    def admin(self, vendor: str) -> SandboxAdmin:
        return SandboxAdmin(self.url(vendor))

    def reset(self) -> None:
        for vendor in VENDORS:
            self.admin(vendor).reset()

    def start(self, timeout: float = 60) -> SandboxServers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "sandboxes", "serve", "--data-dir", str(self.data_dir)]
        for vendor in VENDORS:
            cmd += [f"--{vendor}-port", str(self.ports[vendor])]
        log = open(self._log_path, "ab")  # noqa: SIM115 - kept open for the subprocess
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + timeout
        pending = set(VENDORS)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandboxes exited with {self.process.returncode}:\n{self._log_path.read_text()}")
            for vendor in list(pending):
                try:
                    if requests.get(self.url(vendor) + "/_sandbox/health", timeout=1).ok:
                        pending.discard(vendor)
                except requests.ConnectionError:
                    pass
            if pending and time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"sandboxes {sorted(pending)} did not answer within {timeout}s")
            if pending:
                time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> SandboxServers:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
