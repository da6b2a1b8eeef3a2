"""The recipes in deploy/: YAML that parses, manifests and units whose
netcheck command lines netcheck itself accepts, alert rules that use only
metrics netcheck exposes, and the real checkers (systemd-analyze, promtool)
where the machine has them."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from netcheck import cli, serve
from netcheck.catalog import load_catalog
from netcheck.render.json import load
from netcheck.runner import RunOptions

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SAMPLE = Path(__file__).parent / "render" / "golden" / "sample.json"
NETCHECK = str(Path(sys.executable).parent / "netcheck")
INSTALLED_AT = "/usr/local/bin/netcheck"  # where the recipes expect the command

YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
UNITS = sorted([*DEPLOY.glob("systemd/*.service"), *DEPLOY.glob("systemd/*.timer")])
RULES = DEPLOY / "prometheus" / "netcheck-rules.yml"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"

# Metrics Prometheus makes itself, not netcheck.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset"}


def docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def kube(kind: str) -> dict[str, Any]:
    found = [d for p in DEPLOY.glob("kubernetes/*.yaml") for d in docs(p) if d["kind"] == kind]
    assert len(found) == 1, kind
    doc: dict[str, Any] = found[0]
    return doc


def exposed_names() -> set[str]:
    """Every metric (family and sample) name of netcheck serve's /metrics
    after a run: the report's metrics and the exporter's."""
    exporter = serve.Exporter(load_catalog(None), RunOptions())
    exporter.publish(load(SAMPLE, validate=True))
    text = serve.exposition([exporter], None).body.decode()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (enough PromQL for ours)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(?:on|ignoring|group_left|group_right|by|without)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text))
    return {n for n in names if n not in PROMQL_WORDS}


def netcheck_args(args: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse a command line with netcheck's own parser (unknown options returned)."""
    parser = cli.build_parser(args)
    return parser.parse_known_args(args)


def exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    return line.removeprefix("ExecStart=").split()


def unit_keys(unit: Path) -> set[str]:
    return {x.split("=", 1)[0] for x in unit.read_text().splitlines()
            if "=" in x and not x.startswith("#")}


# -- YAML ----------------------------------------------------------------------

def test_every_yaml_file_parses() -> None:
    # Given every YAML file under deploy/ / Then each parses to at least one document
    assert {p.name for p in YAML_FILES} >= {"cronjob.yaml", "serve.yaml", "prometheus.yml",
                                            "netcheck-rules.yml", "netcheck-rules.test.yml"}
    for path in YAML_FILES:
        assert docs(path), path


# -- Kubernetes ----------------------------------------------------------------

def _pod_is_locked_down(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # A read-only root needs somewhere to write: every written path is a volume.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and container["workingDir"] in mounts
    assert container["image"].startswith("registry.example.com/")  # a placeholder


def test_cronjob_runs_one_at_a_time_locked_down_with_valid_args() -> None:
    cron = kube("CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    _pod_is_locked_down(pod)
    args = pod["containers"][0]["args"]
    assert args[0] == "run"
    parsed, unknown = netcheck_args(args)
    assert unknown == []
    assert parsed.push_gateway == "http://pushgateway.monitoring.svc:9091"
    assert parsed.job == "netcheck"


def test_serve_deployment_probes_healthz_on_the_port_it_listens_on() -> None:
    deployment, service = kube("Deployment"), kube("Service")
    pod = deployment["spec"]["template"]["spec"]
    _pod_is_locked_down(pod)
    (container,) = pod["containers"]
    args, unknown = netcheck_args(container["args"])
    assert unknown == []
    assert args.command == "serve"
    # In a pod it must listen beyond loopback, on the port it declares
    host, port = args.listen
    assert host == "0.0.0.0"
    (declared,) = container["ports"]
    assert declared["containerPort"] == port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": declared["name"]}
    # and the Service selects the pod and points at that port
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"][
        "metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == declared["name"]
    # and the shutdown grace covers serve's own (SIGTERM: exit within seconds)
    assert pod["terminationGracePeriodSeconds"] >= 2 * serve.SHUTDOWN_GRACE


# -- systemd -------------------------------------------------------------------

def test_units_are_hardened_and_their_command_lines_parse() -> None:
    services = [u for u in UNITS if u.suffix == ".service"]
    assert {u.name for u in UNITS} == {"netcheck.service", "netcheck.timer",
                                       "netcheck-serve.service"}
    for unit in services:
        keys = unit_keys(unit)
        assert {"DynamicUser", "ProtectSystem", "StateDirectory", "NoNewPrivileges",
                "ProtectHome", "PrivateTmp", "CapabilityBoundingSet",
                "RestrictAddressFamilies", "SystemCallFilter"} <= keys, unit.name
        assert "ProtectSystem=strict" in unit.read_text()
        command = exec_start(unit)
        assert command[0] == INSTALLED_AT
        _, unknown = netcheck_args(command[1:])
        assert unknown == [], unit.name
    run = netcheck_args(exec_start(DEPLOY / "systemd" / "netcheck.service")[1:])[0]
    assert run.command == "run"
    assert run.format == ["json", "prometheus"]
    assert run.output_dir == Path("/var/lib/netcheck")
    served = netcheck_args(exec_start(DEPLOY / "systemd" / "netcheck-serve.service")[1:])[0]
    assert served.listen == ("127.0.0.1", 9470)  # loopback, as serve's default
    assert "Unit=netcheck.service" in (DEPLOY / "systemd" / "netcheck.timer").read_text()


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    # Given the units, pointing at this checkout's netcheck (verify insists
    # the ExecStart binary exists)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_AT, NETCHECK))
    # When systemd-analyze verifies them
    result = subprocess.run([analyze, "verify", *(str(tmp_path / u.name) for u in UNITS)],
                            capture_output=True, text=True, timeout=60, check=False)
    # Then it accepts them without a single warning (an unknown key is only a warning)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


# -- Prometheus ----------------------------------------------------------------

def test_alert_rules_are_well_formed_and_say_what_broke() -> None:
    doc = docs(RULES)[0]
    rules = [r for g in doc["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert {"NetcheckEndpointFailing", "NetcheckCertificateExpiringSoon",
            "NetcheckDnsAnswerOutsideAllowList", "NetcheckDown",
            "NetcheckLastSuccessTooOld"} <= names
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert set(rule["annotations"]) == {"summary", "description"}
        # The summary names what broke: the endpoint, or the netcheck instance
        # for the rules about netcheck itself
        assert "$labels.endpoint" in rule["annotations"]["summary"] or (
            "$labels.instance" in rule["annotations"]["summary"]
            and "endpoint" not in rule["expr"]), rule["alert"]
    # and the per-endpoint rules carry the result code in their words
    by_name = {r["alert"]: r for r in rules}
    assert ".Labels.code" in by_name["NetcheckEndpointFailing"]["annotations"]["description"]
    assert "dns.unexpected_ip" in by_name["NetcheckDnsAnswerOutsideAllowList"]["expr"]
    assert ".Labels.address" in by_name["NetcheckDnsAnswerOutsideAllowList"][
        "annotations"]["description"]


def test_alert_rules_use_only_metrics_netcheck_exposes() -> None:
    # Given the names netcheck serve's /metrics exposes after a run
    exposed = exposed_names()
    rules = [r for g in docs(RULES)[0]["groups"] for r in g["rules"]]
    for rule in rules:
        # Then every metric an expression reads is one of them (or Prometheus's own)
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used - exposed - PROMETHEUS_OWN == set(), rule["alert"]
        # and so is every metric an annotation queries
        queried = set(re.findall(r"\b(netcheck_[a-z_]+)\{", str(rule["annotations"])))
        assert queried - exposed == set(), rule["alert"]


def test_metric_names_reads_promql() -> None:
    # The helper above must find names, or the check could pass on nothing
    assert metric_names('(a{x="y"} == 1) * on (job, e) group_left (h) b{r="true"}') == {"a",
                                                                                      "b"}
    assert metric_names('time() - c_seconds{j="n"} > 3600 and d > 0') == {"c_seconds", "d"}
    assert metric_names("x - time() < 14 * 86400 > 0") == {"x"}


def test_scrape_config_targets_serve_and_probes_like_blackbox() -> None:
    config = docs(CONFIG)[0]
    assert config["rule_files"] == [RULES.name]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # The static job scrapes serve where it listens by default
    default_host, default_port = serve.parse_listen(serve.DEFAULT_LISTEN)
    assert jobs["netcheck"]["static_configs"][0]["targets"] == [
        f"{default_host}:{default_port}"]
    # The probe job turns each target (an endpoint name) into ?endpoint= and
    # the instance label, and sends the scrape to serve
    probe = jobs["netcheck-probe"]
    assert probe["metrics_path"] == "/probe"
    relabel = probe["relabel_configs"]
    assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_endpoint"}
    assert relabel[1] == {"source_labels": ["__param_endpoint"], "target_label": "instance"}
    assert relabel[2] == {"target_label": "__address__",
                          "replacement": f"{default_host}:{default_port}"}
    # and every endpoint it names is in the built-in catalogue
    known = {e.name for e in load_catalog(None).endpoints}
    for static in probe["static_configs"]:
        assert set(static["targets"]) <= known
    assert jobs["pushgateway"]["honor_labels"] is True


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    return promtool


@pytest.mark.parametrize("check", [["check", "config", CONFIG.name],
                                   ["check", "rules", RULES.name],
                                   ["test", "rules", "netcheck-rules.test.yml"]],
                         ids=["check-config", "check-rules", "test-rules"])
def test_promtool(check: list[str]) -> None:
    # Given promtool / When it checks the config, the rules, and the rules' unit
    # tests (each alert firing with its exact annotation) / Then all pass
    result = subprocess.run([_promtool(), *check], cwd=RULES.parent, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
