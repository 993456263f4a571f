"""Run the real `lakehouse` command in a clean environment, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
# settings a developer's shell may carry that would change what the command does
_CLEARED_PREFIXES = ("KAFKA_", "LAKE_", "CHECKPOINT_", "AWS_", "S3_", "SNOWFLAKE_", "TOPIC_")
_CLEARED = {"JVM_JARS_DIR", "LOG_LEVEL", "KAFKA_SOURCE", "DELTA_WRITER"}


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.stdout + self.stderr).splitlines() if line.strip()]


def clean_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_CLEARED_PREFIXES) and k not in _CLEARED
    }
    env.update(overrides)
    return env


def lakehouse(*args: str, cwd: Path, timeout: float = 120, **env: str) -> Outcome:
    done = subprocess.run(
        [LAKEHOUSE, *args],
        cwd=cwd,  # a folder with no .env
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_two_line_error(outcome: Outcome, code: int, *fragments: str) -> None:
    """Exactly `error: ...` and `  -> ...`, nothing else, the fragments in the first line."""
    assert outcome.code == code, outcome
    assert outcome.stdout == "", outcome
    lines = outcome.stderr.splitlines()
    assert len(lines) == 2, outcome.stderr
    assert lines[0].startswith("error: "), lines
    assert lines[1].startswith("  -> "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in outcome.stderr
