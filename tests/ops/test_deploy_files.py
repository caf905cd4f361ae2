"""deploy/: what can be checked without a container engine.

Valid YAML; every command a container or unit runs exists in the package
(console script and subcommand, gunicorn app, Celery app and queues); every
variable they pass is one the service reads; probes point at real endpoints.
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import PREFIX, Settings
from service.ops.queues import QUEUES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE = "datasteward:"
# Variables read by libraries the service runs on, not by Settings.
LIBRARY_VARIABLES = {"PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY"}
SETTINGS_VARIABLES = {PREFIX + f.name.upper() for f in fields(Settings) if f.name != "extra"}


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_documents() -> Iterator[dict[str, Any]]:
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.stem != "kustomization":
            yield from yaml_documents(path)


def compose_services() -> dict[str, dict[str, Any]]:
    return yaml_documents(DEPLOY / "compose.yaml")[0]["services"]


def our_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, container) for every k8s container and compose service running our image."""
    for doc in k8s_documents():
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if container["image"].startswith(IMAGE):
                yield f"k8s {doc['metadata']['name']}/{container['name']}", container
    for name, service in compose_services().items():
        if service.get("image", "").startswith(IMAGE):
            yield f"compose {name}", service


def systemd_units() -> dict[str, configparser.RawConfigParser]:
    units = {}
    for path in sorted((DEPLOY / "systemd").iterdir()):
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(path)
        units[path.name] = parser
    return units


def systemd_commands() -> Iterator[tuple[str, list[str]]]:
    for name, unit in systemd_units().items():
        if unit.has_section("Service"):
            for key in ("ExecStart", "ExecStartPre"):
                line = unit["Service"].get(key)
                if line and line.startswith("/opt/datasteward/bin/"):
                    argv = shlex.split(line)
                    yield f"{name} {key}", [Path(argv[0]).name, *argv[1:]]


def all_commands() -> Iterator[tuple[str, list[str]]]:
    for where, container in our_containers():
        yield where, container["command"]
    yield from systemd_commands()
    yield "Dockerfile CMD", dockerfile_cmd()


def dockerfile_cmd() -> list[str]:
    line = [x for x in (DEPLOY / "Dockerfile").read_text().splitlines() if x.startswith("CMD ")]
    return yaml.safe_load(line[-1][4:])


# --- the files parse --------------------------------------------------------------


def test_compose_and_every_manifest_are_valid_yaml():
    assert set(compose_services()) >= {"api", "worker-engine", "beat", "postgres", "redis"}
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in k8s_documents()}
    assert ("Deployment", "datasteward-api") in kinds
    assert ("Deployment", "datasteward-beat") in kinds
    assert {kind for kind, _ in kinds} >= {"ConfigMap", "Secret", "PodDisruptionBudget", "Job"}
    assert any(name.startswith("datasteward-worker") for kind, name in kinds)


def test_every_kustomization_resource_exists():
    listed = yaml_documents(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"]
    assert sorted(listed) == sorted(
        p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.stem != "kustomization"
    )


def test_the_gunicorn_configuration_loads_with_its_hooks(monkeypatch, tmp_path):
    from gunicorn.config import Config

    # The configuration chooses the metrics directory only when none is set; keep it
    # out of this process's environment (monkeypatch restores it).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))

    config = Config()
    namespace: dict[str, Any] = {"__file__": str(DEPLOY / "gunicorn.conf.py")}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    for key in ("bind", "workers", "timeout", "logconfig_dict", "on_starting", "child_exit"):
        assert key in namespace, key
        config.set(key, namespace[key])
    assert config.workers >= 1


def test_every_systemd_unit_parses_and_runs_as_the_service_user():
    units = systemd_units()
    assert {"datasteward-api.service", "datasteward-beat.service"} <= set(units)
    assert "datasteward-worker@.service" in units
    for name, unit in units.items():
        if unit.has_section("Service"):
            assert unit["Service"]["User"] == "datasteward", name


# --- commands exist ----------------------------------------------------------------


def test_every_command_exists_in_the_package():
    checked = 0
    for where, argv in all_commands():
        check_command(where, argv)
        checked += 1
    assert checked >= 10


def check_command(where: str, argv: list[str]) -> None:
    program, args = argv[0], argv[1:]
    if program == "datasteward":
        check_datasteward(where, args)
    elif program == "gunicorn":
        assert args[-1] == "service.wsgi:app", where
        assert module_defines("service/wsgi.py", "app"), where
        config = args[args.index("-c") + 1]
        assert config == "/etc/datasteward/gunicorn.conf.py", where
        assert (
            "COPY deploy/gunicorn.conf.py /etc/datasteward/gunicorn.conf.py"
            in (DEPLOY / "Dockerfile").read_text()
        )
    elif program == "celery":
        check_celery(where, args)
    else:
        pytest.fail(f"{where}: {program} is not a program the package installs")


def check_datasteward(where: str, args: list[str]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["datasteward"] == "service.cli:main"
    from service.cli import _parser

    subcommands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert args[0] in subcommands, f"{where}: no subcommand {args[0]!r}"


def check_celery(where: str, args: list[str]) -> None:
    assert args[:2] == ["-A", "workers.celery_app"], where
    assert module_defines("workers/celery_app.py", "app"), where
    assert args[2] in ("worker", "beat"), where
    if "-Q" in args:
        queues = args[args.index("-Q") + 1]
        if queues != "%i":
            assert set(queues.split(",")) <= set(QUEUES), f"{where}: unknown queue in {queues}"
    if args[2] == "worker":
        from workers.celery_app import app

        options = {opt for option in app.user_options["worker"] for opt in option.opts}
        used = {arg for arg in args if arg.startswith("--metrics")}
        assert used <= options, where


def module_defines(relative: str, name: str) -> bool:
    tree = ast.parse((ROOT / relative).read_text())
    targets = [t for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def test_every_systemd_worker_instance_is_a_queue():
    target = systemd_units()["datasteward.target"]["Unit"]["Wants"].split()
    kinds = {re.match(r"datasteward-worker@(\w+)\.service", w) for w in target}
    assert {m.group(1) for m in kinds if m} == set(QUEUES)


# --- variables are ones the service reads ------------------------------------------


def passed_variables() -> Iterator[tuple[str, str]]:
    for where, container in our_containers():
        env = container.get("environment") or container.get("env") or {}
        names = env.keys() if isinstance(env, dict) else [e["name"] for e in env]
        for name in names:
            if name != "<<":
                yield where, name
    for doc in k8s_documents():
        if doc["kind"] == "ConfigMap" or doc["metadata"]["name"] == "datasteward-secrets":
            for name in {**doc.get("data", {}), **doc.get("stringData", {})}:
                yield f"k8s {doc['metadata']['name']}", name
    for name, unit in systemd_units().items():
        if unit.has_section("Service"):
            for line in unit["Service"].get("Environment", "").splitlines():
                if line:
                    yield name, line.split("=", 1)[0]
    for line in (DEPLOY / "datasteward.env.example").read_text().splitlines():
        if line and not line.startswith("#") and line.startswith(PREFIX):
            yield "datasteward.env.example", line.split("=", 1)[0]


def test_every_variable_passed_is_one_the_service_reads():
    seen = set()
    for where, name in passed_variables():
        seen.add(name)
        if name == "METRICS_PORT":  # the systemd unit's own, expanded into --metrics-port
            continue
        assert name in SETTINGS_VARIABLES | LIBRARY_VARIABLES, f"{where}: {name} is never read"
    assert {"DATASTEWARD_DATABASE_URL", "DATASTEWARD_KEYSTORE_URL"} <= seen


def test_the_key_store_is_its_own_database_on_its_own_volume():
    services = compose_services()
    env = services["api"]["environment"]
    assert "@keystore:" in env["DATASTEWARD_KEYSTORE_URL"]
    assert "@postgres:" in env["DATASTEWARD_DATABASE_URL"]
    data_volumes = services["postgres"]["volumes"]
    key_volumes = services["keystore"]["volumes"]
    assert not set(data_volumes) & set(key_volumes)
    assert any(v.startswith("keystore-db:") for v in key_volumes)


# --- probes point at real endpoints ------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_probe_points_at_a_real_endpoint(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    paths = list(probe_paths())
    assert {"/healthz", "/readyz"} <= {path for _, path, _ in paths}
    for where, path, port in paths:
        if port in (8000, "http"):
            assert path in rules, f"{where}: {path} is not served"
        else:  # a worker's --metrics-port serves /metrics
            assert path == "/metrics", where


def probe_paths() -> Iterator[tuple[str, str, Any]]:
    for where, container in our_containers():
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(key, {}).get("httpGet")
            if probe:
                yield f"{where} {key}", probe["path"], probe["port"]
        test = " ".join(container.get("healthcheck", {}).get("test", []))
        yield from urls_in(where, test)
    yield from urls_in("Dockerfile", (DEPLOY / "Dockerfile").read_text())


def urls_in(where: str, text: str) -> Iterator[tuple[str, str, Any]]:
    for port, path in re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", text):
        yield where, path, int(port) if port == "8000" else port


# --- the image ----------------------------------------------------------------------


def test_the_image_is_pinned_non_root_and_carries_wheel_procedures_and_ui():
    text = (DEPLOY / "Dockerfile").read_text()
    for line in (x for x in text.splitlines() if x.startswith("FROM ")):
        image = line.split()[1]
        assert re.search(r":\d+\.\d+\.\d+", image), f"{image} is not pinned to a release"
    user = [x.split()[1] for x in text.splitlines() if x.startswith("USER ")][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert "pip wheel" in text and "--no-index --find-links /wheels datasteward" in text
    assert "COPY processes " in text
    assert "bpmn-js/dist" in text and "npm ci" in text


def test_there_is_exactly_one_beat():
    beat = next(d for d in k8s_documents() if d["metadata"]["name"] == "datasteward-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert compose_services()["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_every_deployment_requests_resources_and_has_a_disruption_budget():
    deployments = [d for d in k8s_documents() if d["kind"] == "Deployment"]
    budgets = [d for d in k8s_documents() if d["kind"] == "PodDisruptionBudget"]
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments]
    for budget in budgets:
        wanted = budget["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= found.items() for found in labels), budget["metadata"]
    covered = {b["metadata"]["name"] for b in budgets}
    assert {"datasteward-api", "datasteward-worker-engine"} <= covered
