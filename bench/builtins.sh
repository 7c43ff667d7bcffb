#!/bin/sh
# bench/builtins.sh — sten's k-means, PCA, k-NN and Linear Learner (docs/builtins.md) against
# scikit-learn on the same generated data and threads: KMeans (k-means++,
# Lloyd's) and MiniBatchKMeans with the same k and batch, PCA (full and
# randomized) with the same components, k-NN (exact, k=10, 10,000 queries
# of the blobs) against KNeighborsClassifier (brute force), Linear Learner (binary, 5 epochs,
# 8 models; regressor) against LogisticRegression, SGDClassifier (log loss, 5 epochs) and Ridge
# on a planted 64-feature plane (80/20 split). Reports seconds and quality (k-means:
# mean squared distance to the closest centre on the training rows; PCA: the
# explained variance ratio's sum; linear: test accuracy or mse). scikit-learn comes from PyPI into
# build/bench-sklearn (made on demand). Appends to $RESULTS.
#   THREADS=2 ROWS=200000 sh bench/builtins.sh      RESULTS=/dev/null for a trial
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROWS=${ROWS:-200000}
. bench/lib.sh
bench_build sten
bench_threads "$THREADS"
V=build/bench-sklearn
if ! "$V/bin/python" -c "import sklearn" 2>/dev/null; then
    echo "installing the peer: scikit-learn from PyPI into $V"
    python3 -m venv "$V" && "$V/bin/pip" install -q scikit-learn numpy
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$V/bin/python" - "$W" "$ROWS" <<'PY'
import sys, numpy as np
w, n = sys.argv[1], int(sys.argv[2])
r = np.random.default_rng(17)
c = r.uniform(-10, 10, (50, 64))
np.savetxt(f"{w}/blobs.csv", c[r.integers(0, 50, n)] + r.normal(0, 1, (n, 64)), fmt="%.5f", delimiter=",")
s = np.concatenate([np.linspace(10, 1, 20), np.full(180, 0.3)])
np.savetxt(f"{w}/x.csv", r.normal(0, 1, (n, 200)) * s, fmt="%.5f", delimiter=",")
wt = r.normal(0, 1, 64)
Z = r.normal(0, 1, (n, 64))
np.savetxt(f"{w}/llb.csv", np.column_stack([(Z @ wt + r.logistic(0, 1, n) > 0).astype(int), Z]), fmt="%.5g", delimiter=",")
np.savetxt(f"{w}/llr.csv", np.column_stack([Z @ wt + 0.5 + r.normal(0, 0.1, n), Z]), fmt="%.5f", delimiter=",")
PY
for d in llb llr; do
    awk -v n="$ROWS" 'NR <= n * 0.8' "$W/$d.csv" >"$W/${d}_tr.csv"; awk -v n="$ROWS" 'NR > n * 0.8' "$W/$d.csv" >"$W/${d}_te.csv"
done
awk -F, '{ print NR % 7 "," $0 }' "$W/blobs.csv" >"$W/lab.csv"
head -n 10000 "$W/blobs.csv" >"$W/q.csv"
printf '{"k": "50", "feature_dim": "64", "init_method": "kmeans++", "mini_batch_size": "5000", "epochs": "3"}' >"$W/km.json"
printf '{"num_components": "20", "feature_dim": "200", "mini_batch_size": "5000", "algorithm_mode": "%s"}' regular >"$W/pr.json"
printf '{"num_components": "20", "feature_dim": "200", "mini_batch_size": "5000", "algorithm_mode": "%s"}' randomized >"$W/pz.json"
t() { s=$(date +%s.%N); taskset -c "$cores" "$@" >"$W/stdout" 2>/dev/null; echo "$(date +%s.%N) - $s" | bc; }
echo "| side | task | seconds | quality |" >"$W/table"
echo "|---|---|---|---|" >>"$W/table"
sec=$(t build/sten train --algorithm kmeans --hyperparameters "$W/km.json" --train "$W/blobs.csv" --test "$W/blobs.csv" --model-dir "$W/km" --threads "$THREADS")
echo "| sten | k-means k=50 ($ROWS x 64, incl. CSV read) | $sec | msd $(sed 's/.*: //; s/}//' "$W/stdout") |" >>"$W/table"
for m in pr pz; do
    sec=$(t build/sten train --algorithm pca --hyperparameters "$W/$m.json" --train "$W/x.csv" --model-dir "$W/$m" --threads "$THREADS")
    echo "| sten | PCA $m 20 of 200 (incl. CSV read) | $sec | ratio sum $("$V/bin/python" -c "import json,sys; print(round(sum(json.load(sys.stdin)['explained_variance_ratio']), 4))" <"$W/stdout") |" >>"$W/table"
done
printf '{"feature_dim": "64", "k": "10", "predictor_type": "classifier", "sample_size": "%s"}' "$ROWS" >"$W/kn.json"
t build/sten train --algorithm knn --hyperparameters "$W/kn.json" --train "$W/lab.csv" --model-dir "$W/kn" \
    --threads "$THREADS" >/dev/null
sec=$(t build/sten predict -n "$W/kn/model.nc" --csv "$W/q.csv" --format jsonl -s "$W/kn.out" --threads "$THREADS")
echo "| sten | k-NN Flat k=10, 10000 queries of $ROWS x 64 (predict, incl. model and CSV read) | $sec | |" >>"$W/table"
printf '{"feature_dim": "64", "predictor_type": "binary_classifier", "epochs": "5", "num_models": "8"}' >"$W/llb.json"
printf '{"feature_dim": "64", "predictor_type": "regressor", "epochs": "5", "num_models": "8"}' >"$W/llr.json"
sec=$(t build/sten train --algorithm linear-learner --hyperparameters "$W/llb.json" --train "$W/llb_tr.csv" --test "$W/llb_te.csv" --model-dir "$W/llb" --threads "$THREADS")
echo "| sten | linear-learner binary, 8 models x 5 epochs ($ROWS x 64 80/20, incl. CSV read) | $sec | accuracy $(sed -n 's/.*test:binary_classification_accuracy": \(.*\)}/\1/p' "$W/stdout") |" >>"$W/table"
sec=$(t build/sten train --algorithm linear-learner --hyperparameters "$W/llr.json" --train "$W/llr_tr.csv" --test "$W/llr_te.csv" --model-dir "$W/llr" --threads "$THREADS")
echo "| sten | linear-learner regressor, 8 models x 5 epochs (incl. CSV read) | $sec | mse $(sed -n 's/.*test:mse": \(.*\)}/\1/p' "$W/stdout") |" >>"$W/table"
taskset -c "$cores" "$V/bin/python" - "$W" >>"$W/table" <<'PY'
import sys, time, numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
w = sys.argv[1]
# sten's times include reading the CSV text; so the peer's "incl. CSV read"
# rows add numpy's loadtxt of the same file to its fit
t = time.time(); X = np.loadtxt(f"{w}/blobs.csv", delimiter=",", dtype=np.float32); rb = time.time() - t
print(f"| numpy | loadtxt blobs.csv ({len(X)} x 64) | {rb:.3f} | |")
for name, m in [("KMeans", KMeans(50, init="k-means++", n_init=1, random_state=0)),
                ("MiniBatchKMeans", MiniBatchKMeans(50, batch_size=5000, max_iter=3, n_init=1, random_state=0))]:
    t = time.time(); m.fit(X); t = time.time() - t
    print(f"| scikit-learn | {name} k=50 (fit only; incl. CSV read {t + rb:.3f}) | {t:.3f} | msd {m.inertia_ / len(X):.4f} |")
t = time.time(); X = np.loadtxt(f"{w}/x.csv", delimiter=",", dtype=np.float32); rx = time.time() - t
print(f"| numpy | loadtxt x.csv ({len(X)} x 200) | {rx:.3f} | |")
for solver in ("full", "randomized"):
    t = time.time(); p = PCA(20, svd_solver=solver, random_state=0).fit(X); t = time.time() - t
    print(f"| scikit-learn | PCA {solver} 20 of 200 (fit only; incl. CSV read {t + rx:.3f}) | {t:.3f} | ratio sum {p.explained_variance_ratio_.sum():.4f} |")
from sklearn.neighbors import KNeighborsClassifier
X = np.loadtxt(f"{w}/blobs.csv", delimiter=",", dtype=np.float32)
y = np.arange(1, len(X) + 1) % 7
m = KNeighborsClassifier(10, algorithm="brute").fit(X, y)
t = time.time(); m.predict(X[:10000]); t = time.time() - t
print(f"| scikit-learn | KNeighborsClassifier brute k=10, 10000 queries (predict only) | {t:.3f} | |")
from sklearn.linear_model import LogisticRegression, SGDClassifier, Ridge
def split(name):
    tr, te = (np.loadtxt(f"{w}/{name}_{p}.csv", delimiter=",", dtype=np.float32) for p in ("tr", "te"))
    return tr[:, 1:], tr[:, 0], te[:, 1:], te[:, 0]
X, y, Xt, yt = split("llb")
for name, m in [("LogisticRegression lbfgs", LogisticRegression(max_iter=200)),
                ("SGDClassifier log_loss 5 epochs", SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0))]:
    t = time.time(); m.fit(X, y); t = time.time() - t
    print(f"| scikit-learn | {name} (fit only) | {t:.3f} | accuracy {(m.predict(Xt) == yt).mean():.4f} |")
X, y, Xt, yt = split("llr")
t = time.time(); m = Ridge(alpha=1.0).fit(X, y); t = time.time() - t
print(f"| scikit-learn | Ridge alpha=1 (fit only) | {t:.3f} | mse {((m.predict(Xt) - yt) ** 2).mean():.5f} |")
PY
cat "$W/table"
{ echo; echo "## builtins.sh: k-means, PCA, k-NN and Linear Learner vs scikit-learn ($(date -u +%Y-%m-%d), $model, $THREADS threads)"; echo
  echo "Command: \`THREADS=$THREADS ROWS=$ROWS sh bench/builtins.sh\` (scikit-learn $("$V/bin/python" -c 'import sklearn; print(sklearn.__version__)'), numpy $("$V/bin/python" -c 'import numpy; print(numpy.__version__)'))"; echo
  cat "$W/table"; } >>"$RESULTS"
