#!/usr/bin/env python3
"""Record the request bodies kubectl sends, to make protobuf test fixtures.

A plain-HTTP fake API server: answers /version (v1.33), legacy discovery for the
groups below, and saves the body of every POST/PUT to OUTDIR/NNN-<resource>.pb
(with its Content-Type in NNN-<resource>.txt); with a third argument DIR, a GET of
an object answers DIR/<plural>-<name>.json. Then, e.g.:

    python3 scripts/record_kubectl_bodies.py 18080 /tmp/bodies &
    kubectl --server=http://127.0.0.1:18080 create namespace x

Used for proto/src/protobuf/testdata/*.pb; stop it with kill PID.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
        ("pods", "Pod", True),
        ("resourcequotas", "ResourceQuota", True),
    ],
    "apps/v1": [("deployments", "Deployment", True)],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
    ],
    "authorization.k8s.io/v1": [("selfsubjectaccessreviews", "SelfSubjectAccessReview", False)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False)],
    "networking.k8s.io/v1": [("ingresses", "Ingress", True)],
    "autoscaling/v1": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "certificates.k8s.io/v1": [("certificatesigningrequests", "CertificateSigningRequest", False)],
}
# GET of an object answers OBJECTS/<plural>-<name>.json when that file exists.
OBJECTS = sys.argv[3] if len(sys.argv) > 3 else None
KIND_OF = {plural: (gv, kind) for gv, rs in RESOURCES.items() for plural, kind, _ in rs}
OUT = sys.argv[2] if len(sys.argv) > 2 else "/tmp/bodies"
counter = [0]
lock = threading.Lock()


def resource_list(gv):
    res = [
        {
            "name": plural,
            "singularName": plural[:-1],
            "namespaced": namespaced,
            "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }
        for plural, kind, namespaced in RESOURCES[gv]
    ]
    if gv == "v1":
        res.append({"name": "serviceaccounts/token", "singularName": "", "namespaced": True, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def group_list():
    groups = []
    for gv in RESOURCES:
        if gv == "v1":
            continue
        g, v = gv.split("/")
        ver = {"groupVersion": gv, "version": v}
        groups.append({"name": g, "versions": [ver], "preferredVersion": ver})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class Handler(BaseHTTPRequestHandler):
    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return self.send_json(200, group_list())
        if path == "/api/v1":
            return self.send_json(200, resource_list("v1"))
        if path.startswith("/apis/") and path.count("/") == 3 and path[6:] in RESOURCES:
            return self.send_json(200, resource_list(path[6:]))
        parts = [p for p in path.split("/") if p]
        if OBJECTS and len(parts) >= 2:
            obj = os.path.join(OBJECTS, f"{parts[-2]}-{parts[-1]}.json")
            if os.path.exists(obj):
                return self.send_json(200, json.load(open(obj)))
        self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        plural = parts[-1]
        if plural == "token":
            plural = "token"
        with lock:
            counter[0] += 1
            n = counter[0]
        base = os.path.join(OUT, f"{n:03d}-{plural}")
        with open(base + ".pb", "wb") as fh:
            fh.write(body)
        with open(base + ".txt", "w") as fh:
            fh.write(f"{self.command} {self.path}\n{self.headers.get('Content-Type')}\n")
        gv, kind = KIND_OF.get(plural, ("v1", "Status"))
        name = parts[parts.index(plural) + 1] if plural in parts[:-1] else "x"
        self.send_json(201, {"kind": kind, "apiVersion": gv, "metadata": {"name": name, "namespace": "default"}})

    do_POST = record
    do_PUT = record

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
