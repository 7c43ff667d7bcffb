#!/bin/sh
# bench/serve.sh — `sten serve` under load on loopback, with wrk
# (bench/serve_wrk.lua: POST /recommendations, userId cycling over the
# history file's users). One bounded run: about 2.5 minutes with the
# defaults (3.5 with SOAK=60), plus ~40 s of data preparation the first time
# (kept in WORKDIR for the next run) and the peer's install:
#   1. precomputed top-10 lists (store)          target >= 50,000 req/s, p99 < 2 ms
#   2. item-to-item from the user's latest 50 history items (users with
#      >= 50 items)                              target >= 20,000 req/s, p99 < 5 ms
#   3. the model per request, ML-20M shape (26,744 items, a 26,752-wide
#      autoencoder, trained 1 epoch: only speed matters), batched
#      (--batch, --batch-window-us)              target >= 2,000 req/s, p99 < 20 ms
#   4. hot reload under full load: SIGHUP RELOADS times (a new model file
#      moved into place before each) while wrk runs phase 1, then phase 3;
#      wrk's non-2xx and socket errors           target 0
#   5. a soak at saturation (precomputed, item-to-item and model in turn),
#      the server's RSS (VmRSS) sampled every 2 s: start, end, max
#   6. the peer: a Python service answering the same precomputed lookups from
#      the same recs file (bench/serve_peer.py): FastAPI + uvicorn (uvloop,
#      httptools, one worker per core) + orjson from PyPI in
#      build/serve-peer-venv, installed on demand; Python's stdlib
#      ThreadingHTTPServer if PyPI fails (or PEER=stdlib). Same wrk settings;
#      sten/peer in req/s.
# The server, wrk (-t2) and the peer share the same THREADS cores (taskset):
# the numbers are for client and server on one small machine. wrk is closed
# loop: its percentiles are of the requests it sent (no coordinated-omission
# correction). A summary table goes to $RESULTS (bench/RESULTS.md;
# RESULTS=/dev/null for a trial) with the command and the CPU.
#   sh bench/serve.sh
#   DURATION=3 SOAK=4 RESULTS=/dev/null sh bench/serve.sh      (a quick check)
#   SOAK=60 sh bench/serve.sh                                  (the full campaign)
# Settings (environment): DURATION (s per wrk run, 10), SOAK (s, 20),
# CONNS ("32 64": wrk connection counts; the largest is "full load"),
# THREADS (2: server HTTP and model threads, pinned cores), RELOADS (5),
# BATCH (64), WINDOW_US (1000), HIDDEN (128), TRAIN_USERS (10000: the model
# is trained 1 epoch on that many users), USERS_N (50000 users cycled),
# PRESET (ml-20m), SEED (1), PEER (fastapi, the default, also spelt pypi; or
# stdlib), WORKDIR (out/serve-bench),
# IDLE_MAX (10: % busy above which the idle check warns), WARMUP (2: s of
# unrecorded load before phases 1, 2, 3 and 6), ROUNDS (1: runs of each
# connection count in phases 1, 2, 3 and 6; the table keeps the median by
# req/s; ROUNDS=3 adds ~3 minutes).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10}
SOAK=${SOAK:-20}
CONNS=${CONNS:-32 64}
THREADS=${THREADS:-2}
RELOADS=${RELOADS:-5}
BATCH=${BATCH:-64}
WINDOW_US=${WINDOW_US:-1000}
HIDDEN=${HIDDEN:-128}
TRAIN_USERS=${TRAIN_USERS:-10000}
USERS_N=${USERS_N:-50000}
PRESET=${PRESET:-ml-20m}
SEED=${SEED:-1}
PEER=${PEER:-fastapi}
IDLE_MAX=${IDLE_MAX:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-1}
W=${WORKDIR:-$ROOT/out/serve-bench}
case $PEER in
fastapi | pypi) PEER=fastapi ;;
stdlib) ;;
*)
    echo "PEER must be fastapi (or pypi) or stdlib, not '$PEER'" >&2
    exit 2
    ;;
esac
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
FULL=$(echo $CONNS | awk '{ m = $1; for (i = 2; i <= NF; i++) if ($i > m) m = $i; print m }')
COMMAND="ROUNDS=$ROUNDS DURATION=$DURATION SOAK=$SOAK CONNS=\"$CONNS\" THREADS=$THREADS RELOADS=$RELOADS BATCH=$BATCH WINDOW_US=$WINDOW_US PEER=$PEER sh bench/serve.sh"
T0=$(date +%s)

SPID="" PEER_PID="" WRK_PID="" RSS_PID=""
cleanup() {
    for p in $WRK_PID $RSS_PID $SPID $PEER_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $WRK_PID $RSS_PID $SPID $PEER_PID; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# ------------------------------------------------------------ peers, tools
if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)"
    as_root apt-get install -y --no-install-recommends wrk ||
        { as_root apt-get update && as_root apt-get install -y --no-install-recommends wrk; }
fi
command -v curl >/dev/null 2>&1 || as_root apt-get install -y --no-install-recommends curl
bench_build sten
S=$ROOT/build/sten
VPY=$ROOT/build/serve-peer-venv/bin/python
if [ "$PEER" = fastapi ] && ! "$VPY" -c "import fastapi, uvicorn, uvloop, httptools, orjson" 2>/dev/null; then
    echo "installing the peer: FastAPI, uvicorn[standard] and orjson from PyPI into build/serve-peer-venv"
    if ! { [ -x "$VPY" ] || python3 -m venv build/serve-peer-venv; } ||
        ! "$VPY" -m pip install --progress-bar off -q fastapi "uvicorn[standard]" orjson; then
        echo "PyPI install failed: the peer is Python's stdlib ThreadingHTTPServer"
        PEER=stdlib
    fi
fi
if [ "$PEER" = fastapi ]; then
    PEER_DESC=$("$VPY" -c "import sys, fastapi, uvicorn, uvloop, httptools, orjson
print('FastAPI %s + uvicorn %s (uvloop %s, httptools %s, %s workers) + orjson %s, Python %s (PyPI, build/serve-peer-venv)' % (
    fastapi.__version__, uvicorn.__version__, uvloop.__version__, httptools.__version__, '$THREADS', orjson.__version__,
    sys.version.split()[0]))")
else
    PEER_DESC=$(python3 -c "import sys; print('stdlib http.server ThreadingHTTPServer (HTTP/1.1), Python %s' % sys.version.split()[0])")
fi
bench_threads "$THREADS"
echo "wrk: $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }'); server, wrk -t2 and the peer all pinned to cores $cores (they share them)"
echo "peer: $PEER_DESC"

# ------------------------------------------------------------ data
# ML-20M shape: synthetic users' items (DSSTNE text, the history), one
# feature index for input and output, a model trained 1 epoch on the first
# TRAIN_USERS users (two seeds: the reload phase swaps them), top-10 lists
# for every user, 100 neighbours per item, the LMDB store.
mkdir -p "$W"
cd "$W"
stamp="preset=$PRESET seed=$SEED hidden=$HIDDEN train_users=$TRAIN_USERS users_n=$USERS_N"
if [ "$(cat stamp 2>/dev/null)" != "$stamp" ] || [ ! -s users50.txt ]; then
    echo "preparing the data in $W ($stamp)"
    t=$(date +%s)
    rm -f stamp
    "$S" synth --force --preset "$PRESET" --seed "$SEED" --format dsstne -o ml.txt
    rm -f features samples samples_train
    "$S" generate-netcdf --force -d gl_input -i ml.txt -o all.nc -f features -s samples -c
    rm -f all.nc
    head -n "$TRAIN_USERS" ml.txt >train.txt
    "$S" generate-netcdf --force -d gl_input -i train.txt -o gl_input.nc -f features -s samples_train
    "$S" generate-netcdf --force -d gl_output -i train.txt -o gl_output.nc -f features -s samples_train
    sed "s/\"N\" : 128/\"N\" : $HIDDEN/" "$ROOT/examples/movielens/config.json" >config.json
    "$S" train -c config.json -i gl_input.nc -o gl_output.nc -n model-a.nc --force -e 1 --seed 1 >train-a.log 2>&1 ||
        { cat train-a.log; exit 1; }
    grep "epoch 1" train-a.log
    "$S" train -c config.json -i gl_input.nc -o gl_output.nc -n model-b.nc --force -e 1 --seed 2 >train-b.log 2>&1 ||
        { cat train-b.log; exit 1; }
    grep "epoch 1" train-b.log
    "$S" predict --force -b 1024 -d gl -i features -o features -k 10 -n model-a.nc -r ml.txt -f ml.txt -s recs
    "$S" similar --force -r ml.txt -i features -s sims.txt -k 100
    cut -f1 ml.txt | shuf -n "$USERS_N" --random-source=ml.txt >users.txt
    awk -F'\t' '{ if (split($2, a, ":") >= 50) print $1 }' ml.txt | shuf -n "$USERS_N" --random-source=ml.txt >users50.txt
    echo "$stamp" >stamp
    echo "data prepared in $(($(date +%s) - t)) s"
fi
cp model-a.nc gl.nc
rm -rf st # the store is made afresh each run (a second): no old events, the current format
"$S" store build --store st --recs recs --similar sims.txt
n_users=$(wc -l <ml.txt)
n_inter=$(awk -F'\t' '{ n += split($2, a, ":") } END { print n }' ml.txt)
n_items=$(wc -l <features)
n50=$(awk -F'\t' '{ if (split($2, a, ":") >= 50) n++ } END { print n + 0 }' ml.txt)
if [ "$(wc -l <users50.txt)" -lt 100 ]; then
    echo "fewer than 100 users with >= 50 items: item-to-item cycles over all users"
    cp users.txt users50.txt
fi
widths=$(ncdump -h gl.nc | sed -n 's/.*layer[0-9]*_Nx = \([0-9]*\)U.*/\1/p' | tr '\n' ' ')
set -- $widths
N_OUT=$3
MODEL_DESC="autoencoder $1 -> $2 -> $3 (sigmoid; examples/movielens/config.json with N=$HIDDEN), trained 1 epoch (Adam) on the first $TRAIN_USERS users (speed only, not quality)"
[ "$N_OUT" -ge 26752 ] || echo "WARNING: the model has $N_OUT outputs, fewer than ML-20M's 26,752"
DATA_DESC="sten synth --preset $PRESET --seed $SEED: $n_users users, $n_items items, $n_inter interactions ($n50 users with >= 50 items); recs: top-10 per user from the model; sims: cosine, 100 neighbours per item"
echo "data: $DATA_DESC"
echo "model: $MODEL_DESC"
OUT=$W/results.jsonl
: >"$OUT"

# ------------------------------------------------------------ helpers
idle_check() {
    a=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    busy=$(echo "$a $b" | awk '{ d = ($3 - $1) + ($4 - $2); printf "%.0f", d ? 100 * ($3 - $1) / d : 0 }')
    echo "idle check ($1): ${busy}% of the CPUs busy over 1 s; busiest processes (ps, lifetime %CPU):"
    ps -eo pid,pcpu,rss,etime,comm --sort=-pcpu | head -n 4 | sed 's/^/    /'
    if [ "$busy" -gt "$IDLE_MAX" ]; then
        echo "WARNING: the machine is not idle (${busy}% > IDLE_MAX=$IDLE_MAX%): the numbers below will be low"
        IDLE_WARN="${IDLE_WARN:-}$1: ${busy}% busy; "
    fi
}

metric() { # metric NAME: its value on the running server's /metrics
    curl -s "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

requests_not_200() { # non-200 answers /recommendations gave, from /metrics
    curl -s "http://127.0.0.1:$PORT/metrics" |
        awk '/^sten_requests_total\{endpoint="recommendations"/ && !/code="200"/ { n += $2 } END { print n + 0 }'
}

rss_kb() {
    awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# "VmRSS RssAnon" (kB): anonymous memory is the server's own; the rest is
# file pages (the LMDB store's map, the binary), bounded by the files' sizes
rss_pair() {
    awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { print r + 0, a + 0 }' "/proc/$1/status" 2>/dev/null || echo "0 0"
}

start_server() {
    rm -f port
    t=$(date +%s%N)
    taskset -c "$cores" "$S" serve --port 0 --port-file port --model gl.nc -d gl -i features -o features \
        --history ml.txt --store st --http-threads "$THREADS" -t "$THREADS" --batch "$BATCH" \
        --batch-window-us "$WINDOW_US" >serve.log 2>&1 &
    SPID=$!
    i=0
    while [ ! -s port ]; do
        if ! kill -0 "$SPID" 2>/dev/null || [ $i -ge 1200 ]; then
            echo "sten serve did not start:"
            tail -n 20 serve.log
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    PORT=$(cat port)
    STARTUP_S=$(awk -v a="$t" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    SERVER_FLAGS="--http-threads $THREADS -t $THREADS --batch $BATCH --batch-window-us $WINDOW_US"
    echo "sten serve: pid $SPID, port $PORT, listening after $STARTUP_S s (history, store, model loaded), RSS $(rss_kb "$SPID") kB; $SERVER_FLAGS"
}

alive() {
    if ! kill -0 "$SPID" 2>/dev/null; then
        wait "$SPID" && rc=0 || rc=$?
        SPID=""
        echo "sten serve died (exit $rc) $1; its log:"
        tail -n 30 serve.log
        exit 1
    fi
}

# check REC USER: the server answers USER with REC itself (not a fallback)
check() {
    ans=$(curl -s -XPOST "http://127.0.0.1:$PORT/recommendations" \
        -d "{\"userId\":\"$2\",\"numResults\":10,\"recommender\":\"$1\"}")
    case $ans in
    *"\"recommender\":\"$1\""*) ;;
    *)
        echo "user $2, recommender $1: not answered by $1: $ans"
        exit 1
        ;;
    esac
}

# run_wrk PHASE REC USERS CONNS SECONDS [PORT]: one wrk run, its line into $OUT
run_wrk() {
    log="wrk-$(echo "$1" | tr ' /' '__')-c$4.txt"
    STEN_WRK_USERS=$W/$3 STEN_WRK_REC=$2 STEN_WRK_LABEL="$1" taskset -c "$cores" \
        wrk -t2 -c"$4" -d"$5"s --timeout 5s --latency -s "$ROOT/bench/serve_wrk.lua" \
        "http://127.0.0.1:${6:-$PORT}/" >"$log" 2>&1 || true
    record "$1" "$2" "$4" "$log" "${EXTRA:-}"
}

# rounds: the connection counts, ROUNDS times over
rounds() {
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        echo $CONNS
        r=$((r + 1))
    done
}

# warm REC USERS [PORT]: WARMUP seconds of load at -c$FULL, not recorded
# (the store's pages, the model's buffers, the peer's workers)
warm() {
    [ "$WARMUP" -gt 0 ] || return 0
    STEN_WRK_USERS=$W/$2 STEN_WRK_REC=$1 taskset -c "$cores" wrk -t2 -c"$FULL" -d"$WARMUP"s --timeout 5s \
        -s "$ROOT/bench/serve_wrk.lua" "http://127.0.0.1:${3:-$PORT}/" >/dev/null 2>&1 || true
}

# record PHASE REC CONNS LOG [EXTRA JSON MEMBERS]
record() {
    line=$(sed -n 's/^STEN_WRK //p' "$4")
    if [ -z "$line" ]; then
        echo "wrk gave no result ($4):"
        cat "$4"
        exit 1
    fi
    printf '{"phase":"%s","rec":"%s","conns":%s%s,"wrk":%s}\n' "$1" "$2" "$3" "${5:+,$5}" "$line" >>"$OUT"
    tail -n 1 "$OUT" | python3 "$ROOT/bench/serve_report.py" line
    grep -E "Non-2xx|Socket errors" "$4" | sed 's/^/    wrk: /' || true
}

# reload_under_load PHASE REC USERS: wrk at full load; RELOADS SIGHUPs, each
# after a new model file is moved into place, each timed until /metrics
# counts it
reload_under_load() {
    r0=$(metric sten_reloads_total) f0=$(metric sten_reload_failures_total) rss0=$(rss_kb "$SPID")
    log="wrk-$(echo "$1" | tr ' /' '__')-c$FULL.txt"
    STEN_WRK_USERS=$W/$3 STEN_WRK_REC=$2 STEN_WRK_LABEL="$1" taskset -c "$cores" \
        wrk -t2 -c"$FULL" -d"$DURATION"s --timeout 5s --latency -s "$ROOT/bench/serve_wrk.lua" \
        "http://127.0.0.1:$PORT/" >"$log" 2>&1 &
    WRK_PID=$!
    gap=$(awk -v d="$DURATION" -v r="$RELOADS" 'BEGIN { printf "%.2f", d / (r + 1) }')
    ms="" k=0
    while [ $k -lt "$RELOADS" ]; do
        sleep "$gap"
        k=$((k + 1))
        if [ $((k % 2)) -eq 1 ]; then cp model-b.nc gl.tmp.nc; else cp model-a.nc gl.tmp.nc; fi
        mv -f gl.tmp.nc gl.nc
        t=$(date +%s%N)
        kill -HUP "$SPID"
        i=0
        while [ "$(($(metric sten_reloads_total) + $(metric sten_reload_failures_total)))" -lt $((r0 + f0 + k)) ] &&
            [ $i -lt 600 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        ms="$ms${ms:+,}$(awk -v a="$t" -v b="$(date +%s%N)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')"
    done
    wait "$WRK_PID" || true
    WRK_PID=""
    alive "during the reloads"
    r1=$(metric sten_reloads_total) f1=$(metric sten_reload_failures_total)
    record "$1" "$2" "$FULL" "$log" "\"hups\":$RELOADS,\"reloads\":$((r1 - r0)),\"failures\":$((f1 - f0)),\"reload_ms\":[$ms],\"rss_before_kb\":$rss0,\"rss_after_kb\":$(rss_kb "$SPID")"
    echo "    $RELOADS SIGHUPs: $((r1 - r0)) reloads, $((f1 - f0)) failures; HUP to reloaded (ms): $ms; RSS $rss0 -> $(rss_kb "$SPID") kB"
}

# ------------------------------------------------------------ sten
idle_check "before sten"
start_server
alive "at start"
u1=$(head -n 1 users.txt)
u50=$(head -n 1 users50.txt)
check precomputed "$u1"
check item-to-item "$u50"
check model "$u1"
curl -s -XPOST "http://127.0.0.1:$PORT/recommendations" \
    -d "{\"userId\":\"$u1\",\"numResults\":10,\"recommender\":\"precomputed\"}" >sten-answer.json
bad0=$(requests_not_200)

echo "== 1. precomputed top-10 (target >= 50,000 req/s, p99 < 2 ms)"
warm precomputed users.txt
for c in $(rounds); do run_wrk "1 precomputed" precomputed users.txt "$c" "$DURATION"; alive "in phase 1"; done
echo "== 2. item-to-item, latest 50 history items, users with >= 50 items (target >= 20,000 req/s, p99 < 5 ms)"
warm item-to-item users50.txt
for c in $(rounds); do run_wrk "2 item-to-item" item-to-item users50.txt "$c" "$DURATION"; alive "in phase 2"; done
echo "== 3. model per request, $N_OUT outputs, trained 1 epoch; --batch $BATCH --batch-window-us $WINDOW_US (target >= 2,000 req/s, p99 < 20 ms)"
warm model users.txt
for c in $(rounds); do run_wrk "3 model" model users.txt "$c" "$DURATION"; alive "in phase 3"; done
echo "== 4. hot reload under full load (-c$FULL): $RELOADS SIGHUPs, model files swapped (target: 0 errors)"
reload_under_load "4 reload, precomputed" precomputed users.txt
reload_under_load "4 reload, model" model users.txt
echo "== 5. soak at saturation (-c$FULL, $SOAK s, precomputed / item-to-item / model in turn), RSS every 2 s"
(
    while kill -0 "$SPID" 2>/dev/null; do
        rss_pair "$SPID"
        sleep 2
    done
) >rss.txt &
RSS_PID=$!
STEN_WRK_USERS=$W/users50.txt STEN_WRK_REC=mix STEN_WRK_LABEL="5 soak" taskset -c "$cores" \
    wrk -t2 -c"$FULL" -d"$SOAK"s --timeout 5s --latency -s "$ROOT/bench/serve_wrk.lua" \
    "http://127.0.0.1:$PORT/" >wrk-5_soak.txt 2>&1 || true
rss_pair "$SPID" >>rss.txt
kill "$RSS_PID" 2>/dev/null || true
wait "$RSS_PID" 2>/dev/null || true
RSS_PID=""
alive "in the soak"
record "5 soak" mix "$FULL" wrk-5_soak.txt "\"rss_kb\":[$(awk '$1 > 0 { print $1 }' rss.txt | paste -sd, -)],\"rss_anon_kb\":[$(awk '$1 > 0 { print $2 }' rss.txt | paste -sd, -)],\"store_kb\":$(du -sk st | cut -f1)"
echo "    RSS (kB) every 2 s: $(awk '{ print $1 }' rss.txt | paste -sd' ' -); anonymous: $(awk '{ print $2 }' rss.txt | paste -sd' ' -)"
bad1=$(requests_not_200)
echo "sten's /metrics: $((bad1 - bad0)) non-200 answers to /recommendations during the run"
t=$(date +%s%N)
kill -TERM "$SPID"
wait "$SPID" && src=0 || src=$?
SPID=""
STOP_S=$(awk -v a="$t" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
echo "sten serve: SIGTERM -> exit $src in $STOP_S s"
SERVER_SAID=$(grep -v -E "listening on|reloaded|stopping" serve.log | head -n 5 || true)
[ -z "$SERVER_SAID" ] || printf 'sten serve said:\n%s\n' "$SERVER_SAID"

# ------------------------------------------------------------ the peer
echo "== 6. the peer: $PEER_DESC, the same precomputed lookups"
idle_check "before the peer"
PP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$PEER" = fastapi ]; then
    STEN_PEER_RECS=$W/recs taskset -c "$cores" "$VPY" -m uvicorn --app-dir "$ROOT/bench" serve_peer:app \
        --host 127.0.0.1 --port "$PP" --workers "$THREADS" --loop uvloop --http httptools \
        --no-access-log --log-level warning --backlog 2048 >peer.log 2>&1 &
else
    taskset -c "$cores" python3 "$ROOT/bench/serve_peer.py" --stdlib "$W/recs" "$PP" >peer.log 2>&1 &
fi
PEER_PID=$!
i=0
until curl -sf "http://127.0.0.1:$PP/health" >/dev/null 2>&1; do
    if ! kill -0 "$PEER_PID" 2>/dev/null || [ $i -ge 1200 ]; then
        echo "the peer did not start:"
        tail -n 20 peer.log
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done
curl -s -XPOST "http://127.0.0.1:$PP/recommendations" \
    -d "{\"userId\":\"$u1\",\"numResults\":10,\"recommender\":\"precomputed\"}" >peer-answer.json
python3 - sten-answer.json peer-answer.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ia, ib = [x["itemId"] for x in a["itemList"]], [x["itemId"] for x in b["itemList"]]
if ia != ib or not ia:
    raise SystemExit("the peer's list differs from sten's: %s vs %s" % (ia, ib))
print("the peer answers as sten does (user's top-10: %s)" % " ".join(ia))
PY
warm precomputed users.txt "$PP"
for c in $(rounds); do run_wrk "6 peer" precomputed users.txt "$c" "$DURATION" "$PP"; done
kill "$PEER_PID" 2>/dev/null || true
wait "$PEER_PID" 2>/dev/null || true
PEER_PID=""

# ------------------------------------------------------------ summary
cd "$ROOT"
STB_CPU=$model STB_CORES=$cores STB_THREADS=$THREADS STB_COMMAND=$COMMAND STB_MODEL=$MODEL_DESC \
    STB_DATA=$DATA_DESC STB_PEER=$PEER_DESC STB_FLAGS=$SERVER_FLAGS STB_STARTUP=$STARTUP_S STB_STOP="$STOP_S s, exit $src" \
    STB_IDLE=${IDLE_WARN:-} STB_SAID=$SERVER_SAID STB_SECONDS=$(($(date +%s) - T0)) \
    python3 bench/serve_report.py table "$OUT" "$RESULTS"
