"""Where a catch-up's time goes, sampled: one backlog drained by the whole pipeline while
Java Flight Recorder samples Spark's JVM and py-spy the driver's Python.

`python -m bench --size full --only profile` (not in the default sections: on two
cores the samplers about doubled the Spark job's time, so its wall time is not a
catch-up figure; the shares are what it is for). It reports:

* the executor task threads (the one Spark job per micro-batch: Kafka fetch, JSON
  parse, checks, Arrow), each sample under the first library named from its leaf frame
  up, and the hottest leaf methods;
* the driver's batch thread (the foreachBatch call: Arrow collect, the driver's batch
  work, waiting on commits does not count), each pipeline function's inclusive share,
  and the commit threads' active samples beside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.catch_up import drain_backlog, produce_backlog
from bench.stack import Bench, progress, short_id

# the first of these, walking a sample's stack up from its leaf, names where its time went
JVM_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Kafka fetch", ("org.apache.kafka.", "org.apache.spark.sql.kafka010.")),
    ("JSON parse (Jackson)", ("com.fasterxml.jackson.", "org.apache.spark.sql.catalyst.json.")),
    ("timestamps (java.time)", ("java.time.",)),
    ("decimals", ("java.math.", "org.apache.spark.sql.types.Decimal")),
    ("UTF-8 strings", ("org.apache.spark.unsafe.types.UTF8String",)),
    ("Arrow writing", ("org.apache.arrow.", "org.apache.spark.sql.execution.arrow.")),
    ("compression", ("net.jpountz.", "com.github.luben.", "org.xerial.snappy.")),
    ("regular expressions", ("java.util.regex.",)),
    ("task set-up", ("java.io.ObjectInputStream", "org.apache.spark.serializer.")),
    ("generated code (checks, projections)", ("org.apache.spark.sql.catalyst.expressions.",)),
)
# Spark names its task threads by what they do, and JFR keeps the name it saw first
EXECUTOR_THREADS = ("Executor task launch worker", "Executor task idle worker")
BATCH_FRAME = "__call__ (spark_streaming/batch/processor.py"
COMMIT_FRAMES = ("spark_streaming/delta_rs_writer.py", "spark_streaming/delta_spark_writer.py")
PY_SPY_RATE = 50
TOP = 12


def profile(bench: Bench) -> dict[str, Any]:
    """One full-mode drain of the size's largest backlog, sampled."""
    events = bench.size.backlog_events[-1]
    topics = f"profile-{events}-{short_id()}"
    producing, report = produce_backlog(bench, topics, events)
    work = Path(tempfile.mkdtemp(prefix="profile-", dir=bench.work_dir))
    jvm_pid = int(bench.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    with flight_recording(jvm_pid, work / "job.jfr") as jfr, py_spy(work / "driver.txt") as spy:
        drained = drain_backlog(bench, topics, producing, report, "full")
    progress("profile", events=events, events_per_s=drained["events_per_s"])
    return {
        "events": drained["events"],
        "wall_s": drained["wall_s"],
        "batches": drained["batches"],
        "phases_ms_median": drained["phases_ms_median"],
        "executors": executor_profile(jfr_samples(jfr)) if jfr.exists() else _missing("jfr"),
        "driver": driver_profile(py_spy_stacks(spy)) if spy.exists() else _missing("py-spy"),
    }


@contextmanager
def flight_recording(pid: int, path: Path) -> Iterator[Path]:
    """JFR's `default` settings over the block: a sample every 20 ms of each thread running
    Java code; `profile` (every 10 ms, and allocations) doubled the job's time here."""
    jcmd = _jdk_tool("jcmd")
    if jcmd is None:
        yield path
        return
    subprocess.run(
        [jcmd, str(pid), "JFR.start", "name=bench-profile", "settings=default"],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            [jcmd, str(pid), "JFR.stop", "name=bench-profile", f"filename={path}"],
            check=True,
            capture_output=True,
        )


@contextmanager
def py_spy(path: Path) -> Iterator[Path]:
    """py-spy on this process (the driver's Python) over the block, `PY_SPY_RATE` samples
    a second, without pausing it (--nonblocking), active samples only."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        yield path
        return
    sampler = subprocess.Popen(
        [spy, "record", "--pid", str(os.getpid()), "--rate", str(PY_SPY_RATE), "--nonblocking",
         "--format", "raw", "--output", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield path
    finally:
        sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        sampler.wait(timeout=60)


def jfr_samples(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(thread name, frames leaf first as `package.Class.method`) per execution sample,
    from `jfr print`'s text (a tenth the size of its JSON)."""
    jfr = _jdk_tool("jfr")
    assert jfr is not None
    printed = subprocess.run(
        [jfr, "print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    thread, in_stack = "", False
    frames: list[str] = []
    for line in printed.splitlines():
        text = line.strip()
        if text.startswith("sampledThread = "):
            thread = text.split('"')[1] if '"' in text else ""
        elif text == "stackTrace = [":
            frames, in_stack = [], True
        elif in_stack and text == "]":
            in_stack = False
            yield thread, frames
        elif in_stack and text != "...":
            frames.append(text.split("(")[0])


def executor_profile(samples: Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
    groups: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for thread, frames in samples:
        if not thread.startswith(EXECUTOR_THREADS) or not frames:
            continue
        groups[_group(frames)] += 1
        leaves[frames[0]] += 1
    total = sum(groups.values())
    return {
        "samples": total,
        "groups": _shares(groups, total, len(groups)),
        "top_leaf_methods": _shares(leaves, total, TOP),
    }


def py_spy_stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    """(frames root first, as `function (file:line)`, samples) per line of py-spy's raw
    (collapsed-stack) output."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def driver_profile(stacks: Iterable[tuple[list[str], int]]) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    batch = commits = 0
    for frames, count in stacks:
        names = [_python_function(f) for f in frames]
        call = next((i for i, f in enumerate(frames) if BATCH_FRAME in f), None)
        if call is not None:
            batch += count
            leaves[names[-1]] += count
            for name in set(names[call:]):
                inclusive[name] += count
        elif any(c in f for f in frames for c in COMMIT_FRAMES):
            commits += count
    return {
        "batch_thread_samples": batch,
        "commit_thread_samples": commits,
        "rate_per_s": PY_SPY_RATE,
        "inclusive": _shares(inclusive, batch, TOP * 2),
        "top_leaf_functions": _shares(leaves, batch, TOP),
    }


def _group(frames: list[str]) -> str:
    for frame in frames:
        for name, prefixes in JVM_GROUPS:
            if frame.startswith(prefixes):
                return name
    return "other"


def _python_function(frame: str) -> str:
    """`function (path/to/module.py:line)` -> `module.function`, the line dropped so a
    function's samples add up."""
    name, _, where = frame.partition(" (")
    module = Path(where.split(":")[0]).stem if where else ""
    return f"{module}.{name}" if module else name


def _shares(counts: Counter[str], total: int, top: int) -> list[list[Any]]:
    return [[name, round(n / total, 4)] for name, n in counts.most_common(top)] if total else []


def _jdk_tool(name: str) -> str | None:
    """The JDK's `jcmd` or `jfr`: on PATH, or beside the `java` that is."""
    found = shutil.which(name)
    if found is None and (java := shutil.which("java")) is not None:
        beside = Path(java).resolve().parent / name
        found = str(beside) if beside.exists() else None
    return found


def _missing(tool: str) -> dict[str, str]:
    return {"skipped": f"{tool} not found (JDK's jcmd/jfr, or `pip install py-spy`)"}
