"""Monitoring proven against the real thing: Debian's Prometheus scrapes a running `ivr serve`
with the compose scrape configuration, loads the alert rules, and evaluates every rule and
dashboard expression through its query API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RedisServer, ServiceProcess, free_port
from tests.deploy.deployfiles import REPO, readyz, require_ready

PROMETHEUS_DIR = REPO / "compose" / "prometheus"
DASHBOARD = REPO / "compose" / "grafana" / "dashboards" / "ivr.json"
METRIC_NAME = re.compile(r"\b(ivr_[a-z0-9_]+)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def rule_expressions() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {
        f"rule {rule['alert']}": rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
    }


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"panel '{panel['title']}' {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }


def exported_names(metrics_text: str) -> set[str]:
    """Every series name `/metrics` declares (# TYPE), with a histogram's derived names."""
    names: set[str] = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
            if kind == "counter" and not name.endswith("_total"):
                names.add(name + "_total")
    return names


@dataclass
class Prometheus:
    url: str

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, expr: str, what: str, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.25)
        pytest.fail(f"Prometheus never saw {what} (`{expr}`)")


@pytest.fixture
def service(start_service: Callable[..., ServiceProcess], redis_url: str) -> ServiceProcess:
    return start_service(IVR_REDIS_URL=redis_url, IVR_AUDIOSOCKET_PORT="0")


def wait_until_ready(service: ServiceProcess, timeout: float = 120) -> None:
    """`/readyz` 200: the model is loaded, so the recognizer's series are registered too."""
    deadline = time.monotonic() + timeout
    status, body = readyz(service.url)
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, body = readyz(service.url)
    assert status == 200, f"the service never became ready (its model and store): {body}"


def used_names() -> dict[str, set[str]]:
    """Every `ivr_*` series name a rule or panel expression reads, with where it is read."""
    used: dict[str, set[str]] = {}
    for where, expr in {**rule_expressions(), **dashboard_expressions()}.items():
        for name in METRIC_NAME.findall(expr):
            used.setdefault(name, set()).add(where)
    return used


@pytest.fixture
def prometheus(service: ServiceProcess, tmp_path: Path) -> Iterator[Prometheus]:
    """Debian's prometheus with compose/prometheus/prometheus.yml, its target rewritten to the
    test's service and its intervals shortened."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run the README's test command (Debian package)")
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / "alerts.yml")]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{service.port}"]}]
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(url=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        prometheus.wait_for('up{job="ivr"} == 1', "the service's target up")
        yield prometheus
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in result.stdout


def test_alerts_cover_latency_errors_store_and_readiness() -> None:
    assert set(rule_expressions()) == {
        "rule IvrResponseLatencyOverTarget",
        "rule IvrHighErrorRate",
        "rule IvrStoreDown",
        "rule IvrNoReadyReplica",
    }


def test_every_rule_and_dashboard_expression_evaluates(prometheus: Prometheus) -> None:
    failures = {}
    for where, expr in {**rule_expressions(), **dashboard_expressions()}.items():
        try:
            prometheus.query(expr)
        except (AssertionError, OSError) as exc:
            failures[where] = f"{expr}: {exc}"
    assert not failures, failures
    # The loaded rules evaluated without error against the scraped service.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
            break
        time.sleep(0.25)
    assert len(rules) == len(rule_expressions())
    assert all(rule["health"] == "ok" for rule in rules), rules


def test_healthy_service_is_ready_and_raises_no_alert(
    prometheus: Prometheus, service: ServiceProcess
) -> None:
    require_ready(service.url)
    prometheus.wait_for('ivr_ready{job="ivr"} == 1', "the replica ready", timeout=120)
    store = prometheus.wait_for('ivr_store_up{job="ivr"}', "ivr_store_up")
    assert store[0]["value"][1] == "1"
    rules = rule_expressions()
    assert prometheus.query(rules["rule IvrNoReadyReplica"]) == []
    assert prometheus.query(rules["rule IvrStoreDown"]) == []


def test_store_down_alert_expression_fires_when_redis_stops(
    prometheus: Prometheus, service: ServiceProcess, redis_server: RedisServer
) -> None:
    expr = rule_expressions()["rule IvrStoreDown"]
    require_ready(service.url)
    prometheus.wait_for('ivr_ready{job="ivr"} == 1', "the replica ready", timeout=120)
    redis_server.stop()
    try:
        fired = prometheus.wait_for(expr, "the store-down alert condition")
        assert fired[0]["value"][1] == "0"
        prometheus.wait_for(rule_expressions()["rule IvrNoReadyReplica"], "no ready replica")
    finally:
        redis_server.start()


def test_dashboard_and_rules_use_only_metrics_the_service_exports(
    service: ServiceProcess,
) -> None:
    """Names are checked against the `# TYPE` lines, which a series has from registration on:
    labelled series (per tenant, outcome, flow) have no sample before their first call."""
    wait_until_ready(service)
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as reply:
        exported = exported_names(reply.read().decode())
    used = used_names()
    assert len(used) >= 20, sorted(used)
    missing = {name: sorted(places) for name, places in used.items() if name not in exported}
    assert not missing, f"not exported by the service: {json.dumps(missing, indent=1)}"


def test_prometheus_scrapes_every_used_series_the_service_samples(
    prometheus: Prometheus, service: ServiceProcess
) -> None:
    """What the dashboard reads arrives through the compose scrape configuration: every used
    name with a sample in `/metrics` (all but labelled series before their first use) is in
    Prometheus' store."""
    wait_until_ready(service)
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as reply:
        sampled = {
            line.split("{")[0].split(" ")[0]
            for line in reply.read().decode().splitlines()
            if line.startswith("ivr_")
        }
    expected = set(used_names()) & sampled
    assert "ivr_recognizer_batch_size_windows_count" in expected, sorted(sampled)
    deadline = time.monotonic() + 60
    while True:
        stored = {
            series["metric"]["__name__"]
            for series in prometheus.query('count by (__name__) ({__name__=~"ivr_.+", job="ivr"})')
        }
        if expected <= stored or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert expected <= stored, f"scraped but not in Prometheus: {sorted(expected - stored)}"


def test_operator_rules_are_the_compose_alert_rules() -> None:
    compose_rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    operator = yaml.safe_load((REPO / "k8s" / "monitoring" / "prometheusrule.yaml").read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"] == compose_rules


def test_adapter_rule_exposes_the_metric_the_autoscaler_targets() -> None:
    values = yaml.safe_load(
        (REPO / "k8s" / "monitoring" / "prometheus-adapter-values.yaml").read_text()
    )
    hpa = yaml.safe_load((REPO / "k8s" / "base" / "hpa.yaml").read_text())
    (pods_metric,) = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if "pods" in m]
    exposed = {rule["name"]["as"] for rule in values["rules"]["custom"]}
    assert pods_metric in exposed
    assert all(pods_metric in rule["seriesQuery"] for rule in values["rules"]["custom"])
