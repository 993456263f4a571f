"""MkDocs hook: the reference parts of the site are generated from the code, so they
cannot drift from it, and the build fails when the docs fall behind.

- `<!-- generated:settings -->` (operations/configuration.md): every field of
  `retail_lakehouse.settings.Settings` with its environment variable, default and
  description; secrets show no default.
- `<!-- generated:contracts -->` (events-and-tables.md): the event contracts of
  `retail_lakehouse.contracts`.
- `<!-- generated:lake-tables -->`, `<!-- generated:marts -->`: the table catalog and the
  marts of `retail_lakehouse.tables`.
- `<!-- generated:bench-targets -->`, `<!-- generated:bench-sizes -->` (performance.md):
  the goals of `bench.targets` and the sizes of `bench.sizes`.
- `<!-- readme:spark-submit -->`, `<!-- readme:compose-services -->` (deploying.md): the
  README's spark-submit block (the one `tests/integration/test_spark_submit.py` runs) and
  its compose services table (the one `tests/unit/test_compose.py` checks).

Checks (a failure stops `mkdocs build --strict`, hence `make test`):
- each marker above is on its page;
- every environment variable the code reads is named on the configuration page;
- every Makefile target is named as `make <target>` in README.md and on the commands page;
- README.md links every page of the site, and its links into pages land on headings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
# the packages whose os.environ reads are settings a user may set (tests set their own)
CODE_DIRS = ("retail_lakehouse", "producer", "spark_streaming", "loaders", "lakehouse_cli",
             "mock", "dashboard", "airflow", "bench")  # fmt: skip
ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# set by Spark itself, or by the code for the processes it starts
NOT_USER_SETTINGS = {"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYSPARK_GATEWAY_PORT"}

# The settings reference, in the order the fields are declared; a heading starts at
# its first field (a field added later joins the group it is declared in).
SETTINGS_GROUPS = {
    "kafka_bootstrap_servers": "Kafka",
    "lake_root": "Lake storage",
    "spark_master": "Spark and the streaming job",
    "generated_rate": "Mock mode (`KAFKA_SOURCE=generated`)",
    "kafka_outage_tolerance": "Outages",
    "producer_seed": "Producer",
    "snowflake_conn_id": "Orchestration",
    "web_store_time_zone": "Business days",
    "snowflake_account": "Snowflake: loaders, dbt, the DAG and the dashboard",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: Any) -> str:
    if "SecretStr" in str(field.annotation):
        return "*secret*"
    if field.default_factory is not None:
        return f"`{field.default_factory()!r}`"
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_reference() -> str:
    from retail_lakehouse.settings import Settings

    out: list[str] = []
    for name, field in Settings.model_fields.items():
        if name in SETTINGS_GROUPS:
            out += ["", f"### {SETTINGS_GROUPS[name]}", ""]
            out += ["| variable | default | what it sets |", "|---|---|---|"]
        elif not out:
            raise PluginError(f"settings: {name} comes before the first group heading")
        if not field.description:
            raise PluginError(
                f"Settings.{name} has no description: add Field(..., description=...) in "
                "retail_lakehouse/settings.py"
            )
        out.append(f"| `{name.upper()}` | {_default(field)} | {_cell(field.description)} |")
    return "\n".join(out).strip()


def _bounds(f: Any) -> str:
    if f.allowed:
        return ", ".join(f"`{v}`" for v in f.allowed)
    if f.minimum is not None and f.maximum is not None:
        return f"{f.minimum:,g} to {f.maximum:,g}"
    if f.minimum is not None:
        return f"at least {f.minimum:,g}"
    if f.maximum is not None:
        return f"at most {f.maximum:,g}"
    return ""


def _field_rows(fields: Any, prefix: str = "") -> list[str]:
    rows = []
    for f in fields:
        name = f"{prefix}{f.name}"
        kind = "array of objects" if f.kind == "array" else f.kind
        required = "yes" if f.required else "no"
        rows.append(f"| `{name}` | {kind} | {required} | {_bounds(f)} | {_cell(f.description)} |")
        rows += _field_rows(f.items, f"{name}[].")
    return rows


def contracts_reference() -> str:
    from retail_lakehouse.contracts import FAMILIES
    from retail_lakehouse.settings import Settings

    out: list[str] = []
    for fam in FAMILIES:
        topic = Settings.model_fields[fam.topic_setting].default
        out += [
            "",
            f"### {fam.name}",
            "",
            f"Topic `{topic}` (`{fam.topic_setting.upper()}`), keyed by `{fam.key_field}`.",
        ]
        for contract in fam.contracts:
            types = ", ".join(f"`{t}`" for t in contract.field("event_type").allowed or ())
            out += ["", f"**{contract.event_type}** (event_type {types})", ""]
            if contract.description:
                out += [contract.description, ""]
            out += ["| field | type | required | allowed | meaning |", "|---|---|---|---|---|"]
            out += _field_rows(contract.fields)
    return "\n".join(out).strip()


def lake_tables_reference() -> str:
    from retail_lakehouse import tables

    out = [
        "| table | what it holds | key | partitioned by | in the warehouse |",
        "|---|---|---|---|---|",
    ]
    for spec in tables.ALL_TABLES:
        keys = ", ".join(spec.natural_keys) or "-"
        parts = ", ".join(spec.partition_by) or "-"
        landed = (
            f"`{spec.warehouse_name}`" if spec in tables.WAREHOUSE_TABLES else "stays in the lake"
        )
        out.append(
            f"| `{spec.qualified_name}` | {_cell(spec.description)} | {keys} | {parts} | {landed} |"
        )
    return "\n".join(out)


def marts_reference() -> str:
    from retail_lakehouse import tables

    out = ["| mart | one row per | what it holds | columns |", "|---|---|---|---|"]
    for mart in tables.ALL_MARTS:
        grain = ", ".join(mart.grain)
        columns = ", ".join(mart.columns)
        out.append(f"| `{mart.name}` | {grain} | {_cell(mart.description)} | {columns} |")
    return "\n".join(out)


def readme_spark_submit() -> str:
    block = re.search(
        r"<!-- spark-submit:begin -->\s*(```bash\n.*?```)\s*<!-- spark-submit:end -->",
        README.read_text(),
        re.DOTALL,
    )
    if block is None:
        raise PluginError("README.md lost its <!-- spark-submit:begin/end --> block")
    return block.group(1)


def readme_compose_services() -> str:
    """The README's compose-services table (tests/unit/test_compose.py checks it)."""
    text = README.read_text()
    if "### Compose services" not in text:
        raise PluginError("README.md lost its '### Compose services' table")
    table = text.split("### Compose services", 1)[1].split("\n\n", 2)[1]
    if not table.startswith("|"):
        raise PluginError("README.md: '### Compose services' must be followed by its table")
    return table


def bench_targets() -> str:
    from bench import targets
    from bench.sizes import SIZES

    full = SIZES["full"]
    out = ["| target | goal |", "|---|---|"]
    for up_to, p95 in targets.LATENCY_TARGETS_S:
        out.append(f"| produce-to-gold p95 at {up_to:,.0f} events/s | <= {p95:g} s |")
    names = {"bronze+silver": "through bronze and silver", "full": "with every gold table"}
    for mode, rate in targets.CATCH_UP_TARGETS.items():
        out.append(
            f"| catch-up from a {full.backlog_events[-1]:,}-event backlog, {names.get(mode, mode)} "
            f"| >= {rate:,.0f} events/s |"
        )
    out.append(
        f"| {_duration(full.soak_duration_s)} soak at {full.soak_rate:,.0f} events/s "
        f"| latency and batch time flat (no slice "
        f"above {targets.FLAT_RATIO:g} x the median slice) |"
    )
    demo = f"`make demo` ({full.demo_events:,} events)"
    out.append(f"| {demo} peak memory | <= {targets.DEMO_PEAK_GB:g} GB |")
    out.append(f"| {demo} steady-state p95 | <= {targets.DEMO_P95_S:g} s |")
    return "\n".join(out)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def bench_sizes() -> str:
    from bench.sizes import SIZES

    def events(values: tuple[int, ...]) -> str:
        return ", ".join(f"{v:,}" for v in values) or "-"

    out = [
        "| size | producer runs | catch-up backlogs | steady-state rates (s each) | soak | demo |",
        "|---|---|---|---|---|---|",
    ]
    for size in SIZES.values():
        rates = ", ".join(f"{r:,.0f}/s" for r in size.latency_rates)
        soak = (
            f"{_duration(size.soak_duration_s)} at {size.soak_rate:,.0f}/s"
            if size.soak_duration_s
            else "-"
        )
        demo = (
            f"{size.demo_events:,} events at {size.demo_rate:,.0f}/s"
            + (", with the warehouse" if size.demo_warehouse else "")
            if size.demo_events
            else "-"
        )
        out.append(
            f"| `{size.name}` | {events(size.producer_events)} events | "
            f"{events(size.backlog_events)} events | {rates} ({size.latency_duration_s:g} s) "
            f"| {soak} | {demo} |"
        )
    return "\n".join(out)


GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "<!-- generated:settings -->": ("operations/configuration.md", settings_reference),
    "<!-- generated:contracts -->": ("events-and-tables.md", contracts_reference),
    "<!-- generated:lake-tables -->": ("events-and-tables.md", lake_tables_reference),
    "<!-- generated:marts -->": ("warehouse.md", marts_reference),
    "<!-- readme:spark-submit -->": ("deploying.md", readme_spark_submit),
    "<!-- readme:compose-services -->": ("deploying.md", readme_compose_services),
    "<!-- generated:bench-targets -->": ("performance.md", bench_targets),
    "<!-- generated:bench-sizes -->": ("performance.md", bench_sizes),
}


def make_targets() -> list[str]:
    phony = re.search(r"^\.PHONY:(.*)$", MAKEFILE.read_text(), re.MULTILINE)
    if phony is None:
        raise PluginError("Makefile has no .PHONY line to list its targets from")
    return phony.group(1).split()


def env_vars_read_by_code() -> set[str]:
    from retail_lakehouse.settings import Settings

    names = {name.upper() for name in Settings.model_fields}
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(ENV_READ.findall(path.read_text()))
    return names - NOT_USER_SETTINGS


def _require_make_targets(text: str, where: str) -> None:
    missing = [t for t in make_targets() if not re.search(rf"make {re.escape(t)}\b", text)]
    if missing:
        raise PluginError(f"{where} does not name these Makefile targets: {missing}")


# the headings of every page, to check the README's links into them (on_post_build)
_ANCHORS: dict[str, set[str]] = {}


def _anchors(items: Any) -> set[str]:
    found: set[str] = set()
    for item in items:
        found.add(item.id)
        found |= _anchors(item.children)
    return found


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    _ANCHORS[page.file.src_uri] = _anchors(page.toc)
    return html


def on_post_build(config: Any) -> None:
    """Every `docs/<page>.md#<anchor>` link of README.md lands on a heading."""
    broken = [
        f"{page}#{anchor}"
        for page, anchor in re.findall(r"\]\(docs/([\w/.-]+\.md)#([\w-]+)\)", README.read_text())
        if anchor not in _ANCHORS.get(page, set())
    ]
    if broken:
        raise PluginError(f"README.md links headings that do not exist: {broken}")


def on_files(files: Any, config: Any) -> Any:
    """README.md is the front door: it names every Makefile target and links every page."""
    readme = README.read_text()
    _require_make_targets(readme, "README.md")
    pages = [f.src_uri for f in files.documentation_pages()]
    unlinked = [p for p in pages if f"](docs/{p})" not in readme and f"](docs/{p}#" not in readme]
    if unlinked:
        raise PluginError(f"README.md links no page of the site at: {unlinked}")
    files.append(File.generated(config, "bench-chart.png", abs_src_path=str(committed_chart())))
    return files


def committed_chart() -> Path:
    """The chart of the bench result the README shows (its `bench:chart` image), which
    performance.md shows too: one committed picture, drawn by `make bench`."""
    chart = r"<!-- bench:chart -->\n!\[[^\]]*\]\((bench/results/[\w.-]+\.png)\)"
    found = re.search(chart, README.read_text())
    if not found or not (ROOT / found.group(1)).exists():
        raise PluginError("README.md's bench:chart names no committed bench/results/*.png")
    return ROOT / found.group(1)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    source = page.file.src_uri
    for marker, (home, render) in GENERATED.items():
        if home == source and marker not in markdown:
            raise PluginError(f"{source} lost its {marker} marker")
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    if source == "operations/configuration.md":
        undocumented = sorted(n for n in env_vars_read_by_code() if f"`{n}`" not in markdown)
        if undocumented:
            raise PluginError(
                f"{source} does not name these environment variables the code reads: {undocumented}"
            )
    if source == "operations/commands.md":
        _require_make_targets(markdown, source)
    return markdown
