#!/usr/bin/env python3
"""Renders every overlay with `kubectl kustomize` and checks the output
offline: core kinds against the Kubernetes schemas (kubernetes-validate,
strict), KEDA and Prometheus Operator kinds against schemas/*.json, and
lap's own rules across objects:

- the ConfigMap holds exactly the overlay's lap.toml (so it cannot drift);
- KEDA's maxReplicaCount equals topics.partitions (more would idle);
- terminationGracePeriodSeconds exceeds service.shutdown_grace_ms;
- every container has requests, limits, and (services) both probes;
- every secret a pod reads comes from the lap-secrets Secret.

Usage: check.py [--self-test]   (needs kubectl, kubernetes-validate, jsonschema)
--self-test also breaks a rendered manifest in several ways and fails
unless each break is caught.
"""
import copy
import json
import pathlib
import subprocess
import sys
import tomllib

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parent
K8S_VERSION = "1.32.0"
CUSTOM = {
    "ScaledObject": json.loads((ROOT / "schemas/scaledobject.json").read_text()),
    "ServiceMonitor": json.loads((ROOT / "schemas/servicemonitor.json").read_text()),
}


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"kubectl kustomize {overlay} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def problems(docs, config_text):
    found = []
    config = tomllib.loads(config_text)
    partitions = config.get("topics", {}).get("partitions", 6)
    grace_s = config.get("service", {}).get("shutdown_grace_ms", 20000) / 1000
    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        where = f"{kind}/{name}"
        if kind in CUSTOM:
            for e in jsonschema.Draft202012Validator(CUSTOM[kind]).iter_errors(d):
                found.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
        else:
            try:
                kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                found.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
            except Exception as e:  # unknown kinds and the like
                found.append(f"{where}: {e}")
        if kind == "ConfigMap" and name.startswith("lap-config"):
            if d.get("data", {}).get("lap.toml") != config_text:
                found.append(f"{where}: lap.toml differs from the overlay's file")
        if kind == "ScaledObject" and d["spec"].get("maxReplicaCount") != partitions:
            found.append(f"{where}: maxReplicaCount {d['spec'].get('maxReplicaCount')} != topics.partitions {partitions}")
        if kind in ("Deployment", "Job", "CronJob"):
            spec = d["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else d["spec"]
            pod = spec["template"]["spec"]
            if kind == "Deployment" and pod.get("terminationGracePeriodSeconds", 30) <= grace_s:
                found.append(f"{where}: terminationGracePeriodSeconds must exceed shutdown_grace_ms ({grace_s} s)")
            for c in pod["containers"]:
                res = c.get("resources", {})
                if not res.get("requests") or not res.get("limits"):
                    found.append(f"{where}: container {c['name']} needs resource requests and limits")
                if kind == "Deployment" and not (c.get("readinessProbe") and c.get("livenessProbe")):
                    found.append(f"{where}: container {c['name']} needs readiness and liveness probes")
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and ref.get("name") != "lap-secrets":
                        found.append(f"{where}: {e['name']} reads Secret {ref.get('name')}, not lap-secrets")
    kinds = {d["kind"] for d in docs}
    for needed in ("Deployment", "PodDisruptionBudget", "ScaledObject", "ServiceMonitor",
                   "NetworkPolicy", "ConfigMap", "Job", "CronJob"):
        if needed not in kinds:
            found.append(f"no {needed} rendered")
    return found


def breakages(docs):
    """Copies of `docs`, each with one mistake the check must catch."""
    def first(kind):
        return next(i for i, d in enumerate(docs) if d["kind"] == kind)
    cases = []
    def case(label, f):
        broken = copy.deepcopy(docs)
        f(broken)
        cases.append((label, broken))
    case("replicas as text", lambda b: b[first("Deployment")]["spec"].update(replicas="three"))
    case("unknown Deployment field", lambda b: b[first("Deployment")]["spec"].update(replica=2))
    case("KEDA max above partitions", lambda b: b[first("ScaledObject")]["spec"].update(maxReplicaCount=99))
    case("KEDA misspelt field", lambda b: b[first("ScaledObject")]["spec"].update(maxReplicas=3))
    case("ServiceMonitor bad interval", lambda b: b[first("ServiceMonitor")]["spec"]["endpoints"][0].update(interval="often"))
    case("no probes", lambda b: b[first("Deployment")]["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe"))
    case("short grace period", lambda b: b[first("Deployment")]["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5))
    case("CronJob without limits", lambda b: b[first("CronJob")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].pop("resources"))
    case("ConfigMap drift", lambda b: b[first("ConfigMap")]["data"].update({"lap.toml": "# edited by hand\n"}))
    return cases


def main():
    self_test = "--self-test" in sys.argv
    failed = False
    overlays = sorted(p for p in (ROOT / "overlays").iterdir() if p.is_dir())
    for overlay in overlays:
        docs = render(overlay)
        config_text = (overlay / "lap.toml").read_text()
        found = problems(docs, config_text)
        print(f"{overlay.name}: {len(docs)} objects, {len(found)} problems")
        for p in found:
            print(f"  {p}")
        failed |= bool(found)
        if self_test:
            for label, broken in breakages(docs):
                caught = problems(broken, config_text)
                print(f"  self-test {label!r}: {'caught' if caught else 'NOT CAUGHT'}")
                failed |= not caught
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
