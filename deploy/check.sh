#!/usr/bin/env bash
# Validates deploy/: YAML and JSON parse, HAProxy configs (haproxy -c),
# Prometheus rules and config (promtool), Kubernetes manifests (key fields;
# with --k8s-strict a strict decode into the k8s.io/api types), that every
# findash_* metric the dashboard and alerts use is defined in the Go code,
# and with --smoke a live run: two findash instances behind HAProxy.
#
#   bash deploy/check.sh                     # static checks
#   bash deploy/check.sh --smoke [BIN]       # + live HAProxy smoke (builds findash unless BIN)
#   bash deploy/check.sh --k8s-strict        # + typed k8s check (downloads k8s.io/api via the Go proxy)
#
# A missing tool prints "skipped: <tool> not installed" and that check is
# skipped; a real error fails the script. Ends with "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"
DEPLOY=$PWD
ROOT=$(cd .. && pwd)
export PATH=/usr/local/go/bin:$PATH

SMOKE=0 STRICT=0 BIN=""
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1; if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then BIN=$2; shift; fi ;;
    --k8s-strict) STRICT=1 ;;
    *) echo "usage: $0 [--smoke [FINDASH_BIN]] [--k8s-strict]" >&2; exit 2 ;;
  esac
  shift
done

passed=0 failed=0 skipped=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skipped: $*"; skipped=$((skipped + 1)); }
have() { command -v "$1" >/dev/null 2>&1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- YAML / JSON ------------------------------------------------------------------
if have python3 && python3 -c 'import yaml' 2>/dev/null; then
  out=$(python3 - "$DEPLOY" <<'PY' 2>&1
import json, pathlib, sys, yaml
root = pathlib.Path(sys.argv[1]); bad = 0
for p in sorted(list(root.rglob("*.yaml")) + list(root.rglob("*.yml"))):
    try:
        list(yaml.safe_load_all(p.read_text()))
    except Exception as e:
        print(f"{p}: {e}"); bad += 1
for p in sorted(root.rglob("*.json")):
    try:
        json.loads(p.read_text())
    except Exception as e:
        print(f"{p}: {e}"); bad += 1
sys.exit(1 if bad else 0)
PY
  ) && pass "YAML and JSON parse" || fail "YAML/JSON: $out"
else
  skip "python3-yaml not installed (YAML parse, compose and k8s field checks)"
fi

# --- compose files: the contract's configuration ------------------------------------
if have python3 && python3 -c 'import yaml' 2>/dev/null; then
  out=$(python3 - "$DEPLOY" <<'PY' 2>&1
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1]); errs = []
def env_of(svc):
    e = svc.get("environment") or {}
    return e if isinstance(e, dict) else dict(x.split("=", 1) for x in e)
for name, want_fd in (("stage2.yaml", 1), ("stage3.yaml", 3)):
    d = yaml.safe_load((root / "compose" / name).read_text())
    svcs = d["services"]
    fd = {k: v for k, v in svcs.items() if k.startswith("findash")}
    if len(fd) != want_fd: errs.append(f"{name}: {len(fd)} findash services, want {want_fd}")
    for k, v in fd.items():
        env = env_of(v)
        for key in ("FINDASH_DATABASE_URL", "FINDASH_REDIS_URL", "FINDASH_HTTP_ADDR", "FINDASH_ADMIN_ADDR"):
            if key not in env: errs.append(f"{name}/{k}: no {key}")
        db = env.get("FINDASH_DATABASE_URL", "")
        if "pgbouncer" not in db or "default_query_exec_mode=" not in db:
            errs.append(f"{name}/{k}: FINDASH_DATABASE_URL must go through PgBouncer with default_query_exec_mode")
        if "/readyz" not in " ".join(v.get("healthcheck", {}).get("test", [])): errs.append(f"{name}/{k}: healthcheck not on /readyz")
        if name == "stage3.yaml":
            for key, want in (("FINDASH_TRUST_PROXY", "true"), ("FINDASH_STREAM_REPLICAS", "3")):
                if str(env.get(key)) != want: errs.append(f"{name}/{k}: {key}={env.get(key)!r}, want {want}")
            if len(env.get("FINDASH_NATS_URL", "").split(",")) != 3: errs.append(f"{name}/{k}: FINDASH_NATS_URL is not a 3-node list")
            if not env.get("FINDASH_DATABASE_REPLICA_URLS"): errs.append(f"{name}/{k}: no FINDASH_DATABASE_REPLICA_URLS")
    for k, v in svcs.items():
        for dep in (v.get("depends_on") or {}):
            if dep not in svcs: errs.append(f"{name}/{k}: depends on unknown service {dep}")
    for k, v in svcs.items():
        for vol in v.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                if not (root / "compose" / src).exists(): errs.append(f"{name}/{k}: mounts missing {src}")
            elif src not in (d.get("volumes") or {}): errs.append(f"{name}/{k}: undeclared volume {src}")
print("\n".join(errs)); sys.exit(1 if errs else 0)
PY
  ) && pass "compose files (services, env, healthchecks, volumes)" || fail "compose: $out"
fi
if have docker && docker compose version >/dev/null 2>&1; then
  for f in compose/stage2.yaml compose/stage3.yaml; do
    docker compose -f "$f" config -q && pass "docker compose config $f" || fail "docker compose config $f"
  done
else
  skip "docker compose not installed (compose schema check)"
fi

# --- HAProxy ----------------------------------------------------------------------
render_haproxy() { # front stats b1 b2 [b3]
  if [ -n "${5:-}" ]; then
    sed -e "s/{{FRONT_PORT}}/$1/g; s/{{STATS_PORT}}/$2/g; s/{{BACKEND_1}}/$3/g; s/{{BACKEND_2}}/$4/g; s/{{BACKEND_3}}/$5/g" haproxy/haproxy-test.cfg.tmpl
  else
    sed -e "s/{{FRONT_PORT}}/$1/g; s/{{STATS_PORT}}/$2/g; s/{{BACKEND_1}}/$3/g; s/{{BACKEND_2}}/$4/g; /{{BACKEND_3}}/d" haproxy/haproxy-test.cfg.tmpl
  fi
}
if have haproxy; then
  # haproxy.cfg names docker hosts (findash-1…): unresolvable here is a warning only.
  out=$(haproxy -c -f haproxy/haproxy.cfg 2>&1) && pass "haproxy -c haproxy.cfg" || fail "haproxy.cfg: $out"
  render_haproxy 18080 18404 127.0.0.1:18081 127.0.0.1:18082 127.0.0.1:18083 >"$TMP/t3.cfg"
  render_haproxy 18080 18404 127.0.0.1:18081 127.0.0.1:18082 >"$TMP/t2.cfg"
  if grep -q '{{' "$TMP/t3.cfg"; then fail "haproxy-test.cfg.tmpl: placeholders left after rendering"; fi
  out=$(haproxy -c -f "$TMP/t3.cfg" 2>&1 && haproxy -c -f "$TMP/t2.cfg" 2>&1) && pass "haproxy -c haproxy-test.cfg.tmpl (3 and 2 backends)" || fail "haproxy-test.cfg.tmpl: $out"
else
  skip "haproxy not installed"
fi

# --- Prometheus -------------------------------------------------------------------
if have promtool; then
  out=$(promtool check rules prometheus/alerts.yaml 2>&1) && pass "promtool check rules" || fail "alerts.yaml: $out"
  out=$(promtool check config prometheus/prometheus.yml 2>&1) && pass "promtool check config (as shipped)" || fail "prometheus.yml: $out"
else
  skip "promtool not installed (Debian: prometheus)"
fi
if have python3 && python3 -c 'import yaml' 2>/dev/null; then
  out=$(python3 - "$DEPLOY" <<'PY' 2>&1
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
a = yaml.safe_load((root / "prometheus/alerts.yaml").read_text())["groups"]
b = yaml.safe_load((root / "k8s/optional/prometheusrule.yaml").read_text())["spec"]["groups"]
sys.exit(0 if a == b else "k8s/optional/prometheusrule.yaml differs from prometheus/alerts.yaml")
PY
  ) && pass "PrometheusRule matches alerts.yaml" || fail "$out"
fi

# --- metric names used by dashboard + alerts exist in the code ------------------------
used=$(grep -ohE 'findash_[a-z0-9_]+' grafana/findash.json prometheus/alerts.yaml k8s/hpa.yaml k8s/optional/prometheus-adapter-rules.yaml |
  sed -E 's/_(bucket|count|sum)$//' | grep -v '^findash_(config|secrets)$' | sort -u)
missing=""
for m in $used; do
  grep -rqF "\"$m\"" "$ROOT/internal" "$ROOT/cmd" --include='*.go' || missing="$missing $m"
done
[ -z "$missing" ] && pass "metric names defined in the Go code ($(echo $used | wc -w) names)" || fail "metrics not defined in internal/ or cmd/:$missing"

# --- Kubernetes -------------------------------------------------------------------
if have python3 && python3 -c 'import yaml' 2>/dev/null; then
  out=$(python3 - "$DEPLOY/k8s" <<'PY' 2>&1
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1]); errs = []
k = yaml.safe_load((root / "kustomization.yaml").read_text())
docs = []
for r in k["resources"]:
    if not (root / r).exists(): errs.append(f"kustomization: missing {r}"); continue
    docs += [d for d in yaml.safe_load_all((root / r).read_text()) if d]
for d in docs:
    for f in ("apiVersion", "kind", "metadata"):
        if f not in d: errs.append(f"{d.get('kind')}: no {f}")
kinds = {}
for d in docs: kinds.setdefault(d["kind"], []).append(d)
roles = {"ingest", "gateway", "api", "worker"}
deps = {d["metadata"]["name"]: d for d in kinds.get("Deployment", [])}
for role in roles:
    d = deps.get(f"findash-{role}")
    if not d: errs.append(f"no Deployment findash-{role}"); continue
    spec = d["spec"]["template"]["spec"]; c = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    if env.get("FINDASH_ROLES") != role: errs.append(f"{role}: FINDASH_ROLES={env.get('FINDASH_ROLES')}")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz": errs.append(f"{role}: readiness not /readyz")
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/livez": errs.append(f"{role}: liveness not /livez")
    if "startupProbe" not in c: errs.append(f"{role}: no startupProbe")
    if "preStop" not in c.get("lifecycle", {}): errs.append(f"{role}: no preStop")
    if not spec.get("securityContext", {}).get("runAsNonRoot"): errs.append(f"{role}: not runAsNonRoot")
    if not c.get("securityContext", {}).get("readOnlyRootFilesystem"): errs.append(f"{role}: root fs writable")
    if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}): errs.append(f"{role}: no resources")
    if d["spec"]["selector"]["matchLabels"] != d["spec"]["template"]["metadata"]["labels"]: errs.append(f"{role}: selector != template labels")
    pre = c["lifecycle"]["preStop"].get("sleep", {}).get("seconds", 0)
    if spec.get("terminationGracePeriodSeconds", 30) <= 30 + pre: errs.append(f"{role}: terminationGracePeriodSeconds must exceed preStop + FINDASH_SHUTDOWN_TIMEOUT (30s)")
hpas = {h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in kinds.get("HorizontalPodAutoscaler", [])}
for role in ("gateway", "api", "ingest"):
    h = hpas.get(f"findash-{role}")
    if not h or h["minReplicas"] < 2 or h["maxReplicas"] < 10: errs.append(f"{role}: HPA min < 2 or max < 10")
if "findash-worker" in hpas: errs.append("worker: an HPA adds duplicate workers while every worker reads the whole log")
pdbsel = [p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") for p in kinds.get("PodDisruptionBudget", [])]
for role in roles:
    if role not in pdbsel: errs.append(f"{role}: no PodDisruptionBudget")
cm = {c["metadata"]["name"]: c["data"] for c in kinds.get("ConfigMap", [])}.get("findash-config", {})
if cm.get("FINDASH_STREAM_REPLICAS") != "3": errs.append("configmap: FINDASH_STREAM_REPLICAS != 3")
if not cm.get("FINDASH_ADMIN_ADDR", "").startswith("127.0.0.1:"): errs.append("configmap: the admin listener (pprof) must be on loopback")
if not any(n["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "findash" for n in kinds.get("NetworkPolicy", [])):
    errs.append("no NetworkPolicy selecting the findash pods")
dockerfile = (root.parent / "Dockerfile").read_text()
if "FINDASH_ADMIN_ADDR=127.0.0.1:" not in dockerfile: errs.append("Dockerfile: the admin listener (pprof) must be on loopback")
svcs = {s["metadata"]["name"] for s in kinds.get("Service", [])}
for ing in kinds.get("Ingress", []):
    for rule in ing["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["backend"]["service"]["name"] not in svcs: errs.append(f"ingress: unknown service {p['backend']['service']['name']}")
print("\n".join(errs)); sys.exit(1 if errs else 0)
PY
  ) && pass "k8s manifests (kustomization, probes, preStop, HPA, PDB, securityContext, admin on loopback, NetworkPolicy)" || fail "k8s: $out"
fi
if have kustomize; then
  kustomize build k8s >/dev/null && pass "kustomize build" || fail "kustomize build"
elif have kubectl; then
  kubectl kustomize k8s >/dev/null && pass "kubectl kustomize" || fail "kubectl kustomize"
else
  skip "kustomize/kubectl not installed (kustomize build)"
fi
if [ "$STRICT" = 1 ]; then
  mkdir -p "$TMP/k8scheck" && cat >"$TMP/k8scheck/main.go" <<'GO'
// Command k8scheck decodes manifests strictly into the k8s.io/api types.
package main

import (
	"bytes"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	bad := 0
	for _, f := range os.Args[1:] {
		b, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var meta struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
				continue
			}
			objs := map[string]any{
				"apps/v1/Deployment": &appsv1.Deployment{}, "autoscaling/v2/HorizontalPodAutoscaler": &autoscalingv2.HorizontalPodAutoscaler{},
				"batch/v1/Job": &batchv1.Job{}, "v1/Service": &corev1.Service{}, "v1/ConfigMap": &corev1.ConfigMap{},
				"v1/Secret": &corev1.Secret{}, "v1/Namespace": &corev1.Namespace{},
				"networking.k8s.io/v1/Ingress": &networkingv1.Ingress{}, "networking.k8s.io/v1/NetworkPolicy": &networkingv1.NetworkPolicy{},
				"policy/v1/PodDisruptionBudget": &policyv1.PodDisruptionBudget{},
			}
			obj, ok := objs[meta.APIVersion+"/"+meta.Kind]
			if !ok {
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				fmt.Printf("%s#%d %s: %v\n", f, i, meta.Kind, err)
				bad++
			}
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
GO
  if (cd "$TMP/k8scheck" && go mod init k8scheck >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go get k8s.io/api@latest sigs.k8s.io/yaml@latest >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go build -o "$TMP/k8scheck.bin" . 2>&1); then
    out=$("$TMP/k8scheck.bin" k8s/*.yaml 2>&1) && pass "k8s strict decode into k8s.io/api types" || fail "k8s strict: $out"
  else
    skip "k8s.io/api not downloadable (--k8s-strict)"
  fi
fi

# --- live smoke: two findash instances behind HAProxy -------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; return 1
}
server_state() { # stats_port backend server
  curl -s "http://127.0.0.1:$1/stats;csv" | awk -F, -v b="$2" -v s="$3" '$1==b && $2==s {print $18}'
}
if [ "$SMOKE" = 1 ]; then
  if ! have haproxy; then skip "haproxy not installed (smoke)"
  elif ! have curl || ! have python3; then skip "curl/python3 not installed (smoke)"
  else
    if [ -z "$BIN" ]; then
      BIN=$TMP/findash
      (cd "$ROOT" && go build -o "$BIN" ./cmd/findash) || { fail "go build ./cmd/findash"; BIN=""; }
    fi
    if [ -n "$BIN" ]; then
      FRONT=$(free_port) STATS=$(free_port)
      declare -a HP AP
      for i in 1 2; do
        HP[$i]=$(free_port); AP[$i]=$(free_port)
        FINDASH_LOG_FORMAT=json FINDASH_TRUST_PROXY=true "$BIN" serve --data-dir "$TMP/data$i" \
          --http-addr "127.0.0.1:${HP[$i]}" --admin-addr "127.0.0.1:${AP[$i]}" >"$TMP/findash$i.log" 2>&1 &
        PIDS+=($!); eval "FD$i=$!"
      done
      render_haproxy "$FRONT" "$STATS" "127.0.0.1:${HP[1]}" "127.0.0.1:${HP[2]}" >"$TMP/haproxy.cfg"
      haproxy -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
      PIDS+=($!)
      ok=1
      for i in 1 2; do wait_http "http://127.0.0.1:${HP[$i]}/readyz" 30 || { fail "findash $i not ready (log: $(tail -3 "$TMP/findash$i.log"))"; ok=0; }; done
      if [ $ok = 1 ]; then
        for _ in $(seq 1 50); do
          [ "$(server_state "$STATS" findash_http findash-1)$(server_state "$STATS" findash_http findash-2)" = UPUP ] && break; sleep 0.1
        done
        [ "$(server_state "$STATS" findash_http findash-1)$(server_state "$STATS" findash_http findash-2)" = UPUP ] &&
          pass "smoke: HAProxy sees both instances UP" || fail "smoke: instances not UP in HAProxy"
        codes=$(for _ in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$FRONT/api/v1/quotes?symbols=BTC-USD"; done)
        [ "$codes" = "200 200 200 200 " ] && pass "smoke: /api/v1/quotes through HAProxy ($codes)" || fail "smoke: quotes through HAProxy: $codes"
        timeout 2 curl -sv --no-buffer -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
          -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "http://127.0.0.1:$FRONT/ws" >/dev/null 2>"$TMP/ws.err"
        grep -q '< HTTP/1.1 101' "$TMP/ws.err" && pass "smoke: WebSocket upgrade through HAProxy (101)" || fail "smoke: ws upgrade: $(grep '^<' "$TMP/ws.err" | head -1)"
        t0=$(date +%s%N); kill -TERM "$FD2"
        down=""
        for _ in $(seq 1 40); do
          [ "$(server_state "$STATS" findash_http findash-2)" != UP ] && { down=$(( ($(date +%s%N) - t0) / 1000000 )); break; }
          sleep 0.05
        done
        [ -n "$down" ] && [ "$down" -le 2000 ] && pass "smoke: SIGTERMed instance marked DOWN after ${down} ms" || fail "smoke: not marked DOWN within 2 s"
        codes=$(for _ in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$FRONT/api/v1/quotes?symbols=BTC-USD"; done)
        [ "$codes" = "200 200 200 200 " ] && pass "smoke: requests keep answering 200 with one instance gone" || fail "smoke: after drain: $codes"
        if wait "$FD2"; then pass "smoke: drained instance exited 0"; else fail "smoke: drained instance exit code $?"; fi
      fi
    fi
  fi
fi

echo
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
