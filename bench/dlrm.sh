#!/bin/sh
# bench/dlrm.sh — DLRM training speed, sten and PyTorch side by side in one
# run, same threads pinned to the same cores, alternating: the Kaggle
# architecture (examples/criteo/dlrm.json: 26 tables of ROWS x 16, bottom
# 13-512-256-64-16, dot interaction, top 512-256-1, Adam) at batch BATCH.
# sten trains on a Criteo-format TSV it generates and converts (epochs 2..3
# timed); PyTorch (bench/dlrm_torch.py, Debian's python3-torch, installed on
# demand) on random batches of the same shapes, with sparse embedding
# gradients + SparseAdam (its fast form) and with dense Adam. Appends to
# bench/RESULTS.md.
#   THREADS=2 BATCH=128 ROWS=100000 EXAMPLES=20000 ROUNDS=3 sh bench/dlrm.sh
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
BATCH=${BATCH:-128}
ROWS=${ROWS:-100000}
EXAMPLES=${EXAMPLES:-20000}
ROUNDS=${ROUNDS:-3}
. bench/lib.sh
bench_need_torch
bench_build sten
bench_threads "$THREADS"
w=out/dlrm-bench
mkdir -p "$w"
awk -v n="$EXAMPLES" 'BEGIN { srand(11); for (r = 0; r < n; r++) {
        line = (rand() < 0.25) ? "1" : "0"
        for (k = 0; k < 13; k++) line = line "\t" ((rand() < 0.1) ? "" : int(rand() * 50) - 2)
        for (k = 0; k < 26; k++) line = line "\t" ((rand() < 0.05) ? "" : sprintf("%08x", int(rand() * rand() * 1000000) + k))
        print line } }' >"$w/train.tsv"
./build/sten convert "$w/train.tsv" -o "$w/train.nc" --format criteo --hash-buckets "$ROWS" 2>/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    rm -f "$w/m.jsonl"
    taskset -c "$cores" ./build/sten train -c examples/criteo/dlrm.json -i "$w/train.nc" -o "$w/train.nc" \
        -n "$w/m.nc" -e 3 -b "$BATCH" -t "$THREADS" --metrics "$w/m.jsonl" --force 2>/dev/null
    # epochs 2 and 3 (the first one warms up)
    sed -n 's/.*"examples_per_s": \([0-9.]*\).*/\1/p' "$w/m.jsonl" | tail -n 2 |
        awk '{ s += $1 } END { printf "{\"impl\": \"sten\", \"examples_per_s\": %.1f}\n", s / NR }' >>"$out"
    for sp in 1 0; do
        taskset -c "$cores" /usr/bin/python3 bench/dlrm_torch.py --threads "$THREADS" --batch "$BATCH" \
            --rows "$ROWS" --steps $((EXAMPLES / BATCH)) --sparse $sp >>"$out"
    done
    r=$((r + 1))
done
/usr/bin/python3 - "$out" "$model" "$THREADS" "$BATCH" "$ROWS" "$EXAMPLES" "$ROUNDS" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {i: statistics.median(r["examples_per_s"] for r in rows if r["impl"] == i) for i in {r["impl"] for r in rows}}
torch = max(v for k, v in med.items() if k.startswith("pytorch"))
lines = ["| implementation | examples/s (median of %s) |" % sys.argv[7], "|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    lines.append("| %s | %.0f |" % (k, v))
lines += ["", "**sten is %.2fx PyTorch's faster form** (target: 3x, against PyTorch 2.x)." % (med["sten"] / torch)]
text = "\n".join(lines)
print(text)
ver = next(r["torch"] for r in rows if "torch" in r)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## bench/dlrm — DLRM training, sten vs PyTorch (%s)\n\n" % datetime.date.today())
    f.write("Command: `THREADS=%s BATCH=%s ROWS=%s EXAMPLES=%s ROUNDS=%s sh bench/dlrm.sh`\n\n" % tuple(sys.argv[3:8]))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=%s, pinned with taskset; PyTorch %s (Debian). "
            "Kaggle DLRM (26 tables of %s x 16, bottom 13-512-256-64-16, dot interaction, top 512-256-1, "
            "Adam), batch %s.\n\n" % (sys.argv[2], sys.argv[3], ver, sys.argv[5], sys.argv[4]))
    f.write(text + "\n")
PY
