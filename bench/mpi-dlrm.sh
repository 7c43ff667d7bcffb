#!/bin/sh
# bench/mpi-dlrm.sh — DLRM across MPI ranks (docs/scale-out.md), in one run,
# alternating: 1 process x 1 thread, 2 ranks x 1 thread data parallel (tables
# replicated, touched rows summed), and 2 ranks x 1 thread with the Embedding
# tables split whole over the ranks (--parallel model), on synthetic
# Criteo-shaped rows (sten synth --preset criteo); one epoch each; then the
# data-parallel sparse rows' two exchanges step by step in one run. Says
# whether the table-split model is the one process's to the bit. Appends to
# $RESULTS (bench/RESULTS.md). Needs a build with MPI (built here in build-mpi/).
#   sh bench/mpi-dlrm.sh
#   ROWS=200000 BUCKETS=100000 BATCH=128 ROUNDS=3 ALT_BUCKETS=1000000 RESULTS=/dev/null sh bench/mpi-dlrm.sh
set -eu
cd "$(dirname "$0")/.."
ROWS=${ROWS:-200000}
BUCKETS=${BUCKETS:-100000}
BATCH=${BATCH:-128}
ALT_BUCKETS=${ALT_BUCKETS:-1000000}
ROUNDS=${ROUNDS:-3}
. bench/lib.sh
bench_mpi sten model_diff
DIFF=$(pwd)/build-mpi/tests/model_diff

W=$(pwd)/out/mpi-dlrm
mkdir -p "$W"
cd "$W"
"$STEN" synth --force --preset criteo --rows "$ROWS" --seed 5 -o rows.tsv 2>/dev/null
"$STEN" convert --force rows.tsv -o rows.nc --format criteo --hash-buckets "$BUCKETS" 2>/dev/null
cfg=../../examples/criteo/dlrm.json
rate() { sed -n 's/.*epoch 1: .*, \([0-9]*\) examples\/s.*/\1/p' "$1" | tail -n 1; }
one="" dat="" tab="" r=0
while [ "$r" -lt "$ROUNDS" ]; do
    taskset -c 0 "$STEN" train -c "$cfg" -i rows.nc -o rows.nc -n one.nc -b "$BATCH" -e 1 -t 1 --force 2>one.err
    $MPIRUN -np 2 "$STEN" train -c "$cfg" -i rows.nc -o rows.nc -n dat.nc -b "$BATCH" -e 1 -t 1 --force \
        --parallel data 2>dat.err
    $MPIRUN -np 2 "$STEN" train -c "$cfg" -i rows.nc -o rows.nc -n tab.nc -b "$BATCH" -e 1 -t 1 --force \
        --parallel model 2>tab.err
    a=$(rate one.err) b=$(rate dat.err) c=$(rate tab.err)
    echo "round $((r + 1)): 1 process $a examples/s, 2 ranks data parallel $b, 2 ranks tables split $c"
    one="$one $a" dat="$dat $b" tab="$tab $c"
    r=$((r + 1))
done
# the sparse rows' two paths side by side in one run, step by step (whole
# runs on this shared machine swing 1.5-2x from one to the next), at
# BUCKETS rows a table and at ALT_BUCKETS (the MPI path's bit set grows
# with the table, the shared path's lists with the batch)
alternate() { # alternate DATA.nc EPOCHS: "epoch 1: X ms (shared memory) vs Y ms (MPI_Allreduce); ..."
    STEN_MPI_ALTERNATE=1 $MPIRUN -x STEN_MPI_ALTERNATE -np 2 "$STEN" train -c "$cfg" -i "$1" -o "$1" -n alt.nc \
        -b "$BATCH" -e "$2" -t 1 --force --parallel data 2>alt.err
    sed -n 's/.*epoch \([0-9]\): sums and update \([0-9.]*\) ms a step .* shared memory.*, \([0-9.]*\) ms through MPI_Allreduce.*/epoch \1: \2 ms (shared memory) vs \3 ms (MPI_Allreduce)/p' alt.err |
        tr '\n' ';' | sed 's/;$//; s/;/; /g'
    rm -f alt.nc
}
alt=$(alternate rows.nc 2)
"$STEN" convert --force rows.tsv -o rows_alt.nc --format criteo --hash-buckets "$ALT_BUCKETS" 2>/dev/null
alt2=$(alternate rows_alt.nc 1)
rm -f rows_alt.nc
echo "sums and update per step, rows alternating between the paths: $BUCKETS rows a table: $alt;" \
    "$ALT_BUCKETS rows a table: $alt2"
m1=$(bench_median $one) m2=$(bench_median $dat) m3=$(bench_median $tab)
r2=$(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", b / a }')
r3=$(awk -v a="$m1" -v b="$m3" 'BEGIN { printf "%.2f", b / a }')
if "$DIFF" one.nc tab.nc 1e-7 2>&1 | grep -q "largest difference 0 "; then same="the 1-process model to the bit"
else same="NOT the 1-process model: $("$DIFF" one.nc tab.nc 1e-7 2>&1 | tail -n 1)"; fi
held=$(sed -n 's/.*rank 0 \([0-9]* of the [0-9]*\)).*/\1/p' tab.err | head -n 1)
echo "speed: median 1 process $m1, data parallel $m2 (${r2}x), tables split $m3 (${r3}x) examples/s; tables split: $same"

cd ../..
{
    echo
    echo "## MPI: DLRM on 2 ranks x 1 thread (data parallel; tables split) vs 1 process x 1 thread ($(date -u +%Y-%m-%d))"
    echo
    echo "\`ROWS=$ROWS BUCKETS=$BUCKETS BATCH=$BATCH ROUNDS=$ROUNDS ALT_BUCKETS=$ALT_BUCKETS sh bench/mpi-dlrm.sh\`"
    echo "on $model ($cores cores), $(mpirun --version | head -n 1), OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1;"
    echo "examples/criteo/dlrm.json (Adam), synthetic Criteo-shaped rows, 26 tables of $BUCKETS rows x 16."
    echo
    echo "| | 1 process | 2 ranks, data parallel | 2 ranks, tables split (rank 0 holds $held) |"
    echo "|---|---|---|---|"
    echo "| epoch 1 examples/s, batch $BATCH (median of $ROUNDS; rounds:$one /$dat /$tab) | $m1 | $m2 (${r2}x) | $m3 (${r3}x) |"
    echo
    echo "Data parallel, the tables' touched rows and gradients read through shared memory by every rank, against"
    echo "summed through MPI_Allreduce (a bit set of the rows, then their gradients), every other step of one run"
    echo "(\`STEN_MPI_ALTERNATE=1\`), the sums and update per step: with $BUCKETS rows a table (2 epochs) $alt;"
    echo "with $ALT_BUCKETS rows a table (1 epoch) $alt2."
    echo
    echo "The table-split model is $same. Splitting by tables buys memory, not speed: every rank runs the MLPs on every example."
} >>"$RESULTS"
echo "appended to $RESULTS"
