#!/usr/bin/env bash
# Property-based tests of the served OpenAPI document: schemathesis reads GET /openapi.json
# from a reference server (mock provider, embedded defaults but a generous rate limit, a fresh
# data folder), sends what the document allows and what it forbids, and fails on any 5xx, any
# status, content type or header the document does not list, and any body that does not match
# its schema.
#
# Every operation is tested, /openapi.json included. The upload forms get what schemathesis
# makes of `format: binary` (random bytes, now and then a tiny PNG), so they mostly exercise
# the checks made before any upstream call (images, fields, sizes); the JSON routes and the
# image links of their answers cover the success shapes. .ci/schemathesis.toml says which
# phase the edit forms skip, and why.
#
# Usage: .ci/schemathesis.sh   (from anywhere; uses $CARGO_TARGET_DIR like cargo)
# Env:   SCHEMATHESIS_SEED      seed of the run (default fixed, so CI is reproducible)
#        SCHEMATHESIS_EXAMPLES  examples per operation and phase (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
seed="${SCHEMATHESIS_SEED:-20261201}"
examples="${SCHEMATHESIS_EXAMPLES:-25}"
target="${CARGO_TARGET_DIR:-target}"

work="$(mktemp -d)"
server=""
stop() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

echo "== schemathesis $version: installing into a private virtualenv"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "schemathesis==$version"

echo "== schemathesis: building and starting artgen serve (mock provider)"
cargo build --quiet --bin artgen
artgen="$target/debug/artgen"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Embedded defaults but the per-user rate limit: schemathesis sends hundreds of requests a
# minute, which the default (60 a minute, 10 at once) would mostly answer with 429.
cat >"$work/artgen.toml" <<'EOF'
[rate_limit]
per_minute = 1000000
burst = 1000000
EOF
# A clean environment: no OPENAI_API_KEY (so the mock provider answers) and no ARTGEN_*
# settings from the caller.
clean=(env -i "PATH=$PATH" "HOME=$work" "ARTGEN_LOG=warn")
"${clean[@]}" "$artgen" serve --config "$work/artgen.toml" --data-dir "$work/data" \
  --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  if curl -fs "$base/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "artgen serve exited:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fs "$base/health" >/dev/null
key="$("${clean[@]}" "$artgen" keys create --user schemathesis --data-dir "$work/data" | tail -n1)"

# Server errors, then whether each answer (status, content type, headers, body) is one the
# document lists, whether what the document forbids is refused (so it is not stricter than
# the server), and the auth and method checks. Not `positive_data_acceptance`: which values a
# model takes is catalogue data, not something a schema can state, so valid-looking requests
# are refused (400) by design.
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance,negative_data_rejection
checks+=,missing_required_header,ignored_auth,unsupported_method,allow_header_conformance
checks+=,use_after_free,ensure_resource_availability

echo "== schemathesis: testing $base/openapi.json (seed $seed, $examples examples)"
status=0
# `--include-path-regex '^/'` selects every operation: without a filter schemathesis leaves
# out the operation that serves the document itself. The wall-clock bound is the outer
# `timeout`; `--max-examples` keeps a normal run to a few minutes. The request timeout is
# generous because the debug build's mock takes about a second per 1024x1024 image, and `n`
# goes to 10.
timeout 600 "$work/venv/bin/schemathesis" --no-color --config-file .ci/schemathesis.toml run \
  "$base/openapi.json" \
  --header "Authorization: Bearer $key" \
  --include-path-regex '^/' \
  --checks "$checks" \
  --max-examples "$examples" \
  --request-timeout 60 \
  --generation-database none \
  --seed "$seed" \
  >"$work/out.txt" 2>&1 || status=$?
cat "$work/out.txt"

if [ "$status" -eq 124 ]; then
  echo "schemathesis: FAILED (seed $seed): still running after 600 s" >&2
  exit 1
fi
# One plain line from the report's summary, e.g. "10/10 operations tested, 1176 generated,
# 1176 passed, 10 skipped".
summary="$(python3 - "$work/out.txt" <<'EOF'
import re, sys

out = open(sys.argv[1], encoding="utf-8", errors="replace").read()
tested = re.search(r"Tested:\s*(\d+)", out)
selected = re.search(r"Selected:\s*\d+/(\d+)", out)
cases = re.search(r"Test cases:\s*\n\s*(.+)", out)
print(f"{tested.group(1) if tested else '?'}/{selected.group(1) if selected else '?'} "
      f"operations tested, {cases.group(1).strip() if cases else 'no test cases'}")
EOF
)"
if [ "$status" -ne 0 ]; then
  echo "== the server's errors (last 50)" >&2
  grep -F '"level":"ERROR"' "$work/server.log" | tail -n 50 >&2 || true
  echo "schemathesis: FAILED (exit $status, seed $seed): $summary" >&2
  exit 1
fi
echo "schemathesis: passed (seed $seed): $summary"
