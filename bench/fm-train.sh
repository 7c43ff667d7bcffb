#!/bin/sh
# bench/fm-train.sh — Factorization Machine training throughput, sten vs a
# PyTorch FM (EmbeddingBag, same k, Adam with the same group rates, batch
# 500, MSE) on MovieLens 100K fold u1, same threads pinned to the same cores,
# alternating runs. Appends to $RESULTS (bench/RESULTS.md). The peer
# (bench/lib.sh): PEER=pypi, the current PyTorch from PyPI in
# build/bench-venv (default), or PEER=debian, Debian's 1.13; installed on
# demand. PyTorch runs its fp32 forms (eager, torch.compile): sten's FM has no
# bf16 precision, and bf16 autocast casts none of the FM's ops (embedding
# bags, elementwise), so its bf16 forms are left out (TORCH_FORMS=... sets
# the forms). The headline sets sten against PyTorch's fastest form.
#   THREADS=2 ROUNDS=3 sh bench/fm-train.sh
#   PEER=debian ... / RESULTS=/dev/null ...
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
D=${1:-$ROOT/../shared/data/ml-100k}
forms_set=${TORCH_FORMS:+yes}
. bench/lib.sh
bench_need_torch
if [ -z "$forms_set" ]; then
    TORCH_FORMS=$(echo "$TORCH_FORMS" | tr ' ' '\n' | grep -v bf16 | tr '\n' ' ')
    echo "peer forms for the FM (fp32 only): $TORCH_FORMS"
fi
bench_build sten
bench_threads "$THREADS"
bench_platform
trap 'rm -f "$platform_file"' EXIT
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
W=$ROOT/out/fm-train
mkdir -p "$W"
cd "$W"
awk -F'\t' '{ printf "%s %d:1 %d:1\n", $3, $1 - 1, 943 + $2 - 1 }' "$D/u1.base" >train.svm
cat >hp.json <<'JSON'
{"feature_dim": "2625", "num_factors": "32", "predictor_type": "regressor", "epochs": "21",
 "mini_batch_size": "500", "bias_lr": "0.01", "linear_lr": "0.005", "factors_lr": "0.002",
 "bias_wd": "0", "linear_wd": "0", "factors_wd": "0"}
JSON
: >runs.jsonl
r=0
while [ $r -lt "$ROUNDS" ]; do
    # sten: 21 epochs, the first is warm-up; total examples over the time of epochs 2..21
    taskset -c "$cores" "$ROOT/build/sten" train --force --algorithm factorization-machines --hyperparameters hp.json \
        --train train.svm --model-dir m --index-base 0 2>&1 |
        awk '/epoch [0-9]+:/ { if ($4 != "1:") { split($0, a, ", "); s += a[2] + 0; n++ } }
             END { printf "{\"impl\": \"sten\", \"precision\": \"fp32\", \"examples_per_s\": %.1f}\n", n * 80000 / s }' >>runs.jsonl
    for form in $TORCH_FORMS; do
        bench_peer runs.jsonl "$ROOT/bench/fm_torch.py" --train train.svm --dim 2625 --factors 32 \
            --batch 500 --epochs 20 --threads "$THREADS" --form "$form"
    done
    r=$((r + 1))
done
"$PY" - runs.jsonl "$model" "$THREADS" "$ROUNDS" "$PEER" "$RESULTS" "$platform_file" <<'PY'
import json, statistics, sys, datetime
out, model, threads, rounds, peer, results, platform = sys.argv[1:8]
rows = [json.loads(l) for l in open(out) if l.strip()]
impls = sorted({r["impl"] for r in rows})
of = {i: [r for r in rows if r["impl"] == i] for i in impls}
med = {i: statistics.median(r["examples_per_s"] for r in of[i]) for i in impls}
prec = {i: of[i][0].get("precision", "fp32") for i in impls}
comp = {i: statistics.median(r.get("compile_s", 0.0) for r in of[i]) for i in impls}
ver = next((r["torch"] for r in rows if "torch" in r), "?")
torch = {i: v for i, v in med.items() if i.startswith("pytorch") and prec[i] == "fp32"}
lines = ["| implementation | precision | examples/s (median of %s) | compile s |" % rounds, "|---|---|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    lines.append("| %s | %s | %.0f | %s |" % (k, prec[k], v, "%.1f" % comp[k] if comp[k] else "-"))
lines.append("")
if torch and "sten" in med:
    best = max(torch, key=torch.get)
    lines.append("**sten trains the FM at %.2fx the speed of PyTorch %s's fastest fp32 form (%s)** (issue #7 asks for 5x)."
                 % (med["sten"] / torch[best], ver, best))
text = "\n".join(lines)
print(text)
keep = ("lscpu:", "sten info: gemm", "sten info: bf16", "torch: ", "oneDNN: onednn_verbose,v1,info,cpu,isa",
        "oneDNN: dnnl_verbose,info,cpu,isa")
plat = [l.rstrip() for l in open(platform) if l.startswith(keep)]
with open(results, "a") as f:
    f.write("\n## bench/fm-train — Factorization Machine training throughput (%s)\n\n" % datetime.date.today())
    f.write("Command: `PEER=%s THREADS=%s ROUNDS=%s sh bench/fm-train.sh` (ML-100K u1.base, one-hot\n"
            "users and movies, feature_dim 2625, 32 factors, batch 500, Adam with group rates 0.01/0.005/0.002,\n"
            "squared error; CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=%s, pinned with taskset;\n"
            "PyTorch %s (%s). Compile s: cold torch.compile time, in the untimed warm-up epoch).\n\n"
            % (peer, threads, rounds, model, threads, ver, "PyPI" if peer == "pypi" else "Debian"))
    f.write("```\n" + "\n".join(plat) + "\n```\n\n")
    f.write(text + "\n")
PY
