#!/usr/bin/env python3
"""A stateful Kubernetes API emulator on 127.0.0.1, for apply flows with kubernetes.core.

It serves what kubernetes.core.k8s and k8s_info use: discovery (/version, /api, /apis and each
group version's resource list), and for each served resource list (with label selectors),
create, get, replace, patch (merge, strategic merge treated as merge, JSON patch, server-side
apply as merge), delete. dryRun=All is honoured: the answer is computed, nothing is stored.
Objects get uid, resourceVersion, generation and creationTimestamp; a write that changes nothing
keeps the resourceVersion, like a real API server, and is not logged. Namespaced objects need their namespace to
exist (404 otherwise), a namespace's deletion deletes what it holds, Secret stringData becomes
data. Requests need the bearer token given at start (401 otherwise).

It does NOT validate objects against schemas (the tests do that with kubernetes-validate),
apply defaults, run admission or controllers (no pods start, `wait: true` never succeeds) or
merge lists strategically. Each write that changes the store is logged as one JSON line to --log.

    kube_api.py --port PORT --token-file FILE --log FILE [--version v1.33.5+k3s1]

Extra endpoints for tests: POST /emulator/reset empties the store.
"""

import argparse
import base64
import copy
import datetime
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# group/version -> [(plural, kind, namespaced, short names)]
RESOURCES = {
    "v1": [
        ("namespaces", "Namespace", False, ["ns"]),
        ("configmaps", "ConfigMap", True, ["cm"]),
        ("secrets", "Secret", True, []),
        ("services", "Service", True, ["svc"]),
        ("serviceaccounts", "ServiceAccount", True, ["sa"]),
        ("persistentvolumes", "PersistentVolume", False, ["pv"]),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
        ("pods", "Pod", True, ["po"]),
        ("nodes", "Node", False, ["no"]),
    ],
    "apps/v1": [
        ("deployments", "Deployment", True, ["deploy"]),
        ("statefulsets", "StatefulSet", True, ["sts"]),
        ("daemonsets", "DaemonSet", True, ["ds"]),
    ],
    "batch/v1": [
        ("jobs", "Job", True, []),
        ("cronjobs", "CronJob", True, ["cj"]),
    ],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True, []),
        ("rolebindings", "RoleBinding", True, []),
        ("clusterroles", "ClusterRole", False, []),
        ("clusterrolebindings", "ClusterRoleBinding", False, []),
    ],
    "storage.k8s.io/v1": [
        ("storageclasses", "StorageClass", False, ["sc"]),
        ("csidrivers", "CSIDriver", False, []),
    ],
    "networking.k8s.io/v1": [
        ("networkpolicies", "NetworkPolicy", True, ["netpol"]),
        ("ingresses", "Ingress", True, ["ing"]),
    ],
    "node.k8s.io/v1": [("runtimeclasses", "RuntimeClass", False, [])],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"])],
    "scheduling.k8s.io/v1": [("priorityclasses", "PriorityClass", False, ["pc"])],
    # k3s's Helm controller
    "helm.cattle.io/v1": [
        ("helmcharts", "HelmChart", True, []),
        ("helmchartconfigs", "HelmChartConfig", True, []),
    ],
}
# Namespaces a fresh k3s cluster has.
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
METADATA_KEPT_ON_UPDATE = ("uid", "creationTimestamp", "resourceVersion", "generation")


def lookup(group_version, plural):
    for name, kind, namespaced, _short_names in RESOURCES.get(group_version, []):
        if name == plural:
            return kind, namespaced
    return None


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path):
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")] if path else []


def json_patch(target, operations):
    """RFC 6902 JSON patch (add, remove, replace, test)."""
    result = copy.deepcopy(target)
    for operation in operations:
        parts = _pointer(operation["path"])
        parent = result
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        op = operation["op"]
        if op == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != operation["value"]:
                raise ValueError(f"test failed at {operation['path']}")
        elif op == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op == "add":
                    parent.insert(index, operation["value"])
                else:
                    parent[index] = operation["value"]
            else:
                parent[last] = operation["value"]
        else:
            raise ValueError(f"unsupported JSON patch operation {op}")
    return result


def selector_matches(selector, labels):
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class ApiError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


class Store:
    def __init__(self, version):
        self.lock = threading.RLock()
        self.version = version
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = {}  # (group_version, plural, namespace, name) -> object
            self.revision = 0
            for name in BUILTIN_NAMESPACES:
                self._store(("v1", "namespaces", "", name), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def _store(self, key, obj):
        self.revision += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(self.revision)
        self.objects[key] = obj
        return obj

    def get(self, key):
        obj = self.objects.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        return copy.deepcopy(obj)

    def list(self, group_version, plural, namespace, selector):
        with self.lock:
            items = [copy.deepcopy(obj) for (gv, kind, ns, _name), obj in sorted(self.objects.items())
                     if gv == group_version and kind == plural and (not namespace or ns == namespace)
                     and selector_matches(selector, obj["metadata"].get("labels") or {})]
            return items, str(self.revision)

    def check_namespace(self, namespace):
        if namespace and ("v1", "namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')

    def create(self, key, obj, dry_run):
        with self.lock:
            self.check_namespace(key[2])
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{key[1]} "{key[3]}" already exists')
            obj = normalize(obj)
            for field in ("resourceVersion", "uid", "generation", "creationTimestamp"):
                obj["metadata"].pop(field, None)
            if dry_run:
                obj["metadata"].update({"uid": str(uuid.uuid4()), "generation": 1})
                return obj
            return copy.deepcopy(self._store(key, obj))

    def update(self, key, new, dry_run, expected_version=None):
        """Replace the stored object by new (metadata the server owns is kept): (object, whether it changed)."""
        with self.lock:
            old = self.objects.get(key)
            if old is None:
                raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
            if expected_version and expected_version != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {key[1]} "{key[3]}": '
                                                "the object has been modified; please apply your changes to the latest version and try again")
            new = normalize(new)
            for field in METADATA_KEPT_ON_UPDATE:
                new["metadata"][field] = old["metadata"][field]
            if new == old:
                return copy.deepcopy(old), False
            if strip_status(new) != strip_status(old) and "spec" in new:
                new["metadata"]["generation"] = old["metadata"]["generation"] + 1
            if dry_run:
                return new, True
            return copy.deepcopy(self._store(key, new)), True

    def delete(self, key, dry_run):
        with self.lock:
            obj = self.get(key)
            if dry_run:
                return obj
            del self.objects[key]
            if key[1] == "namespaces":
                for other in [k for k in self.objects if k[2] == key[3]]:
                    del self.objects[other]
            return obj


def strip_status(obj):
    return {k: v for k, v in obj.items() if k not in ("status", "metadata")}


def normalize(obj):
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Secret" and "stringData" in obj:
        data = obj.setdefault("data", {}) or {}
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data
    obj.setdefault("metadata", {})
    return obj


PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+)(?=/))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kdsw-kube-api-emulator"

    # --- plumbing -------------------------------------------------------------------------
    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        pass

    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "yaml" in (self.headers.get("Content-Type") or ""):
            import yaml

            return yaml.safe_load(raw)
        return json.loads(raw)

    def record(self, verb, key, unchanged, code):
        """Log a write that changed the store (not a dry run, not a no-op update)."""
        if unchanged:
            return
        entry = {"verb": verb, "apiVersion": key[0], "resource": key[1], "namespace": key[2], "name": key[3], "code": code}
        with self.server.log_lock, open(self.server.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def authorized(self):
        return self.headers.get("Authorization") == f"Bearer {self.server.token}"

    def handle_any(self, verb):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if not self.authorized():
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if url.path == "/emulator/reset" and verb == "POST":
                self.server.store.reset()
                return self.send(200, {"reset": True})
            if verb == "GET":
                found = self.discovery(url.path)
                if found is not None:
                    return self.send(200, found)
            match = PATH.match(url.path)
            if not match:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            return self.resource(verb, match, query)
        except ApiError as error:
            return self.send(error.code, error.status())
        except (ValueError, KeyError, TypeError) as error:
            return self.send(400, ApiError(400, "BadRequest", str(error)).status())

    def do_GET(self):  # noqa: N802  (http.server's naming)
        self.handle_any("GET")

    def do_POST(self):  # noqa: N802
        self.handle_any("POST")

    def do_PUT(self):  # noqa: N802
        self.handle_any("PUT")

    def do_PATCH(self):  # noqa: N802
        self.handle_any("PATCH")

    def do_DELETE(self):  # noqa: N802
        self.handle_any("DELETE")

    # --- discovery ------------------------------------------------------------------------
    def discovery(self, path):
        version = self.server.store.version
        if path == "/version":
            minor = version.split(".")[1]
            return {"major": "1", "minor": minor, "gitVersion": version, "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = {}
            for group_version in RESOURCES:
                if "/" in group_version:
                    group, ver = group_version.split("/")
                    groups.setdefault(group, []).append({"groupVersion": group_version, "version": ver})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": v, "preferredVersion": v[0]} for g, v in groups.items()]}
        group_version = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):]
        if (path.startswith("/api/") or path.startswith("/apis/")) and group_version in RESOURCES:
            verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": [
                {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": verbs, "shortNames": short} for plural, kind, namespaced, short in RESOURCES[group_version]]}
        return None

    # --- resources ------------------------------------------------------------------------
    def resource(self, verb, match, query):
        group_version = match["core"] or f"{match['group']}/{match['version']}"
        plural, name, namespace = match["plural"], match["name"], match["namespace"] or ""
        found = lookup(group_version, plural)
        if not found:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({group_version} {plural})")
        kind, namespaced = found
        if namespaced != bool(namespace) and not (verb == "GET" and not name and not namespace):
            raise ApiError(404, "NotFound", f"{plural} is {'namespaced' if namespaced else 'cluster-scoped'}")
        store = self.server.store
        dry_run = query.get("dryRun") == "All"

        if verb == "GET" and not name:
            items, revision = store.list(group_version, plural, namespace, query.get("labelSelector", ""))
            return self.send(200, {"kind": f"{kind}List", "apiVersion": group_version,
                                   "metadata": {"resourceVersion": revision}, "items": items})
        if verb == "GET":
            with store.lock:
                return self.send(200, store.get((group_version, plural, namespace, name)))

        body = self.body()
        if verb == "POST" and not name:
            obj = self.checked(body, group_version, kind, namespace)
            key = (group_version, plural, namespace, obj["metadata"]["name"])
            created = store.create(key, obj, dry_run)
            self.record("create", key, dry_run, 201)
            return self.send(201, created)
        if not name:
            raise ApiError(405, "MethodNotAllowed", f"{verb} on a collection is not supported")
        key = (group_version, plural, namespace, name)
        if verb == "DELETE":
            deleted = store.delete(key, dry_run)
            self.record("delete", key, dry_run, 200)
            return self.send(200, deleted)
        if verb == "PUT":
            obj = self.checked(body, group_version, kind, namespace, name)
            updated, changed = store.update(key, obj, dry_run, obj["metadata"].get("resourceVersion"))
            self.record("update", key, dry_run or not changed, 200)
            return self.send(200, updated)
        if verb == "PATCH":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0]
            with store.lock:
                if content_type == "application/apply-patch+yaml" and key not in store.objects:
                    obj = self.checked(body, group_version, kind, namespace, name)
                    created = store.create(key, obj, dry_run)
                    self.record("create", key, dry_run, 201)
                    return self.send(201, created)
                current = store.get(key)
                if content_type == "application/json-patch+json":
                    patched = json_patch(current, body)
                elif content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                                      "application/apply-patch+yaml"):
                    patched = merge_patch(current, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")
                self.checked(patched, group_version, kind, namespace, name)
                updated, changed = store.update(key, patched, dry_run)
                self.record("patch", key, dry_run or not changed, 200)
                return self.send(200, updated)
        raise ApiError(405, "MethodNotAllowed", f"{verb} is not supported")

    @staticmethod
    def checked(obj, group_version, kind, namespace, name=None):
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        if obj.get("apiVersion") != group_version or obj.get("kind") != kind:
            raise ApiError(400, "BadRequest", f"the object is {obj.get('apiVersion')}/{obj.get('kind')}, "
                                              f"not {group_version}/{kind} as the URL says")
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            raise ApiError(422, "Invalid", f"{kind}: metadata.name: Required value")
        if name and meta["name"] != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta['name']}) does not match the URL ({name})")
        if namespace and meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the namespace of the URL")
        if namespace:
            meta["namespace"] = namespace
        obj["metadata"] = meta
        return obj


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--log", required=True, help="file to append one JSON line per write to")
    parser.add_argument("--version", default="v1.33.5+k3s1", help="the Kubernetes version /version reports")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    with open(args.token_file, encoding="utf-8") as token:
        server.token = token.read().strip()
    server.store = Store(args.version)
    server.log_path = args.log
    server.log_lock = threading.Lock()
    server.serve_forever()


if __name__ == "__main__":
    main()
