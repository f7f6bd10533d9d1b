#!/usr/bin/env bash
# `vigilctl export kubernetes` on every example config and on a config with
# every key (tests/k8s/every-key.ini), with and without an image map and a
# namespace: each object must validate against the Kubernetes OpenAPI
# schemas (validate.mjs, the npm package kubernetes-models, installed by
# scripts/setup.sh into tests/k8s/node_modules). A broken config must export
# nothing and print its file:line errors.
#
#   tests/k8s/export_test.sh VIGILCTL SOURCE_DIR
# Exit 77 (SKIPPED in ctest) without node or the npm packages.
set -uo pipefail
vigilctl="$1"
src="$2"
here="$src/tests/k8s"

if ! command -v node >/dev/null; then
  echo "SKIPPED: node is not installed (scripts/setup.sh installs it)"
  exit 77
fi
if [ ! -f "$here/node_modules/kubernetes-models/package.json" ] || [ ! -f "$here/node_modules/js-yaml/package.json" ]; then
  echo "SKIPPED: kubernetes-models is not in $here/node_modules (scripts/setup.sh runs npm ci there)"
  exit 77
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

node "$here/validate.mjs" --self-test || fail "validate.mjs does not catch what it must"

n=0
for cfg in "$src"/config/examples/*.ini "$here/every-key.ini"; do
  name=$(basename "$cfg" .ini)
  for variant in plain mapped; do
    args=()
    [ "$variant" = mapped ] && args=(--namespace shop --image-map "$here/images.map")
    file="$out/$name-$variant.yaml"
    if ! "$vigilctl" export kubernetes -c "$cfg" "${args[@]}" >"$file" 2>"$out/err"; then
      fail "export of $cfg ($variant) exited $?: $(cat "$out/err")"
      continue
    fi
    node "$here/validate.mjs" "$file" || fail "$cfg ($variant) does not validate"
    n=$((n + 1))
  done
done

# The payment example: StatefulSets for both databases, the payments
# replica, Redis and its replica, the payments-db and cache Services (the
# TCP listeners' role = primary pools), one Ingress with /auth/ and
# /payments/, the services' probes and limits.
pay="$out/payment-system-mapped.yaml"
for want in 'kind: "StatefulSet"' 'name: "postgres-a"' 'name: "postgres-b"' 'name: "postgres-b-replica"' \
            'replication.vigil/replica-of: "postgres-b"' 'name: "payments-db"' 'upstream.vigil/payments-db: "true"' \
            'name: "redis"' 'name: "redis-replica"' 'replication.vigil/replica-of: "redis"' 'name: "cache"' \
            'kind: "Ingress"' \
            'path: "/auth/"' 'path: "/payments/"' 'readinessProbe:' 'memory: "512Mi"' 'namespace: "shop"' \
            'image: "registry.example.com/payment/auth-service:1.0"'; do
  grep -qF "$want" "$pay" || fail "payment-system.ini's export lacks $want"
done
[ "$(grep -c '^kind: "StatefulSet"' "$pay")" = 5 ] || fail "payment-system.ini: expected 5 StatefulSets"
[ "$(grep -c '^kind: "Ingress"' "$pay")" = 1 ] || fail "payment-system.ini: expected 1 Ingress"

# Bad input: nothing on stdout, each error as file:line, exit 1.
"$vigilctl" export kubernetes -c "$here/broken.ini" >"$out/broken.out" 2>"$out/broken.err"
rc=$?
[ "$rc" = 1 ] || fail "broken.ini: exit $rc, expected 1"
[ ! -s "$out/broken.out" ] || fail "broken.ini exported something: $(head -3 "$out/broken.out")"
grep -q "broken.ini:5: " "$out/broken.err" || fail "broken.ini: no file:line for memory_limit: $(cat "$out/broken.err")"
grep -q "broken.ini:6: " "$out/broken.err" || fail "broken.ini: no file:line for image: $(cat "$out/broken.err")"

# Usage errors: exit 2, nothing exported.
"$vigilctl" export kubernetes -c "$here/every-key.ini" --namespace Not_A_Name >"$out/u.out" 2>/dev/null
rc=$?
[ "$rc" = 2 ] && [ ! -s "$out/u.out" ] || fail "a bad --namespace: exit $rc, expected 2 and no output"
"$vigilctl" export helm -c "$here/every-key.ini" >"$out/u.out" 2>/dev/null
rc=$?
[ "$rc" = 2 ] && [ ! -s "$out/u.out" ] || fail "export helm: exit $rc, expected 2 and no output"

"$vigilctl" export kubernetes --help | grep -q "usage: vigilctl export kubernetes" || fail "export kubernetes --help"

[ "$failed" = 0 ] && echo "ok: $n exports validated, broken and usage cases refused"
exit "$failed"
