#!/bin/sh
# demo.sh — the README's main-job command: on a fresh Debian machine it
# installs what is missing, builds sten, and runs the recommender pipeline end
# to end on generated data: synth -> split -> generate-netcdf -> train the
# DSSTNE-style autoencoder -> predict (seen items excluded) -> evaluate,
# beside the popularity and EASE baselines, and prints a result table; then
# serves the model and the lists over HTTP (`sten serve`) and shows a few
# requests and their answers. sten's own messages go to WORKDIR/demo.log;
# when a step fails, the demo names it and shows the end of its messages.
#   sh scripts/demo.sh [WORKDIR]      (default: out/demo)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
W=${1:-out/demo}

sh scripts/deps.sh
mkdir -p "$W"
W=$(cd "$W" && pwd)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if ! cmake --build build -j "$(nproc)" --target sten >"$W/build.log" 2>&1; then
    echo "demo: building sten failed; the end of $W/build.log:" >&2
    tail -n 30 "$W/build.log" >&2
    exit 1
fi
STEN=$ROOT/build/sten
cd "$W"
LOG=demo.log
: >"$LOG"

fail() { # fail WHAT ERRFILE: say what failed and show the end of its messages
    echo "demo: $1" >&2
    if [ -s "$2" ]; then
        echo "---- the end of its messages (all steps: $W/$LOG) ----" >&2
        tail -n 20 "$2" >&2
    fi
    exit 1
}
step() { # step CMD ARGS...: runs CMD, its stderr kept in the log; stops the demo if it fails
    echo "\$ $*" >>"$LOG"
    rc=0
    "$@" 2>step.err || rc=$?
    cat step.err >>"$LOG"
    [ $rc -eq 0 ] || fail "this step failed (exit $rc): $*" step.err
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
metric() { # metric <json> <name>: the value at k=20 (the last cut-off)
    sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1"
}

step "$STEN" synth --force --preset ml-1m --seed 7 -o ratings.csv
echo "== data: $(tail -n 1 step.err)"
step "$STEN" split --force ratings.csv --protocol random --fraction 0.2 --seed 7 -o demo
step "$STEN" generate-netcdf --force -d gl_input -i demo-train.txt -o gl_input.nc -f features -s samples -c
step "$STEN" generate-netcdf --force -d gl_output -i demo-train.txt -o gl_output.nc -f features -s samples

echo "== training the autoencoder (examples/movielens/config.json: 128 sigmoid hidden units,"
echo "   sparseness penalty, denoising, scaled marginal cross-entropy; Adam, 40 epochs)"
t0=$(now)
step "$STEN" train -c "$ROOT/examples/movielens/config.json" -i gl_input.nc -o gl_output.nc -n gl.nc \
    --force --metrics train.jsonl
t_ae=$(secs "$t0" "$(now)")
step "$STEN" predict --force -d gl -n gl.nc -r demo-train.txt -i features -o features --exclude-seen -k 20 \
    -s ae.recs

t0=$(now)
step "$STEN" baseline --force popularity --train demo-train.txt -k 20 -s pop.recs
t_pop=$(secs "$t0" "$(now)")
t0=$(now)
step "$STEN" baseline --force ease --train demo-train.txt -k 20 -s ease.recs
t_ease=$(secs "$t0" "$(now)")

for m in ae pop ease; do
    step "$STEN" evaluate -r $m.recs -t demo-test.txt -k 1,5,10,20 --features features --json >$m.json
done
step "$STEN" report --force -o report.html --title "sten demo" --metrics train.jsonl \
    --eval autoencoder=ae.json --eval EASE=ease.json --eval popularity=pop.json --train demo-train.txt \
    --recs autoencoder=ae.recs --recs EASE=ease.recs --recs popularity=pop.recs --features features --model gl.nc

echo
echo "sten demo: synthetic MovieLens-1M-shaped data (6,040 users, 3,706 items), 20% of each"
echo "user's items held out; top-20 lists exclude the items a user already has."
echo
printf "%-34s %10s %10s %12s\n" "model" "Recall@20" "NDCG@20" "fit seconds"
printf "%-34s %10s %10s %12s\n" "autoencoder (DSSTNE network)" "$(metric ae.json recall)" "$(metric ae.json ndcg)" "$t_ae"
printf "%-34s %10s %10s %12s\n" "EASE (lambda 500)" "$(metric ease.json recall)" "$(metric ease.json ndcg)" "$t_ease"
printf "%-34s %10s %10s %12s\n" "popularity" "$(metric pop.json recall)" "$(metric pop.json ndcg)" "$t_pop"

echo
echo "== serving: sten serve on the autoencoder, with precomputed lists and item neighbours"
step "$STEN" similar --force -r demo-train.txt -i features -s sims.txt -k 100
rm -rf store port
step "$STEN" store build --store store --recs ae.recs --similar sims.txt
"$STEN" serve --port 0 --port-file port --model gl.nc -d gl -i features -o features \
    --history demo-train.txt --store store 2>serve.log &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
i=0
while [ ! -s port ] && [ $i -lt 600 ] && kill -0 $SERVER 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
[ -s port ] || fail "sten serve did not start (its messages are in $W/serve.log)" serve.log
URL=http://127.0.0.1:$(cat port)
ask() { # ask PATH BODY: the request and its answer
    echo "POST $1 $2"
    answer=$(curl -sS -X POST -H 'Content-Type: application/json' "$URL$1" -d "$2" 2>curl.err) ||
        fail "POST $1 failed (curl: $(cat curl.err)); the server's messages are in $W/serve.log" serve.log
    printf '  -> %s\n' "$answer"
}
ask /recommendations '{"userId": "1", "numResults": 5}'
ask /recommendations '{"userId": "1", "numResults": 5, "recommender": "item-to-item"}'
ask /recommendations '{"itemId": "1", "numResults": 5}'
ask /recommendations '{"userId": "no-such-user", "numResults": 5}'
top=$(curl -sS -X POST "$URL/recommendations" -d '{"userId": "1", "numResults": 1}' 2>curl.err) ||
    fail "POST /recommendations failed (curl: $(cat curl.err))" serve.log
top=$(echo "$top" | sed 's/.*"itemId":"\([^"]*\)".*/\1/')
ask /events "{\"userId\": \"1\", \"sessionId\": \"demo\", \"eventList\": [{\"eventType\": \"click\", \"itemId\": \"$top\", \"sentAt\": $(date +%s)}]}"
ask /recommendations '{"userId": "1", "numResults": 5}'
echo "   (item $top, clicked, is no longer recommended to user 1)"
kill $SERVER
wait $SERVER 2>/dev/null || true
trap - EXIT
echo
echo "files in $W (recommendations: ae.recs, ease.recs, pop.recs; model: gl.nc; store: store/)"
echo "report: $W/report.html (training curve, Recall/NDCG@k, long tail and coverage, item embeddings;"
echo "        one self-contained page, open it in any browser)"
