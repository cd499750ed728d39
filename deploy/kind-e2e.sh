#!/usr/bin/env bash
# End-to-end on a throwaway kind cluster (needs docker, kind and kubectl):
# build the image, deploy portcullis (deploy/portcullis.yaml, rendered from charts/portcullis)
# with the repository's policies, and check through
# kubectl that bad workloads are denied, warnings reach the user, sidecars are injected
# where namespaces opt in, and kube-system is never judged. Then switch the same Deployment
# to cluster mode (`serve --source cluster`) and check that policies, namespace labels and
# synced objects created with kubectl take effect.
#
#   deploy/kind-e2e.sh            # creates and deletes cluster "portcullis-e2e"
#   KEEP=1 deploy/kind-e2e.sh     # keep the cluster afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-portcullis-e2e}
for tool in docker kind kubectl cargo; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is required" >&2; exit 2; }
done
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  [ "${KEEP:-0}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker build -t portcullis:dev .
kind create cluster --name "$CLUSTER" --wait 120s
kind load docker-image portcullis:dev --name "$CLUSTER"

cargo run -q --release -- cert --out "$work/certs" \
  --dns-name portcullis.portcullis-system.svc \
  --dns-name portcullis.portcullis-system.svc.cluster.local >"$work/ca_bundle"
kubectl create namespace portcullis-system   # the manifests label it; the Secret goes in first
kubectl -n portcullis-system create secret tls portcullis-tls \
  --cert "$work/certs/tls.crt" --key "$work/certs/tls.key"
kubectl -n portcullis-system create configmap portcullis-policies \
  --from-file=policies/library --from-file=policies/examples --from-file=policies/examples/mutations
sed "s|CA_BUNDLE_PLACEHOLDER|$(cat "$work/ca_bundle")|" deploy/portcullis.yaml | kubectl apply -f -
kubectl -n portcullis-system rollout status deploy/portcullis --timeout=180s

fail() { echo "kind-e2e FAILED: $*" >&2; exit 1; }
expect_denied() { # manifest-file needle
  if out=$(kubectl apply -f "$1" 2>&1); then fail "$1 was admitted: $out"; fi
  grep -q "$2" <<<"$out" || fail "$1 denied without $2: $out"
  echo "ok: denied $1 ($2)"
}

kubectl create namespace production --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace production logging.example.com/ship=enabled --overwrite

cat >"$work/untrusted.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: untrusted, namespace: default}
spec:
  containers: [{name: app, image: docker.io/evil/miner:1.0, resources: {limits: {cpu: 100m, memory: 64Mi}}}]
YAML
expect_denied "$work/untrusted.yaml" "trusted-registries"

cat >"$work/good.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: production, labels: {owner: team-a}}
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.9
    resources: {limits: {cpu: 100m, memory: 64Mi}}
    readinessProbe: {tcpSocket: {port: 80}}
    livenessProbe: {tcpSocket: {port: 80}}
YAML
kubectl apply -f "$work/good.yaml"
containers=$(kubectl -n production get pod good -o jsonpath='{.spec.containers[*].name}')
[[ "$containers" == *log-shipper* ]] || fail "sidecar not injected: $containers"
echo "ok: sidecar injected ($containers)"

cat >"$work/nolabel.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: nolabel, namespace: default}
spec:
  containers: [{name: app, image: registry.k8s.io/pause:3.9, resources: {limits: {cpu: 100m, memory: 64Mi}}}]
YAML
out=$(kubectl apply -f "$work/nolabel.yaml" 2>&1)
grep -q "owner-label-warn" <<<"$out" || fail "no warning shown: $out"
echo "ok: warning shown"

kubectl -n kube-system run e2e-untouched --image=docker.io/evil/miner:1.0 --restart=Never
echo "ok: kube-system is not judged"
kubectl -n kube-system delete pod e2e-untouched --wait=false
echo "kind-e2e: file mode checks passed"

# ---- cluster mode ----------------------------------------------------------------------
# Minimal CRDs for the Gatekeeper API (open schemas: portcullis validates what it loads).
# Constraint CRDs are not among them: portcullis creates each template's (--manage-crds).
crd() { # group kind plural scope version
  cat <<YAML
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: $3.$1}
spec:
  group: $1
  scope: $4
  names: {kind: $2, listKind: $2List, plural: $3, singular: $3}
  versions:
  - name: $5
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
YAML
}
{
  crd templates.gatekeeper.sh ConstraintTemplate constrainttemplates Cluster v1
  crd config.gatekeeper.sh Config configs Namespaced v1alpha1
  crd mutations.gatekeeper.sh Assign assign Cluster v1
  crd mutations.gatekeeper.sh AssignMetadata assignmetadata Cluster v1
  crd mutations.gatekeeper.sh ModifySet modifyset Cluster v1
  crd mutations.gatekeeper.sh AssignImage assignimage Cluster v1alpha1
} >"$work/crds.yaml"
kubectl apply -f "$work/crds.yaml"
kubectl wait --for=condition=Established --timeout=60s -f "$work/crds.yaml"

# What cluster mode reads: the Gatekeeper API, namespaces, and the kinds Config syncs.
kubectl apply -f - <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: portcullis-cluster-mode}
rules:
- apiGroups: [templates.gatekeeper.sh, constraints.gatekeeper.sh, mutations.gatekeeper.sh, config.gatekeeper.sh]
  resources: ["*"]
  verbs: [get, list, watch]
- apiGroups: [templates.gatekeeper.sh]
  resources: [constrainttemplates/status]
  verbs: [get, update]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [list, watch]
# Constraint CRD management, and the Pods status garbage collection keeps entries of.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [templates.gatekeeper.sh]
  resources: [constrainttemplates/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: portcullis-cluster-mode}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: portcullis-cluster-mode}
subjects: [{kind: ServiceAccount, name: portcullis, namespace: portcullis-system}]
YAML

kubectl -n portcullis-system patch deployment portcullis --type=json -p '[
  {"op": "replace", "path": "/spec/template/spec/automountServiceAccountToken", "value": true},
  {"op": "replace", "path": "/spec/template/spec/containers/0/args", "value":
    ["serve", "--source=cluster", "--audit-interval=0", "--leader-elect=false", "--tls-cert=/certs/tls.crt", "--tls-key=/certs/tls.key", "--log-format=json"]},
  {"op": "add", "path": "/spec/template/spec/containers/0/env", "value":
    [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
     {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
]'
kubectl -n portcullis-system rollout status deploy/portcullis --timeout=180s

# Cluster changes reach every replica within a second or two: retry before failing.
eventually_denied() { # manifest-file needle
  for _ in $(seq 30); do
    if ! out=$(kubectl apply -f "$1" 2>&1); then
      grep -q "$2" <<<"$out" && { echo "ok: denied $1 ($2)"; return 0; }
    else
      kubectl delete -f "$1" --wait=false >/dev/null 2>&1 || true
    fi
    sleep 1
  done
  fail "$1 never denied with $2: $out"
}

kubectl apply -f policies/library/k8srequiredlabels.yaml
for _ in $(seq 30); do
  [ "$(kubectl get constrainttemplate k8srequiredlabels -o jsonpath='{.status.created}')" = true ] && break
  sleep 1
done
[ "$(kubectl get constrainttemplate k8srequiredlabels -o jsonpath='{.status.byPod[*].id}')" != "" ] \
  || fail "no ConstraintTemplate status written"
echo "ok: ConstraintTemplate status.created and byPod written"
# created waits for the CRD portcullis made from the template to be Established.
[ "$(kubectl get crd k8srequiredlabels.constraints.gatekeeper.sh \
    -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" = portcullis ] \
  || fail "constraint CRD not made by portcullis"
echo "ok: constraint CRD created from the template"
kubectl create namespace e2e-cluster
kubectl apply -f - <<'YAML'
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: e2e-team-label}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaceSelector: {matchLabels: {e2e-policy: enforced}}
  parameters: {labels: [{key: e2e-team}]}
YAML
cat >"$work/unlabelled.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: unlabelled, namespace: e2e-cluster, labels: {owner: team-a}}
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.9
    resources: {limits: {cpu: 100m, memory: 64Mi}}
    readinessProbe: {tcpSocket: {port: 80}}
    livenessProbe: {tcpSocket: {port: 80}}
YAML
kubectl apply -f "$work/unlabelled.yaml" && kubectl delete -f "$work/unlabelled.yaml" --wait=false
echo "ok: a namespace that has not opted in is not judged by the cluster constraint"
kubectl label namespace e2e-cluster e2e-policy=enforced
eventually_denied "$work/unlabelled.yaml" "e2e-team-label"

# A referential template over Ingresses that Config syncs into data.inventory.
kubectl apply -f - <<'YAML'
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: e2euniquehost}
spec:
  crd: {spec: {names: {kind: E2eUniqueHost}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package e2euniquehost
      violation[{"msg": msg}] {
        input.review.kind.kind == "Ingress"
        host := input.review.object.spec.rules[_].host
        other := data.inventory.namespace[ns][_]["Ingress"][name]
        other.spec.rules[_].host == host
        not same(ns, name)
        msg := sprintf("host %v is already served by ingress %v/%v", [host, ns, name])
      }
      same(ns, name) {
        ns == input.review.object.metadata.namespace
        name == input.review.object.metadata.name
      }
YAML
# Its constraint can be applied once portcullis has made the CRD.
for _ in $(seq 30); do
  kubectl get crd e2euniquehost.constraints.gatekeeper.sh >/dev/null 2>&1 && break
  sleep 1
done
kubectl wait --for=condition=Established --timeout=60s crd/e2euniquehost.constraints.gatekeeper.sh
kubectl apply -f - <<'YAML'
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: E2eUniqueHost
metadata: {name: e2e-unique-host}
spec:
  match: {kinds: [{apiGroups: [networking.k8s.io], kinds: [Ingress]}]}
---
apiVersion: config.gatekeeper.sh/v1alpha1
kind: Config
metadata: {name: config, namespace: portcullis-system}
spec:
  sync:
    syncOnly: [{group: networking.k8s.io, version: v1, kind: Ingress}]
YAML
ingress() { # namespace name
  cat <<YAML
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $2, namespace: $1}
spec:
  rules:
  - host: e2e.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
YAML
}
kubectl create namespace e2e-other
ingress e2e-cluster first >"$work/first.yaml"
ingress e2e-other second >"$work/second.yaml"
kubectl apply -f "$work/first.yaml"
eventually_denied "$work/second.yaml" "already served by ingress e2e-cluster/first"
# Deleting a template deletes its CRD (and its constraints) with it.
kubectl delete constrainttemplate e2euniquehost
for _ in $(seq 30); do
  kubectl get crd e2euniquehost.constraints.gatekeeper.sh >/dev/null 2>&1 || break
  sleep 1
done
! kubectl get crd e2euniquehost.constraints.gatekeeper.sh >/dev/null 2>&1 \
  || fail "constraint CRD left after its template was deleted"
echo "ok: constraint CRD deleted with its template"
echo "kind-e2e: all checks passed (file mode and cluster mode)"
