#!/usr/bin/env bash
# make demo: start a local cluster with a local AWS (trellis up --aws-local),
# run `trellis demo` against it (every seed example to ACTIVE, then deleted
# again with --delete), then stop the cluster. Extra demo flags: DEMO_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/trellis}
dir=$(mktemp -d)
kubeconfig="$dir/kubeconfig"
"$BIN" up --aws-local --kubeconfig-out "$kubeconfig" >"$dir/up.log" 2>&1 &
up=$!
cleanup() { kill "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
echo "demo: starting trellis up --aws-local (log: $dir/up.log)"
for _ in $(seq 1 300); do
	[ -f "$dir/aws-endpoint" ] && break
	if ! kill -0 "$up" 2>/dev/null; then cat "$dir/up.log" >&2; echo "demo: trellis up failed" >&2; exit 1; fi
	sleep 1
done
[ -f "$dir/aws-endpoint" ] || { cat "$dir/up.log" >&2; echo "demo: trellis up did not come up within 5 minutes" >&2; exit 1; }
echo "demo: cluster up; local AWS at $(cat "$dir/aws-endpoint")"
"$BIN" demo --kubeconfig "$kubeconfig" ${DEMO_ARGS:-}
