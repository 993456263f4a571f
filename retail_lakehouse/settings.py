"""Settings from environment variables, with `.env` for local runs.

Names follow the environment variables users set: KAFKA_BOOTSTRAP_SERVERS,
LAKE_ROOT, AWS_*, S3_BUCKET, SNOWFLAKE_* ... Secrets are SecretStr so they never
reach a log line or a repr.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retail_lakehouse.contracts import EventFamily
from retail_lakehouse.durations import duration_seconds

# the online store's business day unless WEB_STORE_TIME_ZONE says otherwise
DEFAULT_WEB_STORE_TIME_ZONE = "America/New_York"


# a JVM memory size as Spark reads it: 2g, 512m, 1024k; a bare number is MiB
JVM_SIZE = r"^(\d+)\s*([kKmMgGtT]?)[bB]?$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Kafka. Unset bootstrap servers means "start a local broker" for the demo.
    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Kafka brokers (host:port,...). Unset: `lakehouse demo` starts a local broker.",
    )
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="Kafka security.protocol, e.g. SASL_SSL for a managed cluster."
    )
    kafka_sasl_mechanism: str | None = Field(
        None, description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    topic_sales: str = Field("retail.sales.transactions", description="Topic of the sales baskets.")
    topic_clickstream: str = Field(
        "retail.clickstream.events", description="Topic of the clickstream events."
    )
    topic_inventory: str = Field(
        "retail.inventory.events", description="Topic of the inventory changes and stock counts."
    )
    topic_partitions: int = Field(
        3, ge=1, description="Partitions of a topic `lakehouse topics` or the producer creates."
    )
    topic_replication_factor: int = Field(
        1, ge=1, description="Replication factor of a topic the project creates."
    )

    # Lake storage: a local folder, or s3://bucket/prefix (S3 or MinIO).
    lake_root: str = Field(
        "lakehouse_data",
        description="Where the Delta tables live: a local folder, or s3://bucket/prefix.",
    )
    s3_bucket: str | None = Field(
        None, description="With a local LAKE_ROOT: the lake is s3://S3_BUCKET/S3_PREFIX instead."
    )
    s3_prefix: str = Field("lakehouse", description="Prefix of the lake inside S3_BUCKET.")
    aws_access_key_id: str | None = Field(None, description="S3 or MinIO access key.")
    aws_secret_access_key: SecretStr | None = Field(None, description="S3 or MinIO secret key.")
    aws_session_token: SecretStr | None = Field(
        None, description="Session token of temporary S3 credentials."
    )
    aws_region: str = Field("us-east-1", description="S3 region.")
    aws_endpoint_url: str | None = Field(
        None, description="An S3-compatible endpoint, e.g. http://localhost:9000 for MinIO."
    )
    aws_allow_http: bool = Field(
        False, description="Allow a plain-HTTP S3 endpoint (a local MinIO)."
    )

    # Spark
    spark_master: str = Field(
        "local[*]", description="Spark master of local runs; spark-submit's own wins on a cluster."
    )
    spark_driver_memory: str = Field(
        "2g",
        pattern=JVM_SIZE,
        description="Driver memory of local runs; spark-submit's own wins on a cluster.",
    )
    # Spark's spark.driver.maxResultSize: a batch whose results exceed it stops the job
    # with one line saying which limit to raise, instead of running the driver out of heap
    spark_max_result_size: str | None = Field(
        None,
        pattern=JVM_SIZE,
        description="Largest micro-batch result the driver takes (spark.driver.maxResultSize). "
        "Unset: an eighth of SPARK_DRIVER_MEMORY locally, the cluster's own under spark-submit.",
    )
    # `kafka`: Spark's own Kafka connector; `generated`: no Kafka at all, the seeded
    # producer feeds Spark (mock/run_mock_stream.py)
    kafka_source: Literal["kafka", "generated"] = Field(
        "kafka",
        description="kafka: Spark's Kafka connector; generated: the seeded producer, no Kafka.",
    )
    delta_writer: Literal["auto", "delta-rs", "delta-spark"] = Field(
        "auto", description="auto: delta-spark under spark-submit, delta-rs otherwise."
    )
    checkpoint_root: str | None = Field(
        None,
        description="Spark checkpoints. Unset: LAKE_ROOT/_checkpoints, or ./checkpoints for S3.",
    )
    trigger_interval: str = Field(
        "1 second", description="Micro-batch trigger interval of the streaming query."
    )
    watermark_delay: str = Field(
        "2 minutes", description="How late an event may arrive and still count in its gold window."
    )
    window_duration: str = Field("1 minute", description="Size of the gold event-time windows.")
    # where a new checkpoint starts reading: earliest, latest, or Spark's JSON map of
    # offsets; a lake that already holds batches of the pipeline overrides it (it
    # resumes from the offsets it recorded, so a lost checkpoint doubles nothing)
    starting_offsets: str = Field(
        "earliest",
        description="Where a new checkpoint starts: earliest, latest or a JSON offset map.",
    )
    # The driver holds each micro-batch's validated records (about 1 KB each as Arrow),
    # several times over at its peak: without a cap, a 500,000-record backlog ran the
    # default 2 GB driver out of heap (bench catch-up, 2026-12-07), and Spark then hangs
    max_offsets_per_trigger: int = Field(
        100_000,
        ge=1,
        description="Most Kafka records per micro-batch (maxOffsetsPerTrigger): the driver "
        "holds a batch's records, about 1 KB each.",
    )
    # Spark's minPartitions: split Kafka partitions into more tasks on a cluster
    kafka_min_partitions: int | None = Field(
        None, ge=1, description="Spark's minPartitions: more tasks than Kafka partitions."
    )
    # any other option of Spark's kafka source or `kafka.*` client property, as JSON:
    # KAFKA_OPTIONS='{"kafka.ssl.truststore.location": "/etc/kafka/truststore.jks"}'.
    # Values are secrets (a JAAS config can hold a password): never logged or shown
    kafka_options: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="More kafka source options or kafka.* properties, as a JSON object.",
    )
    # Shuffle partitions, of the SQL plans and of delta-spark's log replay
    # (spark.databricks.delta.snapshotPartitions). Unset: 2 for a local master (a
    # micro-batch of a few thousand rows pays per task, not per row), Spark's or
    # spark-submit's own value on a cluster.
    spark_shuffle_partitions: int | None = Field(
        None,
        ge=1,
        description=(
            "Shuffle partitions, also of delta-spark's log replay. Unset: 2 locally, the "
            "cluster's own under spark-submit."
        ),
    )
    # Spark UI: off for local runs unless asked for; spark-submit's setting wins on a cluster
    spark_ui_enabled: bool | None = Field(
        None, description="Spark UI. Unset: off locally, the cluster's own under spark-submit."
    )
    spark_batch_partitions: int | None = Field(
        None,
        ge=1,
        description=(
            "Spark tasks that read and validate a micro-batch (fewer Kafka partitions are "
            "merged into them). Unset: the local master's cores locally, one task per "
            "Kafka partition under spark-submit."
        ),
    )
    # Code generation, on unless turned off. Measured on 2 cores (bench/results/
    # 2026-12-05T213446Z-small off, 2026-12-05T214241Z-small on): the batch's Spark job
    # reads and validates about 25% faster per record with it on batches of 20,000+
    # records, the same on small ones; no plan holds per-batch literals, so the generated
    # code is compiled once and reused
    spark_codegen: bool = Field(
        True, description="Spark code generation; false turns it off, locally or on a cluster."
    )
    # Compact and vacuum the streamed tables every N micro-batches (0 = never). Each
    # delta-rs commit costs more the more files its table has (about 8 ms per 100 on
    # 2 cores); measured at 1,000 events/s over 8 minutes (bench/results/
    # 2026-12-06T112741Z-small every 500: batch median 0.72 s rising to 1.16 s;
    # 2026-12-06T113640Z-small every 100: flat at 0.63 to 0.78 s, p95 2.02 to 1.72 s)
    maintain_every_batches: int = Field(
        100,
        ge=0,
        description="Compact and vacuum the streamed tables every N micro-batches (0 = never).",
    )
    # offsets that vanished (retention, a recreated topic) stop the query unless allowed
    kafka_fail_on_data_loss: bool = Field(
        True, description="Vanished offsets stop the query; false skips them (failOnDataLoss)."
    )

    # KAFKA_SOURCE=generated: pacing, size and faults of the generated stream
    generated_rate: float = Field(
        1000.0, ge=0, description="KAFKA_SOURCE=generated: events/s admitted; 0 = all at once."
    )
    generated_events: int | None = Field(
        None, ge=1, description="KAFKA_SOURCE=generated: how many clean events; unset = endless."
    )
    generated_faults: bool = Field(
        True, description="KAFKA_SOURCE=generated: inject the demo's fault mix."
    )
    # the shop's timeline starts this far back, so generated events are never ahead of
    # their arrival; about 26,000 events make a shop day (30 days: about 780,000 events)
    generated_history_days: float = Field(
        30.0, gt=0, description="KAFKA_SOURCE=generated: days back the shop's timeline starts."
    )

    # Outages: how long the streaming job waits out an unreachable broker or lake
    # storage (retrying with backoff) before it stops with a clear error
    kafka_outage_tolerance: str = Field(
        "3 minutes", description="How long the job waits out an unreachable broker before it stops."
    )
    lake_outage_tolerance: str = Field(
        "3 minutes",
        description="How long a failed Delta commit or read is retried before the batch fails.",
    )

    # Producer
    producer_seed: int = Field(42, description="Seed of the catalog and the events.")
    producer_rate: float = Field(
        0.0, ge=0, description="Events/s of the producer; 0 = as fast as possible."
    )
    # a message not acknowledged within this long is reported as a delivery failure
    producer_delivery_timeout: str = Field(
        "5 minutes",
        description="How long the producer keeps an undelivered message before it fails.",
    )
    # how long the producer gathers records into one batch per partition (librdkafka
    # linger.ms, whose default is 5): latency added to every event, for larger batches
    producer_linger_ms: int = Field(
        5,
        ge=0,
        le=60_000,
        description="How long the producer gathers a batch per partition (linger.ms).",
    )

    # Orchestration: the Airflow DAG, `lakehouse pipeline` and the demo's warehouse half.
    # In DAG tasks an Airflow connection with this id, when defined, overrides SNOWFLAKE_*.
    snowflake_conn_id: str = Field(
        "retail_snowflake",
        description="Airflow connection whose parameters, when it exists, win in DAG tasks.",
    )
    daily_kpis_csv: str = Field(
        "outputs/aggregates_daily.csv", description="Where fct_daily_kpis is exported as CSV."
    )
    max_lake_age_minutes: float = Field(
        60.0, gt=0, description="How old the newest lake commit may be for the warehouse pipeline."
    )
    # a failed DAG task POSTs its one-line reason here as JSON {"text": ...} (e.g. a Slack
    # or Teams incoming webhook); unset: the line is only logged
    alert_webhook_url: SecretStr | None = Field(
        None, description="A failed DAG task POSTs its one-line reason here (Slack, Teams)."
    )

    # The online store's business day (physical stores carry their own zone)
    web_store_time_zone: str = Field(
        DEFAULT_WEB_STORE_TIME_ZONE,
        description="IANA time zone of the online store's business day.",
    )

    # Snowflake (the loaders, dbt, the DAG and the dashboard). With neither
    # SNOWFLAKE_ACCOUNT nor SNOWFLAKE_HOST set, everything runs against the fakesnow
    # emulator in-process, keeping its DuckDB files under WAREHOUSE_EMULATOR_PATH.
    snowflake_account: str | None = Field(
        None, description="Snowflake account, e.g. myorg-myaccount. Unset: the fakesnow emulator."
    )
    snowflake_user: str | None = Field(None, description="Snowflake user.")
    snowflake_password: SecretStr | None = Field(
        None, description="Password; prefer a key pair or a token."
    )
    # Sign-in without a password (Snowflake is retiring password-only sign-in for users):
    # key-pair (SNOWFLAKE_PRIVATE_KEY_FILE, or the PEM itself in SNOWFLAKE_PRIVATE_KEY,
    # with SNOWFLAKE_PRIVATE_KEY_PASSPHRASE when the key is encrypted), an OAuth or
    # programmatic access token (SNOWFLAKE_TOKEN), or any authenticator the connector
    # knows (SNOWFLAKE_AUTHENTICATOR: SNOWFLAKE_JWT, OAUTH, PROGRAMMATIC_ACCESS_TOKEN,
    # EXTERNALBROWSER, USERNAME_PASSWORD_MFA, WORKLOAD_IDENTITY, an Okta URL)
    snowflake_authenticator: str | None = Field(
        None, description="Any authenticator the connector knows, e.g. OAUTH, EXTERNALBROWSER."
    )
    snowflake_private_key_file: str | None = Field(
        None, description="Key-pair sign-in: a PKCS#8 private key file."
    )
    snowflake_private_key: SecretStr | None = Field(
        None, description="Key-pair sign-in: the PEM text itself."
    )
    snowflake_private_key_passphrase: SecretStr | None = Field(
        None, description="Passphrase of an encrypted private key."
    )
    snowflake_token: SecretStr | None = Field(
        None, description="OAuth or programmatic access token."
    )
    snowflake_role: str | None = Field(None, description="Snowflake role.")
    snowflake_warehouse: str | None = Field(None, description="Snowflake virtual warehouse.")
    snowflake_database: str = Field(
        "LAKEHOUSE", description="Database of the landed tables and the marts."
    )
    snowflake_schema: str = Field(
        "RETAIL", description="Schema the loaders land the lake tables in."
    )
    snowflake_analytics_schema: str = Field(
        "ANALYTICS", description="Schema dbt builds the marts in."
    )
    # a Snowflake-protocol server at host:port, e.g. the compose stack's fakesnow server
    snowflake_host: str | None = Field(
        None, description="A Snowflake-protocol server or private-link host."
    )
    snowflake_port: int | None = Field(None, description="Port of SNOWFLAKE_HOST.")
    snowflake_protocol: Literal["https", "http"] = Field(
        "https", description="Protocol of SNOWFLAKE_HOST (http for the fakesnow server)."
    )
    warehouse_emulator_path: str = Field(
        "warehouse_data", description="Folder of the in-process fakesnow emulator's files."
    )
    # seconds to wait for a Snowflake login before giving up (and for the network after)
    snowflake_login_timeout: int = Field(
        30, ge=1, description="Seconds to wait for a Snowflake login."
    )
    # how the loaders stage a chunk: write_pandas (Parquet PUT/COPY, the fast path on a real
    # account and in-process fakesnow) or bound INSERTs (works against the fakesnow server)
    snowflake_stage_method: Literal["write_pandas", "insert"] = Field(
        "write_pandas",
        description="write_pandas, or insert (bound INSERTs, for the fakesnow server).",
    )
    # rows per chunk the loaders read from a Delta table and stage at a time
    loader_chunk_rows: int = Field(
        100_000, ge=1, description="Rows the loaders read and stage at a time."
    )
    # `lakehouse load --follow`: seconds between two rounds of load + incremental marts
    loader_follow_interval_s: float = Field(
        5.0, ge=0, description="`lakehouse load --follow`: seconds between two rounds."
    )
    # where dbt writes its target/ and logs/ (default: git-ignored folders inside dbt/)
    dbt_artifacts_path: str | None = Field(
        None, description="Where dbt writes target/ and logs/ (default: inside dbt/)."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_default(cls, value: Any, info: ValidationInfo) -> Any:
        # `SPARK_CODEGEN=` in a .env file or a compose environment means "not set"; a text
        # setting keeps its empty text (S3_PREFIX= puts the lake at the bucket's root)
        if value == "" and info.field_name not in _TEXT_SETTINGS:
            raise PydanticUseDefault
        return value

    @field_validator("kafka_options", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        # decoded here rather than by the settings source, so that KAFKA_OPTIONS= is unset
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("starting_offsets")
    @classmethod
    def _known_starting_offsets(cls, value: str) -> str:
        if value not in ("earliest", "latest") and not value.lstrip().startswith("{"):
            raise ValueError(
                "STARTING_OFFSETS is earliest, latest or a JSON map such as "
                '{"topic": {"0": 42, "1": -2}} (-2 = earliest, -1 = latest)'
            )
        return value

    @field_validator("kafka_outage_tolerance", "lake_outage_tolerance", "producer_delivery_timeout")
    @classmethod
    def _readable_duration(cls, value: str) -> str:
        duration_seconds(value)  # fail at start-up, not in the middle of an outage
        return value

    @field_validator("web_store_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. America/New_York") from None
        return value

    @property
    def uses_warehouse_emulator(self) -> bool:
        """True when no Snowflake account or host is configured: use in-process fakesnow."""
        return not (self.snowflake_account or self.snowflake_host)

    @property
    def resolved_lake_root(self) -> str:
        """LAKE_ROOT, or s3://S3_BUCKET/S3_PREFIX when only the bucket is given."""
        if self.s3_bucket and not self.lake_root.startswith(("s3://", "s3a://")):
            prefix = self.s3_prefix.strip("/")
            return f"s3://{self.s3_bucket}/{prefix}" if prefix else f"s3://{self.s3_bucket}"
        if is_remote(self.lake_root):
            return self.lake_root.rstrip("/")
        return str(Path(self.lake_root).expanduser().resolve())

    @property
    def resolved_checkpoint_root(self) -> str:
        """Spark checkpoints; kept on local disk when the lake is on S3 and no
        CHECKPOINT_ROOT is set, because s3a needs hadoop-aws on the classpath."""
        if self.checkpoint_root:
            root = self.checkpoint_root
            return root if is_remote(root) else str(Path(root).expanduser().resolve())
        if is_remote(self.resolved_lake_root):
            return str(Path("checkpoints").resolve())
        return f"{self.resolved_lake_root}/_checkpoints"

    def topic(self, family: EventFamily) -> str:
        return str(getattr(self, family.topic_setting))

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka settings shared by the producer, the admin client and the reader."""
        if not self.kafka_bootstrap_servers:
            raise ValueError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: point it at your Kafka cluster, "
                "or start a local one with `lakehouse broker` (`lakehouse demo` starts its own)."
            )
        config = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        return config


def _is_text(annotation: Any) -> bool:
    """str or SecretStr, optional or not."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return set(options or (annotation,)) - {type(None)} <= {str, SecretStr}


_TEXT_SETTINGS = frozenset(
    name for name, field in Settings.model_fields.items() if _is_text(field.annotation)
)


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
