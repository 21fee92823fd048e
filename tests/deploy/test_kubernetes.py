"""deploy/kubernetes: every manifest validates against the Kubernetes OpenAPI schema (the
schemas kubernetes-validate ships, offline, strict: unknown fields are errors), kustomize lists
every file, and the wiring holds: Services select pods that have the ports they target, every
container has probes and resource requests, and Spyglass containers run a real command."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from spyglass.cli import build_parser

K8S = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _documents() -> list[dict]:
    return [doc for name in _kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _workloads() -> list[dict]:
    return [d for d in _documents() if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_against_the_schema(version: str) -> None:
    docs = _documents()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "Namespace"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    """The schema check can fail: a wrong type and an unknown field are both refused."""
    deployment = next(d for d in _documents() if d["kind"] == "Deployment")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    unknown = copy.deepcopy(deployment)
    unknown["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    for bad in (wrong_type, unknown):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_every_container_has_probes_and_resource_requests() -> None:
    for workload in _workloads():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert container.get("readinessProbe") and container.get("livenessProbe"), where
            assert container["resources"]["requests"].keys() >= {"cpu", "memory"}, where


def test_services_select_pods_that_have_their_ports() -> None:
    pods = [(w["spec"]["template"]["metadata"]["labels"], w["spec"]["template"]["spec"]["containers"]) for w in _workloads()]
    for service in (d for d in _documents() if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        matched = [containers for labels, containers in pods if selector.items() <= labels.items()]
        assert matched, f"Service {service['metadata']['name']} selects no pod"
        names = {p["name"] for containers in matched for c in containers for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, f"{service['metadata']['name']}: no container port {port['targetPort']}"


def test_spyglass_containers_run_existing_roles_and_workloads_match_their_selectors() -> None:
    roles = {"all-in-one", "collector", "query", "agent", "ingester", "demo"}
    known = set(next(a for a in build_parser()._subparsers._group_actions).choices)  # type: ignore[union-attr]
    assert {"all-in-one", "collector", "query"} <= known
    for workload in _workloads():
        spec = workload["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
        for container in spec["template"]["spec"]["containers"]:
            if container["image"] == "spyglass":
                assert container["args"][0] in roles
                assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_sampling_configmap_is_a_strategies_file(tmp_path: Path) -> None:
    from spyglass.collector.sampling import build_provider

    config = next(d for d in _documents() if d["kind"] == "ConfigMap")
    path = tmp_path / "strategies.json"
    path.write_text(config["data"]["strategies.json"])
    json.loads(path.read_text())
    provider = build_provider(str(path), 0.0, 1.0)
    assert provider is not None
