"""What `spark-submit` needs besides the cluster: the JVM jars and the job's own code.

The streaming driver imports `retail_lakehouse` and `spark_streaming`; on a cluster
whose driver runs elsewhere (YARN or Kubernetes cluster mode) they travel as a zip
through `--py-files`. Executors run no Python of ours: parsing and validation are
Spark SQL, and the driver does the rest.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from retail_lakehouse import jvm

JOB_PACKAGES = ("retail_lakehouse", "spark_streaming")


def job_zip(output: Path) -> Path:
    """Write the job's packages (Python sources only) to `output`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in JOB_PACKAGES:
            for source in sorted((jvm.PROJECT_ROOT / package).rglob("*.py")):
                archive.write(source, source.relative_to(jvm.PROJECT_ROOT).as_posix())
    return output


def jar_list(*, s3a: bool) -> str:
    """The jars for `spark-submit --jars`: the Kafka connector and delta-spark, and
    hadoop-aws with its AWS SDK for a lake or checkpoints on S3."""
    return ",".join(jvm.spark_jars(s3a=s3a))
