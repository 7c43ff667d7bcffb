#!/bin/sh
# test_mpi.sh — sten across MPI ranks (docs/scale-out.md), with the real
# mpirun on this machine: data-parallel training on 2 ranks gives the model
# of one process with the same batch (up to summation order), checkpoints
# written once and interchangeable between 1 and 2 ranks, model-parallel
# training (DSSTNE's item split) on 2 and 3 ranks gives the one-process model
# too, and so does DLRM split by Embedding tables (with its scores), also
# under a memory budget one process cannot meet; prediction on 2 and 3 ranks
# writes the one-process file byte for byte, and the failures:
# a rank killed mid-training ends the job (no hang) with the last checkpoint
# intact, ranks started with different settings are refused, subcommands
# that do not run across ranks refuse.
# Usage: test_mpi.sh STEN MODEL_DIFF MPI_BUILT(0|1) EXAMPLES_DIR
# Exit 77 (skipped, said why) without mpirun; a build without MPI is
# checked to refuse to run as one of several ranks.
set -u
STEN=$(realpath "$1")
DIFF=$(realpath "$2")
BUILT=$3
MPIRUN=$(command -v mpirun || true)
if [ -z "$MPIRUN" ]; then
    echo "SKIP: no mpirun here (scripts/deps.sh installs openmpi-bin)"
    exit 77
fi
fail=0
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
# Open MPI: root needs leave to run, the 2-core machine more ranks than
# cores, and containers often forbid the cross-process memory copy
export OMPI_MCA_btl_vader_single_copy_mechanism=none
RUN="$MPIRUN --oversubscribe"
[ "$(id -u)" -eq 0 ] && RUN="$RUN --allow-run-as-root"
# Model parallel splits the output layer's items among the ranks. sten's own
# kernels sum every score in an order fixed by its 512-column chunk, so a
# rank's share of the output product equals the whole product's for the
# same hidden activations (what differs is below).
# With STEN_KERNELS=portable the products are OpenBLAS's, whose blocking
# depends on the width of a rank's share: a score can move by an ulp (on an
# Intel Xeon's SkylakeX kernels, one printed digit of one score, a model
# 1.6e-4 off). There the model-parallel checks allow that (MP_TOL, and
# lists compared by items with scores within 0.0015).
# Training on uneven shares (3 ranks) changes how the propagated delta's
# sums over the output layer's items associate: each rank sums its range,
# the ranks' parts are added, where one process sums 256-item blocks. Adam's
# normalised steps turn those last-bit differences of near-zero gradients
# into weight differences of ~2e-4 after 3 epochs (AMD EPYC), so the 3-rank
# model check allows MP3_TOL; 2 ranks on this data split at a block edge and
# stay within 1e-4.
# The same holds wherever `sten info` says the products are the BLAS's: under
# STEN_KERNELS=portable, and on a CPU without AVX-512 (an AMD Zen 3, say),
# where sten has no kernels of its own.
blas_gemm=0
"$STEN" info | grep -q '^gemm *the BLAS' && blas_gemm=1
MP_TOL=1e-4
MP3_TOL=1e-3
[ $blas_gemm = 1 ] && MP_TOL=1e-3
# Model-parallel prediction sums the hidden layer's pre-activation over
# the ranks' item ranges, in another order than one process: a score can
# move in its last bits, and (on the ML-1M demo model, -k 100) a few in
# thousands of printed scores change their last digit. Which ones depends
# on the model's bits, so its lists are compared item for item with scores
# within 0.0015 (one printed digit), and counted when not byte for byte.
same_lists() { # same_lists A B: the same items in the same order, scores within 0.0015
    cmp -s "$1" "$2" && return 0
    echo "note: $1 and $2 differ in $(cmp -l "$1" "$2" | wc -l) bytes (printed scores' last digits)"
    awk -F'\t' 'NR == FNR { a[FNR] = $0; next }
        { if (!(FNR in a)) exit 1; split(a[FNR], x, "\t"); if (x[1] != $1) exit 1
          n = split(x[2], p, ":"); if (split($2, q, ":") != n) exit 1
          for (i = 1; i <= n; i++) { split(p[i], u, ","); split(q[i], v, ",")
              if (u[1] != v[1] || u[2] - v[2] > 0.0015 || v[2] - u[2] > 0.0015) exit 1 } }
        END { if (FNR != length(a)) exit 1 }' "$1" "$2"
}
mpi() { # mpi NP ARGS...: sten on NP ranks, killed after 120 s (a hang is a failure)
    np=$1
    shift
    timeout 120 $RUN -np "$np" "$STEN" "$@"
}

if [ "$BUILT" != 1 ]; then
    "$STEN" info | grep -q "^mpi  *not built in" && ok "sten info: MPI not built in" || bad "sten info's mpi line"
    mpi 2 info >out.txt 2>err.txt
    rc=$?
    if [ $rc -eq 69 ] && grep -q "built without MPI" err.txt; then
        ok "a build without MPI refuses to run as one of 2 ranks (exit 69)"
    else
        bad "a build without MPI under mpirun -np 2: exit $rc"; cat err.txt
    fi
    echo "SKIP: the rest needs a build with MPI (-DSTEN_MPI=ON; scripts/test.sh makes one)"
    [ $fail = 0 ] && exit 77 || exit 1
fi

"$STEN" info | grep -q "^mpi  *Open MPI" && ok "sten info names the MPI library" || bad "sten info's mpi line"
mpi 1 info | grep -q "one of its ranks" && ok "sten info under mpirun -np 1: one of its ranks" || bad "sten info under mpirun"

# ---- data: MovieLens-1M-shaped synthetic ratings, DSSTNE's files
"$STEN" synth --preset small --seed 3 -o r.csv 2>/dev/null &&
    "$STEN" split r.csv --protocol random --fraction 0.2 --seed 3 -o d 2>/dev/null &&
    head -n 1985 d-train.txt >t.txt &&
    "$STEN" generate-netcdf -d gl_input -i t.txt -o in.nc -f features -s samples -c 2>/dev/null &&
    "$STEN" generate-netcdf -d gl_output -i t.txt -o out.nc -f features -s samples 2>/dev/null ||
    { echo "FAIL: making the data"; exit 1; }
# 1985 = 31 x 64 + 1 users: rank 0 holds 993, rank 1 992, so the last batch
# is one example, all rank 0's (rank 1 takes part with none)
users=$(wc -l <samples)
# the example's autoencoder without its random parts (Denoising draws by
# the position in the data a rank holds; docs/scale-out.md), in file order
sed -e '/"SparsenessPenalty"/,/},/d' -e '/"Denoising"/,/},/d' \
    -e 's/"ShuffleIndices" : false/"ShuffleIndices" : false/' "$4/movielens/config.json" >ae.json
grep -q Denoising ae.json && { echo "FAIL: could not make the test config"; exit 1; }
sed 's/"ShuffleIndices" : false/"ShuffleIndices" : true/' ae.json >ae_shuffled.json

# ---- data parallel: 2 ranks x batch 32 = 1 process x batch 64
"$STEN" train -c ae.json -i in.nc -o out.nc -n one.nc -b 64 -e 3 -t 1 2>one.err || { bad "train, 1 process"; cat one.err; }
mpi 2 train -c ae.json -i in.nc -o out.nc -n two.nc -b 64 -e 3 -t 1 --parallel data --checkpoint-every 1 2>two.err ||
    { bad "mpirun -np 2 train --parallel data"; cat two.err; }
if "$DIFF" one.nc two.nc 1e-4; then ok "2 ranks give the 1-process model ($users users: a last batch of one)"
else bad "2 ranks differ from 1 process"; fi
grep -q "data parallel over 2 ranks" two.err && ok "the start line says data parallel over 2 ranks" ||
    { bad "no data-parallel start line"; cat two.err; }
[ "$(grep -c 'epoch [0-9]*: loss' two.err)" = 3 ] && ok "one epoch line per epoch (rank 0 reports)" ||
    { bad "epoch lines of more than one rank"; cat two.err; }
for e in 1 2 3; do [ -f two-epoch$e.nc ] || bad "checkpoint two-epoch$e.nc missing"; done
grep -q "in shared memory on each machine, each rank sums and updates 1/2 of them$" two.err &&
    ok "2 ranks on one machine keep the weights in shared memory and update half each" ||
    { bad "no shared-memory line"; cat two.err; }
# the same through MPI_Allreduce, as ranks on several machines sum
STEN_MPI_SHARED=0 mpi 2 train -c ae.json -i in.nc -o out.nc -n two_ar.nc -b 64 -e 3 -t 1 --parallel data \
    2>two_ar.err || { bad "STEN_MPI_SHARED=0 mpirun -np 2 train --parallel data"; cat two_ar.err; }
"$DIFF" one.nc two_ar.nc 1e-4 && ! grep -q "shared memory" two_ar.err &&
    ok "... and so do 2 ranks summing through MPI_Allreduce (STEN_MPI_SHARED=0)" ||
    bad "2 ranks through MPI_Allreduce differ from 1 process"
# not enough shared memory (here: capped at 1 MB; Docker's default /dev/shm
# is 64 MB): said, and summed through MPI_Allreduce instead, the same model
STEN_MPI_SHM_MAX=1 mpi 2 train -c ae.json -i in.nc -o out.nc -n two_cap.nc -b 64 -e 3 -t 1 --parallel data \
    2>two_cap.err || { bad "2 ranks with 1 MB of shared memory"; cat two_cap.err; }
"$DIFF" one.nc two_cap.nc 1e-4 && grep -q "STEN_MPI_SHM_MAX allows 1 MB; summing through MPI_Allreduce" two_cap.err &&
    [ "$(grep -c 'shared memory' two_cap.err)" = 1 ] &&
    ok "too little shared memory: said once, summed through MPI_Allreduce, the same model" ||
    { bad "the shared-memory cap"; cat two_cap.err; }
# several machines, tried on this one: STEN_MPI_NODE_RANKS=2 takes blocks of 2
# ranks for machines, so 4 ranks are 2 machines of 2; each rank sums its
# machine's gradients of its half of every weight, then that half over the
# 2 machines (MPI_Allreduce), and updates it in its machine's shared memory
STEN_MPI_NODE_RANKS=2 mpi 4 train -c ae.json -i in.nc -o out.nc -n four.nc -b 64 -e 3 -t 1 --parallel data \
    2>four.err || { bad "4 ranks as 2 machines of 2"; cat four.err; }
"$DIFF" one.nc four.nc 1e-4 && grep -q "updates 1/2 of them (its machine's gradients, then that share over the 2 machines" four.err &&
    ok "4 ranks as 2 machines of 2 (shared memory on each, shares summed across) give the 1-process model" ||
    { bad "4 ranks as 2 machines differ from 1 process"; cat four.err; }
# 3 ranks: shares of every parameter that do not split evenly
"$STEN" train -c ae.json -i in.nc -o out.nc -n one63.nc -b 63 -e 2 -t 1 2>/dev/null || bad "train -b 63, 1 process"
mpi 3 train -c ae.json -i in.nc -o out.nc -n three.nc -b 63 -e 2 -t 1 --parallel data 2>three.err ||
    { bad "mpirun -np 3 train --parallel data"; cat three.err; }
"$DIFF" one63.nc three.nc 1e-4 && grep -q "updates 1/3" three.err &&
    ok "3 ranks (batch 63 = 3 x 21, shared memory) give the 1-process model" || bad "3 ranks differ from 1 process"
l1=$(grep 'epoch 3: loss' one.err | sed 's/.*loss \([0-9.]*\).*/\1/')
l2=$(grep 'epoch 3: loss' two.err | sed 's/.*loss \([0-9.]*\).*/\1/')
awk -v a="$l1" -v b="$l2" 'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }' &&
    ok "the reported epoch loss is the group's ($l1 / $l2)" || bad "epoch loss $l1 (1 process) vs $l2 (2 ranks)"

# ---- sparse-row tables: DLRM's Embedding layers (row-wise AdaGrad) and a
# Factorization Machine (AdaGrad, clipped): only the rows some rank touched
# are summed. (With DLRM's Adam the two drift apart beyond rounding: Adam's
# m / sqrt(v) turns last-bit differences of near-zero gradients into whole
# steps; docs/scale-out.md.)
"$STEN" synth --preset criteo --rows 3001 --scale 0.01 --seed 2 -o c.tsv 2>/dev/null &&
    "$STEN" convert c.tsv -o c.nc --format criteo --hash-buckets 3000 2>/dev/null || bad "making Criteo data"
sed -e 's/"Kind": "FeedForward",/"Kind": "FeedForward", "ShuffleIndices": false,/' \
    -e 's/"Optimizer": "Adam"/"Optimizer": "AdaGrad"/' "$4/criteo/dlrm.json" >dlrm.json
grep -q AdaGrad dlrm.json || bad "could not make the DLRM test config"
cat >fm.json <<'EOF2'
{ "Kind": "FeedForward", "ShuffleIndices": false, "Layers": [
    { "Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "C2", "Sparse": true },
    { "Name": "FM", "Kind": "Output", "Type": "FactorizationMachine", "Factors": 8, "N": 1,
      "DataSet": "label", "Activation": "Sigmoid", "ClipGradient": 5 } ],
  "ErrorFunction": "CrossEntropy", "Training": { "Optimizer": "AdaGrad", "Alpha": 0.1 } }
EOF2
# Through the shared area, each rank's touched rows and their gradients are
# read where they were written; with STEN_MPI_SHARED=0 (and across
# machines), a bit set of the rows and then their gradients go through
# MPI_Allreduce. Both are checked, and 3 ranks (a three-way merge of rows).
for m in dlrm fm; do
    "$STEN" train -c $m.json -i c.nc -o c.nc -n ${m}1.nc -b 64 -e 2 -t 1 2>err.txt || { bad "$m, 1 process"; cat err.txt; }
    mpi 2 train -c $m.json -i c.nc -o c.nc -n ${m}2.nc -b 64 -e 2 -t 1 2>err.txt || { bad "$m on 2 ranks"; cat err.txt; }
    # (the FM's input is narrow: its gradient is kept by row id, not per
    # touched row, and its rows go through MPI_Allreduce in both runs)
    how="rows through shared memory"
    [ $m = fm ] && how="rows through MPI_Allreduce"
    [ $m = fm ] || grep -q "26 sparse-row parameters' touched rows and gradients read there by every rank" err.txt ||
        { bad "$m: the sparse-row parameters do not go through shared memory"; cat err.txt; }
    "$DIFF" ${m}1.nc ${m}2.nc 1e-4 && ok "$m: 2 ranks give the 1-process model ($how)" ||
        bad "$m: 2 ranks differ from 1 process"
    STEN_MPI_SHARED=0 mpi 2 train -c $m.json -i c.nc -o c.nc -n ${m}2a.nc -b 64 -e 2 -t 1 2>err.txt ||
        { bad "$m on 2 ranks, STEN_MPI_SHARED=0"; cat err.txt; }
    "$DIFF" ${m}1.nc ${m}2a.nc 1e-4 && ok "$m: ... and with the rows summed through MPI_Allreduce" ||
        bad "$m: 2 ranks through MPI_Allreduce differ from 1 process"
done
# STEN_MPI_ALTERNATE (benchmarks): every other step through MPI_Allreduce,
# each path's time per step said per epoch; the same sums, so the same model
STEN_MPI_ALTERNATE=1 mpi 2 train -c dlrm.json -i c.nc -o c.nc -n dlrm2b.nc -b 64 -e 2 -t 1 2>err.txt ||
    { bad "dlrm on 2 ranks, STEN_MPI_ALTERNATE=1"; cat err.txt; }
grep -q "epoch 2: sums and update .* ms a step with the sparse rows through shared memory (.* steps), .* ms through MPI_Allreduce" err.txt &&
    "$DIFF" dlrm2.nc dlrm2b.nc 1e-6 && ok "STEN_MPI_ALTERNATE=1 times both paths and gives the same model" ||
    { bad "STEN_MPI_ALTERNATE=1"; cat err.txt; }
# (SGD: AdaGrad's g / sqrt(sum of g^2) on the MLPs turns the last bits of a
# three-way sum of a near-zero gradient into a visible step; with 2 ranks
# the sums happen to agree to 1e-4, with 3 they do not, on either path)
sed 's/"AdaGrad"/"SGD"/' dlrm.json >dlrm_sgd.json
"$STEN" train -c dlrm_sgd.json -i c.nc -o c.nc -n dlrm1_63.nc -b 63 -e 2 -t 1 2>/dev/null || bad "dlrm, batch 63, 1 process"
mpi 3 train -c dlrm_sgd.json -i c.nc -o c.nc -n dlrm3.nc -b 63 -e 2 -t 1 2>err.txt || { bad "dlrm on 3 ranks"; cat err.txt; }
"$DIFF" dlrm1_63.nc dlrm3.nc 1e-4 && ok "dlrm (SGD): 3 ranks give the 1-process model (a 3-way merge of the rows)" ||
    bad "dlrm: 3 ranks differ from 1 process"

# ---- model parallel (DSSTNE's scheme): each rank holds an item range of the
# input and output layers, every rank sees every example; the same model as
# one process, shuffled or not, on 2 ranks and on 3 (uneven ranges)
"$STEN" train -c ae_shuffled.json -i in.nc -o out.nc -n one_sh.nc -b 64 -e 3 -t 1 --validate in.nc \
    --validate out.nc --metrics m1.jsonl 2>/dev/null || bad "train shuffled, 1 process"
mpi 2 train -c ae.json -i in.nc -o out.nc -n mp2.nc -b 64 -e 3 -t 1 --parallel model --checkpoint-every 1 2>mp.err ||
    { bad "mpirun -np 2 train --parallel model"; cat mp.err; }
grep -q "model parallel over 2 ranks" mp.err && ok "the start line says model parallel over 2 ranks" ||
    { bad "no model-parallel start line"; cat mp.err; }
"$DIFF" one.nc mp2.nc $MP_TOL && ok "model parallel on 2 ranks gives the 1-process model" ||
    bad "model parallel on 2 ranks differs from 1 process"
mpi 3 train -c ae_shuffled.json -i in.nc -o out.nc -n mp3.nc -b 64 -e 3 -t 1 --parallel model --validate in.nc \
    --validate out.nc --metrics m3.jsonl 2>mp.err || { bad "mpirun -np 3 train --parallel model"; cat mp.err; }
"$DIFF" one_sh.nc mp3.nc $MP3_TOL && ok "model parallel on 3 ranks, shuffled, gives the 1-process model" ||
    bad "model parallel on 3 ranks differs from 1 process"
v1=$(sed -n '3s/.*"valid_loss": \([0-9.]*\).*/\1/p' m1.jsonl) v3=$(sed -n '3s/.*"valid_loss": \([0-9.]*\).*/\1/p' m3.jsonl)
awk -v a="$v1" -v b="$v3" 'BEGIN { d = (a - b) / a; exit !(a > 0 && d < 1e-6 && d > -1e-6) }' &&
    ok "its validation loss is the whole model's ($v1 / $v3)" || bad "validation loss $v1 (1 process) vs $v3 (3 ranks)"
for e in 1 2 3; do [ -f mp2-epoch$e.nc ] || bad "model-parallel checkpoint mp2-epoch$e.nc missing"; done
"$DIFF" mp2.nc mp2-epoch3.nc 0 >/dev/null && ok "the last checkpoint is the model (rank 0 gathered the shards)" ||
    bad "the last model-parallel checkpoint differs from the model"
"$STEN" train -c ae.json -i in.nc -o out.nc -n res.nc -b 64 -e 3 -t 1 --resume mp2-epoch2.nc 2>/dev/null &&
    "$DIFF" one.nc res.nc 1e-4 >/dev/null && ok "1 process resumes a model-parallel checkpoint (weights and Adam state)" ||
    bad "resuming a model-parallel checkpoint"
mpi 3 train -c ae.json -i in.nc -o out.nc -n res3.nc -b 64 -e 3 -t 1 --parallel model --resume mp2-epoch1.nc \
    2>err.txt && "$DIFF" one.nc res3.nc 1e-4 >/dev/null &&
    ok "3 model-parallel ranks resume a 2-rank checkpoint (each reads its items' blocks)" ||
    { bad "model-parallel resume on 3 ranks"; cat err.txt; }

# ---- a model larger than one process's memory budget (STEN_MEM_LIMIT, sten's
# own allocations): 23,680 items x 256 hidden units, plain SGD (48 MB of
# weights): one process under a 40 MB budget runs out (exit 71), two
# model-parallel ranks under the same budget each train their half, and
# rank 0 writes the whole model a piece at a time without ever holding it
"$STEN" synth --users 2000 --items 30000 --interactions 400000 --seed 4 --format dsstne -o big.txt 2>/dev/null &&
    "$STEN" generate-netcdf -d gl_input -i big.txt -o big_in.nc -f big_f -s big_s -c 2>/dev/null &&
    "$STEN" generate-netcdf -d gl_output -i big.txt -o big_out.nc -f big_f -s big_s 2>/dev/null ||
    bad "making the large-catalogue data"
sed 's/"N" : 128/"N" : 256/' ae.json >big.json
grep -q '"N" : 256' big.json || bad "could not make the large test config"
STEN_MEM_LIMIT=40M "$STEN" train -c big.json -i big_in.nc -o big_out.nc -n big1.nc -b 64 -e 1 -t 1 \
    --optimizer sgd 2>err.txt
rc=$?
[ $rc -eq 71 ] && grep -q "exceeds the memory limit" err.txt && [ ! -f big1.nc ] &&
    ok "one process runs out of a 40 MB budget (exit 71)" || { bad "one process under 40 MB: exit $rc"; cat err.txt; }
STEN_MEM_LIMIT=40M mpi 2 train -c big.json -i big_in.nc -o big_out.nc -n big2.nc -b 64 -e 1 -t 1 \
    --optimizer sgd --parallel model 2>err.txt && ok "2 model-parallel ranks train it under 40 MB each" ||
    { bad "2 ranks under 40 MB each"; cat err.txt; }
"$STEN" train -c big.json -i big_in.nc -o big_out.nc -n big1.nc -b 64 -e 1 -t 1 --optimizer sgd 2>/dev/null
"$DIFF" big1.nc big2.nc 1e-4 && ok "... and their model is the one unbudgeted process's" ||
    bad "the budgeted 2-rank model differs from 1 process"
# model-parallel prediction: each rank loads its item range, rank 0 merges
# the lists; under a 60 MB budget one process cannot load the model, 2 ranks can
"$STEN" predict -d gl -n big1.nc -r big.txt -i big_f -o big_f --exclude-seen -k 10 -b 128 -s bigp1.recs 2>/dev/null ||
    bad "predict the large model, 1 process"
STEN_MEM_LIMIT=60M "$STEN" predict -d gl -n big1.nc -r big.txt -i big_f -o big_f --exclude-seen -k 10 -b 128 \
    -s bigpx.recs 2>err.txt
rc=$?
[ $rc -eq 71 ] && [ ! -f bigpx.recs ] && ok "one process cannot predict under 60 MB (exit 71)" ||
    { bad "predict under 60 MB, 1 process: exit $rc"; cat err.txt; }
STEN_MEM_LIMIT=60M mpi 2 predict -d gl -n big1.nc -r big.txt -i big_f -o big_f --exclude-seen -k 10 -b 128 \
    -s bigp2.recs --parallel model 2>err.txt || { bad "predict --parallel model under 60 MB"; cat err.txt; }
same_lists bigp1.recs bigp2.recs && ok "2 model-parallel ranks under 60 MB each write the 1-process lists" ||
    bad "model-parallel prediction differs from 1 process"
rm -f big*.nc

# ---- checkpoints move between 1 and 2 ranks
"$STEN" train -c ae.json -i in.nc -o out.nc -n one_r.nc -b 64 -e 3 -t 1 --resume two-epoch1.nc 2>r1.err ||
    { bad "1 process resuming a 2-rank checkpoint"; cat r1.err; }
"$STEN" train -c ae.json -i in.nc -o out.nc -n ck.nc -b 64 -e 1 -t 1 --checkpoint-every 1 2>/dev/null
mpi 2 train -c ae.json -i in.nc -o out.nc -n two_r.nc -b 64 -e 3 -t 1 --resume ck-epoch1.nc 2>r2.err ||
    { bad "2 ranks resuming a 1-process checkpoint"; cat r2.err; }
"$DIFF" one.nc one_r.nc 1e-4 >/dev/null && "$DIFF" one.nc two_r.nc 1e-4 >/dev/null &&
    ok "resumed across 1 and 2 ranks: the same model" || bad "resuming across rank counts changed the model"

# ---- shuffled: each rank shuffles its stripe (not the 1-process order), still trains
mpi 2 train -c ae_shuffled.json -i in.nc -o out.nc -n sh.nc -b 64 -e 3 -t 1 2>sh.err && [ -f sh.nc ] &&
    ok "shuffled data-parallel training" || { bad "shuffled data-parallel training"; cat sh.err; }
"$DIFF" one.nc sh.nc 1e-4 >/dev/null && bad "model_diff finds no difference between other models" ||
    ok "model_diff tells another model apart (the shuffled one)"

# ---- prediction: 2 and 3 ranks write the 1-process file, byte for byte
"$STEN" predict -d gl -n one.nc -r t.txt -i features -o features --exclude-seen -k 10 -b 50 \
    -s p1.recs -t 1 2>/dev/null || bad "predict, 1 process"
for np in 2 3; do
    mpi $np predict -d gl -n one.nc -r t.txt -i features -o features --exclude-seen -k 10 -b 50 \
        -s p$np.recs -t 1 2>pe.err || { bad "mpirun -np $np predict"; cat pe.err; }
    cmp -s p1.recs p$np.recs && ok "predict on $np ranks: the 1-process file, byte for byte ($(wc -l <p1.recs) lines)" ||
        bad "predict on $np ranks differs from 1 process"
done

# model-parallel prediction of the small model on 3 ranks (uneven ranges)
mpi 3 predict -d gl -n one.nc -r t.txt -i features -o features --exclude-seen -k 10 -b 50 -s pm3.recs -t 1 \
    --parallel model 2>pe.err || { bad "mpirun -np 3 predict --parallel model"; cat pe.err; }
same_lists p1.recs pm3.recs && ok "predict --parallel model on 3 ranks: the 1-process file" ||
    bad "predict --parallel model on 3 ranks differs from 1 process"

# ---- refusals
mpi 2 train -c ae.json -i in.nc -o out.nc -n odd.nc -b 63 -e 1 2>err.txt
rc=$?
[ $rc -ne 0 ] && grep -q "multiple of 2" err.txt && [ ! -f odd.nc ] &&
    ok "a batch that 2 ranks cannot share is refused (exit $rc)" || { bad "batch 63 on 2 ranks: exit $rc"; cat err.txt; }
sed 's/"N" : 128/"N" : 64/' ae.json >other.json
timeout 120 $RUN -np 1 "$STEN" train -c ae.json -i in.nc -o out.nc -n mix.nc -b 64 -e 1 : \
    -np 1 "$STEN" train -c other.json -i in.nc -o out.nc -n mix.nc -b 64 -e 1 >/dev/null 2>err.txt
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not started alike" err.txt && [ ! -f mix.nc ] &&
    ok "ranks started with different configs are refused (exit $rc)" || { bad "mismatched ranks: exit $rc"; cat err.txt; }
mpi 2 convert r.csv -o x.txt 2>err.txt
rc=$?
[ $rc -ne 0 ] && grep -q "only train and predict run" err.txt && ok "convert refuses to run on 2 ranks" ||
    { bad "convert on 2 ranks: exit $rc"; cat err.txt; }
mpi 2 train --algorithm kmeans --hyperparameters x.json --train x.csv --model-dir km 2>err.txt
rc=$?
[ $rc -eq 64 ] && grep -q "runs as one process" err.txt && ok "train --algorithm refuses to run on 2 ranks" ||
    { bad "train --algorithm on 2 ranks: exit $rc"; cat err.txt; }
mpi 2 train -c ae.json -i in.nc -o out.nc -n pm.nc -b 64 -e 1 --parallel model --test in.nc 2>err.txt
rc=$?
[ $rc -eq 64 ] && grep -q "does not take --test" err.txt && ok "--parallel model refuses --test (exit 64)" ||
    { bad "--parallel model --test: exit $rc"; cat err.txt; }

# ---- model parallel over tables (DLRM, the example's config: Adam,
# shuffled): each rank holds whole Embedding tables (the largest first, to
# the rank holding least), the rest whole on every rank; the tables' outputs
# are summed over the ranks (one holds each), so the model is one process's
# to the bit, on 2 and 3 ranks, and checkpoints move between rank counts
dlrm_ex="$4/criteo/dlrm.json"
"$STEN" train -c "$dlrm_ex" -i c.nc -o c.nc -n dt1.nc -b 64 -e 2 -t 1 2>/dev/null || bad "DLRM, 1 process"
mpi 2 train -c "$dlrm_ex" -i c.nc -o c.nc -n dt2.nc -b 64 -e 2 -t 1 --parallel model --checkpoint-every 1 \
    2>dt2.err || { bad "DLRM --parallel model on 2 ranks"; cat dt2.err; }
"$DIFF" dt1.nc dt2.nc 1e-7 && grep -q "each holds whole Embedding tables, rank 0 13 of the 26" dt2.err &&
    ok "DLRM split by tables on 2 ranks (13 + 13): the 1-process model" ||
    { bad "DLRM split by tables on 2 ranks differs from 1 process"; cat dt2.err; }
mpi 3 train -c "$dlrm_ex" -i c.nc -o c.nc -n dt3.nc -b 64 -e 2 -t 1 --parallel model 2>err.txt &&
    "$DIFF" dt1.nc dt3.nc 1e-7 && ok "... and on 3 ranks" || { bad "DLRM split by tables on 3 ranks"; cat err.txt; }
"$STEN" train -c "$dlrm_ex" -i c.nc -o c.nc -n dt1r.nc -b 64 -e 2 -t 1 --resume dt2-epoch1.nc 2>/dev/null &&
    mpi 3 train -c "$dlrm_ex" -i c.nc -o c.nc -n dt3r.nc -b 64 -e 2 -t 1 --parallel model --resume dt2-epoch1.nc \
        2>/dev/null && "$DIFF" dt1.nc dt1r.nc 1e-7 && "$DIFF" dt1.nc dt3r.nc 1e-7 &&
    ok "a 2-rank table-split checkpoint resumes on 1 process and on 3 ranks: the same model" ||
    bad "resuming a table-split checkpoint changed the model"
"$STEN" predict -n dt1.nc -i c.nc --format scores -s ds1.txt 2>/dev/null || bad "DLRM scores, 1 process"
# (one process scores blocks of 256 rows per thread, the ranks batches of
# 1,024 together: with sten's kernels a row's score does not depend on its
# batch; with the BLAS's products (above), OpenBLAS's blocking does, by an
# ulp, so there the scores are compared within 1e-6)
same_scores() { # same_scores A B: byte for byte, or within 1e-6 with the BLAS's products
    cmp -s "$1" "$2" && return 0
    [ $blas_gemm = 1 ] || return 1
    awk 'NR == FNR { a[FNR] = $1; next } { if (!(FNR in a) || $1 - a[FNR] > 1e-6 || a[FNR] - $1 > 1e-6) exit 1 }
         END { if (FNR != length(a)) exit 1 }' "$1" "$2"
}
for np in 2 3; do
    mpi $np predict -n dt1.nc -i c.nc --format scores -s ds$np.txt --parallel model 2>err.txt &&
        same_scores ds1.txt ds$np.txt && ok "DLRM scores on $np ranks (tables split): the 1-process file" ||
        { bad "DLRM scores on $np ranks"; cat err.txt; wc -l ds1.txt ds$np.txt; diff ds1.txt ds$np.txt | head -n 6; }
done
# int8 inference over split tables: each rank runs the (replicated) MLPs in int8 on the summed
# lookups, and a row's int8 score does not depend on its batch either
"$STEN" predict -n dt1.nc -i c.nc --format scores -s di1.txt --precision int8 2>/dev/null &&
    mpi 2 predict -n dt1.nc -i c.nc --format scores -s di2.txt --parallel model --precision int8 2>err.txt &&
    cmp -s di1.txt di2.txt && ! cmp -s di1.txt ds1.txt &&
    ok "DLRM int8 scores on 2 ranks (tables split): the 1-process int8 file (not fp32's)" ||
    { bad "DLRM int8 scores on 2 ranks"; cat err.txt; diff di1.txt di2.txt | head -n 6; }
mpi 2 predict -n one.nc -i in.nc --format scores -s aes.txt --parallel model 2>err.txt
rc=$?
[ $rc -ne 0 ] && [ ! -f aes.txt ] && grep -q "scores with --parallel model need a model split by Embedding tables" err.txt &&
    ok "scores with --parallel model refuse a model not split by tables (exit $rc), no file" ||
    { bad "predict --parallel model scores of an autoencoder: exit $rc"; cat err.txt; }
# tables larger than one process's budget: 26 x 20,000 x 16 floats and
# Adam's two moments of each (100 MB)
"$STEN" convert c.tsv -o cbig.nc --format criteo --hash-buckets 20000 2>/dev/null || bad "making the large tables' data"
STEN_MEM_LIMIT=80M "$STEN" train -c "$dlrm_ex" -i cbig.nc -o cbig.nc -n tb.nc -b 64 -e 1 -t 1 2>err.txt
rc=$?
[ $rc -eq 71 ] && [ ! -f tb.nc ] && ok "one process cannot hold 100 MB of tables and Adam state in 80 MB (exit 71)" ||
    { bad "DLRM under 80 MB, 1 process: exit $rc"; cat err.txt; }
STEN_MEM_LIMIT=80M mpi 2 train -c "$dlrm_ex" -i cbig.nc -o cbig.nc -n tb2.nc -b 64 -e 1 -t 1 --parallel model \
    2>err.txt || { bad "DLRM split by tables under 80 MB per rank"; cat err.txt; }
"$STEN" train -c "$dlrm_ex" -i cbig.nc -o cbig.nc -n tb1.nc -b 64 -e 1 -t 1 2>/dev/null &&
    "$DIFF" tb1.nc tb2.nc 1e-7 && ok "2 ranks train them under 80 MB each: the unbudgeted process's model" ||
    bad "the budgeted table-split model differs from 1 process"
"$STEN" predict -n tb1.nc -i cbig.nc --format scores -s tbs1.txt 2>/dev/null &&
    STEN_MEM_LIMIT=80M mpi 2 predict -n tb1.nc -i cbig.nc --format scores -s tbs2.txt --parallel model 2>err.txt &&
    same_scores tbs1.txt tbs2.txt && ok "... and score the test rows under 80 MB each: the 1-process scores" ||
    { bad "table-split scoring under 80 MB"; cat err.txt; }
rm -f cbig.nc tb*.nc
# more ranks than tables: 2 tables on 3 ranks, rank 2 holds none
cat >dlrm2.json <<'EOF2'
{ "Version": 0.9, "Kind": "FeedForward", "Layers": [
    { "Name": "Dense", "Kind": "Input", "N": "auto", "DataSet": "dense" },
    { "Name": "C1", "Kind": "Input", "N": "auto", "DataSet": "C1", "Sparse": true },
    { "Name": "C2", "Kind": "Input", "N": "auto", "DataSet": "C2", "Sparse": true },
    { "Name": "Bottom", "N": 8, "Activation": "RELU", "Source": "Dense" },
    { "Name": "E1", "Type": "Embedding", "N": 8, "Source": "C1" },
    { "Name": "E2", "Type": "Embedding", "N": 8, "Source": "C2" },
    { "Name": "Interaction", "Type": "Interaction", "N": "auto", "KeepFirst": 1,
      "Sources": ["Bottom", "E1", "E2"] },
    { "Name": "Top", "N": 16, "Activation": "RELU", "Source": "Interaction" },
    { "Name": "Click", "Kind": "Output", "N": 1, "Activation": "Sigmoid", "DataSet": "label", "Source": "Top" } ],
  "ErrorFunction": "CrossEntropy", "Training": { "Optimizer": "Adam", "Alpha": 0.001 } }
EOF2
"$STEN" train -c dlrm2.json -i c.nc -o c.nc -n d2t1.nc -b 64 -e 1 -t 1 2>/dev/null || bad "2-table DLRM, 1 process"
mpi 3 train -c dlrm2.json -i c.nc -o c.nc -n d2t3.nc -b 64 -e 1 -t 1 --parallel model 2>err.txt &&
    "$DIFF" d2t1.nc d2t3.nc 1e-7 && grep -q "rank 0 1 of the 2" err.txt &&
    ok "2 tables on 3 ranks (one rank holds none): the 1-process model" || { bad "2 tables on 3 ranks"; cat err.txt; }
# a sparse input feeding a FullyConnected layer and a table: neither scheme
sed 's/{ "Name" : "Hidden", "Kind" : "Hidden", "Type" : "FullyConnected", "N" : 128,/{ "Name" : "E", "Kind" : "Hidden", "Type" : "Embedding", "N" : 8, "Sources" : ["Input"] }, { "Name" : "Hidden", "Kind" : "Hidden", "Type" : "FullyConnected", "N" : 128, "Sources" : ["Input", "E"],/' \
    ae.json >mixed.json
mpi 2 train -c mixed.json -i in.nc -o out.nc -n mx.nc -b 64 -e 1 -t 1 --parallel model 2>err.txt
rc=$?
grep -q '"Input", "E"' mixed.json && [ $rc -ne 0 ] && [ ! -f mx.nc ] &&
    grep -q 'layer "Hidden": model parallelism splits either the Embedding tables' err.txt &&
    ok "--parallel model refuses a sparse input feeding both a table and a FullyConnected layer (exit $rc)" ||
    { bad "--parallel model on a mixed network: exit $rc"; cat err.txt; }

# ---- a rank killed mid-training: the job ends (no hang), the last checkpoint is whole
timeout 300 $RUN -np 2 "$STEN" train -c ae.json -i in.nc -o out.nc -n kill.nc -b 64 -e 100000 -t 1 \
    --checkpoint-every 1 >/dev/null 2>kill.err &
job=$!
i=0
while [ ! -f kill-epoch2.nc ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
victim=""
for p in $(pgrep -f "sten train -c ae.json -i in.nc -o out.nc -n kill.nc"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$p; fi
done
if [ -z "$victim" ]; then
    bad "could not find rank 1 to kill"
    kill "$job" 2>/dev/null
else
    kill -9 "$victim"
    wait "$job"
    rc=$?
    last=$(ls kill-epoch*.nc 2>/dev/null | sed 's/kill-epoch\([0-9]*\).nc/\1/' | sort -n | tail -n 1)
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ ! -f kill.nc ]; then
        ok "rank 1 killed: the job ended (exit $rc), no model written"
    else
        bad "rank 1 killed: exit $rc"; cat kill.err
    fi
    "$STEN" predict -d gl -n "kill-epoch$last.nc" -r t.txt -i features -o features -k 5 -s k.recs 2>err.txt &&
        ok "the last checkpoint (epoch $last) loads and predicts" || { bad "checkpoint kill-epoch$last.nc"; cat err.txt; }
    ls kill*.tmp.* 2>/dev/null && echo "note: a temporary of the checkpoint being written when the job was killed is left"
fi
exit $fail
