"""A realistic landed warehouse for the dbt tests, built from the producer's simulator.

Several simulated days of the seeded shop become the lake tables' rows exactly as the
loaders land them in SNOWFLAKE_SCHEMA: the Delta table's columns in UPPERCASE plus
_LOADED_AT and _DELTA_VERSION. The gold tables are derived here with pandas (on-time
rows only, as the streaming job does), independently of the dbt models under test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa

from producer.catalog import Catalog, build_catalog
from producer.clock import DEFAULT_START, SimulatedClock
from producer.records import Record
from producer.simulator import ShopSimulator
from retail_lakehouse import tables
from retail_lakehouse.settings import Settings

LOADED_AT = datetime(2026, 11, 21, 12, 0, 0)
_FAMILY_OF = {
    "sale": "sales",
    "view": "clickstream",
    "cart": "clickstream",
    "remove_from_cart": "clickstream",
    "purchase": "clickstream",
    "inventory_change": "inventory",
    "inventory_snapshot": "inventory",
}


def simulate(
    *, days: int, seed: int = 7, traffic_scale: float = 0.1
) -> tuple[Catalog, list[Record]]:
    """`days` days of the seeded shop on the simulated clock (small catalog, fast)."""
    catalog = build_catalog(seed, n_stores=5, n_products=40)
    simulator = ShopSimulator(
        catalog,
        seed,
        SimulatedClock(),
        snapshot_every=timedelta(hours=6),
        traffic_scale=traffic_scale,
        n_customers=400,
    )
    end = DEFAULT_START + timedelta(days=days)
    records: list[Record] = []
    for record in simulator:
        if record["event_time"] >= end:  # type: ignore[operator]
            break
        records.append(record)
    return catalog, records


def landed_tables(
    catalog: Catalog, records: list[Record], seed: int = 7
) -> dict[str, pd.DataFrame]:
    """warehouse table name -> its landed rows (UPPERCASE columns, loader columns added)."""
    rng = random.Random(seed)
    lineage = _Lineage(rng)
    sales = pd.DataFrame(_sales_lines(records, lineage))
    clicks = pd.DataFrame(_clicks(records, lineage))
    changes = pd.DataFrame(_inventory_rows(records, lineage, "inventory_change"))
    snapshots = pd.DataFrame(_inventory_rows(records, lineage, "inventory_snapshot"))
    products = pd.DataFrame([vars(p) for p in catalog.products])
    stores = pd.DataFrame([vars(s) for s in catalog.stores])
    frames = {
        tables.SILVER_SALES_LINES: sales,
        tables.SILVER_CLICKSTREAM: clicks,
        tables.SILVER_INVENTORY_CHANGES: changes,
        tables.SILVER_INVENTORY_SNAPSHOTS: snapshots,
        tables.QUARANTINE: _quarantine(rng),
        tables.SALES_BY_PRODUCT_MINUTE: _sales_minute(sales, ["product_id"]),
        tables.SALES_BY_STORE_MINUTE: _store_minute(sales),
        tables.FUNNEL_BY_PRODUCT_MINUTE: _funnel_minute(clicks),
        tables.INVENTORY_LEVELS: _inventory_levels(changes, snapshots, products),
        tables.STORES: stores,
        tables.PRODUCTS: products,
        tables.STREAM_BATCHES: _stream_batches(records, rng),
    }
    landed = {spec.warehouse_name: _land(frame) for spec, frame in frames.items()}
    landed[tables.LOADER_STATE_TABLE] = pd.DataFrame(
        {
            "TABLE_NAME": [spec.qualified_name for spec in frames],
            "DELTA_VERSION": [1] * len(frames),
            "ROWS_INSERTED": [len(frame) for frame in frames.values()],
            "ROWS_UPDATED": [0] * len(frames),
            "LOADED_AT": [LOADED_AT] * len(frames),
        }
    )
    return landed


def seed_warehouse(settings: Settings, landed: dict[str, pd.DataFrame]) -> None:
    """Write the landed tables into SNOWFLAKE_SCHEMA with write_pandas, as the loader does."""
    from retail_lakehouse import warehouse

    with warehouse.connect(settings) as conn:
        conn.cursor().execute(f"create schema if not exists {settings.snowflake_schema}")
        conn.cursor().execute(f"use schema {settings.snowflake_schema}")
        import snowflake.connector.pandas_tools as pandas_tools

        for name, frame in landed.items():
            columns = ", ".join(f"{col} {_warehouse_type(frame[col])}" for col in frame.columns)
            conn.cursor().execute(f"create or replace table {name} ({columns})")
            pandas_tools.write_pandas(
                conn, frame, name, use_logical_type=True, quote_identifiers=False
            )


def _warehouse_type(column: pd.Series) -> str:
    """The contract's landed types: money NUMBER(p,2), integers NUMBER(38,0), UTC
    TIMESTAMP_NTZ, DATE, BOOLEAN, VARCHAR."""
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
        return f"NUMBER({dtype.pyarrow_dtype.precision},{dtype.pyarrow_dtype.scale})"
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "NUMBER(38,0)"
    if pd.api.types.is_float_dtype(dtype):
        return "FLOAT"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP_NTZ"
    values = column.dropna()
    if len(values) and isinstance(values.iloc[0], date):
        return "DATE"
    if len(values) and isinstance(values.iloc[0], int):
        return "NUMBER(38,0)"
    return "VARCHAR"


# --- rows -------------------------------------------------------------------------


class _Lineage:
    """produced_at / ingested_at / Kafka position of each event, deterministic."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._offsets: dict[int, int] = {}

    def of(self, record: Record, partition_key: int | str) -> dict[str, object]:
        event_time: datetime = record["event_time"]  # type: ignore[assignment]
        produced_at = event_time + timedelta(milliseconds=self._rng.randint(5, 50))
        partition = (
            hash(str(partition_key)) % 3 if isinstance(partition_key, str) else partition_key % 3
        )
        offset = self._offsets.get(partition, 0)
        self._offsets[partition] = offset + 1
        return {
            "produced_at": _naive(produced_at),
            "is_late": self._rng.random() < 0.01,
            "ingested_at": _naive(
                produced_at + timedelta(milliseconds=self._rng.randint(200, 900))
            ),
            "kafka_partition": partition,
            "kafka_offset": offset,
            "event_date": event_time.date(),
        }


def _sales_lines(records: list[Record], lineage: _Lineage) -> Iterator[dict[str, object]]:
    for record in records:
        if record["event_type"] != "sale":
            continue
        meta = lineage.of(record, record["store_id"])  # type: ignore[arg-type]
        for line in record["lines"]:  # type: ignore[attr-defined]
            yield {
                "event_id": record["event_id"],
                "transaction_id": record["transaction_id"],
                "event_time": _naive(record["event_time"]),  # type: ignore[arg-type]
                "store_id": record["store_id"],
                "channel": record["channel"],
                "customer_id": record["customer_id"],
                "payment_type": record["payment_type"],
                "line_number": line["line_number"],
                "product_id": line["product_id"],
                "quantity": line["quantity"],
                "unit_price": line["unit_price"],
                "discount": line["discount"],
                "line_revenue": line["quantity"] * line["unit_price"] - line["discount"],
                **meta,
            }


def _clicks(records: list[Record], lineage: _Lineage) -> Iterator[dict[str, object]]:
    for record in records:
        if _FAMILY_OF[str(record["event_type"])] != "clickstream":
            continue
        yield {
            **{k: record[k] for k in ("event_id", "event_type", "product_id", "category_id")},
            "event_time": _naive(record["event_time"]),  # type: ignore[arg-type]
            **{
                k: record[k] for k in ("category_code", "brand", "price", "user_id", "user_session")
            },
            **lineage.of(record, str(record["user_session"])),
        }


def _inventory_rows(
    records: list[Record], lineage: _Lineage, event_type: str
) -> Iterator[dict[str, object]]:
    for record in records:
        if record["event_type"] != event_type:
            continue
        meta = lineage.of(record, record["store_id"])  # type: ignore[arg-type]
        head = {"event_id": record["event_id"]}
        if event_type == "inventory_change":
            head["trans_id"] = record["trans_id"]
        for item in record["items"]:  # type: ignore[attr-defined]
            row: dict[str, object] = {
                **head,
                "event_time": _naive(record["event_time"]),  # type: ignore[arg-type]
                "store_id": record["store_id"],
            }
            if event_type == "inventory_change":
                row["change_type"] = record["change_type"]
            yield {**row, "product_id": item["product_id"], "quantity": item["quantity"], **meta}


def _sales_minute(sales: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    on_time = sales[~sales["is_late"]].assign(window_start=sales["event_time"].dt.floor("min"))
    gold = (
        on_time.groupby(["window_start", *keys])
        .agg(
            orders=("transaction_id", "nunique"),
            units=("quantity", "sum"),
            revenue=("line_revenue", "sum"),
        )
        .reset_index()
    )
    gold.insert(1, "window_end", gold["window_start"] + pd.Timedelta(minutes=1))
    return gold.assign(updated_at=gold["window_end"] + pd.Timedelta(seconds=3))


def _store_minute(sales: pd.DataFrame) -> pd.DataFrame:
    gold = _sales_minute(sales, ["store_id", "channel"])
    aov = [
        (r / o).quantize(Decimal("0.01"))
        for r, o in zip(gold["revenue"], gold["orders"], strict=True)
    ]
    gold.insert(len(gold.columns) - 1, "avg_order_value", aov)
    return gold


def _funnel_minute(clicks: pd.DataFrame) -> pd.DataFrame:
    on_time = clicks[~clicks["is_late"]].assign(window_start=clicks["event_time"].dt.floor("min"))
    counts = pd.crosstab([on_time["window_start"], on_time["product_id"]], on_time["event_type"])
    steps = {
        "view": "views",
        "cart": "carts",
        "remove_from_cart": "removes",
        "purchase": "purchases",
    }
    gold = counts.reindex(columns=list(steps), fill_value=0).rename(columns=steps).reset_index()
    gold.columns.name = None
    gold.insert(1, "window_end", gold["window_start"] + pd.Timedelta(minutes=1))
    return gold.assign(updated_at=gold["window_end"] + pd.Timedelta(seconds=3))


def _inventory_levels(
    changes: pd.DataFrame, snapshots: pd.DataFrame, products: pd.DataFrame
) -> pd.DataFrame:
    """Latest count per store and product plus the changes after it."""
    keys = ["store_id", "product_id"]
    last = snapshots.sort_values("event_time").groupby(keys).tail(1)
    last = last[[*keys, "event_time", "quantity"]].rename(
        columns={"event_time": "last_snapshot_at", "quantity": "counted"}
    )
    merged = changes.merge(last, on=keys, how="left")
    after = merged[merged["event_time"] > merged["last_snapshot_at"]]
    moved = after.groupby(keys)["quantity"].sum().rename("moved").reset_index()
    last_change = changes.groupby(keys)["event_time"].max().rename("last_change_at").reset_index()
    levels = last.merge(moved, on=keys, how="left").merge(last_change, on=keys, how="left")
    levels = levels.merge(products[["product_id", "safety_stock"]], on="product_id", how="left")
    levels["on_hand"] = levels["counted"] + levels["moved"].fillna(0).astype(int)
    levels["is_below_safety_stock"] = levels["on_hand"] < levels["safety_stock"]
    levels["updated_at"] = levels[["last_snapshot_at", "last_change_at"]].max(axis=1)
    return levels[
        [
            *keys,
            "on_hand",
            "last_snapshot_at",
            "last_change_at",
            "safety_stock",
            "is_below_safety_stock",
            "updated_at",
        ]
    ]


def _stream_batches(records: list[Record], rng: random.Random) -> pd.DataFrame:
    """One micro-batch per family per simulated 30 minutes, with a latency profile."""
    buckets: dict[tuple[str, datetime], list[datetime]] = {}
    for record in records:
        moment: datetime = record["event_time"]  # type: ignore[assignment]
        bucket = moment.replace(minute=moment.minute // 30 * 30, second=0, microsecond=0)
        buckets.setdefault((_FAMILY_OF[str(record["event_type"])], bucket), []).append(moment)
    rows = []
    batch_ids: dict[str, int] = {}
    for (family, bucket), moments in sorted(buckets.items()):
        batch_id = batch_ids.get(family, 0)
        batch_ids[family] = batch_id + 1
        started = bucket + timedelta(minutes=30)
        p50 = float(rng.randint(300, 900))
        p95 = p50 + rng.randint(100, 1500)
        duplicates, late = rng.randint(0, 3), rng.randint(0, 2)
        quarantined = rng.randint(0, 2)
        rows.append(
            {
                "query_name": f"{family}_lake",
                "family": family,
                "batch_id": batch_id,
                "started_at": _naive(started),
                "committed_at": _naive(started + timedelta(milliseconds=int(p50))),
                "duration_ms": int(p50),
                "input_rows": len(moments) + duplicates + quarantined,
                "quarantined_rows": quarantined,
                "valid_events": len(moments) + duplicates,
                "duplicate_events": duplicates,
                "late_events": late,
                "stored_events": len(moments),
                "watermark": _naive(max(moments) - timedelta(minutes=2)),
                "max_event_time": _naive(max(moments)),
                "latency_p50_ms": p50,
                "latency_p95_ms": p95,
                "latency_max_ms": p95 + 200.0,
                # arrays and maps land as JSON text
                "latency_sample_ms": json.dumps([int(p50), int(p95)]),
                "quarantine_reasons": json.dumps(
                    {"malformed_json": quarantined} if quarantined else {}
                ),
            }
        )
    return pd.DataFrame(rows)


def _quarantine(rng: random.Random) -> pd.DataFrame:
    reasons = ("malformed_json", "missing_field", "wrong_type", "out_of_range")
    rows = []
    for offset in range(12):
        family = ("sales", "clickstream", "inventory")[offset % 3]
        ingested = datetime(2026, 3, 2, 9, 0) + timedelta(minutes=7 * offset)
        rows.append(
            {
                "family": family,
                "topic": f"retail.{family}.events",
                "partition": offset % 3,
                "offset": 10_000 + offset,
                "kafka_timestamp": ingested,
                "key": None,
                "raw_payload": '{"event_id": ',
                "reason": rng.choice(reasons),
                "reason_detail": "lines[].quantity",
                "event_id": None,
                "event_type": None,
                "ingested_at": ingested,
                "ingest_date": ingested.date(),
            }
        )
    return pd.DataFrame(rows)


def _land(frame: pd.DataFrame) -> pd.DataFrame:
    landed = frame.rename(columns=str.upper).copy()
    for name in landed.columns:
        values = landed[name].dropna()
        if len(values) and isinstance(values.iloc[0], Decimal):
            # money lands as NUMBER(12,2); Spark's revenue sums are DECIMAL(18,2)
            scale = 18 if name in ("REVENUE", "AVG_ORDER_VALUE") else 12
            landed[name] = landed[name].astype(pd.ArrowDtype(pa.decimal128(scale, 2)))
    landed["_LOADED_AT"] = LOADED_AT
    landed["_DELTA_VERSION"] = 1
    return landed


def _naive(moment: datetime) -> datetime:
    """UTC wall time without a zone, as TIMESTAMP_NTZ holds it."""
    return moment.astimezone(UTC).replace(tzinfo=None)


__all__ = ["landed_tables", "seed_warehouse", "simulate"]
