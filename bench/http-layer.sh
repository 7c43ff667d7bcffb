#!/bin/sh
# bench/http-layer.sh — the HTTP layer alone: libmicrohttpd (what src/serve/
# uses) vs h2o (Debian's libh2o-evloop-dev 2.2.5), side by side on loopback,
# with wrk. bench/http_layer.c is one program with both servers doing the
# same work: POST /recommendations, the small JSON body read in full, a fixed
# 407-byte JSON answer (the shape of a precomputed top-10), no recommender
# behind it — the numbers are the layer's ceiling, not sten's:
#   mhd  libmicrohttpd set up as src/serve/http.c sets it up (a pool of THREADS
#        epoll threads, MHD_USE_TURBO, MHD_ALLOW_SUSPEND_RESUME)
#   h2o  THREADS threads, each its own h2o_evloop and listening socket
#        (SO_REUSEPORT on one port), HTTP/1.1 keep-alive
# wrk -t2 (bench/http_layer_wrk.lua: {"userId":"N","numResults":10}) and the
# server share the same THREADS cores (taskset): client and server on one
# small machine. Each round starts both servers afresh (both stay up, the
# idle one asleep in epoll) and runs them in turn at each connection count,
# mhd then h2o or h2o then mhd (the order alternating round by round), so that
# back-to-back runs of the two see the same machine noise; each run after
# WARMUP s of unrecorded load. The table keeps the medians over the ROUNDS
# runs. Besides req/s and wrk's latency (closed loop,
# no coordinated-omission correction), each run records the server's CPU time
# per request (/proc/PID/stat) and the share of the machine's CPU that neither
# the server nor wrk used ("others": a noise gauge). About 2.7 minutes with
# the defaults, plus the packages' install the first time. The table goes to
# $RESULTS (bench/RESULTS.md; RESULTS=/dev/null for a trial) with the command.
#   sh bench/http-layer.sh
#   DURATION=3 ROUNDS=1 RESULTS=/dev/null sh bench/http-layer.sh      (a quick check)
# Settings (environment): DURATION (s per wrk run, 10), CONNS ("32 64": wrk
# connection counts), THREADS (2: server threads, and the cores 0..THREADS-1
# that server and wrk are pinned to), ROUNDS (3), WARMUP (2: s of unrecorded
# load before each run), IDLE_MAX (10: % busy above which the idle check
# warns), WORKDIR (out/http-layer-bench: logs, runs.tsv).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-32 64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
IDLE_MAX=${IDLE_MAX:-10}
W=${WORKDIR:-$ROOT/out/http-layer-bench}
# shellcheck source=bench/lib.sh
. bench/lib.sh
# bench_threads (bench/lib.sh) sets $cores and $model
cores="" model=""
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
COMMAND="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=\"$CONNS\" THREADS=$THREADS sh bench/http-layer.sh"
T0=$(date +%s)

PID_mhd="" PID_h2o=""
cleanup() {
    for p in $PID_mhd $PID_h2o; do kill "$p" 2>/dev/null || true; done
    for p in $PID_mhd $PID_h2o; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# ------------------------------------------------------------ tools, build
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
need=""
for p in libh2o-evloop-dev libmicrohttpd-dev wrk curl pkg-config; do
    installed "$p" || need="$need $p"
done
if [ -n "$need" ]; then
    echo "installing (Debian packages):$need"
    # shellcheck disable=SC2086
    as_root apt-get install -y --no-install-recommends $need ||
        { as_root apt-get update && as_root apt-get install -y --no-install-recommends $need; }
fi
mkdir -p build
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -o build/http_layer bench/http_layer.c \
    $(pkg-config --cflags --libs libh2o-evloop libmicrohttpd) -lpthread
B=$ROOT/build/http_layer
bench_threads "$THREADS"
echo "lscpu Model name: $model"
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
LIBS="libmicrohttpd $(ver libmicrohttpd-dev) (libmicrohttpd-dev), h2o $(ver libh2o-evloop-dev) (libh2o-evloop-dev), wrk $(ver wrk), $(cc --version | head -n 1)"
echo "versions: $LIBS"
echo "server (THREADS=$THREADS threads) and wrk -t2 pinned to cores $cores (they share them)"
TCK=$(getconf CLK_TCK)
mkdir -p "$W"
RUNS=$W/runs.tsv
: >"$RUNS"

# ------------------------------------------------------------ helpers
IDLE="" IDLE_WARN=""
idle_check() {
    a=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    busy=$(echo "$a $b" | awk '{ d = ($3 - $1) + ($4 - $2); printf "%.0f", d ? 100 * ($3 - $1) / d : 0 }')
    echo "idle check ($1): ${busy}% of the CPUs busy over 1 s; busiest processes (ps, lifetime %CPU):"
    ps -eo pid,pcpu,rss,etime,comm --sort=-pcpu | head -n 4 | sed 's/^/    /'
    IDLE="$IDLE${IDLE:+, }$1 ${busy}%"
    if [ "$busy" -gt "$IDLE_MAX" ]; then
        echo "WARNING: the machine is not idle (${busy}% > IDLE_MAX=$IDLE_MAX%): the numbers below will be low"
        IDLE_WARN="${IDLE_WARN}$1: ${busy}% busy; "
    fi
}

# the machine's CPU ticks: "busy total"
cpu_ticks() { awk '/^cpu /{ b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat; }
# the server's CPU ticks (user + system)
server_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# the pid and port of server KIND: pid_of KIND, port_of KIND
pid_of() { if [ "$1" = mhd ]; then echo "$PID_mhd"; else echo "$PID_h2o"; fi; }
port_of() { cat "$W/port-$1"; }
# the shell's waited children's CPU seconds (user + system), from `times`
# (run in this shell, not in a subshell: a subshell's children are not wrk)
children_s() {
    times >"$W/times"
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] }
        printf "%.3f", s }' "$W/times"
}

start_server() { # start_server KIND
    rm -f "$W/port-$1"
    taskset -c "$cores" "$B" "$1" 0 "$W/port-$1" "$THREADS" >"$W/$1.log" 2>&1 &
    SPID=$!
    if [ "$1" = mhd ]; then PID_mhd=$SPID; else PID_h2o=$SPID; fi
    i=0
    while [ ! -s "$W/port-$1" ]; do
        if ! kill -0 "$SPID" 2>/dev/null || [ $i -ge 100 ]; then
            echo "$1 did not start:"
            cat "$W/$1.log"
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    PORT=$(port_of "$1")
    ans=$(curl -s -XPOST -H 'Content-Type: application/json' -d '{"userId":"123","numResults":10}' \
        "http://127.0.0.1:$PORT/recommendations")
    case $ans in
    '{"itemList":[{"itemId":'*'"recommender":"precomputed"}') ;;
    *)
        echo "$1 answered: $ans"
        exit 1
        ;;
    esac
}

stop_server() { # stop_server KIND
    SPID=$(pid_of "$1")
    kill -TERM "$SPID"
    wait "$SPID" && rc=0 || rc=$?
    if [ "$1" = mhd ]; then PID_mhd=""; else PID_h2o=""; fi
    [ "$rc" -eq 0 ] || { echo "$1: exit $rc after SIGTERM; its log:"; cat "$W/$1.log"; exit 1; }
}

run_one() { # run_one ROUND KIND CONNS: warm-up, then one recorded wrk run into $RUNS
    SPID=$(pid_of "$2") PORT=$(port_of "$2")
    [ "$WARMUP" -le 0 ] || taskset -c "$cores" wrk -t2 -c"$3" -d"$WARMUP"s --timeout 5s \
        -s "$ROOT/bench/http_layer_wrk.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
    log=$W/wrk-r$1-$2-c$3.txt
    children_s >"$W/w0"
    m0=$(cpu_ticks) s0=$(server_ticks "$SPID") w0=$(cat "$W/w0")
    taskset -c "$cores" wrk -t2 -c"$3" -d"$DURATION"s --timeout 5s --latency \
        -s "$ROOT/bench/http_layer_wrk.lua" "http://127.0.0.1:$PORT/" >"$log" 2>&1 || true
    m1=$(cpu_ticks) s1=$(server_ticks "$SPID")
    children_s >"$W/w1"
    w1=$(cat "$W/w1")
    kill -0 "$SPID" 2>/dev/null || { echo "$2 died in round $1 at -c$3"; cat "$W/$2.log"; exit 1; }
    line=$(sed -n 's/^HTTP_LAYER_WRK //p' "$log")
    [ -n "$line" ] || { echo "wrk gave no result ($log):"; cat "$log"; exit 1; }
    # round kind conns rps p50 p99 p999 status socket server_cpu_us_per_req others_pct
    echo "$line" | awk -v r="$1" -v k="$2" -v c="$3" -v m="$m0 $m1" -v s0="$s0" -v s1="$s1" -v w0="$w0" \
        -v w1="$w1" -v tck="$TCK" '
        function num(key,   re, v) {
            re = "\"" key "\":[-0-9.]+"
            if (!match($0, re)) return 0
            v = substr($0, RSTART, RLENGTH); sub(/.*:/, "", v); return v + 0
        }
        {
            split(m, t, " ")
            busy = t[3] - t[1]; total = t[4] - t[2]
            ours = (s1 - s0) + (w1 - w0) * tck
            others = total > 0 ? 100 * (busy - ours) / total : 0
            if (others < 0) others = 0
            req = num("requests")
            printf "%s\t%s\t%s\t%.1f\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.1f\n", r, k, c, num("rps"), num("p50_us"),
                num("p99_us"), num("p999_us"), num("status_errors"), num("socket_errors"),
                req ? 1e6 * (s1 - s0) / tck / req : 0, others
        }' >>"$RUNS"
    tail -n 1 "$RUNS" | awk -F'\t' '{ printf "    round %s %s -c%s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, non-2xx %d, socket errors %d; server CPU %.2f us/req; others %.1f%% of the CPUs\n", $1, $2, $3, $4, $5 / 1e3, $6 / 1e3, $7 / 1e3, $8, $9, $10, $11 }'
}

# ------------------------------------------------------------ the rounds
r=1
while [ $r -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="mhd h2o"; else order="h2o mhd"; fi
    idle_check "round $r"
    echo "== round $r/$ROUNDS: $order"
    for k in $order; do start_server "$k"; done
    for c in $CONNS; do
        for k in $order; do run_one "$r" "$k" "$c"; done
    done
    for k in $order; do stop_server "$k"; done
    r=$((r + 1))
done
idle_check "after"

# ------------------------------------------------------------ summary
SECONDS_ALL=$(($(date +%s) - T0))
HL_CPU=$model HL_CORES=$cores HL_THREADS=$THREADS HL_COMMAND=$COMMAND HL_LIBS=$LIBS HL_IDLE=$IDLE \
    HL_IDLE_WARN=$IDLE_WARN HL_SECONDS=$SECONDS_ALL HL_ROUNDS=$ROUNDS HL_DURATION=$DURATION HL_WARMUP=$WARMUP \
    HL_IDLE_MAX=$IDLE_MAX python3 - "$RUNS" "$RESULTS" <<'PY'
import datetime, os, statistics, sys

E = os.environ
runs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    by.setdefault((r[1], int(r[2])), []).append(
        dict(round=r[0], rps=float(r[3]), p50=int(r[4]), p99=int(r[5]), p999=int(r[6]), status=int(r[7]),
             socket=int(r[8]), cpu=float(r[9]), others=float(r[10])))
conns = sorted({c for _, c in by})
med = lambda xs: statistics.median(xs)
out = []
out.append("## bench/http-layer — libmicrohttpd vs h2o, the HTTP layer alone, loopback, wrk (%s)\n"
           % datetime.date.today().isoformat())
out.append("Command: `%s` (%s s in all)\n" % (E["HL_COMMAND"], E["HL_SECONDS"]))
out.append(
    "CPU (lscpu Model name): %s. Libraries (dpkg-query): %s. Both servers are build/http_layer "
    "(bench/http_layer.c, cc -O2), %s server threads; server and wrk -t2 pinned to cores %s (they share "
    "them). The work: POST /recommendations with {\"userId\":\"N\",\"numResults\":10} "
    "(bench/http_layer_wrk.lua), the body read in full, a fixed 407-byte JSON answer, no recommender "
    "behind it. mhd: libmicrohttpd as src/serve/http.c sets it up (thread pool, epoll, turbo, "
    "suspend/resume allowed); h2o: one h2o_evloop and one SO_REUSEPORT listening socket per thread, "
    "HTTP/1.1 keep-alive. %s rounds, both servers freshly started each round and run in turn at "
    "each connection count (mhd, h2o or h2o, mhd, alternating by round), %s s per run after %s s of unrecorded load; the table gives medians over the rounds (p50/p99 "
    "each their own median). Latencies are wrk's, closed loop, without coordinated-omission correction. "
    "\"server CPU\" is the server's user+system time (/proc/PID/stat) per request; \"others\" is the share "
    "of the machine's CPU used by neither the server nor wrk during the run (a noise gauge).\n"
    % (E["HL_CPU"], E["HL_LIBS"], E["HL_THREADS"], E["HL_CORES"], E["HL_ROUNDS"], E["HL_DURATION"],
       E["HL_WARMUP"]))
out.append("| server | conns | runs | req/s (median) | req/s (min-max) | p50 ms | p99 ms | p99.9 ms | "
           "server CPU us/req | non-2xx | socket errors | others % (median, max) |")
out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in conns:
    for k in ("mhd", "h2o"):
        rs = by.get((k, c), [])
        if not rs:
            continue
        out.append("| %s | %d | %d | %.0f | %.0f-%.0f | %.2f | %.2f | %.2f | %.2f | %d | %d | %.0f, %.0f |" % (
            k, c, len(rs), med([x["rps"] for x in rs]), min(x["rps"] for x in rs), max(x["rps"] for x in rs),
            med([x["p50"] for x in rs]) / 1e3, med([x["p99"] for x in rs]) / 1e3,
            med([x["p999"] for x in rs]) / 1e3, med([x["cpu"] for x in rs]),
            sum(x["status"] for x in rs), sum(x["socket"] for x in rs),
            med([x["others"] for x in rs]), max(x["others"] for x in rs)))
out.append("")
for c in conns:
    a, b = by.get(("mhd", c)), by.get(("h2o", c))
    if not a or not b:
        continue
    ra, rb = med([x["rps"] for x in a]), med([x["rps"] for x in b])
    pa, pb = med([x["p99"] for x in a]), med([x["p99"] for x in b])
    ca, cb = med([x["cpu"] for x in a]), med([x["cpu"] for x in b])
    # the same round's two runs, back to back: their ratio sees (nearly) the same noise
    ra_r = {r["round"]: r["rps"] for r in a}
    pair = sorted(x["rps"] / ra_r[x["round"]] for x in b if x["round"] in ra_r)
    out.append("- **h2o/mhd at -c%d: %.2fx the req/s** (medians %.0f vs %.0f; the rounds' paired ratios: %s); "
               "p99 %.2fx (%.2f vs %.2f ms); server CPU per request %.2fx (%.2f vs %.2f us); others' CPU "
               "during the runs (median) %.0f%% vs %.0f%%." % (
                   c, rb / ra, rb, ra, " ".join("%.2f" % q for q in pair), pb / pa, pb / 1e3, pa / 1e3,
                   cb / ca, cb, ca, med([x["others"] for x in b]), med([x["others"] for x in a])))
out.append("- Idle checks (1 s, %% of the CPUs busy, before each round and after): %s%s" % (
    E["HL_IDLE"], "; over IDLE_MAX=%s%%: %s" % (E["HL_IDLE_MAX"], E["HL_IDLE_WARN"].rstrip("; "))
    if E["HL_IDLE_WARN"] else "."))
text = "\n".join(out) + "\n"
print()
print(text)
if sys.argv[2] != "/dev/null":
    with open(sys.argv[2], "a") as f:
        f.write("\n" + text)
    print("appended to %s" % sys.argv[2])
PY
