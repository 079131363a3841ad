"""docker-compose.yaml and the Dockerfile, the production shape: checked statically (the suite never
builds the image: too slow; docs/deployment.md#the-image says how it was built by hand).

The file is loaded with PyYAML (anchors and ``<<`` merge keys resolved) and its ``${VAR}`` references
are interpolated the way Docker Compose does. The init script is syntax-checked and then run by bash
against stand-ins for ``airflow``, ``python``, ``mkdir`` and ``chown`` that record their calls.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from hq_sync.airflow.dag_factory import DEFAULT_POOL_SLOTS
from hq_sync.staging.engine import normalize_url
from tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DEPLOYMENT_DOC = REPO_ROOT / "docs" / "deployment.md"

INIT = "airflow-init"
LONG_RUNNING = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
AIRFLOW_SERVICES = (*LONG_RUNNING, INIT)
DEFAULT_IMAGE = "apache/airflow:3.3.2-python3.11"  # the Dockerfile's base
PRODUCT_IMAGE = "hq-sync-airflow:3.3.2"  # what compose builds and tags by default
DOCKERFILE = REPO_ROOT / "Dockerfile"

# Variables the file reads from the shell or `.env`; each is documented in docs/deployment.md.
INTERPOLATED = {
    "AIRFLOW_IMAGE_NAME",
    "AIRFLOW_UID",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW_WORKER_CONCURRENCY",
}
# Without these, `docker compose` refuses to start (every component must share them).
REQUIRED = {"AIRFLOW_JWT_SECRET": "test-jwt-secret", "AIRFLOW_API_SECRET_KEY": "test-api-secret-key",
            "AIRFLOW_FERNET_KEY": "test-fernet-key"}
LOCAL_DEFAULT_PASSWORD = "airflow"  # of the reference file; PostgreSQL publishes no port


# -- Docker Compose interpolation -------------------------------------------------------------------
class MissingVariable(Exception):
    pass


_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``$$`` → ``$``; ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        op, arg = match["op"], match["arg"]
        present = name in env
        set_and_not_empty = present and env[name] != ""
        if op in (":-", "-"):
            use_default = not set_and_not_empty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            if not (set_and_not_empty if op == ":?" else present):
                raise MissingVariable(f"{name}: {arg}")
        return env.get(name, "")

    return _REFERENCE.sub(replace, value)


def interpolated_names(text: str) -> set[str]:
    return {m["braced"] or m["named"] for m in _REFERENCE.finditer(text) if not m["escaped"]}


# -- Fixtures and helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def environment(compose: dict[str, Any], name: str, env: Mapping[str, str] = REQUIRED) -> dict[str, str]:
    raw = service(compose, name).get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def mounts(compose: dict[str, Any], name: str) -> dict[str, str]:
    """Container path → host path or named volume."""
    result = {}
    for volume in service(compose, name).get("volumes", []):
        source, target, *_mode = interpolate(volume, REQUIRED).split(":")
        result[target] = source
    return result


def init_script(compose: dict[str, Any]) -> str:
    init = service(compose, INIT)
    assert init["entrypoint"] == "/bin/bash"
    flag, script = init["command"]
    assert flag == "-c"
    return interpolate(script, REQUIRED)


def database_of(url: str):
    return make_url(normalize_url(url.removeprefix("db+")))


# -- Services ---------------------------------------------------------------------------------------
def test_services_of_the_production_shape(compose):
    names = set(compose["services"])
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= names
    assert names - {"postgres", "redis", *AIRFLOW_SERVICES} <= {"airflow-cli"}, "unexpected services"


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-cli"])
def test_airflow_services_share_the_common_anchor(compose, name):
    common = compose["x-airflow-common"]
    svc = service(compose, name)
    assert svc["image"] == common["image"]
    assert svc["build"] == common["build"]
    assert svc["volumes"] == common["volumes"]
    assert svc["env_file"] == common["env_file"]
    assert environment(compose, name).items() >= {
        key: interpolate(str(value), REQUIRED) for key, value in common["environment"].items()
    }.items()
    if name != INIT:
        assert svc["user"] == common["user"]
    assert "&airflow-common" in COMPOSE_FILE.read_text(encoding="utf-8")


def test_the_image_is_built_from_the_repository_dockerfile(compose):
    common = compose["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert (REPO_ROOT / common["build"]["context"] / common["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert interpolate(common["image"], {}) == PRODUCT_IMAGE
    assert interpolate(common["image"], {"AIRFLOW_IMAGE_NAME": "registry.example/hq-sync:7"}) == "registry.example/hq-sync:7"
    for name in AIRFLOW_SERVICES:
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in environment(compose, name)


def test_optional_env_file(compose):
    assert compose["x-airflow-common"]["env_file"] == [{"path": ".env", "required": False}]


def test_dotenv_is_git_ignored():
    lines = {line.strip() for line in (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()}
    assert lines & {".env", "/.env"}, ".env holds secrets and tenant credentials: add it to .gitignore"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_common_environment(compose, name):
    env = environment(compose, name)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"

    metadata = database_of(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (metadata.drivername, metadata.host, metadata.database) == ("postgresql+psycopg2", "postgres", "airflow")
    # With SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which is not installed: name psycopg2.
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    backend = database_of(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert (backend.host, backend.database) == ("postgres", "airflow")
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    budgets = urlsplit(env["HQ_SYNC_REDIS_URL"])  # one request budget per vendor account, all workers
    assert (budgets.scheme, budgets.hostname, budgets.port) == ("redis", "redis", 6379)
    assert budgets.path != broker.path, "the budgets live in a Redis db of their own"

    staging = database_of(env["AIRFLOW_CONN_HQ_SYNC_STAGING"])
    assert staging.host == "postgres"
    assert staging.database == "hq_sync_staging"
    assert staging.database != metadata.database, "staging must never share Airflow's metadata database"

    assert "/opt/airflow/src" not in env.get("PYTHONPATH", ""), "hq_sync is installed in the image, not mounted"
    assert env["HQ_SYNC_INCLUDE_DIR"] == "/opt/airflow/include"
    assert env["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"  # the Test button of the connection types
    assert env["HQ_SYNC_DATA_DIR"] == "/opt/airflow/data"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    # Shared by every component, from the environment (never a per-process random one).
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == REQUIRED["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == REQUIRED["AIRFLOW_API_SECRET_KEY"]


def test_fernet_key_is_required_and_comes_from_the_environment(compose):
    env = environment(compose, "airflow-scheduler", {**REQUIRED, "AIRFLOW_FERNET_KEY": "k"})
    assert env["AIRFLOW__CORE__FERNET_KEY"] == "k"
    with pytest.raises(MissingVariable, match="AIRFLOW_FERNET_KEY"):
        environment(compose, "airflow-worker", {**REQUIRED, "AIRFLOW_FERNET_KEY": ""})


def test_the_api_server_and_the_cli_know_the_airflow_url(compose):
    assert environment(compose, "airflow-apiserver")["HQ_SYNC_AIRFLOW_URL"] == "http://localhost:8080"
    assert environment(compose, "airflow-cli")["HQ_SYNC_AIRFLOW_URL"] == "http://airflow-apiserver:8080"


def test_shared_secrets_are_required(compose):
    for missing in REQUIRED:
        env = {k: v for k, v in REQUIRED.items() if k != missing}
        with pytest.raises(MissingVariable, match=rf"{missing}: .*docs/deployment\.md"):
            environment(compose, "airflow-apiserver", env)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_volumes(compose, name):
    found = mounts(compose, name)
    env = environment(compose, name)
    bind = {target: source for target, source in found.items() if source.startswith((".", "/"))}
    assert not bind, f"the product comes from the image, no host needs a checkout: {bind}"
    assert env["HQ_SYNC_DATA_DIR"] in found
    assert not found["/opt/airflow/logs"].startswith("."), "logs live on a named volume"
    for target, source in found.items():
        if source.startswith("."):
            assert (REPO_ROOT / source).is_dir(), f"{source} (mounted at {target}) is missing"
        else:
            assert source in compose["volumes"], f"named volume {source} is not declared"


def dockerfile_instructions() -> list[str]:
    return [line for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_contains_the_product_and_nothing_else():
    from hq_sync.airflow.dag_factory import SHARDS

    copies = {tuple(line.split()[-2:]) for line in dockerfile_instructions() if line.startswith("COPY")}
    assert ("src/hq_sync", "/opt/hq-sync/src/hq_sync") in copies
    assert {("dags", "/opt/airflow/dags"), ("plugins", "/opt/airflow/plugins"), ("include", "/opt/airflow/include")} <= copies
    text = "\n".join(dockerfile_instructions())
    for development_only in ("sandboxes", "tests", "requirements-test", "constraints-test", "COPY . "):
        assert development_only not in text, f"{development_only} does not belong in the production image"
    assert "ENV HQ_SYNC_INCLUDE_DIR=/opt/airflow/include" in text
    # What it copies exists.
    assert all((REPO_ROOT / "dags" / f"hq_sync_tenants_{n}.py").is_file() for n in range(SHARDS))
    assert (REPO_ROOT / "src" / "hq_sync" / "__init__.py").is_file()
    assert (REPO_ROOT / "include" / "tenants").is_dir()
    assert (REPO_ROOT / "include" / "mappings").is_dir()
    # The build context leaves out the development state, the tests and the sandboxes.
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "tests", "src/sandboxes", ".env"} <= ignored


def test_the_package_is_the_product_only():
    import tomllib

    product = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert product["tool"]["setuptools"]["packages"]["find"]["include"] == ["hq_sync*"]
    assert product["project"]["entry-points"]["apache_airflow_provider"] == {
        "provider_info": "hq_sync.airflow.provider:get_provider_info"}
    sandboxes = tomllib.loads((REPO_ROOT / "packaging" / "sandboxes" / "pyproject.toml").read_text())
    assert sandboxes["project"]["name"] == "hq-sync-sandboxes"
    assert sandboxes["tool"]["setuptools"]["packages"]["find"]["include"] == ["sandboxes*"]
    assert (REPO_ROOT / "packaging" / "sandboxes" / sandboxes["tool"]["setuptools"]["package-dir"][""] / "sandboxes").is_dir()


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_depends_on_healthy_backends_and_init(compose, name):
    depends = service(compose, name)["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}
    if name == INIT:
        assert INIT not in depends
    else:
        assert depends[INIT] == {"condition": "service_completed_successfully"}


def test_worker_waits_for_the_api_server(compose):
    # Tasks talk to the execution API of the api-server.
    assert service(compose, "airflow-worker")["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}


@pytest.mark.parametrize(("name", "command"), LONG_RUNNING.items())
def test_commands_and_healthchecks(compose, name, command):
    svc = service(compose, name)
    assert svc["command"] == command
    assert svc["restart"] == "always"
    assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


def test_backend_healthchecks(compose):
    assert service(compose, "postgres")["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert service(compose, "redis")["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert service(compose, "airflow-scheduler")["healthcheck"]["test"] == [
        "CMD", "curl", "--fail", "http://localhost:8974/health"
    ]


def test_api_server_port_and_healthcheck(compose):
    api = service(compose, "airflow-apiserver")
    assert "8080:8080" in api["ports"]
    assert api["healthcheck"]["test"] == ["CMD", "curl", "--fail", "http://localhost:8080/api/v2/version"]


def test_postgres_is_not_published(compose):
    assert "ports" not in service(compose, "postgres")
    assert "ports" not in service(compose, "redis")


# -- The init service -------------------------------------------------------------------------------
def test_init_script_is_valid_bash(compose):
    result = subprocess.run(["bash", "-n"], input=init_script(compose), text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_init_creates_the_pools_of_the_dag_factory(compose):
    script = init_script(compose)
    created = {name: int(slots) for name, slots in re.findall(r"airflow pools set (\S+) (\d+) ", script)}
    assert created == DEFAULT_POOL_SLOTS
    for pool in DEFAULT_POOL_SLOTS:
        assert f"airflow pools get {pool} >/dev/null 2>&1 || airflow pools set {pool} " in script


def test_init_staging_snippet_is_valid_python(compose):
    snippet = re.search(r"<<'PY'\n(.*?)\nPY\n", init_script(compose), re.S)
    assert snippet, "the staging database snippet is missing"
    compile(snippet[1], "airflow-init:staging", "exec")
    assert "CREATE DATABASE" in snippet[1]


FAKE = """#!/usr/bin/env bash
name="$(basename "$0")"
echo "$name $*" >> "$FAKE_LOG"
if [[ "$name" == python && "${1:-}" == "-" ]]; then cat >> "$FAKE_STDIN"; fi
case "$name $*" in
  "airflow pools get "*) [[ "${FAKE_POOLS_EXIST:-0}" == 1 ]] || exit 1 ;;
  "airflow db migrate") exit "${FAKE_MIGRATE_RC:-0}" ;;
esac
exit 0
"""


def run_init(compose, tmp_path: Path, **fake_env: str) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("airflow", "python", "mkdir", "chown"):
        path = bin_dir / tool
        path.write_text(FAKE)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    log, stdin = tmp_path / "calls.log", tmp_path / "python.stdin"
    env = {
        **environment(compose, INIT),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_STDIN": str(stdin),
        **fake_env,
    }
    result = subprocess.run(["bash", "-c", init_script(compose)], env=env, text=True, capture_output=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, stdin.read_text() if stdin.exists() else ""


def test_init_runs_migrations_pools_and_staging_in_order(compose, tmp_path):
    result, calls, stdin = run_init(compose, tmp_path)
    assert result.returncode == 0, result.stderr
    staging_url = "postgresql://airflow:airflow@postgres:5432/hq_sync_staging"
    assert calls == [
        "mkdir -p /opt/airflow/logs /opt/airflow/data /opt/airflow/auth",
        "chown -R 50000:0 /opt/airflow/logs /opt/airflow/data /opt/airflow/auth",
        "airflow version",
        "airflow db migrate",
        "airflow pools get personio_api",
        "airflow pools set personio_api 4 Personio API: concurrent requests of all tenants",
        "airflow pools get awork_api",
        "airflow pools set awork_api 4 awork API: concurrent requests of all tenants",
        "airflow pools get hq_api",
        "airflow pools set hq_api 8 helloHQ API: concurrent requests of all tenants",
        "python -",
        f"python -m hq_sync.staging.migrate {staging_url}",
        "chown -R 50000:0 /opt/airflow/logs /opt/airflow/data /opt/airflow/auth",
    ]
    assert "CREATE DATABASE" in stdin and "AIRFLOW_CONN_HQ_SYNC_STAGING" in stdin


def test_init_keeps_existing_pools(compose, tmp_path):
    result, calls, _ = run_init(compose, tmp_path, FAKE_POOLS_EXIST="1")
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if c.startswith("airflow pools")] == [
        f"airflow pools get {pool}" for pool in DEFAULT_POOL_SLOTS
    ]


def test_init_stops_at_the_first_failure(compose, tmp_path):
    result, calls, _ = run_init(compose, tmp_path, FAKE_MIGRATE_RC="3")
    assert result.returncode == 3
    assert calls[-1] == "airflow db migrate"


def test_init_user_uid_is_configurable(compose):
    script = interpolate(service(compose, INIT)["command"][1], {**REQUIRED, "AIRFLOW_UID": "1234"})
    assert 'chown -R "1234:0"' in script
    assert interpolate(compose["x-airflow-common"]["user"], {"AIRFLOW_UID": "1234"}) == "1234:0"


# -- Secrets and variables --------------------------------------------------------------------------
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|API_?KEY|_KEY$")
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'{}]+")
OPAQUE = re.compile(r"(?<![\w/+=-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{24,}")


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [str(node)] if node is not None else []


def test_no_literal_secrets(compose):
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if not SECRET_NAME.search(key) or key.endswith(("_FILE", "_PATH", "_DIR")):
                continue
            value = str(value)
            if key == "POSTGRES_PASSWORD":
                assert value == LOCAL_DEFAULT_PASSWORD
            else:
                assert re.fullmatch(r"\$\{[A-Z_]+(:-|:\?[^}]*)?\}", value), f"{name}: {key} must come from the environment"
    for text in strings(compose):
        for url in URL.findall(text):
            password = urlsplit(url).password
            assert password in (None, "", LOCAL_DEFAULT_PASSWORD), f"literal password in {url}"
        assert not OPAQUE.search(text), f"token-like literal: {text!r}"
    conns = {key for text in strings(compose) for key in re.findall(r"AIRFLOW_CONN_\w+", text)}
    assert conns == {"AIRFLOW_CONN_HQ_SYNC_STAGING"}, "tenant connections belong in .env, not here"


def test_interpolated_variables_are_known_and_documented():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert interpolated_names(body) == INTERPOLATED, "a runtime shell variable needs $$ in the compose file"
    doc = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    for name in INTERPOLATED:
        assert name in doc, f"{name} is not documented in docs/deployment.md"


# -- The deployment doc -----------------------------------------------------------------------------
def test_doc_dockerfile_builds_on_the_compose_image():
    doc = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    dockerfile = re.search(r"```dockerfile\n(.*?)```", doc, re.S)
    assert dockerfile, "docs/deployment.md has no Dockerfile block"
    lines = [line for line in dockerfile[1].splitlines() if line.strip()]
    assert lines[0] == f"FROM {DEFAULT_IMAGE}"
    # The doc shows the repository's Dockerfile as it is.
    assert lines == dockerfile_instructions()
    for command in ("docker compose build", "docker compose up airflow-init", "docker compose up -d", "tests/deploy"):
        assert command in doc


def pins_of(path: Path) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", line.split("==")[0].strip()).lower(): line.split("==")[1].split()[0]
            for line in path.read_text().splitlines() if "==" in line and not line.lstrip().startswith("#")}


def test_no_test_package_in_the_runtime_requirements():
    direct, resolved = pins_of(REPO_ROOT / "requirements.txt"), pins_of(REPO_ROOT / "constraints.txt")
    tests_direct, tests_resolved = pins_of(REPO_ROOT / "requirements-test.txt"), pins_of(REPO_ROOT / "constraints-test.txt")
    assert {"pytest", "pytest-timeout", "playwright", "openapi-core"} <= set(tests_direct) & set(tests_resolved)
    # A test requirement may also be a runtime dependency of Airflow (jsonschema), never the reverse.
    leaked = (set(direct) & set(tests_direct)) | (set(direct) | set(resolved)) & set(tests_resolved)
    leaked |= {name for name in (*direct, *resolved) if name.startswith("pytest")}
    assert not leaked, f"test packages in the runtime requirements (and so in the image): {sorted(leaked)}"
    for name, version in tests_direct.items():
        assert (tests_resolved | resolved).get(name) == version, f"{name} is pinned differently in the constraints"


def test_the_image_installs_the_runtime_pins_of_make(compose):
    """The Dockerfile installs the runtime requirements with the runtime constraints, as `make
    install` does (which adds the test ones), and those pins hold what the production shape needs
    (CeleryExecutor, Redis, async PostgreSQL)."""
    dockerfile = DOCKERFILE.read_text()
    [base] = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert base == DEFAULT_IMAGE
    assert "-r /opt/hq-sync/requirements.txt -c /opt/hq-sync/constraints.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/hq-sync" in dockerfile
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "-r requirements.txt -c constraints.txt -r requirements-test.txt -c constraints-test.txt" in makefile
    assert "-e . -e packaging/sandboxes" in makefile
    pins = {line.split("==")[0].strip().lower(): line.split("==")[1].split()[0]
            for line in (REPO_ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert pins["apache-airflow"] == "3.3.2"
    assert {"apache-airflow-providers-celery", "redis", "asyncpg", "psycopg2-binary"} <= set(pins)
    constraints = (REPO_ROOT / "constraints.txt").read_text().lower()
    for name, version in pins.items():
        assert f"{name}=={version}" in constraints, f"{name} is pinned differently in constraints.txt"
