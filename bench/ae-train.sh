#!/bin/sh
# bench/ae-train.sh — training step of DSSTNE's MovieLens autoencoder, sten
# and PyTorch side by side in one run, same threads pinned to the same cores,
# alternating runs so machine noise hits both. Appends the result to
# bench/RESULTS.md. PyTorch comes from Debian (python3-torch), installed here
# on demand, never by the tests.
#   THREADS=2 STEPS=30 ROUNDS=3 sh bench/ae-train.sh          (synthetic, ML-20M shape)
#   DATA=ml-1m THREADS=2 STEPS=20 ROUNDS=3 sh bench/ae-train.sh (../shared/data/ml-1m)
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
STEPS=${STEPS:-30}
ROUNDS=${ROUNDS:-3}

. bench/lib.sh
bench_need_torch
bench_build bench_ae_step sten
bench_threads "$THREADS"
DATA=${DATA:-synthetic}
sten_data="" torch_data=""
if [ "$DATA" = ml-1m ]; then
    w=out/ae-train-ml1m
    mkdir -p "$w"
    cmake --build build -j "$(nproc)" --target sten >/dev/null
    ./build/sten convert ../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz --format delimited --delimiter : \
        --columns user,-,item,-,rating -o "$w/ml1m.txt" 2>/dev/null
    ./build/sten generate-netcdf -d gl_input -i "$w/ml1m.txt" -o "$w/ml1m.nc" -f "$w/features" -s "$w/samples" -c 2>/dev/null
    # its steps take ~3 ms: five timed epochs (~100 steps, ~0.3 s, what
    # PyTorch's 20 steps take) so one hiccup of the machine weighs less
    sten_data="--nc $w/ml1m.nc --epochs 5"
    torch_data="--text $w/ml1m.txt"
fi
echo "data: $DATA"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    # shellcheck disable=SC2086
    taskset -c "$cores" ./build/bench/bench_ae_step --threads "$THREADS" --steps "$STEPS" $sten_data >>"$out"
    if ./build/sten info | grep -q "^bf16 *yes"; then
        # shellcheck disable=SC2086
        taskset -c "$cores" ./build/bench/bench_ae_step --threads "$THREADS" --steps "$STEPS" $sten_data --bf16 1 >>"$out"
    fi
    # shellcheck disable=SC2086
    taskset -c "$cores" /usr/bin/python3 bench/ae_torch.py --threads "$THREADS" --steps "$STEPS" --input embeddingbag $torch_data >>"$out"
    # shellcheck disable=SC2086
    taskset -c "$cores" /usr/bin/python3 bench/ae_torch.py --threads "$THREADS" --steps "$STEPS" --input sparse.mm $torch_data >>"$out"
    r=$((r + 1))
done

/usr/bin/python3 - "$out" "$model" "$THREADS" "$STEPS" "$ROUNDS" "$DATA" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for impl in sorted({r["impl"] for r in rows}):
    med[impl] = statistics.median(r["ms_per_step"] for r in rows if r["impl"] == impl)
best_torch = min(v for k, v in med.items() if k.startswith("pytorch"))
users = 6040 if sys.argv[6] == "ml-1m" else 138493
lines = ["| implementation | ms per step (median of %s) | examples/s | seconds per epoch (%d users) |" % (sys.argv[5], users),
         "|---|---|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: kv[1]):
    lines.append("| %s | %.2f | %.0f | %.1f |" % (k, v, 256e3 / v, users / 256 * v / 1e3))
ratio = best_torch / med["sten"]
lines.append("")
lines.append("**sten (fp32) is %.2fx faster than PyTorch's best input path** (target: 4x)." % ratio)
if "sten-bf16" in med:
    lines.append("sten with `--precision bf16` (opt-in; its Recall@20 against fp32's: bench/bf16-accuracy.sh) "
                 "is %.2fx faster than PyTorch fp32 (stretch target: 7x)." % (best_torch / med["sten-bf16"]))
text = "\n".join(lines)
print(text)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## bench/ae-train — training step, sten vs PyTorch, %s data (%s)\n\n" % (sys.argv[6], datetime.date.today()))
    f.write("Command: `DATA=%s THREADS=%s STEPS=%s ROUNDS=%s sh bench/ae-train.sh`\n\n" % (sys.argv[6], sys.argv[3], sys.argv[4], sys.argv[5]))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=%s, both pinned with taskset; PyTorch %s.\n" % (sys.argv[2], sys.argv[3], next(r["torch"] for r in rows if "torch" in r)))
    f.write("Network: sparse input N items -> 128 Sigmoid (sparseness p=0.5, beta=2) -> N Sigmoid, "
            "SMCE 1/0/1/1, denoising 0.2, SGD (alpha 0.025, lambda 1e-4), batch 256; %s.\n\n"
            % ("MovieLens-1M (6,040 users, 3,706 movies, 1M ratings)" if sys.argv[6] == "ml-1m" else
               "synthetic users with ~144 items each under power-law popularity (ML-20M shape, 26,744 items)"))
    f.write(text + "\n")
PY
