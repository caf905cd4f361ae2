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
from tests.production.cluster import strong_secret

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


# --- every queue is consumed; references resolve ------------------------------------


def worker_queues(argv: list[str]) -> set[str]:
    return set(argv[argv.index("-Q") + 1].split(",")) if "-Q" in argv else set(QUEUES)


def test_every_queue_has_a_worker_in_compose_and_in_kubernetes():
    """A queue nobody consumes fills up silently: each deployment serves every kind of job."""
    for deployment in ("compose", "k8s"):
        consumed: set[str] = set()
        for where, container in our_containers():
            argv = container["command"]
            if where.startswith(deployment) and argv[0] == "celery" and argv[3] == "worker":
                consumed |= worker_queues(argv)
        assert consumed == set(QUEUES), f"{deployment}: no worker for {set(QUEUES) - consumed}"


def metrics_port(argv: list[str]) -> int | None:
    return int(argv[argv.index("--metrics-port") + 1]) if "--metrics-port" in argv else None


def test_probe_ports_are_declared_and_match_what_the_process_listens_on():
    """A named probe port exists on the container; a worker's is its --metrics-port."""
    for where, container in our_containers():
        argv = container["command"]
        if where.startswith("k8s"):
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for key in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = container.get(key, {}).get("httpGet")
                if probe:
                    assert probe["port"] in ports, f"{where} {key}: no port {probe['port']!r}"
            if "metrics" in ports:
                assert ports["metrics"] == metrics_port(argv), where
            if "http" in ports:
                assert ports["http"] == 8000, where
        else:
            test = " ".join(container.get("healthcheck", {}).get("test", []))
            for _, path, port in urls_in(where, test):
                if path == "/metrics":
                    assert int(port) == metrics_port(argv), where


def test_every_object_a_manifest_refers_to_is_defined():
    documents = list(k8s_documents())
    defined = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}
    for doc in documents:
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        name = doc["metadata"]["name"]
        selector = doc["spec"].get("selector", {}).get("matchLabels", {})
        assert selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items(), name
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in defined, name
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in defined, name
            volumes = {volume["name"] for volume in pod.get("volumes", [])}
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}: no volume {mount['name']}"
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in defined, name
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in defined, name
    for service in (doc for doc in documents if doc["kind"] == "Service"):
        matched = [
            doc
            for doc in documents
            if doc["kind"] == "Deployment"
            and service["spec"]["selector"].items()
            <= doc["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matched, service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            names = {
                p["name"]
                for doc in matched
                for c in doc["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports", [])
            }
            assert port["targetPort"] in names, service["metadata"]["name"]


def test_every_service_and_volume_compose_refers_to_is_defined():
    document = yaml_documents(DEPLOY / "compose.yaml")[0]
    services, volumes = document["services"], set(document["volumes"])
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith(("/", ".")):
                assert source in volumes, f"{name}: volume {source} is not declared"


def test_every_unit_a_systemd_unit_names_is_shipped():
    units = systemd_units()
    ours = re.compile(r"datasteward[\w@.-]*\.(?:service|target)")
    for name, unit in units.items():
        for section in unit.sections():
            for key, value in unit[section].items():
                if key in ("After", "Requires", "Wants", "PartOf", "WantedBy", "BindsTo"):
                    for named in ours.findall(value):
                        template = re.sub(r"@[^.]+\.", "@.", named)
                        assert named in units or template in units, f"{name} {key}: {named}"


# --- the settings they pass are valid for the service ------------------------------


KEY_FILE_VARIABLES = {
    "DATASTEWARD_KEYRING_FILE",
    "DATASTEWARD_BLIND_INDEX_KEY_FILE",
    "DATASTEWARD_SIGNING_KEY_FILE",
}
STRONG = strong_secret()  # what an operator generates for each placeholder


def dockerfile_environment() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.startswith("ENV "))
    return dict(pair.split("=", 1) for pair in shlex.split(line[4:]))


def filled(value: str) -> str:
    """A placeholder (REPLACE, ${VAR:?...}) replaced by a strong value, as an operator does;
    an optional one (${VAR:-default}) left to its default, as compose does when VAR is unset."""
    value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[^}]+\}", STRONG, value).replace("REPLACE", STRONG)


def deployed_environments() -> Iterator[tuple[str, dict[str, str]]]:
    image = dockerfile_environment()
    for where, container in our_containers():
        env = container.get("environment") or {}
        if where.startswith("compose"):
            yield where, image | {k: filled(str(v)) for k, v in env.items() if k != "<<"}
    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in k8s_documents() if d["metadata"]["name"] == "datasteward-secrets")
    secrets = {k: filled(v) for k, v in secret["stringData"].items()}
    yield "k8s datasteward-config + datasteward-secrets", image | config | secrets
    example = (DEPLOY / "datasteward.env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in example if line and not line.startswith("#"))
    yield "datasteward.env.example", {k: filled(v) for k, v in pairs}


def test_the_settings_each_deployment_passes_pass_the_configuration_check():
    """Parsed by Settings as the service parses them, then `check-config`'s own checks.

    Only the key files are missing here (they are made on the target by `datasteward init`).
    """
    from service.ops.checkconfig import ERROR, check

    checked = 0
    for where, env in deployed_environments():
        settings = Settings.from_env(env)
        assert settings.is_production, where
        errors = [
            problem
            for problem in check(settings, env)
            if problem.severity == ERROR and problem.variable not in KEY_FILE_VARIABLES
        ]
        assert errors == [], f"{where}: {[str(e) for e in errors]}"
        assert settings.keystore_url != settings.database_url, where
        checked += 1
    assert checked >= 3


def test_a_deployment_whose_secret_is_left_as_shipped_is_refused():
    """The check above can fail: the shipped placeholder secret is an error."""
    from service.ops.checkconfig import ERROR, check

    example = (DEPLOY / "datasteward.env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in example if line and not line.startswith("#"))
    problems = check(Settings.from_env(env), env)
    assert any(p.severity == ERROR and p.variable == "DATASTEWARD_SECRET_KEY" for p in problems), (
        problems
    )
