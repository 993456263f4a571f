"""Where the project's JVM jars are: fetched from Maven Central by `make install`.

`jvm/pom.xml` pins them; Maven copies them into JVM_JARS_DIR (default `.jvm/` in the
project): `spark/` (Spark's Kafka connector and delta-spark), `s3a/` (hadoop-aws and
the AWS SDK bundle) and `kafka/` (Apache Kafka's broker, for local runs). Nothing here
downloads anything: a missing folder is one clear error saying how to fetch it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FETCH_COMMAND = "make install"  # runs `mvn -f jvm/pom.xml package` (Maven 3.8+, Java 17)


class JarsMissingError(RuntimeError):
    """A set of JVM jars the command needs was never fetched."""


def jars_dir() -> Path:
    """JVM_JARS_DIR, or `.jvm/` beside the project's own files."""
    configured = os.environ.get("JVM_JARS_DIR")
    return Path(configured).expanduser().resolve() if configured else PROJECT_ROOT / ".jvm"


def jars(group: str) -> list[Path]:
    """The jars of one group (`spark`, `s3a`, `kafka`), sorted; JarsMissingError if none."""
    folder = jars_dir() / group
    found = sorted(folder.glob("*.jar"))
    if not found:
        raise JarsMissingError(
            f"no {group} jars in {folder}: run `{FETCH_COMMAND}` once (it fetches them from "
            "Maven Central with Maven into .jvm/), or point JVM_JARS_DIR at a folder that "
            "holds them"
        )
    return found


def spark_jars(*, s3a: bool) -> list[str]:
    """What a local Spark session adds to pyspark's own jars (`spark.jars`): the Kafka
    connector and delta-spark, and hadoop-aws only for a lake or checkpoints on S3 (its
    AWS SDK bundle is 650 MB, which every session start would otherwise open)."""
    groups = ["spark", "s3a"] if s3a else ["spark"]
    return [str(path) for group in groups for path in jars(group)]


def kafka_classpath() -> str:
    """The `-cp` of the local Apache Kafka broker."""
    return os.pathsep.join(str(path) for path in jars("kafka"))
