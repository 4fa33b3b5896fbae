"""The SparkSession the processor runs in, built from settings only.

Connector jars come from ``settings.jars_dir`` (put there by ``scripts/setup.sh``) through
``spark.jars``: nothing is resolved or downloaded at run time, and the same jars are shipped
to executors when ``spark_master`` names a cluster.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bluetrack.config import Settings
from bluetrack.processor.exceptions import SparkSetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

APP_NAME = "bluetrack-processor"
KAFKA_CONNECTOR_PREFIX = "spark-sql-kafka"


def connector_jars(jars_dir: Path) -> list[Path]:
    """Every jar in ``jars_dir``; refuses to start without the Kafka connector."""
    jars = sorted(jars_dir.glob("*.jar")) if jars_dir.is_dir() else []
    if not any(jar.name.startswith(KAFKA_CONNECTOR_PREFIX) for jar in jars):
        raise SparkSetupError(
            f"no {KAFKA_CONNECTOR_PREFIX}*.jar in {jars_dir}: run scripts/setup.sh "
            "(or set BLUETRACK_SPARK_JARS_DIR to a folder holding the Spark Kafka connector)"
        )
    return jars


def shuffle_partitions(settings: Settings) -> int:
    """Sized to the machine: one partition per core is enough for the small shuffles we do."""
    if settings.spark_shuffle_partitions:
        return settings.spark_shuffle_partitions
    return max(2, os.cpu_count() or 2)


def session_conf(settings: Settings) -> dict[str, str]:
    jars = connector_jars(settings.jars_dir)
    return {
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.executor.memory": settings.spark_executor_memory,
        "spark.sql.shuffle.partitions": str(shuffle_partitions(settings)),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # mapInArrow's input is frames of up to ~1 MB each: bound each Arrow batch by bytes,
        # not only by its record count (10,000 frames would be gigabytes).
        "spark.sql.execution.arrow.maxBytesPerBatch": str(16 * 1024 * 1024),
        "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
        "spark.sql.streaming.minBatchesToRetain": "20",
        "spark.ui.enabled": str(settings.spark_ui).lower(),
        "spark.ui.showConsoleProgress": "false",  # progress bars would garble the batch log
        # Python workers run the venv's interpreter on every executor (local or cluster).
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.pyspark.driver.python": sys.executable,
    }


def build_spark_session(settings: Settings, app_name: str = APP_NAME) -> SparkSession:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.spark_master).appName(app_name)
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j / JVM start-up errors come in many types
        raise SparkSetupError(f"Spark did not start on {settings.spark_master}: {exc}") from exc
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    log.info(
        "spark %s on %s, %d jars, %s shuffle partitions",
        spark.version,
        settings.spark_master,
        len(session_conf(settings)["spark.jars"].split(",")),
        spark.conf.get("spark.sql.shuffle.partitions"),
    )
    return spark
