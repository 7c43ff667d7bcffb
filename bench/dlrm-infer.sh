#!/bin/sh
# bench/dlrm-infer.sh — DLRM scoring speed (issue #13's inference target: at
# least 3x PyTorch's), sten and PyTorch side by side in one run, the same
# threads pinned to the same cores, alternating: the Kaggle architecture
# (examples/criteo/dlrm.json: 26 tables of ROWS x 16) scoring EXAMPLES rows in
# batches of BATCH. sten: a model trained for one epoch on the rows (untimed),
# then `sten predict --format scores`, whose own timing of the scoring (the
# model and rows already in memory, as a server holds them) is taken; fp32
# and, where the CPU has AVX-512 BF16, --precision bf16; where it has
# AVX-512 VNNI, --precision int8. PyTorch (bench/dlrm_torch.py --infer 1):
# the same shapes in eval mode under no_grad, in its forms (eager,
# torch.compile, bf16 autocast, both; and int8: dynamic quantization of the
# Linear layers, eager and compiled, whenever sten runs int8). The headline
# sets sten fp32 against PyTorch's fastest fp32 form, and sten int8 against
# PyTorch's fastest int8 form and its fastest form of any precision.
# Appends to $RESULTS.
#   THREADS=2 BATCH=4096 ROWS=100000 EXAMPLES=200000 ROUNDS=3 sh bench/dlrm-infer.sh
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
BATCH=${BATCH:-4096}
ROWS=${ROWS:-100000}
EXAMPLES=${EXAMPLES:-200000}
ROUNDS=${ROUNDS:-3}
TORCH_FORMS_GIVEN=${TORCH_FORMS:-}
. bench/lib.sh
bench_need_torch
bench_build sten
bench_threads "$THREADS"
bench_platform
w=out/dlrm-infer
bench_dlrm_rows "$w" "$EXAMPLES" "$ROWS"
./build/sten train -c examples/criteo/dlrm.json -i "$w/rows.nc" -o "$w/rows.nc" -n "$w/m.nc" -e 1 -b 1024 \
    -t "$THREADS" --force 2>/dev/null
bench_precisions
if ./build/sten info | grep -q "^int8 on *AVX-512 VNNI"; then
    precisions="$precisions int8"
    # PyTorch's int8 forms beside sten's, unless TORCH_FORMS was given
    case " ${TORCH_FORMS_GIVEN:-} " in "  ") TORCH_FORMS="$TORCH_FORMS int8 compile-int8" ;; esac
fi
out=$(mktemp)
trap 'rm -f "$out" "$platform_file"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    for p in $precisions; do
        impl=sten
        if [ "$p" != fp32 ]; then impl=sten-$p; fi
        taskset -c "$cores" ./build/sten predict --force -n "$w/m.nc" -i "$w/rows.nc" --format scores -b "$BATCH" \
            -t "$THREADS" --precision "$p" -s "$w/scores.txt" 2>"$w/err"
        sed -n 's/.*, \([0-9.]*\) rows\/s).*/\1/p' "$w/err" |
            awk -v impl="$impl" -v p="$p" '{ printf "{\"impl\": \"%s\", \"precision\": \"%s\", \"examples_per_s\": %.1f}\n", impl, p, $1 }' >>"$out"
    done
    for form in $TORCH_FORMS; do
        bench_peer "$out" bench/dlrm_torch.py --threads "$THREADS" --batch "$BATCH" --rows "$ROWS" \
            --steps $((EXAMPLES / BATCH)) --infer 1 --form "$form"
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
ver = next((r["torch"] for r in rows if "torch" in r), "?")

def fastest(p):
    c = {i: v for i, v in med.items() if i.startswith("pytorch") and prec[i] == p}
    return max(c, key=c.get) if c else None

lines = ["| implementation | precision | rows scored/s (median of %s) |" % rounds, "|---|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    lines.append("| %s | %s | %.0f |" % (k, prec[k], v))
f32, b16, i8 = fastest("fp32"), fastest("bf16"), fastest("int8")
anyp = max((i for i in med if i.startswith("pytorch")), key=med.get, default=None)
lines.append("")
if f32 and "sten" in med:
    lines.append("**sten fp32 scores at %.2fx the speed of PyTorch %s's fastest fp32 form (%s)** (target: 3x)."
                 % (med["sten"] / med[f32], ver, f32))
if b16 and "sten-bf16" in med:
    lines.append("**sten bf16 scores at %.2fx the speed of PyTorch's fastest bf16 form (%s)**, the same precision "
                 "class." % (med["sten-bf16"] / med[b16], b16))
if "sten-int8" in med and i8:
    lines.append("**sten int8 scores at %.2fx the speed of PyTorch's fastest int8 form (%s)** and at %.2fx its "
                 "fastest form of any precision (%s); int8 moves the scores (its AUC: docs/dlrm.md)."
                 % (med["sten-int8"] / med[i8], i8, med["sten-int8"] / med[anyp], anyp))
text = "\n".join(lines)
print(text)
keep = ("lscpu:", "sten info: gemm", "sten info: bf16", "sten info: int8", "torch: ", "oneDNN: onednn_verbose,v1,info,cpu,isa")
plat = [l.rstrip() for l in open(platform) if l.startswith(keep)]
with open(results, "a") as f:
    f.write("\n## bench/dlrm-infer — DLRM scoring, sten vs PyTorch (%s)\n\n" % datetime.date.today())
    f.write("Command: `PEER=%s THREADS=%s BATCH=%s ROWS=%s EXAMPLES=%s ROUNDS=%s sh bench/dlrm-infer.sh`\n\n"
            % (peer, threads, batch, nrows, examples, rounds))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=%s, pinned with taskset; PyTorch %s (%s). "
            "Kaggle DLRM (26 tables of %s x 16, bottom 13-512-256-64-16, dot interaction, top 512-256-1), "
            "batches of %s. sten: `sten predict`'s own timing of the scoring (model and rows in memory); "
            "PyTorch: eval mode, no_grad, random rows of the same shapes in memory.\n\n"
            % (model, threads, ver, "PyPI" if peer == "pypi" else "Debian", nrows, batch))
    f.write("```\n" + "\n".join(plat) + "\n```\n\n")
    f.write(text + "\n")
PY
