"""The `lakehouse` command: produce events, run the streams, or run the whole demo.

Subcommands import their part lazily so `lakehouse produce` never starts a JVM.
Every command runs inside `errors.FriendlyGroup`: a failure ends in two lines (what
happened, what to do) and a non-zero exit; `--log-level DEBUG` adds the traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lakehouse_cli import preflight
from lakehouse_cli.errors import FriendlyGroup
from retail_lakehouse import logs
from retail_lakehouse.settings import Settings

app = typer.Typer(
    help="Real-time retail lakehouse: Kafka -> Spark Structured Streaming -> Delta.",
    no_args_is_help=True,
    add_completion=False,
    cls=FriendlyGroup,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    logs.configure(log_level)


def _check_clock(clock: str) -> None:
    if clock not in ("simulated", "realtime"):
        raise typer.BadParameter("--clock is 'simulated' or 'realtime'", param_hint="--clock")


@app.command()
def demo(
    events: Annotated[int, typer.Option(min=1, help="How many events to produce.")] = 50_000,
    rate: Annotated[
        float, typer.Option(min=0, help="Target events/s; 0 = as fast as possible.")
    ] = 1000.0,
    seed: Annotated[int | None, typer.Option(help="Seed for the catalog and events.")] = None,
    outputs: Annotated[Path, typer.Option(help="Where the summary is written.")] = Path("outputs"),
    clock: Annotated[
        str, typer.Option(help="realtime, or simulated: event times on the shop's own timeline.")
    ] = "realtime",
    start: Annotated[
        datetime | None,
        typer.Option(help="First simulated event time (UTC), with --clock simulated."),
    ] = None,
    warehouse: Annotated[
        bool, typer.Option(help="Then load the warehouse, build dbt and export the daily CSV.")
    ] = True,
    history_days: Annotated[
        int,
        typer.Option(
            min=0, help="Days of the shop's past streamed first, at full speed; 0 = none."
        ),
    ] = 7,
) -> None:
    """The whole path offline: broker, producer, streams, warehouse, dbt, summary.

    A local Apache Kafka broker starts unless KAFKA_BOOTSTRAP_SERVERS is set; once the
    pipeline has caught up, the warehouse is loaded, dbt builds the marts and
    outputs/aggregates_daily.csv is exported.
    """
    from mock.demo import run_demo

    _check_clock(clock)
    if start is not None and clock != "simulated":
        raise typer.BadParameter(
            "--start only applies with --clock simulated", param_hint="--start"
        )
    settings = Settings()
    preflight.require_writable_lake(settings)
    if settings.kafka_bootstrap_servers:
        preflight.require_broker(settings)
    run_demo(
        settings,
        events=events,
        rate=rate,
        seed=seed,
        outputs=outputs,
        clock=clock,
        start=start.replace(tzinfo=UTC) if start and start.tzinfo is None else start,
        warehouse=warehouse,
        history_days=history_days,
    )


@app.command()
def broker(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 = a free one.")] = 0,
    data_dir: Annotated[
        Path, typer.Option(help="Kafka's log directory, kept across restarts.")
    ] = Path("kafka_data"),
) -> None:
    """Start a local single-node Apache Kafka broker (KRaft), until Ctrl-C."""
    from mock.kafka_broker import run_until_interrupted

    run_until_interrupted(port or None, data_dir)


@app.command()
def pipeline(
    max_lake_age_minutes: Annotated[
        float | None, typer.Option(help="Allowed lake age (default MAX_LAKE_AGE_MINUTES).")
    ] = None,
    full_refresh: Annotated[bool, typer.Option(help="Rebuild incremental dbt models.")] = False,
    csv: Annotated[
        Path | None, typer.Option(help="Daily KPIs CSV (default DAILY_KPIS_CSV).")
    ] = None,
) -> None:
    """The warehouse half on the current lake, as the Airflow DAG runs it.

    Freshness check, load into Snowflake, dbt build, daily KPIs CSV.
    """
    from loaders.warehouse_pipeline import PipelineError, run_warehouse_pipeline
    from mock.summary import warehouse_lines

    try:
        report = run_warehouse_pipeline(
            Settings(),
            max_age_minutes=max_lake_age_minutes,
            full_refresh=full_refresh,
            csv_path=csv,
        )
    except PipelineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("\n".join(f"{k}: {v}" for k, v in warehouse_lines(report).items()))


@app.command()
def produce(
    events: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds.")
    ] = None,
    rate: Annotated[
        float, typer.Option(min=0, help="Target events/s; 0 = as fast as possible.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed (default PRODUCER_SEED).")] = None,
    clock: Annotated[str, typer.Option(help="simulated (replayable) or realtime.")] = "realtime",
    faults: Annotated[bool, typer.Option(help="Inject the default fault mix.")] = True,
) -> None:
    """Publish retail events to Kafka (KAFKA_BOOTSTRAP_SERVERS)."""
    from producer.faults import FaultConfig
    from producer.run import run_producer

    if events is None and duration is None:
        raise typer.BadParameter("give --events or --duration (or both)")
    _check_clock(clock)
    settings = Settings()
    preflight.require_broker(settings)
    preflight.require_writable_lake(settings)  # the reference tables go there
    report = run_producer(
        settings,
        events=events,
        duration_s=duration,
        rate=rate or None,
        seed=seed,
        faults=FaultConfig.demo_defaults() if faults else FaultConfig.none(),
        clock=clock,  # type: ignore[arg-type]
    )
    typer.echo(json.dumps(report.to_dict(), indent=2, default=str))


@app.command()
def stream(
    families: Annotated[str, typer.Option(help="Comma-separated event families.")] = (
        "sales,clickstream,inventory"
    ),
    until_idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds with no new batch.")
    ] = None,
) -> None:
    """Run the streaming pipeline (the same code spark-submit runs) until Ctrl-C."""
    from retail_lakehouse.contracts import family as event_family
    from spark_streaming.main import run
    from spark_streaming.supervision import exit_on_stream_failure

    settings = Settings()
    chosen = [f.strip() for f in families.split(",") if f.strip()]
    try:
        topics = [settings.topic(event_family(name)) for name in chosen]
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(
            f"unknown family in {families!r}", param_hint="--families"
        ) from exc
    preflight.require_topics(settings, topics)
    preflight.require_writable_lake(settings)
    exit_on_stream_failure(lambda: run(settings, chosen, until_idle))


@app.command()
def jars(
    s3a: Annotated[bool, typer.Option(help="Add hadoop-aws and the AWS SDK (s3a://).")] = False,
) -> None:
    """The JVM jars `make install` fetched, comma-separated for spark-submit --jars."""
    from lakehouse_cli.job_package import jar_list

    typer.echo(jar_list(s3a=s3a))


@app.command("package-job")
def package_job(
    output: Annotated[Path, typer.Option(help="Where the zip goes.")] = Path(
        "dist/retail_lakehouse_job.zip"
    ),
) -> None:
    """Zip the streaming job's own packages for spark-submit --py-files."""
    from lakehouse_cli.job_package import job_zip

    typer.echo(str(job_zip(output)))


@app.command()
def load(
    tables: Annotated[
        str | None,
        typer.Option(help="Comma-separated lake tables (e.g. silver.sales_lines); default all."),
    ] = None,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="A lake table to load (repeatable); default all."),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            help="Replace each landed table whole from the lake, its LOADER_STATE reset "
            "(one transaction per table; a table whose columns changed is recreated first)."
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            help="Keep loading what changed every LOADER_FOLLOW_INTERVAL_S seconds and "
            "refresh the minute-grain and today's marts after each change, until Ctrl-C."
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="With --follow: write the follow report (freshness) here as JSON."),
    ] = None,
    measured_from: Annotated[
        datetime | None,
        typer.Option(
            help="With --follow: measure the freshness of sales produced from this time "
            "(UTC) on; earlier ones (a backfilled history) are loaded but not measured."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per table.")] = True,
) -> None:
    """Upsert what changed in the lake since the last load into Snowflake (or the emulator)."""
    from loaders.lake_to_snowflake import LoadError, load_lake

    names = [t.strip() for t in tables.split(",") if t.strip()] if tables else []
    names += [t.strip() for t in table or () if t.strip()]
    settings = Settings()
    if follow:
        from loaders.follow import follow_lake

        if full_refresh:
            raise typer.BadParameter("--follow cannot be combined with --full-refresh")
        from loaders.kpi_models import KpiModelsError

        try:
            followed = follow_lake(
                settings, tables=names or None, report_path=report, measured_from=measured_from
            )
        except (LoadError, KpiModelsError) as error:
            typer.echo(f"lakehouse load failed: {error}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"followed the lake: {followed.describe()}")
        return
    try:
        loaded = load_lake(
            settings, tables=names or None, progress=progress, full_refresh=full_refresh
        )
    except LoadError as error:
        typer.echo(f"lakehouse load failed: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(loaded.render())


@app.command()
def maintain(
    retention_hours: Annotated[
        int, typer.Option(help="Vacuum keeps files any version this recent still needs.")
    ] = 168,
) -> None:
    """Compact and vacuum every streamed Delta table at LAKE_ROOT (safe while streaming)."""
    from spark_streaming.delta_rs_writer import DeltaRsWriter
    from spark_streaming.maintenance import lake_tables, maintain_tables

    outcome = maintain_tables(DeltaRsWriter(Settings()), lake_tables(), retention_hours)
    typer.echo(json.dumps(outcome, indent=2, default=str))


@app.command()
def summary() -> None:
    """Row counts, late rows, quarantine reasons and latency of the lake at LAKE_ROOT."""
    from mock.summary import render, summarize_lake

    typer.echo(render(None, summarize_lake(Settings()), {}))


@app.command()
def topics() -> None:
    """Create the three topics with TOPIC_PARTITIONS partitions (idempotent)."""
    from producer.topics import ensure_topics

    settings = Settings()
    preflight.require_broker(settings)
    typer.echo("\n".join(ensure_topics(settings)))


@app.command()
def models(
    select: Annotated[
        list[str] | None,
        typer.Option(help="dbt node selection, e.g. fct_daily_kpis+ (repeatable)."),
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Rebuild incremental marts from scratch.")
    ] = False,
) -> None:
    """dbt build of the KPI marts (dbt/) on the configured warehouse, tests included."""
    from loaders.kpi_models import KpiModelsError, build_kpi_models

    try:
        report = build_kpi_models(Settings(), select=select or None, full_refresh=full_refresh)
    except KpiModelsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(report.summary())


if __name__ == "__main__":
    app()
