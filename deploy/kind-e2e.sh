#!/usr/bin/env bash
# End-to-end on a throwaway kind cluster (needs docker, kind and kubectl):
# build the image, deploy portcullis (deploy/portcullis.yaml, rendered from charts/portcullis)
# with the repository's policies, and check through
# kubectl that bad workloads are denied, warnings reach the user, sidecars are injected
# where namespaces opt in, and kube-system is never judged.
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
echo "kind-e2e: all checks passed"
