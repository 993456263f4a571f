"""Independent expectations for the pipeline tests.

Everything here is computed from the messages the test itself sent, with plain
Python and DuckDB, never with the pipeline's transforms.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pyarrow as pa
from chispa import assert_df_equality
from deltalake import DeltaTable

from producer.malformed import MALFORMED_KINDS
from producer.messages import OutboundMessage
from retail_lakehouse import contracts, lake

# how the producer's fault kinds must come out of validation
EXPECTED_REASON = {
    "bad_json": "malformed_json",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "unknown_event_type": "unknown_event_type",
    "absurd_value": "out_of_range",
    # not a producer fault: the tests forge a till whose clock says 2099
    "future_event_time": "future_event_time",
}
# faults whose records go to quarantine instead of silver
QUARANTINED_FAULTS = frozenset(MALFORMED_KINDS) | {"future_event_time"}


def ts(text: str) -> datetime:
    """Payload timestamp -> naive UTC datetime (Spark session time zone is UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def unique_valid_events(messages: list[OutboundMessage]) -> list[tuple[OutboundMessage, dict]]:
    """Messages that are not malformed, first copy of each event id, in send order."""
    seen: set[str] = set()
    kept = []
    for message in messages:
        if message.fault in QUARANTINED_FAULTS:
            continue
        event = json.loads(message.value)
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        kept.append((message, event))
    return kept


def expected_quarantine(messages: list[OutboundMessage]) -> Counter:
    return Counter(
        (m.topic, m.value.decode("utf-8", errors="replace"), EXPECTED_REASON[m.fault])
        for m in messages
        if m.fault in QUARANTINED_FAULTS
    )


def expected_sales_lines(
    valid: list[tuple[OutboundMessage, dict]], late_ids: set[str]
) -> list[tuple]:
    rows = []
    for _, e in valid:
        if e["event_type"] != "sale":
            continue
        for line in e["lines"]:
            unit_price = Decimal(str(line["unit_price"])).quantize(Decimal("0.01"))
            discount = Decimal(str(line["discount"])).quantize(Decimal("0.01"))
            rows.append(
                (
                    e["event_id"],
                    e["transaction_id"],
                    ts(e["event_time"]),
                    e["store_id"],
                    e["channel"],
                    e["customer_id"],
                    e["payment_type"],
                    line["line_number"],
                    line["product_id"],
                    line["quantity"],
                    unit_price,
                    discount,
                    line["quantity"] * unit_price - discount,
                    e["event_id"] in late_ids,
                )
            )
    return rows


SALES_LINE_COLUMNS = [
    "event_id", "transaction_id", "event_time", "store_id", "channel", "customer_id",
    "payment_type", "line_number", "product_id", "quantity", "unit_price", "discount",
    "line_revenue", "is_late",
]  # fmt: skip

SALES_LINES_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("transaction_id", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("store_id", pa.int32()),
        ("channel", pa.string()),
        ("customer_id", pa.int64()),
        ("payment_type", pa.string()),
        ("line_number", pa.int32()),
        ("product_id", pa.int64()),
        ("quantity", pa.int32()),
        ("unit_price", pa.decimal128(12, 2)),
        ("discount", pa.decimal128(12, 2)),
        ("line_revenue", pa.decimal128(12, 2)),
        ("is_late", pa.bool_()),
    ]
)


def sales_lines_table(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(SALES_LINE_COLUMNS, r, strict=True)) for r in rows], schema=SALES_LINES_SCHEMA
    )


def clicks_table(valid: list[tuple[OutboundMessage, dict]], late_ids: set[str]) -> pa.Table:
    rows = [
        {
            "event_id": e["event_id"],
            "event_time": ts(e["event_time"]),
            "event_type": e["event_type"],
            "product_id": e["product_id"],
            "user_id": e["user_id"],
            "user_session": e["user_session"],
            "is_late": e["event_id"] in late_ids,
        }
        for _, e in valid
        if e["event_type"] in contracts.CLICKSTREAM_EVENT_TYPES
    ]
    schema = pa.schema(
        [
            ("event_id", pa.string()),
            ("event_time", pa.timestamp("us")),
            ("event_type", pa.string()),
            ("product_id", pa.int64()),
            ("user_id", pa.int64()),
            ("user_session", pa.string()),
            ("is_late", pa.bool_()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def inventory_tables(valid: list[tuple[OutboundMessage, dict]]) -> tuple[pa.Table, pa.Table]:
    changes, counts = [], []
    for _, e in valid:
        target = {"inventory_change": changes, "inventory_snapshot": counts}.get(e["event_type"])
        if target is None:
            continue
        for item in e["items"]:
            target.append(
                {
                    "store_id": e["store_id"],
                    "product_id": item["product_id"],
                    "quantity": item["quantity"],
                    "event_time": ts(e["event_time"]),
                }
            )
    schema = pa.schema(
        [
            ("store_id", pa.int32()),
            ("product_id", pa.int64()),
            ("quantity", pa.int32()),
            ("event_time", pa.timestamp("us")),
        ]
    )
    return pa.Table.from_pylist(changes, schema=schema), pa.Table.from_pylist(counts, schema=schema)


def gold_sales_by_product(lines: pa.Table) -> pa.Table:
    return duckdb.sql(
        """
        select date_trunc('minute', event_time) as window_start,
               date_trunc('minute', event_time) + interval 1 minute as window_end,
               product_id,
               count(distinct transaction_id)::bigint as orders,
               sum(quantity)::bigint as units,
               sum(line_revenue)::decimal(18, 2) as revenue
        from lines where not is_late
        group by all
        """
    ).fetch_arrow_table()


def gold_sales_by_store(lines: pa.Table) -> pa.Table:
    windows = duckdb.sql(
        """
        select date_trunc('minute', event_time) as window_start,
               date_trunc('minute', event_time) + interval 1 minute as window_end,
               store_id, channel,
               count(distinct transaction_id)::bigint as orders,
               sum(quantity)::bigint as units,
               sum(line_revenue)::decimal(18, 2) as revenue
        from lines where not is_late
        group by all
        """
    ).fetch_arrow_table()
    # DuckDB divides decimals as doubles; round half-up on exact decimals instead
    average = [
        (revenue / orders).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        for revenue, orders in zip(
            windows["revenue"].to_pylist(), windows["orders"].to_pylist(), strict=True
        )
    ]
    return windows.append_column("avg_order_value", pa.array(average, pa.decimal128(18, 2)))


def gold_funnel(clicks: pa.Table) -> pa.Table:
    return duckdb.sql(
        """
        select date_trunc('minute', event_time) as window_start,
               date_trunc('minute', event_time) + interval 1 minute as window_end,
               product_id,
               count(*) filter (where event_type = 'view')::bigint as views,
               count(*) filter (where event_type = 'cart')::bigint as carts,
               count(*) filter (where event_type = 'remove_from_cart')::bigint as removes,
               count(*) filter (where event_type = 'purchase')::bigint as purchases
        from clicks where not is_late
        group by all
        """
    ).fetch_arrow_table()


def gold_inventory_levels(changes: pa.Table, counts: pa.Table, products: pa.Table) -> pa.Table:
    """The definition: latest stock count plus the changes after it (all changes if none)."""
    return duckdb.sql(
        """
        with keys as (
            select store_id, product_id from changes union select store_id, product_id from counts
        ),
        latest as (
            select store_id, product_id, quantity, event_time as counted_at from counts
            qualify row_number() over (
                partition by store_id, product_id order by event_time desc
            ) = 1
        ),
        moved as (
            select k.store_id, k.product_id,
                   coalesce(sum(c.quantity) filter (
                       where l.counted_at is null or c.event_time > l.counted_at), 0) as moved,
                   max(c.event_time) as last_change_at
            from keys k
            left join latest l using (store_id, product_id)
            left join changes c using (store_id, product_id)
            group by all
        )
        select m.store_id, m.product_id,
               (coalesce(l.quantity, 0) + m.moved)::bigint as on_hand,
               l.counted_at as last_snapshot_at,
               m.last_change_at,
               p.safety_stock,
               coalesce((coalesce(l.quantity, 0) + m.moved) < p.safety_stock, false)
                   as is_below_safety_stock
        from moved m
        left join latest l using (store_id, product_id)
        left join products p using (product_id)
        """
    ).fetch_arrow_table()


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(poll_s)


def read_table(settings, spec) -> pa.Table:
    """A lake table as it is stored, read with delta-rs directly (not the pipeline's
    own reader): its latest version, every row."""
    uri = lake.uri(settings, spec).replace("s3a://", "s3://", 1)
    return DeltaTable(
        uri, storage_options=lake.storage_options(settings) or None
    ).to_pyarrow_table()


def assert_table_equals(spark, settings, spec, expected: pa.Table) -> None:
    """The lake table, restricted to the expected columns, equals `expected` as a whole."""
    stored = read_table(settings, spec).select(expected.column_names)
    _assert_same_rows(spec, stored, expected)
    actual = spark.createDataFrame(stored)
    assert_df_equality(
        actual, spark.createDataFrame(expected), ignore_row_order=True, ignore_nullable=True
    )


def _assert_same_rows(spec, actual: pa.Table, expected: pa.Table, shown: int = 5) -> None:
    """A readable first check: which rows are missing from the table, and which extra."""
    have = Counter(_comparable(r) for r in actual.to_pylist())
    want = Counter(_comparable(r) for r in expected.to_pylist())
    if have == want:
        return
    missing, extra = want - have, have - want
    raise AssertionError(
        f"{spec.qualified_name}: {sum(missing.values())} expected rows missing, "
        f"{sum(extra.values())} unexpected rows (of {actual.num_rows} stored, "
        f"{expected.num_rows} expected)\nmissing: {list(missing)[:shown]}\n"
        f"unexpected: {list(extra)[:shown]}"
    )


def _comparable(row: dict) -> tuple:
    """A row as a hashable tuple, timestamps without their time zone (naive UTC)."""
    values = []
    for key in sorted(row):
        value = row[key]
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        values.append((key, value))
    return tuple(values)
