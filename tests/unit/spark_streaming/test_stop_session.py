"""stop_session ends the JVM a local session started (spark.stop() alone leaves it and
its heap running until Python exits), and a session built after it works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import json
from pyspark import SparkContext
from retail_lakehouse.settings import Settings
from spark_streaming.session import build_session, stop_session

settings = Settings(_env_file=None, spark_driver_memory="512m")
spark = build_session(settings, app_name="stop-session-test")
process = SparkContext._gateway.proc
stop_session(spark)
ended = process.poll() is not None
again = build_session(settings, app_name="stop-session-test-2")
rows = again.range(3).count()
second_jvm = SparkContext._gateway.proc.pid
stop_session(again)
print(json.dumps({"jvm": process.pid, "ended": ended, "rows": rows, "second_jvm": second_jvm}))
"""


def test_the_jvm_is_gone_after_stop_session_and_a_new_session_works() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # the first JVM had exited when stop_session returned; the next session launched its own
    assert seen["ended"]
    assert seen["second_jvm"] != seen["jvm"]
    assert seen["rows"] == 3
