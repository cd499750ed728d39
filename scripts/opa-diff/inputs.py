"""Deterministic inputs for the differential corpus: objects under review and constraint
parameters. Everything is drawn from a `random.Random` seeded by the caller, so the same
seed gives the same corpus on any Python 3."""

import copy

IMAGES = [
    "nginx",
    "nginx:1.25",
    "nginx:latest",
    "docker.io/library/nginx:1.25",
    "gcr.io/google-containers/pause:3.2",
    "mcr.microsoft.com/oss/nginx/nginx:1.21",
    "quay.io/prometheus/node-exporter@sha256:" + "a" * 64,
    "registry.example.com:5000/team/app:v2",
    "openpolicyagent/opa:0.9.2",
    "exception.azurecr.io/exception-tool:1",
    "",
]


def _maybe(rng, p=0.5):
    return rng.random() < p


def _security_context(rng):
    sc = {}
    if _maybe(rng):
        sc["privileged"] = rng.choice([True, False])
    if _maybe(rng):
        sc["allowPrivilegeEscalation"] = rng.choice([True, False])
    if _maybe(rng):
        sc["runAsUser"] = rng.choice([0, 1000, 65534, 200])
    if _maybe(rng, 0.3):
        sc["runAsGroup"] = rng.choice([0, 3000])
    if _maybe(rng, 0.3):
        sc["runAsNonRoot"] = rng.choice([True, False])
    if _maybe(rng):
        sc["readOnlyRootFilesystem"] = rng.choice([True, False])
    if _maybe(rng):
        caps = {}
        if _maybe(rng):
            caps["add"] = rng.sample(["NET_ADMIN", "SYS_TIME", "CHOWN", "NET_RAW", "ALL"], rng.randint(0, 2))
        if _maybe(rng):
            caps["drop"] = rng.sample(["ALL", "NET_RAW", "KILL"], rng.randint(0, 2))
        sc["capabilities"] = caps
    if _maybe(rng, 0.3):
        sc["procMount"] = rng.choice(["Default", "Unmasked"])
    if _maybe(rng, 0.3):
        sc["seccompProfile"] = rng.choice(
            [{"type": "RuntimeDefault"}, {"type": "Unconfined"}, {"type": "Localhost", "localhostProfile": "p.json"}]
        )
    if _maybe(rng, 0.3):
        sc["seLinuxOptions"] = rng.choice([{"level": "s0:c123,c456"}, {"user": "system_u", "role": "r", "type": "t"}])
    if _maybe(rng, 0.2):
        sc["windowsOptions"] = {"runAsUserName": rng.choice(["ContainerAdministrator", "ContainerUser"])}
    return sc


def _resources(rng):
    r = {}
    for part in ("limits", "requests"):
        if _maybe(rng, 0.6):
            v = {}
            if _maybe(rng, 0.8):
                v["cpu"] = rng.choice(["100m", "500m", "1", "2", "1.5", 2, "4000m", "0.1", "abc"])
            if _maybe(rng, 0.8):
                v["memory"] = rng.choice(["64Mi", "1Gi", "512M", "2G", "128974848", 1024, "1.5Gi", "1e3", "3Ki"])
            r[part] = v
    return r


def _container(rng, i):
    c = {"name": f"c{i}", "image": rng.choice(IMAGES)}
    if _maybe(rng, 0.9):
        sc = _security_context(rng)
        if sc:
            c["securityContext"] = sc
    if _maybe(rng, 0.7):
        c["resources"] = _resources(rng)
    if _maybe(rng, 0.4):
        c["ports"] = [
            {"containerPort": rng.choice([80, 443, 8080, 22]), **({"hostPort": rng.choice([80, 8080, 9000])} if _maybe(rng) else {})}
            for _ in range(rng.randint(1, 2))
        ]
    if _maybe(rng, 0.4):
        c["imagePullPolicy"] = rng.choice(["Always", "IfNotPresent", "Never"])
    for probe in ("livenessProbe", "readinessProbe"):
        if _maybe(rng, 0.3):
            c[probe] = rng.choice([{"tcpSocket": {"port": 80}}, {"httpGet": {"path": "/", "port": 80}}, {}])
    if _maybe(rng, 0.3):
        c["volumeMounts"] = [{"name": "v0", "mountPath": "/data", "readOnly": rng.choice([True, False])}]
    return c


def _volumes(rng):
    choices = [
        {"name": "v0", "hostPath": {"path": rng.choice(["/var/log", "/tmp/x", "/", "/foo"])}},
        {"name": "v0", "emptyDir": {}},
        {"name": "v0", "configMap": {"name": "cm"}},
        {"name": "v0", "flexVolume": {"driver": rng.choice(["example/lvm", "other/driver"])}},
        {"name": "v0", "csi": {"driver": rng.choice(["disk.csi.azure.com", "secrets-store.csi.k8s.io"])}},
        {"name": "v0", "secret": {"secretName": "s"}},
    ]
    return [rng.choice(choices)]


def pod_spec(rng):
    spec = {"containers": [_container(rng, i) for i in range(rng.randint(1, 3))]}
    if _maybe(rng, 0.3):
        spec["initContainers"] = [_container(rng, 10)]
    if _maybe(rng, 0.15):
        spec["ephemeralContainers"] = [_container(rng, 20)]
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if _maybe(rng, 0.25):
            spec[f] = rng.choice([True, False])
    if _maybe(rng, 0.4):
        spec["volumes"] = _volumes(rng)
    if _maybe(rng, 0.4):
        psc = {}
        if _maybe(rng):
            psc["runAsUser"] = rng.choice([0, 1000])
        if _maybe(rng):
            psc["fsGroup"] = rng.choice([0, 2000])
        if _maybe(rng):
            psc["supplementalGroups"] = rng.sample([1, 500, 3000], rng.randint(1, 2))
        if _maybe(rng, 0.3):
            psc["sysctls"] = [{"name": rng.choice(["kernel.shm_rmid_forced", "net.core.somaxconn", "kernel.msgmax"]), "value": "1"}]
        if _maybe(rng, 0.3):
            psc["seccompProfile"] = {"type": rng.choice(["RuntimeDefault", "Unconfined"])}
        spec["securityContext"] = psc
    if _maybe(rng, 0.3):
        spec["automountServiceAccountToken"] = rng.choice([True, False])
    if _maybe(rng, 0.3):
        spec["serviceAccountName"] = rng.choice(["default", "builder"])
    if _maybe(rng, 0.2):
        spec["nodeSelector"] = {"kubernetes.io/os": rng.choice(["windows", "linux"])}
    if _maybe(rng, 0.2):
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname"}]}}
    return spec


def _metadata(rng, name, namespace):
    m = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    if _maybe(rng, 0.7):
        m["labels"] = dict(rng.sample([("app", "web"), ("owner", "team-a"), ("env", "prod"), ("team", "x y"), ("app", "API")], rng.randint(1, 3)))
    if _maybe(rng, 0.5):
        m["annotations"] = dict(
            rng.sample(
                [
                    ("container.apparmor.security.beta.kubernetes.io/c0", rng.choice(["runtime/default", "unconfined", "localhost/p"])),
                    ("seccomp.security.alpha.kubernetes.io/pod", rng.choice(["runtime/default", "docker/default", "unconfined"])),
                    ("kubernetes.io/ingress.allow-http", rng.choice(["false", "true"])),
                    ("owner", "me"),
                ],
                rng.randint(1, 2),
            )
        )
    return m


def objects(rng, count):
    """`count` varied objects of the kinds Gatekeeper policies look at, then fixed edge
    cases (missing fields, empty arrays, wrong types)."""
    out = []
    makers = ["pod", "pod", "pod", "pod", "deployment", "ingress", "service", "namespace", "other"]
    for n in range(count):
        what = makers[n % len(makers)]
        ns = rng.choice(["default", "team-a", "kube-system"])
        name = f"{what}-{n}"
        if what == "pod":
            out.append({"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(rng, name, ns), "spec": pod_spec(rng)})
        elif what == "deployment":
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": _metadata(rng, name, ns),
                    "spec": {
                        "replicas": rng.choice([1, 3, 50]),
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec(rng)},
                    },
                }
            )
        elif what == "ingress":
            api = rng.choice(["networking.k8s.io/v1", "extensions/v1beta1"])
            host = rng.choice(["example.com", "*.example.com", "shop.example.com", ""])
            spec = {"rules": [{"host": host, "http": {"paths": [{"path": "/", "backend": {"serviceName": "s", "servicePort": 80}}]}}]}
            if _maybe(rng):
                spec["tls"] = [{"hosts": [host], "secretName": "tls"}] if _maybe(rng) else []
            out.append({"apiVersion": api, "kind": "Ingress", "metadata": _metadata(rng, name, ns), "spec": spec})
        elif what == "service":
            spec = {
                "type": rng.choice(["ClusterIP", "NodePort", "LoadBalancer"]),
                "selector": rng.choice([{"app": "web"}, {"app": "db"}, {}]),
                "ports": [{"port": rng.choice([80, 443, 22, 8080]), **({"nodePort": 30080} if _maybe(rng) else {})}],
            }
            if _maybe(rng, 0.3):
                spec["externalIPs"] = rng.sample(["203.0.113.5", "10.0.0.4"], rng.randint(1, 2))
            if _maybe(rng, 0.3):
                spec["loadBalancerIP"] = "20.1.2.3"
            meta = _metadata(rng, name, ns)
            if _maybe(rng, 0.3):
                meta.setdefault("annotations", {})["service.beta.kubernetes.io/azure-load-balancer-internal"] = rng.choice(["true", "false"])
            out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
        elif what == "namespace":
            out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(rng, rng.choice(["default", "team-a", "prod"]), None)})
        else:
            out.append(
                rng.choice(
                    [
                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _metadata(rng, name, ns), "data": {"k": "v"}},
                        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(rng, name, ns), "spec": {"maxUnavailable": rng.choice([0, 1]), "selector": {"matchLabels": {"app": "web"}}}},
                        {"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication", "metadata": _metadata(rng, name, ns), "spec": {"mtls": {"mode": rng.choice(["STRICT", "PERMISSIVE", "DISABLE"])}}},
                        {"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy", "metadata": _metadata(rng, name, ns), "spec": {"rules": [{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b", "*"]}}]}]}},
                        {"apiVersion": "v1", "kind": "Node", "metadata": _metadata(rng, name, None), "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}},
                    ]
                )
            )
    out.extend(edge_cases())
    return out


def edge_cases():
    """Objects whose shape policies often forget: each one a documented oddity."""
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-spec", "namespace": "default"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty-containers", "namespace": "default"}, "spec": {"containers": []}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "containers-not-a-list", "namespace": "default"}, "spec": {"containers": "nginx"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "null-fields", "namespace": "default", "labels": None}, "spec": {"securityContext": None, "containers": [{"name": "c", "image": "nginx", "securityContext": None, "resources": None}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wrong-types", "namespace": "default", "labels": {"app": 7}}, "spec": {"hostNetwork": "true", "containers": [{"name": 3, "image": 42, "securityContext": {"privileged": "true", "runAsUser": "0", "capabilities": {"add": "NET_ADMIN"}}, "resources": {"limits": {"cpu": 2, "memory": 1024}}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-no-ports", "namespace": "default"}, "spec": {"type": "LoadBalancer"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing-empty", "namespace": "default"}, "spec": {"rules": [], "tls": []}},
        # Numbers written as floats (1000.0 is 1000 to OPA, and prints so), fractions, a
        # integer beyond 2^53, and quantities in every notation Kubernetes accepts.
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "float-numbers", "namespace": "default", "labels": {"app": ""}}, "spec": {"securityContext": {"runAsUser": 1000.0, "fsGroup": 2000.0}, "containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80.0, "hostPort": 8080.0}], "securityContext": {"runAsUser": 0.0, "runAsGroup": 9007199254740993}, "resources": {"limits": {"cpu": 0.5, "memory": "1.5Gi"}, "requests": {"cpu": "250m", "memory": "1e3"}}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "quantities", "namespace": "default"}, "spec": {"containers": [{"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1000m", "memory": "1Ki"}, "requests": {"cpu": "0.001", "memory": "1M"}}}, {"name": "b", "image": "nginx", "resources": {"limits": {"cpu": "+1", "memory": "1E"}, "requests": {"cpu": "1e-3", "memory": "0"}}}, {"name": "c", "image": "nginx", "resources": {"limits": {"cpu": "", "memory": "12345678901234567890"}}}]}},
        # Containers without a name or without an image.
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unnamed-containers", "namespace": "default"}, "spec": {"containers": [{"image": "nginx:1", "securityContext": {"privileged": True}}, {"name": "no-image"}]}},
        # Duplicate container names, a string port, an image with unicode and upper case.
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd-strings", "namespace": "default", "annotations": {"owner": "Zoë %s %v"}}, "spec": {"containers": [{"name": "dup", "image": "Registry.Example.com/Ngïnx:1", "ports": [{"containerPort": "80", "hostPort": "8080"}]}, {"name": "dup", "image": "nginx@sha256:" + "b" * 64, "securityContext": {"capabilities": {"add": [], "drop": []}}}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "deploy-floats", "namespace": "team-a"}, "spec": {"replicas": 3.0, "template": {"spec": {"containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-float-port", "namespace": "default"}, "spec": {"type": "NodePort", "ports": [{"port": 443.0, "nodePort": 30443}, {"port": -1}], "externalIPs": []}},
    ]


def review_of(obj, rng, n):
    """The `input.review` Gatekeeper builds for an AdmissionRequest about `obj`: operation
    CREATE mostly, UPDATE (with an oldObject) and DELETE (the old object judged as
    `object`, as Gatekeeper's webhook does) now and then."""
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    meta = obj.get("metadata") or {}
    review = {
        "uid": f"uid-{n}",
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "name": meta.get("name", "") if isinstance(meta.get("name", ""), str) else "",
        "operation": "CREATE",
        "userInfo": rng.choice(
            [
                {"username": "alice", "groups": ["system:authenticated"]},
                {"username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"]},
                {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
            ]
        ),
        "object": obj,
    }
    if isinstance(meta.get("namespace"), str) and meta["namespace"]:
        review["namespace"] = meta["namespace"]
    roll = rng.random()
    if roll < 0.15:
        old = copy.deepcopy(obj)
        old.setdefault("metadata", {})["labels"] = {"app": "old"}
        review["operation"] = "UPDATE"
        review["oldObject"] = old
    elif roll < 0.2:
        review["operation"] = "DELETE"
        review["oldObject"] = obj
    return review


# Parameter vocabulary by words in the parameter's name, so that generated constraints
# both match and miss the generated objects.
_STRINGS = [
    (("regex", "pattern"), ["^[a-z]+$", "^nginx.*", ".*", "^(docker.io|gcr.io)/.*"]),
    (("repo", "registr", "image", "prefix"), ["docker.io/", "gcr.io/", "nginx", "mcr.microsoft.com/", "openpolicyagent/"]),
    (("capabilit",), ["NET_ADMIN", "SYS_TIME", "CHOWN", "ALL", "*"]),
    (("path",), ["/var/log", "/tmp", "/", "/foo"]),
    (("profile", "seccomp", "apparmor"), ["runtime/default", "docker/default", "unconfined", "localhost/*", "RuntimeDefault", "*"]),
    (("cidr", "ip"), ["10.0.0.0/8", "203.0.113.5", "192.168.1.1"]),
    (("cpu",), ["500m", "2", "1"]),
    (("memory", "mem"), ["1Gi", "512Mi", "2G"]),
    (("ratio",), ["2", "1.5"]),
    (("sysctl",), ["kernel.msgmax", "net.*", "*", "kernel.shm_rmid_forced"]),
    (("volume", "fstype"), ["hostPath", "emptyDir", "configMap", "*", "secret"]),
    (("driver",), ["example/lvm", "disk.csi.azure.com"]),
    (("host", "domain"), ["example.com", "*.example.com"]),
    (("tag",), ["latest", "testing"]),
    (("pullpolicy", "policy"), ["Always", "IfNotPresent"]),
    (("namespace",), ["default", "kube-system", "team-a"]),
    (("label", "key", "annotation"), ["app", "owner", "team"]),
    (("message",), ["fix it"]),
    (("user", "group", "name"), ["ContainerAdministrator", "system:anonymous", "alice", "builder"]),
    (("mode",), ["STRICT", "PERMISSIVE"]),
    (("type", "kind"), ["LoadBalancer", "NodePort", "Pod"]),
]


def _string_for(name, rng):
    low = name.lower()
    for words, values in _STRINGS:
        if any(w in low for w in words):
            return rng.choice(values)
    return rng.choice(["example", "default", "web"])


def _number_for(name, rng):
    low = name.lower()
    if "port" in low:
        return rng.choice([80, 443, 8080, 30080])
    if low == "min" or low.startswith("min"):
        return rng.choice([0, 1, 100])
    if low == "max" or low.startswith("max"):
        return rng.choice([1, 3, 1000, 65535])
    return rng.choice([0, 1, 2, 100])


def value_for(schema, name, rng, full):
    """A value that fits `schema` (an openAPIV3Schema node). `full` fills every property;
    otherwise each is kept with probability one half."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema and schema["enum"]:
        return rng.choice(schema["enum"])
    t = schema.get("type")
    if t is None and "properties" in schema:
        t = "object"
    if t is None and "items" in schema:
        t = "array"
    if t == "string":
        return _string_for(name, rng)
    if t == "integer":
        return _number_for(name, rng)
    if t == "number":
        return _number_for(name, rng)
    if t == "boolean":
        return rng.choice([True, False])
    if t == "array":
        items = schema.get("items", {"type": "string"})
        return [value_for(items, name, rng, full) for _ in range(rng.randint(1, 3))]
    if t == "object":
        props = schema.get("properties") or {}
        out = {}
        for key in sorted(props):
            if full or _maybe(rng):
                v = value_for(props[key], key, rng, full)
                if v is not None:
                    out[key] = v
        return out
    return None
