"""The test suite says loudly when the vendors' specs are missing and a quarter of it skips."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SPECS_DIR, SPECS_VARIABLE

# A file of tests that all need HubSpot's specs (and skip fast without them).
NEEDS_SPECS = "tests/adapters/test_crm_errors.py"


def _pytest(*args: str, specs_dir: Path) -> list[str]:
    env = {**os.environ, SPECS_VARIABLE: str(specs_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


class TestMissingSpecs:
    def test_the_first_and_last_lines_name_the_folder_the_variable_and_the_skips(
        self, tmp_path: Path
    ) -> None:
        """Without specs, the run opens and ends with a line naming LEADSYNC_SPECS_DIR, the
        last one counting the tests skipped for it, under pytest's own count."""
        missing = tmp_path / "no-specs"

        lines = _pytest(NEEDS_SPECS, specs_dir=missing)

        assert lines[0] == (
            f"! VENDOR SPECS NOT FOUND at {missing}: the HubSpot and Salesforce tests will be "
            f"SKIPPED; set {SPECS_VARIABLE}=/path/to/shared/specs !"
        )
        counted = re.fullmatch(r"(\d+) skipped in [\d.]+s", lines[-2])
        assert counted is not None, lines[-2]
        assert int(counted[1]) > 0
        assert lines[-1] == (
            f"! VENDOR SPECS NOT FOUND at {missing}: {counted[1]} tests were SKIPPED; "
            f"set {SPECS_VARIABLE}=/path/to/shared/specs !"
        )

    @pytest.mark.skipif(not (SPECS_DIR / "hubspot").is_dir(), reason=f"no specs at {SPECS_DIR}")
    def test_nothing_is_said_when_the_specs_are_there(self) -> None:
        """With the specs in place, the run has no such line."""
        lines = _pytest(NEEDS_SPECS, "--collect-only", specs_dir=SPECS_DIR)

        assert [line for line in lines if "SPECS" in line] == []
        assert re.fullmatch(r"[1-9]\d* tests collected in [\d.]+s", lines[-1]), lines[-1]
