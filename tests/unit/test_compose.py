"""docker-compose.yml, checked without a Docker engine: the Compose Specification
schema, the services the README documents, every setting the code reads, pinned
images, health checks, named volumes, and no secrets in the file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from retail_lakehouse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "compose_spec" / "compose_spec.json"
CODE_DIRS = ("retail_lakehouse", "producer", "spark_streaming", "loaders", "lakehouse_cli",
             "mock", "dashboard", "airflow")  # fmt: skip
ONE_SHOT = {"minio-init", "topics"}  # exit 0 once done: no health check
ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# read by the code, but not settings a deployment provides
NOT_DEPLOYMENT_SETTINGS = {
    "PYSPARK_PYTHON": "set by the image (ENV) and by the code itself",
    "PYSPARK_DRIVER_PYTHON": "set by the image (ENV) and by the code itself",
    "PYSPARK_GATEWAY_PORT": "set by spark-submit; read to detect it",
    "JVM_JARS_DIR": "jars `make install` fetched, for local runs and the local broker; the "
    "stack's spark-submit fetches --packages and runs Kafka's own image",
    "LAKEHOUSE_CRASH_AFTER_COMMIT": "the recovery drill, a test-only switch",
    "CHROMIUM": "the headless browser `make screenshot` and the dashboard test drive",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft201909Validator)


def test_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    """The check can fail: a misspelt key is caught."""
    schema = json.loads(SCHEMA.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["kafka"]["healthcheks"] = broken["services"]["kafka"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft201909Validator)


def readme_services() -> set[str]:
    """First column of the README's compose-services table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Compose services", 1)[1].split("\n\n", 2)[1]
    return {m.group(1) for m in re.finditer(r"^\|\s*`([a-z0-9-]+)`", section, re.MULTILINE)}


def test_every_service_the_readme_names_exists_and_vice_versa(services: dict) -> None:
    documented = readme_services()
    assert documented, "README has no compose-services table"
    assert documented == set(services)


def test_the_stack_has_the_parts_the_issue_asks_for(services: dict) -> None:
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    submit = " ".join(services["spark"]["command"])
    assert submit.startswith("spark-submit") and "spark_streaming/main.py" in submit
    for package in ("spark-sql-kafka-0-10", "delta-spark", "hadoop-aws"):
        assert package in submit
    assert services["fakesnow"]["command"][:2] == ["fakesnow", "-s"]
    assert services["fakesnow"]["profiles"] == ["local"]
    assert "cloud" in services["airflow-cloud"]["profiles"]
    assert "SNOWFLAKE_HOST" not in services["airflow-cloud"]["environment"]
    assert "./airflow/dags:/opt/project/airflow/dags:ro" in services["airflow"]["volumes"]
    assert "dashboard/app.py" in services["dashboard"]["command"]


def test_images_are_pinned(services: dict) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"


def test_long_running_services_have_health_checks_and_dependencies_wait(services: dict) -> None:
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no health check"
        for dependency, rule in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert rule == {"condition": expected}, f"{name} -> {dependency}"
            # a dependency must be started by every profile that starts the dependent
            assert set(services[dependency].get("profiles", [])) <= set(
                service.get("profiles", [])
            ), f"{name} depends on {dependency} outside its profile"


def test_volumes_are_named_or_project_folders(compose: dict, services: dict) -> None:
    declared = set(compose["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith(("./", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_no_secret_is_written_in_the_file(services: dict) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:?[-?][^}]*)?\}", str(value)), (
                    f"{name}: {key} must come from .env"
                )
        env_file = service.get("env_file")
        if env_file is not None:
            assert env_file == ".env"


def env_vars_read_by_code() -> set[str]:
    names = {field.upper() for field in Settings.model_fields}
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py") if (ROOT / folder).exists() else []:
            names |= set(ENV_READ.findall(path.read_text()))
    return names


def documented_defaults() -> set[str]:
    """Variables with a default users can see: the README's configuration tables and
    .env.example (the stack's env_file template)."""
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme)) | set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE)
    )


def provided_by_compose(compose_text: str, services: dict) -> set[str]:
    provided = set()
    for service in services.values():
        provided |= set((service.get("environment") or {}).keys())
    return provided | set(re.findall(r"\$\{([A-Z_]+)", compose_text))


def test_every_variable_the_code_reads_is_provided_or_deliberately_defaulted(
    services: dict,
) -> None:
    read = env_vars_read_by_code()
    # settings fields, and os.environ reads (JVM_JARS_DIR, retail_lakehouse/jvm.py)
    assert {"KAFKA_BOOTSTRAP_SERVERS", "LAKE_ROOT", "SNOWFLAKE_HOST", "JVM_JARS_DIR"} <= read
    covered = (
        provided_by_compose(COMPOSE.read_text(), services)
        | documented_defaults()
        | set(NOT_DEPLOYMENT_SETTINGS)
    )
    assert sorted(read - covered) == []


def test_pipeline_services_get_the_broker_lake_and_credentials(services: dict) -> None:
    for name in ("spark", "producer", "topics", "airflow"):
        env = services[name]["environment"]
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "LAKE_ROOT", "AWS_ENDPOINT_URL",
                    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # fmt: skip
            assert key in env, f"{name} lacks {key}"
    for name in ("airflow", "dashboard"):
        env = services[name]["environment"]
        assert (env["SNOWFLAKE_HOST"], env["SNOWFLAKE_PORT"], env["SNOWFLAKE_PROTOCOL"]) == (
            "fakesnow",
            "8085",
            "http",
        )
    # Settings accepts what the stack passes (types, enums)
    Settings(**{k.lower(): v for k, v in services["spark"]["environment"].items()
                if k.lower() in Settings.model_fields and "${" not in str(v)})  # fmt: skip
