#!/bin/sh
# bench/ae-predict.sh — top-10 recommendations for every user with seen items
# excluded, sten vs PyTorch (forward, mask, topk) side by side in one run,
# same threads pinned to the same cores, alternating. Appends to
# bench/RESULTS.md. PyTorch is installed on demand (python3-torch); it ranks
# logits (the output sigmoid keeps their order), its fastest form. Where the
# CPU has AVX-512 BF16, sten's opt-in bf16 precision runs too (its ratio is
# reported apart: it is not the fp32 result).
#   THREADS=2 USERS=20000 ROUNDS=3 sh bench/ae-predict.sh
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
USERS=${USERS:-20000}
ROUNDS=${ROUNDS:-3}
. bench/lib.sh
bench_need_torch
bench_build bench_ae_step sten
bench_threads "$THREADS"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
r=0
while [ $r -lt "$ROUNDS" ]; do
    taskset -c "$cores" ./build/bench/bench_ae_step --threads "$THREADS" --predict 1 --users "$USERS" >>"$out"
    if ./build/sten info | grep -q "^bf16 *yes"; then
        taskset -c "$cores" ./build/bench/bench_ae_step --threads "$THREADS" --predict 1 --users "$USERS" --bf16 1 >>"$out"
    fi
    taskset -c "$cores" /usr/bin/python3 bench/ae_torch.py --threads "$THREADS" --predict 1 --users "$USERS" >>"$out"
    r=$((r + 1))
done
/usr/bin/python3 - "$out" "$model" "$THREADS" "$USERS" "$ROUNDS" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {i: statistics.median(r["users_per_s"] for r in rows if r["impl"] == i) for i in {r["impl"] for r in rows}}
lines = ["| implementation | users/s (median of %s) |" % sys.argv[5], "|---|---|"]
for k, v in sorted(med.items(), key=lambda kv: -kv[1]):
    lines.append("| %s | %.0f |" % (k, v))
torch = max(v for k, v in med.items() if k.startswith("pytorch"))
ratio = med["sten"] / torch
lines += ["", "**sten (fp32) is %.2fx faster than PyTorch** (target: 4x)." % ratio]
if "sten-bf16" in med:
    lines.append("sten with `--precision bf16` (opt-in; rankings agree with fp32's to within bf16 "
                 "rounding) is %.2fx faster than PyTorch fp32." % (med["sten-bf16"] / torch))
text = "\n".join(lines)
print(text)
with open("bench/RESULTS.md", "a") as f:
    f.write("\n## bench/ae-predict — top-10 for every user, seen excluded (%s)\n\n" % datetime.date.today())
    f.write("Command: `THREADS=%s USERS=%s ROUNDS=%s sh bench/ae-predict.sh`\n\n" % (sys.argv[3], sys.argv[4], sys.argv[5]))
    f.write("CPU: %s; OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=%s, pinned with taskset. Same network as "
            "ae-train (26,744 items, 128 hidden), %s synthetic users with ~144 items each.\n\n" % (sys.argv[2], sys.argv[3], sys.argv[4]))
    f.write(text + "\n")
PY
