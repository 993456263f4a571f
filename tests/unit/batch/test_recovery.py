from __future__ import annotations

import json

import pyarrow as pa
import pytest
from batch_support import TS, rows_table, utc

from retail_lakehouse import tables
from spark_streaming.batch.recovery import (
    beyond,
    commit_note,
    last_batches,
    passed,
    read_note,
    recorded_offsets,
    starting_offsets,
    table_marks,
)

QUERY = "retail_pipeline"


def test_a_commit_note_carries_the_offsets_read_for_its_query():
    note = commit_note(QUERY, 7, {"sales": {"0": 12, "1": 3}})

    assert json.loads(note) == {"query": QUERY, "batch": 7, "offsets": {"sales": {"0": 12, "1": 3}}}
    assert read_note(note, QUERY) == {"sales": {"0": 12, "1": 3}}


@pytest.mark.parametrize(
    "note",
    [
        commit_note("another_pipeline", 7, {"sales": {"0": 12}}),
        "not json",
        '["a", "list"]',
        '{"query": "retail_pipeline", "batch": 7}',
        '{"query": "retail_pipeline", "offsets": "12"}',
    ],
)
def test_read_note_ignores_other_queries_and_other_writers_notes(note):
    assert read_note(note, QUERY) is None


def test_starting_offsets_resume_where_the_lake_stopped():
    recorded = {"sales": {"0": 10, "1": 4}, "gone": {"0": 1}}
    partitions = {"sales": [1, 0, 2], "clicks": [0, 1]}

    earliest = starting_offsets(recorded, partitions, "earliest")
    latest = starting_offsets(recorded, partitions, "latest")

    # a partition the lake never saw is read from its start; a topic never read from
    # the configured default (-2 earliest, -1 latest)
    assert earliest is not None and latest is not None
    assert json.loads(earliest) == {
        "clicks": {"0": -2, "1": -2},
        "sales": {"0": 10, "1": 4, "2": -2},
    }
    assert json.loads(latest) == {
        "clicks": {"0": -1, "1": -1},
        "sales": {"0": 10, "1": 4, "2": -2},
    }


def test_starting_offsets_are_none_when_the_lake_recorded_nothing_of_the_topics():
    assert starting_offsets({}, {"sales": [0]}, "earliest") is None
    assert starting_offsets({"other": {"0": 5}}, {"sales": [0]}, "latest") is None


def test_recorded_offsets_merge_every_familys_last_batch():
    batches = {
        "sales": {"end_offsets": '{"sales": {"0": 10, "1": 4}}'},
        "clickstream": {"end_offsets": '{"clicks": {"0": 3}}'},
        "inventory": {"end_offsets": None},
    }

    assert recorded_offsets(batches) == {"sales": {"0": 10, "1": 4}, "clicks": {"0": 3}}


ROWS = pa.schema([("partition", pa.int32()), ("offset", pa.int64()), ("note", pa.string())])


def test_beyond_keeps_the_rows_at_or_past_a_tables_mark():
    rows = pa.Table.from_pylist(
        [
            {"partition": 0, "offset": 9, "note": "in the table"},
            {"partition": 0, "offset": 10, "note": "at the mark"},
            {"partition": 1, "offset": 3, "note": "in the table"},
            {"partition": 1, "offset": 4, "note": "at the mark"},
            {"partition": 2, "offset": 0, "note": "partition without a mark"},
        ],
        schema=ROWS,
    )

    actual = beyond(rows, "sales", {"sales": {"0": 10, "1": 4}, "clicks": {"2": 99}})

    assert actual.schema == ROWS
    assert actual.to_pylist() == [
        {"partition": 0, "offset": 10, "note": "at the mark"},
        {"partition": 1, "offset": 4, "note": "at the mark"},
        {"partition": 2, "offset": 0, "note": "partition without a mark"},
    ]


def test_beyond_keeps_everything_without_a_mark_for_the_topic():
    rows = pa.Table.from_pylist([{"partition": 0, "offset": 1, "note": "x"}], schema=ROWS)

    assert beyond(rows, "sales", None).to_pylist() == rows.to_pylist()
    assert beyond(rows, "sales", {"clicks": {"0": 5}}).to_pylist() == rows.to_pylist()


def test_beyond_reads_silver_lineage_columns():
    rows = pa.table(
        {
            "kafka_partition": pa.array([0, 0], pa.int32()),
            "kafka_offset": pa.array([4, 5], pa.int64()),
        }
    )

    actual = beyond(rows, "sales", {"sales": {"0": 5}}, "kafka_partition", "kafka_offset")

    assert actual.to_pylist() == [{"kafka_partition": 0, "kafka_offset": 5}]


@pytest.mark.parametrize(
    ("read", "spent"),
    [
        ({"sales": {"0": 10, "1": 4}}, True),
        ({"sales": {"0": 12, "1": 4, "2": 1}, "clicks": {"0": 1}}, True),
        ({"sales": {"0": 10, "1": 3}}, False),
        ({"sales": {"0": 10}}, False),
        ({}, False),
    ],
)
def test_a_mark_is_passed_once_every_offset_of_it_was_read(read, spent):
    assert passed({"sales": {"0": 10, "1": 4}}, read) is spent


class Lake:
    """The two reads recovery makes of the lake writer."""

    def __init__(self, batches=None, notes=None):
        self.batches = batches
        self.notes = notes or {}

    def read_arrow(self, spec, columns, where):
        assert spec == tables.STREAM_BATCHES
        assert where == f"query_name = '{QUERY}'"
        return None if self.batches is None else self.batches.select(columns)

    def user_metadata(self, spec):
        return self.notes.get(spec.qualified_name, [])


def test_last_batches_are_the_newest_ops_row_of_each_family():
    schema = pa.schema(
        [
            ("family", pa.string()),
            ("batch_id", pa.int64()),
            ("started_at", TS),
            ("max_event_time", TS),
            ("end_offsets", pa.string()),
        ]
    )
    ops = rows_table(
        [
            ("sales", 4, utc("2026-03-02 08:04:00"), utc("2026-03-02 08:03:50"), '{"s": 4}'),
            ("sales", 5, utc("2026-03-02 08:05:00"), utc("2026-03-02 08:04:50"), '{"s": 5}'),
            ("clickstream", 5, utc("2026-03-02 08:05:00"), None, '{"c": 5}'),
            # a new checkpoint counts batches from 0 again: the later start wins
            ("clickstream", 0, utc("2026-03-02 09:00:00"), None, '{"c": 6}'),
            ("sales", 3, utc("2026-03-02 08:03:00"), utc("2026-03-02 08:02:50"), '{"s": 3}'),
        ],
        schema,
    )

    actual = last_batches(Lake(ops), QUERY)

    assert {family: row["end_offsets"] for family, row in actual.items()} == {
        "sales": '{"s": 5}',
        "clickstream": '{"c": 6}',
    }
    assert actual["sales"]["max_event_time"] == utc("2026-03-02 08:04:50")
    assert last_batches(Lake(None), QUERY) == {}


def test_table_marks_are_the_newest_note_of_this_query_per_table():
    notes = {
        tables.BRONZE_SALES.qualified_name: [
            commit_note("another_pipeline", 9, {"sales": {"0": 99}}),  # newest first
            commit_note(QUERY, 8, {"sales": {"0": 12}}),
            commit_note(QUERY, 7, {"sales": {"0": 10}}),
        ],
        tables.QUARANTINE.qualified_name: ["written by hand"],
    }

    actual = table_marks(Lake(notes=notes), [tables.BRONZE_SALES, tables.QUARANTINE], QUERY)

    assert actual == {tables.BRONZE_SALES.qualified_name: {"sales": {"0": 12}}}
