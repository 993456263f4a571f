"""The `lakehouse` command: produce events, run the streams, or run the whole demo.

Subcommands import their part lazily so `lakehouse produce` never starts a JVM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from retail_lakehouse import logs
from retail_lakehouse.settings import Settings

app = typer.Typer(
    help="Real-time retail lakehouse: Kafka -> Spark Structured Streaming -> Delta.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _configure(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    logs.configure(log_level)


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="How many events to produce.")] = 50_000,
    rate: Annotated[float, typer.Option(help="Target events/s; 0 = as fast as possible.")] = 1000.0,
    seed: Annotated[int | None, typer.Option(help="Seed for the catalog and events.")] = None,
    outputs: Annotated[Path, typer.Option(help="Where the summary is written.")] = Path("outputs"),
) -> None:
    """Embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), producer, streams, summary."""
    from mock.demo import run_demo

    run_demo(Settings(), events=events, rate=rate, seed=seed, outputs=outputs)


@app.command()
def produce(
    events: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    rate: Annotated[float, typer.Option(help="Target events/s; 0 = as fast as possible.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed (default PRODUCER_SEED).")] = None,
    clock: Annotated[str, typer.Option(help="simulated (replayable) or realtime.")] = "realtime",
    faults: Annotated[bool, typer.Option(help="Inject the default fault mix.")] = True,
) -> None:
    """Publish retail events to Kafka (KAFKA_BOOTSTRAP_SERVERS)."""
    from producer.faults import FaultConfig
    from producer.run import run_producer

    if events is None and duration is None:
        raise typer.BadParameter("give --events or --duration (or both)")
    if clock not in ("simulated", "realtime"):
        raise typer.BadParameter("--clock is 'simulated' or 'realtime'")
    report = run_producer(
        Settings(),
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
    """Run the streaming jobs (the same code spark-submit runs) until Ctrl-C."""
    from spark_streaming.main import run
    from spark_streaming.supervision import exit_on_stream_failure

    names = [f.strip() for f in families.split(",") if f.strip()]
    exit_on_stream_failure(lambda: run(Settings(), names, until_idle))


@app.command()
def summary() -> None:
    """Row counts, late rows, quarantine reasons and latency of the lake at LAKE_ROOT."""
    from mock.summary import render, summarize_lake

    typer.echo(render(None, summarize_lake(Settings()), {}))


@app.command()
def topics() -> None:
    """Create the three topics with TOPIC_PARTITIONS partitions (idempotent)."""
    from producer.topics import ensure_topics

    typer.echo("\n".join(ensure_topics(Settings())))


if __name__ == "__main__":
    app()
