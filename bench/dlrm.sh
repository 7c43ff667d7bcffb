#!/bin/sh
# bench/dlrm.sh — DLRM training speed, sten and PyTorch side by side in one
# run, same threads pinned to the same cores, alternating: the Kaggle
# architecture (examples/criteo/dlrm.json: 26 tables of ROWS x 16, bottom
# 13-512-256-64-16, dot interaction, top 512-256-1, Adam) at batch BATCH.
# sten trains on a Criteo-format TSV it generates and converts (epochs 2..3
# timed), in fp32 and, where the CPU has AVX-512 BF16, with --precision bf16;
# PyTorch (bench/dlrm_torch.py) on random batches of the same shapes, with
# sparse embedding gradients + SparseAdam (its fast form) and with dense Adam,
# each in its forms (eager, torch.compile, bf16 autocast, both). The peer
# (bench/lib.sh): PEER=pypi, the current PyTorch from PyPI in
# build/bench-venv (default), or PEER=debian, Debian's 1.13; installed on
# demand. The headline sets sten fp32 against PyTorch's fastest fp32 form,
# sten bf16 against its fastest bf16 form. Appends to $RESULTS (bench/RESULTS.md).
#   THREADS=2 BATCH=128 ROWS=100000 EXAMPLES=20000 ROUNDS=3 sh bench/dlrm.sh
#   PEER=debian ... / TORCH_FORMS="eager compile" ... / RESULTS=/dev/null ...
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
bench_platform
w=out/dlrm-bench
bench_dlrm_rows "$w" "$EXAMPLES" "$ROWS"
bench_precisions
out=$(mktemp)
trap 'rm -f "$out" "$platform_file"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    for p in $precisions; do
        rm -f "$w/m.jsonl"
        taskset -c "$cores" ./build/sten train -c examples/criteo/dlrm.json -i "$w/rows.nc" -o "$w/rows.nc" \
            -n "$w/m.nc" -e 3 -b "$BATCH" -t "$THREADS" --precision "$p" --metrics "$w/m.jsonl" --force 2>/dev/null
        # epochs 2 and 3 (the first one warms up)
        impl=sten
        if [ "$p" = bf16 ]; then impl=sten-bf16; fi
        sed -n 's/.*"examples_per_s": \([0-9.]*\).*/\1/p' "$w/m.jsonl" | tail -n 2 |
            awk -v impl="$impl" -v p="$p" '{ s += $1 } END {
                printf "{\"impl\": \"%s\", \"precision\": \"%s\", \"examples_per_s\": %.1f}\n", impl, p, s / NR }' >>"$out"
    done
    for sp in 1 0; do
        for form in $TORCH_FORMS; do
            bench_peer "$out" bench/dlrm_torch.py --threads "$THREADS" --batch "$BATCH" \
                --rows "$ROWS" --steps $((EXAMPLES / BATCH)) --sparse $sp --form "$form"
        done
    done
    r=$((r + 1))
done
"$PY" - "$out" "$model" "$THREADS" "$BATCH" "$ROWS" "$EXAMPLES" "$ROUNDS" "$PEER" "$RESULTS" "$platform_file" <<'PY'
import json, statistics, sys, datetime
out, model, threads, batch, nrows, examples, rounds, peer, results, platform = sys.argv[1:11]
rows = [json.loads(l) for l in open(out) if l.strip()]
impls = sorted({r["impl"] for r in rows})
of = {i: [r for r in rows if r["impl"] == i] for i in impls}
med = {i: statistics.median(r["examples_per_s"] for r in of[i]) for i in impls}
prec = {i: of[i][0].get("precision", "fp32") for i in impls}
comp = {i: statistics.median(r.get("compile_s", 0.0) for r in of[i]) for i in impls}
ver = next((r["torch"] for r in rows if "torch" in r), "?")

def fastest(p):
    c = {i: v for i, v in med.items() if i.startswith("pytorch") and prec[i] == p}
    return max(c, key=c.get) if c else None

lines = ["| implementation | precision | examples/s (median of %s) | compile s |" % rounds, "|---|---|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    lines.append("| %s | %s | %.0f | %s |" % (k, prec[k], v, "%.1f" % comp[k] if comp[k] else "-"))
f32, b16 = fastest("fp32"), fastest("bf16")
lines.append("")
if f32 and "sten" in med:
    lines.append("**sten fp32 runs at %.2fx the speed of PyTorch %s's fastest fp32 form (%s)** (target: 3x)."
                 % (med["sten"] / med[f32], ver, f32))
if b16 and "sten-bf16" in med:
    lines.append("**sten bf16 runs at %.2fx the speed of PyTorch's fastest bf16 form (%s)**, the same precision "
                 "class." % (med["sten-bf16"] / med[b16], b16))
text = "\n".join(lines)
print(text)
keep = ("lscpu:", "sten info: gemm", "sten info: bf16", "torch: ", "oneDNN: onednn_verbose,v1,info,cpu,isa",
        "oneDNN: dnnl_verbose,info,cpu,isa")
plat = [l.rstrip() for l in open(platform) if l.startswith(keep)]
with open(results, "a") as f:
    f.write("\n## bench/dlrm — DLRM training, sten vs PyTorch (%s)\n\n" % datetime.date.today())
    f.write("Command: `PEER=%s THREADS=%s BATCH=%s ROWS=%s EXAMPLES=%s ROUNDS=%s sh bench/dlrm.sh`\n\n"
            % (peer, threads, batch, nrows, examples, rounds))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=%s, pinned with taskset; PyTorch %s (%s). "
            "Kaggle DLRM (26 tables of %s x 16, bottom 13-512-256-64-16, dot interaction, top 512-256-1, "
            "Adam), batch %s. Compile s: cold torch.compile time, in the untimed warm-up.\n\n"
            % (model, threads, ver, "PyPI" if peer == "pypi" else "Debian", nrows, batch))
    f.write("```\n" + "\n".join(plat) + "\n```\n\n")
    f.write(text + "\n")
PY
