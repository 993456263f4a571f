"""Altair charts for the panels: each takes the panel's DataFrame and returns a chart."""

from __future__ import annotations

from typing import Literal

import altair as alt
import pandas as pd

# what the builders return: a plain chart or a layered one
AnyChart = alt.Chart | alt.LayerChart | alt.FacetChart

# One palette for the page, so a store or product keeps its colour between charts.
CATEGORY_SCHEME: Literal["tableau10"] = "tableau10"
ACCENT = "#1f6feb"
MONEY = "$,.2f"


def daily_revenue(frame: pd.DataFrame) -> AnyChart:
    """Revenue per day as bars with orders as a line, the day-to-day trend."""
    # ordinal days so each bar fills its day's band
    base = alt.Chart(frame).encode(
        x=alt.X(
            "yearmonthdate(kpi_date):O",
            title=None,
            axis=alt.Axis(format="%b %d", formatType="time", labelAngle=0),
        )
    )
    bars = base.mark_bar(color=ACCENT, opacity=0.85).encode(
        y=alt.Y("revenue_usd:Q", title="Revenue (USD)", axis=alt.Axis(format="$,.0f")),
        tooltip=[
            alt.Tooltip("kpi_date:T", title="Date"),
            alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
            alt.Tooltip("orders:Q", title="Orders", format=","),
            alt.Tooltip("avg_order_value_usd:Q", title="AOV", format=MONEY),
        ],
    )
    line = base.mark_line(color="#e8590c", point=True).encode(
        y=alt.Y("orders:Q", title="Orders", axis=alt.Axis(titleColor="#e8590c"))
    )
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=260)


def recent_product_sales(frame: pd.DataFrame) -> AnyChart:
    """Stacked revenue per minute, one colour per product."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "hoursminutes(window_start):O",
                title="Minute (UTC, simulated clock)",
                axis=alt.Axis(format="%H:%M", formatType="time", labelAngle=0),
            ),
            y=alt.Y("revenue_usd:Q", title="Revenue (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color(
                "product:N",
                title="Product",
                scale=alt.Scale(scheme=CATEGORY_SCHEME),
                legend=alt.Legend(orient="right", labelLimit=220),
            ),
            tooltip=[
                alt.Tooltip("window_start:T", title="Minute", format="%H:%M"),
                alt.Tooltip("product:N", title="Product"),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("units:Q", title="Units", format=","),
            ],
        )
        .properties(height=280)
    )


def store_daily(frame: pd.DataFrame) -> AnyChart:
    """Revenue per store per day, one line per store."""
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("sales_date:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("revenue_usd:Q", title="Revenue (USD)", axis=alt.Axis(format="$,.0f")),
            color=alt.Color("store_name:N", title="Store", scale=alt.Scale(scheme=CATEGORY_SCHEME)),
            tooltip=[
                alt.Tooltip("sales_date:T", title="Date"),
                alt.Tooltip("store_name:N", title="Store"),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("orders:Q", title="Orders", format=","),
            ],
        )
        .properties(height=260)
    )


def store_hourly_heatmap(frame: pd.DataFrame) -> AnyChart:
    """Store x hour of day, coloured by revenue: when each store is busy."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("hours(sales_hour):O", title="Hour (UTC)"),
            y=alt.Y("store_name:N", title=None, axis=alt.Axis(labelLimit=240)),
            color=alt.Color(
                "revenue_usd:Q",
                title="Revenue",
                scale=alt.Scale(scheme="blues"),
                legend=alt.Legend(format="$,.0f"),
            ),
            tooltip=[
                alt.Tooltip("hours(sales_hour):O", title="Hour"),
                alt.Tooltip("store_name:N", title="Store"),
                alt.Tooltip("revenue_usd:Q", title="Revenue", format=MONEY),
                alt.Tooltip("orders:Q", title="Orders", format=","),
            ],
        )
        .properties(height=260)
    )


def funnel(frame: pd.DataFrame) -> AnyChart:
    """Sessions that viewed -> carted -> bought, as horizontal bars labelled with their
    share of the viewing sessions."""
    order = list(frame["step"])
    base = alt.Chart(frame).encode(
        y=alt.Y("step:N", sort=order, title=None),
        x=alt.X("sessions:Q", title="Sessions", axis=alt.Axis(format="~s")),
    )
    bars = base.mark_bar(color=ACCENT).encode(
        tooltip=[
            alt.Tooltip("step:N", title="Step"),
            alt.Tooltip("sessions:Q", title="Sessions", format=","),
            alt.Tooltip("share_of_views:Q", title="Of views", format=".1%"),
        ]
    )
    labels = base.mark_text(align="left", dx=4).encode(
        text=alt.Text("share_of_views:Q", format=".1%")
    )
    return alt.layer(bars, labels).properties(height=180)


def clv_histogram(frame: pd.DataFrame) -> AnyChart:
    """How many customers fall in each lifetime-value bucket (spent + projected)."""
    return (
        alt.Chart(frame)
        .mark_bar(color=ACCENT)
        .encode(
            x=alt.X(
                "lifetime_value_usd:Q",
                bin=alt.Bin(maxbins=30),
                title="Customer lifetime value (USD): spent so far + projected",
                axis=alt.Axis(format="$,.0f"),
            ),
            y=alt.Y("count():Q", title="Customers"),
            tooltip=[alt.Tooltip("count():Q", title="Customers")],
        )
        .properties(height=260)
    )


def aov_by_discount(frame: pd.DataFrame) -> AnyChart:
    """Average order value per discount band, with the orders behind each bar."""
    order = list(frame["discount_band"])
    base = alt.Chart(frame).encode(
        x=alt.X("discount_band:N", sort=order, title="Discount band", axis=alt.Axis(labelAngle=0)),
        y=alt.Y(
            "avg_order_value_usd:Q",
            title="Average order value (USD)",
            axis=alt.Axis(format="$,.0f"),
        ),
    )
    bars = base.mark_bar(color="#2f9e44").encode(
        tooltip=[
            alt.Tooltip("discount_band:N", title="Band"),
            alt.Tooltip("avg_order_value_usd:Q", title="AOV", format=MONEY),
            alt.Tooltip("orders:Q", title="Orders", format=","),
        ]
    )
    labels = base.mark_text(dy=-6).encode(text=alt.Text("avg_order_value_usd:Q", format="$,.2f"))
    return alt.layer(bars, labels).properties(height=260)


def daily_latency(frame: pd.DataFrame) -> AnyChart:
    """Median of the batches' p95 produce-to-gold latency per day."""
    return (
        alt.Chart(frame.dropna(subset=["streaming_latency_ms"]))
        .mark_area(line={"color": "#7048e8"}, color="#7048e833")
        .encode(
            x=alt.X("kpi_date:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y("streaming_latency_ms:Q", title="Latency p95 (ms)"),
            tooltip=[
                alt.Tooltip("kpi_date:T", title="Date"),
                alt.Tooltip("streaming_latency_ms:Q", title="Latency (ms)", format=",.0f"),
            ],
        )
        .properties(height=200)
    )


def problem_events(frame: pd.DataFrame) -> AnyChart:
    """Late, duplicate and quarantined events per streaming query, stacked bars."""
    kinds = ["Late", "Duplicate", "Quarantined"]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("query_name:N", title=None, axis=alt.Axis(labelLimit=240)),
            x=alt.X("sum(events):Q", title="Events", stack="zero"),
            color=alt.Color(
                "kind:N",
                title=None,
                sort=kinds,
                scale=alt.Scale(domain=kinds, range=["#f59f00", "#868e96", "#e03131"]),
                legend=alt.Legend(title=None),
            ),
            order=alt.Order("kind_order:Q"),
            tooltip=[
                alt.Tooltip("query_name:N", title="Query"),
                alt.Tooltip("kind:N", title="Kind"),
                alt.Tooltip("events:Q", title="Events", format=","),
            ],
        )
        .transform_calculate(kind_order="indexof(['Late', 'Duplicate', 'Quarantined'], datum.kind)")
        .properties(height=220)
    )
