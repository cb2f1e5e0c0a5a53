#!/bin/sh
# HTTP decision throughput and latency of a real `tribune serve` on loopback, with wrk.
#
# Usage, from the repository root, against a release build:
#     cargo build --release --bin tribune
#     scripts/bench-decisions.sh target/release/tribune [SECONDS]
#
# It serves a copy of examples/quickstart with the class quota removed (so every call runs the
# whole pipeline to an allow, instead of stopping at the quota after 120 calls a minute) from
# a fresh SQLite data directory, issues an agent token for `support-bot`, and POSTs
# /v1/decisions for the read tool `search_docs` (an allow, recorded durably through the
# group-commit writer before the answer, like every decision). Then:
#   1. saturation: wrk with 2 threads and 32 connections, as fast as it can, for SECONDS
#      (default 20): the maximum decisions per second and their latency;
#   2. half load: the same, each connection pausing between requests so the offered rate is
#      about half of (1); wrk's latency percentiles at that rate.
# After each run it prints the server's CPU time per decision (user + system, from
# /proc/PID/stat, all its threads), which does not depend on how busy the rest of the machine
# is, and the rate that CPU time would allow on all of the machine's cores.
# Environment: PORT (default 18472), CONNECTIONS (default 32), THREADS (default 2).
# Needs wrk (`apt-get install wrk`). The load generator shares the machine with the server;
# say so when you report the figures.
set -eu

BIN=${1:?usage: scripts/bench-decisions.sh PATH/TO/tribune [SECONDS]}
SECS=${2:-20}
PORT=${PORT:-18472}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ADMIN="trb_decisions-bench-admin-token-0123456789abcdef"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tribune-decisions-bench.XXXXXX")
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cp -r examples/quickstart "$WORK/bundle"
sed -i '/^quota = /d' "$WORK/bundle/tribune.toml"

TRIBUNE_BOOTSTRAP_TOKEN=$ADMIN TRIBUNE_LOG=warn "$BIN" serve --bundle "$WORK/bundle" \
    --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
BASE="http://127.0.0.1:$PORT"
i=0
until curl -fs "$BASE/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 200 ] || { echo "the server did not become ready:" >&2; cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.1
done

AGENT=$(curl -fs -X POST "$BASE/v1/tokens" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"kind":"agent","subject":"support-bot"}' |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$AGENT" ] || { echo "could not issue an agent token" >&2; exit 1; }

BODY='{"tool":"search_docs","arguments":{"query":"how do I reset my password"},"session":"s-1"}'
echo "one decision:"
curl -fs -X POST "$BASE/v1/decisions" -H "Authorization: Bearer $AGENT" \
    -H 'Content-Type: application/json' -d "$BODY"
echo

# DELAY_MS: the pause between a connection's requests (0: none).
script() {
    cat >"$WORK/decide.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $AGENT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
local errors = 0
function delay() return $1 end
function response(status, headers, body)
    if status ~= 200 then errors = errors + 1 end
end
EOF
}

# The server's CPU time so far, in clock ticks (utime + stime of all its threads).
ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }
HZ=$(getconf CLK_TCK)
# cpu_per_decision TICKS_BEFORE WRK_OUTPUT: the server's CPU time per request of that run.
cpu_per_decision() {
    awk -v t0="$1" -v t1="$(ticks)" -v hz="$HZ" -v cores="$(nproc)" '
        /requests in/ { n = $1 }
        END {
            us = (t1 - t0) / hz * 1e6 / n
            printf "server CPU: %.0f us per decision (%d requests); %d cores would allow about %d decisions/s\n", us, n, cores, cores * 1e6 / us
        }' "$2"
}

echo
echo "== saturation: $THREADS threads, $CONNECTIONS connections, ${SECS}s =="
script 0
T0=$(ticks)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --latency -s "$WORK/decide.lua" "$BASE/v1/decisions" | tee "$WORK/max.txt"
cpu_per_decision "$T0" "$WORK/max.txt"
RPS=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$WORK/max.txt")
MEAN_MS=$(awk '/^ *Latency/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v; exit}' "$WORK/max.txt")

# Half the saturated rate: each connection makes RPS/2/CONNECTIONS requests a second, so it
# waits 1000*CONNECTIONS*2/RPS ms per request, less the time the request itself takes.
DELAY=$(awk -v r="$RPS" -v c="$CONNECTIONS" -v m="$MEAN_MS" 'BEGIN { d = 2000 * c / r - m; if (d < 1) d = 1; printf "%d", d }')
echo
echo "== half load: about $(awk -v r="$RPS" 'BEGIN { printf "%d", r / 2 }') decisions/s offered ($CONNECTIONS connections, ${DELAY} ms between requests), ${SECS}s =="
script "$DELAY"
T0=$(ticks)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --latency -s "$WORK/decide.lua" "$BASE/v1/decisions" | tee "$WORK/half.txt"
cpu_per_decision "$T0" "$WORK/half.txt"
echo
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
