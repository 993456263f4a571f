"""Settings from environment variables, with `.env` for local runs.

Names follow the environment variables users set: KAFKA_BOOTSTRAP_SERVERS,
LAKE_ROOT, AWS_*, S3_BUCKET, SNOWFLAKE_* ... Secrets are SecretStr so they never
reach a log line or a repr.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retail_lakehouse.contracts import EventFamily
from retail_lakehouse.durations import duration_seconds

# the online store's business day unless WEB_STORE_TIME_ZONE says otherwise
DEFAULT_WEB_STORE_TIME_ZONE = "America/New_York"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Kafka. Unset bootstrap servers means "start a local broker" for the demo.
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    topic_sales: str = "retail.sales.transactions"
    topic_clickstream: str = "retail.clickstream.events"
    topic_inventory: str = "retail.inventory.events"
    topic_partitions: int = Field(3, ge=1)
    topic_replication_factor: int = Field(1, ge=1)

    # Lake storage: a local folder, or s3://bucket/prefix (S3 or MinIO).
    lake_root: str = "lakehouse_data"
    s3_bucket: str | None = None
    s3_prefix: str = "lakehouse"
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    aws_allow_http: bool = False

    # Spark
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    # `kafka`: Spark's own Kafka connector; `generated`: no Kafka at all, the seeded
    # producer feeds Spark (mock/run_mock_stream.py)
    kafka_source: Literal["kafka", "generated"] = "kafka"
    delta_writer: Literal["auto", "delta-rs", "delta-spark"] = "auto"
    checkpoint_root: str | None = None
    trigger_interval: str = "1 second"
    watermark_delay: str = "2 minutes"
    window_duration: str = "1 minute"
    # where a new checkpoint starts reading: earliest, latest, or Spark's JSON map of
    # offsets; a lake that already holds batches of the pipeline overrides it (it
    # resumes from the offsets it recorded, so a lost checkpoint doubles nothing)
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int | None = Field(None, ge=1)
    # Spark's minPartitions: split Kafka partitions into more tasks on a cluster
    kafka_min_partitions: int | None = Field(None, ge=1)
    # any other option of Spark's kafka source or `kafka.*` client property, as JSON:
    # KAFKA_OPTIONS='{"kafka.ssl.truststore.location": "/etc/kafka/truststore.jks"}'.
    # Values are secrets (a JAAS config can hold a password): never logged or shown
    kafka_options: dict[str, SecretStr] = Field(default_factory=dict)
    # Shuffle partitions. Unset: 2 for a local master (a micro-batch of a few thousand
    # rows pays per task, not per row), Spark's or spark-submit's own value on a cluster.
    spark_shuffle_partitions: int | None = Field(None, ge=1)
    # Partitions a micro-batch is processed in. Unset: 1 for a local master (its
    # aggregations then need no shuffle stage), the source's own on a cluster; 0 keeps
    # the source's (one per Kafka partition) everywhere.
    spark_batch_partitions: int | None = Field(None, ge=0)
    # Spark UI: off for local runs unless asked for; spark-submit's setting wins on a cluster
    spark_ui_enabled: bool | None = None
    # Compact and vacuum a family's tables every N of its micro-batches (0 = never)
    maintain_every_batches: int = Field(500, ge=0)
    # offsets that vanished (retention, a recreated topic) stop the query unless allowed
    kafka_fail_on_data_loss: bool = True

    # KAFKA_SOURCE=generated: pacing, size and faults of the generated stream
    generated_rate: float = Field(1000.0, ge=0, description="events/s; 0 = all at once")
    generated_events: int | None = Field(None, ge=1, description="None = endless")
    generated_faults: bool = True
    # the shop's timeline starts this far back, so generated events are never ahead of
    # their arrival; about 26,000 events make a shop day (30 days: about 780,000 events)
    generated_history_days: float = Field(30.0, gt=0)

    # Outages: how long the streaming job waits out an unreachable broker or lake
    # storage (retrying with backoff) before it stops with a clear error
    kafka_outage_tolerance: str = "3 minutes"
    lake_outage_tolerance: str = "3 minutes"

    # Producer
    producer_seed: int = 42
    producer_rate: float = Field(0.0, ge=0, description="events/s; 0 means as fast as possible")
    # a message not acknowledged within this long is reported as a delivery failure
    producer_delivery_timeout: str = "5 minutes"
    # how long the producer gathers records into one batch per partition (librdkafka
    # linger.ms, whose default is 5): latency added to every event, for larger batches
    producer_linger_ms: int = Field(5, ge=0, le=60_000)

    # Orchestration: the Airflow DAG, `lakehouse pipeline` and the demo's warehouse half.
    # In DAG tasks an Airflow connection with this id, when defined, overrides SNOWFLAKE_*.
    snowflake_conn_id: str = "retail_snowflake"
    daily_kpis_csv: str = "outputs/aggregates_daily.csv"
    max_lake_age_minutes: float = Field(60.0, gt=0)
    # a failed DAG task POSTs its one-line reason here as JSON {"text": ...} (e.g. a Slack
    # or Teams incoming webhook); unset: the line is only logged
    alert_webhook_url: SecretStr | None = None

    # The online store's business day (physical stores carry their own zone)
    web_store_time_zone: str = DEFAULT_WEB_STORE_TIME_ZONE

    # Snowflake (the loaders, dbt, the DAG and the dashboard). With neither
    # SNOWFLAKE_ACCOUNT nor SNOWFLAKE_HOST set, everything runs against the fakesnow
    # emulator in-process, keeping its DuckDB files under WAREHOUSE_EMULATOR_PATH.
    snowflake_account: str | None = None
    snowflake_user: str | None = None
    snowflake_password: SecretStr | None = None
    # Sign-in without a password (Snowflake is retiring password-only sign-in for users):
    # key-pair (SNOWFLAKE_PRIVATE_KEY_FILE, or the PEM itself in SNOWFLAKE_PRIVATE_KEY,
    # with SNOWFLAKE_PRIVATE_KEY_PASSPHRASE when the key is encrypted), an OAuth or
    # programmatic access token (SNOWFLAKE_TOKEN), or any authenticator the connector
    # knows (SNOWFLAKE_AUTHENTICATOR: SNOWFLAKE_JWT, OAUTH, PROGRAMMATIC_ACCESS_TOKEN,
    # EXTERNALBROWSER, USERNAME_PASSWORD_MFA, WORKLOAD_IDENTITY, an Okta URL)
    snowflake_authenticator: str | None = None
    snowflake_private_key_file: str | None = None
    snowflake_private_key: SecretStr | None = None
    snowflake_private_key_passphrase: SecretStr | None = None
    snowflake_token: SecretStr | None = None
    snowflake_role: str | None = None
    snowflake_warehouse: str | None = None
    snowflake_database: str = "LAKEHOUSE"
    snowflake_schema: str = "RETAIL"
    snowflake_analytics_schema: str = "ANALYTICS"
    # a Snowflake-protocol server at host:port, e.g. the compose stack's fakesnow server
    snowflake_host: str | None = None
    snowflake_port: int | None = None
    snowflake_protocol: Literal["https", "http"] = "https"
    warehouse_emulator_path: str = "warehouse_data"
    # seconds to wait for a Snowflake login before giving up (and for the network after)
    snowflake_login_timeout: int = Field(30, ge=1)
    # how the loaders stage a chunk: write_pandas (Parquet PUT/COPY, the fast path on a real
    # account and in-process fakesnow) or bound INSERTs (works against the fakesnow server)
    snowflake_stage_method: Literal["write_pandas", "insert"] = "write_pandas"
    # rows per chunk the loaders read from a Delta table and stage at a time
    loader_chunk_rows: int = Field(100_000, ge=1)
    # `lakehouse load --follow`: seconds between two rounds of load + incremental marts
    loader_follow_interval_s: float = Field(5.0, ge=0)
    # where dbt writes its target/ and logs/ (default: git-ignored folders inside dbt/)
    dbt_artifacts_path: str | None = None

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
            return f"s3://{self.s3_bucket}/{self.s3_prefix.strip('/')}"
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


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
