#!/bin/sh
# bench/ae-train.sh — training step of DSSTNE's MovieLens autoencoder, sten
# and PyTorch side by side in one run, same threads pinned to the same cores,
# alternating runs so machine noise hits both. Appends the result to
# bench/RESULTS.md. PyTorch comes from Debian (python3-torch), installed here
# on demand, never by the tests.
#   THREADS=2 STEPS=30 ROUNDS=3 sh bench/ae-train.sh
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
STEPS=${STEPS:-30}
ROUNDS=${ROUNDS:-3}

. bench/lib.sh
bench_need_torch
bench_build bench_ae_step
bench_threads "$THREADS"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    taskset -c "$cores" ./build/bench/bench_ae_step --threads "$THREADS" --steps "$STEPS" >>"$out"
    taskset -c "$cores" /usr/bin/python3 bench/ae_torch.py --threads "$THREADS" --steps "$STEPS" --input embeddingbag >>"$out"
    taskset -c "$cores" /usr/bin/python3 bench/ae_torch.py --threads "$THREADS" --steps "$STEPS" --input sparse.mm >>"$out"
    r=$((r + 1))
done

/usr/bin/python3 - "$out" "$model" "$THREADS" "$STEPS" "$ROUNDS" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for impl in sorted({r["impl"] for r in rows}):
    med[impl] = statistics.median(r["ms_per_step"] for r in rows if r["impl"] == impl)
best_torch = min(v for k, v in med.items() if k.startswith("pytorch"))
lines = ["| implementation | ms per step (median of %s) | examples/s | seconds per ML-20M epoch (138,493 users) |" % sys.argv[5],
         "|---|---|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: kv[1]):
    lines.append("| %s | %.1f | %.0f | %.0f |" % (k, v, 256e3 / v, 138493 / 256 * v / 1e3))
ratio = best_torch / med["sten"]
lines.append("")
lines.append("**sten is %.2fx faster than PyTorch's best input path** (target: 4x)." % ratio)
text = "\n".join(lines)
print(text)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## bench/ae-train — training step, sten vs PyTorch (%s)\n\n" % datetime.date.today())
    f.write("Command: `THREADS=%s STEPS=%s ROUNDS=%s sh bench/ae-train.sh`\n\n" % (sys.argv[3], sys.argv[4], sys.argv[5]))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=%s, both pinned with taskset; PyTorch %s.\n" % (sys.argv[2], sys.argv[3], rows[1].get("torch")))
    f.write("Network: sparse input 26,744 items -> 128 Sigmoid (sparseness p=0.5, beta=2) -> 26,744 Sigmoid, "
            "SMCE 1/0/1/1, denoising 0.2, SGD (alpha 0.025, lambda 1e-4), batch 256; synthetic users with "
            "~144 items each under power-law popularity (ML-20M shape).\n\n")
    f.write(text + "\n")
PY
