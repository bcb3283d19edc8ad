"""Offline checks of the Kubernetes manifests in k8s/, run by .ci/run.

1. Every kustomization lists every manifest beside it, and each resource it
   lists exists (kubectl apply -k would silently leave an unlisted file out).
2. Every built-in resource validates against the Kubernetes OpenAPI schemas
   shipped by kubernetes-validate (strict: unknown fields are errors), for
   each version in KUBERNETES_VERSIONS. A kind it has no schema for is an
   error, except the Prometheus Operator kinds checked in (3): the tool only
   warns about unknown kinds, which would let a mistyped apiVersion pass.
3. PrometheusRule and PodMonitor (CRDs, no schema offline): their structure,
   every alert's severity, summary and description, and every `expr` parsed
   by a real PromQL parser (promql-parser).
4. What the deployment relies on: selectors that match the pods, the
   Service without the metrics port, the grace period longer than the
   preStop sleep plus inkan's 20 s drain, no Secret with data committed.
5. When kubectl is on PATH, each kustomization rendered (`kubectl
   kustomize`, offline) and every rendered resource checked as in (2)-(4),
   so what `kubectl apply -k` sends is what was validated.

Usage: python manifests.py K8S_DIR. Prints one line per problem; exits 1 if
there is any.
"""

import pathlib
import re
import shutil
import subprocess
import sys

import kubernetes_validate
import promql_parser
import yaml

# The oldest release these manifests are meant for (the preStop `sleep`
# action is on by default from 1.30, GA in 1.34; `matchLabelKeys` in
# topology spread from 1.27) and the newest schema the tool ships.
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
NAMESPACE = "inkan"
DRAIN_SECONDS = 20  # inkan's drain after SIGTERM (README)
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}
SEVERITIES = {"critical", "warning", "info"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        problem(path, f"not valid YAML: {e}")
        return []


def check_kustomization(kdir):
    """Each kustomization lists every manifest file beside it."""
    kfile = kdir / "kustomization.yaml"
    docs = load(kfile)
    if not docs:
        return []
    listed = docs[0].get("resources") or []
    for res in listed:
        if not (kdir / res).exists():
            problem(kfile, f"lists {res}, which does not exist")
    files = sorted(
        p.name for p in kdir.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml"
    )
    for name in files:
        if name not in listed:
            problem(kfile, f"does not list {name}: `kubectl apply -k` would leave it out")
    return [kdir / name for name in files]


def labels_match(selector, labels, where):
    for key, value in (selector or {}).items():
        if labels.get(key) != value:
            problem(where, f"selector {key}={value} does not match the server pods' labels")


def check_prometheus_rule(doc, where):
    groups = (doc.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        problem(where, "spec.groups must be a non-empty list")
        return
    names = set()
    for group in groups:
        gname = group.get("name")
        if not gname:
            problem(where, "a group has no name")
        unknown = set(group) - {"name", "interval", "rules", "limit", "partial_response_strategy"}
        if unknown:
            problem(where, f"group {gname}: unknown fields {sorted(unknown)}")
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            at = f"{where}: {name or '(unnamed rule)'}"
            if bool(rule.get("alert")) == bool(rule.get("record")):
                problem(at, "a rule needs exactly one of alert and record")
            unknown = set(rule) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            if unknown:
                problem(at, f"unknown fields {sorted(unknown)}")
            if name in names:
                problem(at, "defined twice")
            names.add(name)
            expr = rule.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problem(at, "expr must be a non-empty string")
            else:
                try:
                    promql_parser.parse(expr)
                except Exception as e:  # the parser raises ValueError
                    problem(at, f"expr is not valid PromQL: {e}")
            for key in ("for", "keep_firing_for"):
                if key in rule and not DURATION.match(str(rule[key])):
                    problem(at, f"{key}: {rule[key]!r} is not a Prometheus duration")
            if rule.get("alert"):
                severity = (rule.get("labels") or {}).get("severity")
                if severity not in SEVERITIES:
                    problem(at, f"labels.severity must be one of {sorted(SEVERITIES)}")
                annotations = rule.get("annotations") or {}
                for key in ("summary", "description"):
                    if not str(annotations.get(key, "")).strip():
                        problem(at, f"annotations.{key} is missing: say what it means and what to do")
                for key, text in annotations.items():
                    if str(text).count("{{") != str(text).count("}}"):
                        problem(at, f"annotations.{key}: unbalanced {{{{ }}}} template")


def check_pod_monitor(doc, where, server):
    spec = doc.get("spec") or {}
    labels_match((spec.get("selector") or {}).get("matchLabels"), server["labels"], where)
    endpoints = spec.get("podMetricsEndpoints") or []
    if not endpoints:
        problem(where, "spec.podMetricsEndpoints is empty")
    for ep in endpoints:
        if ep.get("port") not in server["ports"]:
            problem(where, f"port {ep.get('port')!r} is not a named port of the server container")


def server_facts(docs):
    """The Deployment's pod labels and named ports, for cross-checks."""
    for doc, where in docs:
        if doc.get("kind") == "Deployment":
            pod = doc["spec"]["template"]
            ports = {}
            for c in pod["spec"]["containers"]:
                for p in c.get("ports") or []:
                    ports[p.get("name")] = p["containerPort"]
            return {"labels": pod["metadata"].get("labels") or {}, "ports": ports, "doc": doc, "where": where}
    return None


def check_deployment(server):
    doc, where = server["doc"], server["where"]
    pod = doc["spec"]["template"]["spec"]
    grace = pod.get("terminationGracePeriodSeconds", 30)
    for c in pod["containers"]:
        sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        if grace <= sleep + DRAIN_SECONDS:
            problem(where, f"terminationGracePeriodSeconds {grace} must exceed preStop {sleep} s + {DRAIN_SECONDS} s drain")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                problem(where, f"container {c['name']} has no {probe}")
        for probe in ("startupProbe", "livenessProbe"):
            service = ((c.get(probe) or {}).get("grpc") or {}).get("service")
            if service != "liveness":
                problem(where, f"{probe} must check the `liveness` health name (needs only the keys), "
                        "so a database outage, at start or later, never restarts pods")
        for m in c.get("volumeMounts") or []:
            if m.get("subPath"):
                problem(where, f"volumeMount {m['name']} uses subPath: Secret updates (key rotation) never reach it")


def check_doc(doc, where, server, versions):
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        problem(where, "not a Kubernetes resource (no apiVersion/kind)")
        return
    kind, api = doc["kind"], doc["apiVersion"]
    meta = doc.get("metadata") or {}
    name = f"{where} {kind}/{meta.get('name')}"
    if kind != "Namespace" and meta.get("namespace") != NAMESPACE:
        problem(name, f"metadata.namespace must be {NAMESPACE!r}")
    if kind == "Secret" and (doc.get("data") or doc.get("stringData")):
        problem(name, "a Secret with data is committed: create it with kubectl (docs/operations.md)")
    if (api, kind) in CRD_KINDS:
        if kind == "PrometheusRule":
            check_prometheus_rule(doc, name)
        elif server:
            check_pod_monitor(doc, name, server)
        return
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path) or "(top)"
            problem(name, f"Kubernetes {version}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problem(name, f"Kubernetes {version} has no {api} {kind}: mistyped, or a CRD to check in manifests.py")
    spec = doc.get("spec") or {}
    if not server:
        return
    if kind == "Service":
        labels_match(spec.get("selector"), server["labels"], name)
        for p in spec.get("ports") or []:
            if p.get("targetPort") not in server["ports"] and p.get("targetPort") not in server["ports"].values():
                problem(name, f"targetPort {p.get('targetPort')!r} is not a port of the server container")
            if p.get("port") == server["ports"].get("metrics") or p.get("targetPort") in ("metrics", server["ports"].get("metrics")):
                problem(name, "exposes the metrics port: Prometheus scrapes pods; the Service must not")
    if kind in ("PodDisruptionBudget", "NetworkPolicy"):
        sel = spec.get("selector") if kind == "PodDisruptionBudget" else spec.get("podSelector")
        labels_match((sel or {}).get("matchLabels"), server["labels"], name)


def check_set(docs, versions):
    server = server_facts(docs)
    if server:
        check_deployment(server)
    else:
        problem("k8s", "no Deployment found")
    for doc, where in docs:
        check_doc(doc, where, server, versions)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "k8s")
    kdirs = sorted(p.parent for p in root.rglob("kustomization.yaml"))
    # The source files, as written.
    docs = []
    for kdir in kdirs:
        for path in check_kustomization(kdir):
            docs += [(d, str(path)) for d in load(path)]
    check_set(docs, KUBERNETES_VERSIONS)
    files = len({w for _, w in docs})

    # What `kubectl apply -k` sends: kustomize renders offline.
    kubectl = shutil.which("kubectl")
    rendered = 0
    if kubectl:
        for kdir in kdirs:
            out = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
            if out.returncode != 0:
                problem(kdir, f"kubectl kustomize failed: {out.stderr.strip()}")
                continue
            rdocs = [(d, f"{kdir} (rendered)") for d in yaml.safe_load_all(out.stdout) if d]
            rendered += len(rdocs)
            if kdir == root:
                check_set(rdocs, KUBERNETES_VERSIONS[-1:])
            else:
                for d, w in rdocs:
                    check_doc(d, w, None, KUBERNETES_VERSIONS[-1:])
        images = set()
        for kdir in kdirs:
            out = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
            images |= set(re.findall(r"^\s+image: (\S+)$", out.stdout, re.M))
        if len(images) > 1:
            problem(root, f"the kustomizations set different images {sorted(images)}: the migration Job "
                    "must run the release's image")
        how = f"rendered {rendered} resources with kubectl kustomize"
    else:
        how = "kubectl not found, so kustomizations were not rendered (their listed files were checked)"

    for p in problems:
        print(f"FAIL {p}")
    print(f"manifests: {files} files, {len(docs)} resources checked against Kubernetes "
          f"{', '.join(KUBERNETES_VERSIONS)}; {how}; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
