"""`make constraints`: split a `pip freeze` of the venv into constraints.txt and constraints-test.txt.

constraints.txt is the runtime set: what `pip install -r requirements.txt` resolves to when held to
the installed versions (the production image installs exactly this); constraints-test.txt is what
requirements-test.txt adds on top. Both are applied together by `make install`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    freeze = [line for line in freeze if "==" in line and not norm(line).startswith("hq-sync")]
    with tempfile.TemporaryDirectory() as tmp:
        pins, report = Path(tmp) / "freeze.txt", Path(tmp) / "report.json"
        pins.write_text("\n".join(freeze) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--report", str(report), "-r", str(ROOT / "requirements.txt"), "-c", str(pins)], check=True)
        runtime = {norm(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    (ROOT / "constraints.txt").write_text("\n".join(l for l in freeze if norm(l.split("==")[0]) in runtime) + "\n")
    (ROOT / "constraints-test.txt").write_text("\n".join(l for l in freeze if norm(l.split("==")[0]) not in runtime) + "\n")
    print(f"constraints.txt: {len(runtime)} runtime pins; constraints-test.txt: {len(freeze) - len(runtime)} test pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
