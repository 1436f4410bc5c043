#!/usr/bin/env bash
# HTTP ingest load benchmark (not a test): starts a noida-db broker and a
# release `lap-ingest`, then drives `POST /xapi/statements` with wrk, each
# request an array of 100 realistic statements (~1 KB each) under HTTP Basic
# auth. A 200 means the batch is durable in the raw topic (acks=all), so
# statements/s = 2xx requests/s x 100; the script then counts the raw topic's
# records to confirm it. Everything (wrk, broker, ingest's HTTP side and its
# raw -> events consumer) shares this machine's cores, as it would on one node.
#
#   bash benches/http_ingest.sh            # DURATION=20 CONNECTIONS=32 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
BATCH=100

for tool in wrk kcat; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
echo "building release binaries (cold: ~10 min; then seconds)" >&2
cargo build --release --workspace --bins --quiet

source tests/services.sh
trap 'kill "${INGEST_PID:-}" 2>/dev/null; lap_stop_services' EXIT
LAP_SERVICE_DIR=$(mktemp -d /tmp/lap-bench.XXXXXX)
lap_start_noida "$(lap_install_noida)"
work=$LAP_SERVICE_DIR
http_port=$(lap_free_port)
secret=bench-secret-$RANDOM$RANDOM
cat >"$work/lap.toml" <<TOML
[kafka]
bootstrap_servers = "$LAP_TEST_KAFKA"
[topics]
partitions = 2
[service]
metrics_addr = "127.0.0.1:$(lap_free_port)"
[ingest.http]
addr = "127.0.0.1:$http_port"
[ingest.http.clients.bench]
secret_sha256 = "$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"
scopes = ["xapi"]
[log]
level = "warn"
TOML
target/release/lap --config "$work/lap.toml" topics create >/dev/null

python3 - "$work/body.json" "$BATCH" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
stmts = [{
    "actor": {"objectType": "Agent", "name": "Learner", "account": {"homePage": "https://lms.example.org", "name": f"s-{i}"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/scored", "display": {"en-US": "scored"}},
    "object": {"objectType": "Activity", "id": f"https://lms.example.org/courses/math-7/quizzes/{i % 20}",
               "definition": {"name": {"en-US": "Fractions quiz"}, "description": {"en-US": "Adding and subtracting fractions with unlike denominators"},
                              "type": "http://adlnet.gov/expapi/activities/assessment", "interactionType": "choice"}},
    "result": {"score": {"scaled": 0.8, "raw": 16, "min": 0, "max": 20}, "success": True, "completion": True, "duration": "PT12M30S"},
    "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "platform": "Example LMS", "language": "en-US",
                "contextActivities": {"parent": [{"id": "https://sis.example.org/classes/7b-math"}],
                                      "grouping": [{"id": "https://sis.example.org/courses/math-7"}]}},
    "timestamp": "2024-03-05T10:41:07.114+09:00",
} for i in range(n)]
with open(path, "w") as f:
    json.dump(stmts, f)
PY
cat >"$work/post.lua" <<LUA
local f = assert(io.open("$work/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Experience-API-Version"] = "1.0.3"
wrk.headers["Authorization"] = "Basic $(printf %s "bench:$secret" | base64 -w0)"
LUA

target/release/lap-ingest --config "$work/lap.toml" 2>"$work/ingest.log" &
INGEST_PID=$!
lap_wait_port 127.0.0.1 "$http_port" 30 lap-ingest
echo "body: $BATCH statements, $(wc -c <"$work/body.json") bytes; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s" >&2
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/post.lua" \
  "http://127.0.0.1:$http_port/xapi/statements" | tee "$work/wrk.txt"

rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
durable=$(kcat -b "$LAP_TEST_KAFKA" -C -t lap.raw.xapi -e -q -f 'x\n' | wc -l)
echo
echo "HTTP ingest: $(python3 -c "print(f'{$rps * $BATCH:,.0f}')") statements/s durable (${rps} requests/s x $BATCH);" \
  "non-2xx: ${non2xx:-0}; raw records in Kafka: $durable batches = $((durable * BATCH)) statements"
