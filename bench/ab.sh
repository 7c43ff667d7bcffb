#!/bin/sh
# bench/ab.sh — two builds of sten against each other (a refactor's before and
# after), alternating in one run so the machine's noise hits both: the
# ML-20M-shaped training step (fp32, and bf16 where the CPU has it) and top-10
# prediction of bench_ae_step, ROUNDS rounds, medians and quartiles.
#   BASE=/tmp/wt-base NEW=. ROUNDS=12 sh bench/ab.sh
# BASE and NEW are source trees with build/bench/bench_ae_step built (e.g. a
# `git worktree add /tmp/wt-base <rev>` built with bench/lib.sh's bench_build).
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-12}
BASE=${BASE:?BASE=<tree of the old build>}
NEW=${NEW:-.}
bench_threads 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bf16=0
./build/sten info 2>/dev/null | grep -q "^bf16 *yes" && bf16=1
r=0
while [ $r -lt "$ROUNDS" ]; do
    for v in new base; do
        if [ $v = new ]; then b=$NEW/build/bench/bench_ae_step; else b=$BASE/build/bench/bench_ae_step; fi
        echo "$v train $(taskset -c "$cores" "$b" --threads 2 --steps 30 | sed 's/.*"ms_per_step": \([0-9.]*\).*/\1/')" >>"$out"
        [ $bf16 = 1 ] && echo "$v bf16 $(taskset -c "$cores" "$b" --threads 2 --steps 30 --bf16 1 | sed 's/.*"ms_per_step": \([0-9.]*\).*/\1/')" >>"$out"
        echo "$v predict $(taskset -c "$cores" "$b" --threads 2 --predict 1 --users 20000 | sed 's/.*"users_per_s": \([0-9.]*\).*/\1/')" >>"$out"
    done
    r=$((r + 1))
done
echo "| what | base median (q1-q3) | new median (q1-q3) | new / base |"
echo "|---|---|---|---|"
for k in train bf16 predict; do
    grep -q " $k " "$out" || continue
    for v in base new; do
        grep "^$v $k " "$out" | awk '{print $3}' | sort -n |
            awk '{x[NR] = $1} END {printf "%.2f %.2f %.2f\n", (x[int((NR + 1) / 2)] + x[int(NR / 2) + 1]) / 2, x[int(NR / 4) + 1], x[int(3 * NR / 4)]}' >"$out.$v"
    done
    read -r bm bq1 bq3 <"$out.base"
    read -r nm nq1 nq3 <"$out.new"
    unit=$([ $k = predict ] && echo "users/s" || echo "ms/step")
    echo "| $k ($unit) | $bm ($bq1-$bq3) | $nm ($nq1-$nq3) | $(awk -v a="$nm" -v b="$bm" 'BEGIN { printf "%.3f", a / b }') |"
    rm -f "$out.base" "$out.new"
done
