"""What the Dockerfile, compose file and rendered Kubernetes overlays promise, read as data
(their syntax is checked by hadolint, the compose spec and kubernetes-validate in checks.sh)."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.settings import Settings
from tests.deploy.deployfiles import REPO, Stage

SETTINGS = {f"IVR_{name.upper()}" for name in Settings.model_fields}


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    pytest.fail(f"no {kind}/{name} in the rendered overlay")


def ivr_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = find(docs, "Deployment", "ivr")["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_deployment_drains_before_the_kubelet_kills_it(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    pod = find(overlays[overlay], "Deployment", "ivr")["spec"]["template"]["spec"]
    container = ivr_container(overlays[overlay])
    drain_s = float(env_of(container)["IVR_DRAIN_TIMEOUT_S"])
    pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # preStop + drain + aiohttp's 5 s shutdown must fit in the grace period.
    assert pod["terminationGracePeriodSeconds"] > pre_stop_s + drain_s + 5


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_deployment_probes_sizes_and_security(
    overlays: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    container = ivr_container(overlays[overlay])
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]["cpu"] == "4"
    assert container["resources"]["limits"]["cpu"] == "4"
    assert "memory" in container["resources"]["limits"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    pod = find(overlays[overlay], "Deployment", "ivr")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/etc/ivr/flows"}
    unknown = {name for name in env_of(container) if name not in SETTINGS}
    assert not unknown, f"the Deployment sets unknown settings {unknown}"


def test_gpu_overlay_asks_for_one_gpu_and_caps_cuda_memory_at_1_gib(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    container = ivr_container(overlays["gpu"])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = env_of(container)
    assert env["IVR_DEVICE"] == "cuda"
    assert int(env["IVR_GPU_MEM_LIMIT_BYTES"]) == 1024**3
    assert container["image"].endswith("-gpu")


def test_cpu_overlay_asks_for_no_gpu(overlays: dict[str, list[dict[str, Any]]]) -> None:
    container = ivr_container(overlays["cpu"])
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert env_of(container)["IVR_DEVICE"] == "cpu"
    assert container["image"].endswith("-cpu")


def test_autoscaler_scales_on_cpu_and_active_calls_per_pod(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    metrics = find(overlays["cpu"], "HorizontalPodAutoscaler", "ivr")["spec"]["metrics"]
    kinds = {m["type"]: m for m in metrics}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Pods"]["pods"]["metric"]["name"] == "ivr_calls_active_calls"


def test_network_policy_admits_only_gateway_and_monitoring(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    policy = find(overlays["cpu"], "NetworkPolicy", "ivr")["spec"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"gateway", "monitoring"}
    assert find(overlays["cpu"], "NetworkPolicy", "default-deny")["spec"]["podSelector"] == {}


def test_redis_is_a_stateful_set_with_append_only_persistence(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    redis = find(overlays["cpu"], "StatefulSet", "redis")["spec"]
    assert "--appendonly" in redis["template"]["spec"]["containers"][0]["args"]
    assert redis["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_compose_runs_redis_append_only_and_reserves_a_gpu_in_its_profile(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.startswith("redis-data:") for v in services["redis"]["volumes"])
    gpu = services["ivr-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    for name in ("ivr", "ivr-gpu"):
        assert services[name]["read_only"] is True
        grace_s = int(services[name]["stop_grace_period"].rstrip("s"))
        assert grace_s > float(services[name]["environment"]["IVR_DRAIN_TIMEOUT_S"])


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_image_runs_unprivileged_on_a_read_only_root(
    dockerfile: dict[str, Stage], target: str
) -> None:
    stage = dockerfile[target]
    user = (stage.user or "root").split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert stage.volumes == ["/tmp"] and stage.env["TMPDIR"] == "/tmp"
    assert stage.env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert stage.healthcheck is not None and "/healthz" in stage.healthcheck


@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_model_has_a_layer_of_its_own_and_dependencies_come_first(
    dockerfile: dict[str, Stage], target: str
) -> None:
    copies = [rest for kind, rest in dockerfile[target].instructions if kind == "COPY"]
    assert copies[0].startswith(f"--from={target}-deps /opt/venv")
    assert copies[1] == "--link recognizer/models /app/recognizer/models"
    assert copies[2] == f"--link --from={target}-source /app /app"


def test_dockerignore_keeps_caches_and_training_data_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for pattern in ("data/", "runs/", ".venv/", ".cache/", "**/__pycache__", ".env"):
        assert pattern in ignored
