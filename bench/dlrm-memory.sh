#!/bin/sh
# bench/dlrm-memory.sh — DLRM's peak memory at Criteo Kaggle's table sizes (issue #13: peak RSS at
# most 1.3x the embedding tables + MLP weights + optimizer state, plus a bounded batch buffer):
# ROWS synthetic rows at full cardinality (`sten synth --preset criteo --scale 1`), hashed into
# BUCKETS rows per field (1310000 x 26 = 34,060,000 table rows, Kaggle's total), trained one epoch
# with Adam at batch BATCH; sten's peak RSS (GNU time) against the floor of its parameters and
# Adam's two moments in fp32. Appends to $RESULTS.
#   ROWS=100000 BUCKETS=1310000 BATCH=2048 sh bench/dlrm-memory.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROWS=${ROWS:-100000}
BUCKETS=${BUCKETS:-1310000}
BATCH=${BATCH:-2048}
THREADS=${THREADS:-2}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
W=$ROOT/out/dlrm-memory
mkdir -p "$W"
S=$ROOT/build/sten
"$S" synth --force --preset criteo --rows "$ROWS" --scale 1 --seed 5 -o "$W/r.tsv" 2>/dev/null
"$S" convert --force "$W/r.tsv" -o "$W/r.nc" --format criteo --hash-buckets "$BUCKETS" 2>"$W/convert.err"
tables=$(sed -n 's/.*(\([0-9]*\) table rows in all.*/\1/p' "$W/convert.err")
/usr/bin/time -f "%M" -o "$W/rss" "$S" train -c examples/criteo/dlrm.json -i "$W/r.nc" -o "$W/r.nc" -n "$W/m.nc" \
    -e 1 -b "$BATCH" -t "$THREADS" --force 2>"$W/train.err"
rate=$(sed -n 's/.* \([0-9]*\) examples\/s.*/\1/p' "$W/train.err" | tail -n 1)
rss_kb=$(tail -n 1 "$W/rss")
rm -f "$W/m.nc" "$W/r.tsv"
# the floor: tables (rows x 16) and the MLPs' weights (bottom 13-512-256-64-16, top 367-512-256-1
# with biases), each with Adam's two moments: 3 fp32 copies
table=$(awk -v t="$tables" -v k="$rss_kb" -v r="$rate" 'BEGIN {
    mlp = 13*512+512 + 512*256+256 + 256*64+64 + 64*16+16 + 367*512+512 + 512*256+256 + 256+1
    floor = 3 * 4 * (t * 16 + mlp) / 1048576; rss = k / 1024
    printf "| %d | %.0f | %.0f | %.2fx | %s |\n", t, floor, rss, rss / floor, r }')
echo "| table rows | parameters + Adam state, MB | peak RSS, MB | ratio | examples/s |"
echo "$table"
{
    echo
    echo "## DLRM peak memory at Criteo Kaggle's table sizes ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`ROWS=$ROWS BUCKETS=$BUCKETS BATCH=$BATCH sh bench/dlrm-memory.sh\` (\`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'); $THREADS threads;"
    echo "Adam, one epoch over $ROWS rows; peak RSS by GNU time, the whole process: data, model writing included). Target (issue"
    echo "#13): at most 1.3x the parameters and optimizer state plus a bounded batch buffer."
    echo
    echo "| table rows | parameters + Adam state, MB | peak RSS, MB | ratio | examples/s |"
    echo "|---|---|---|---|---|"
    echo "$table"
} >>"$RESULTS"
