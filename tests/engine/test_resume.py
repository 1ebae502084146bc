"""`tagsight tag` killed with SIGKILL loses nothing it printed (the full 1,000-image check is
benchmarks/check_kill_resume.py; this runs it at a CI-friendly size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_kill_resume.py"


def test_sigkill_then_resume() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--images", "120", "--kill-after", "40"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40/40 of the printed ones cached" in done.stdout and "integrity_check: ok" in done.stdout
