#!/bin/sh
# bench/builtins.sh — sten's k-means, PCA, k-NN and Linear Learner (docs/builtins.md) against
# scikit-learn on the same generated data and threads: KMeans (k-means++,
# Lloyd's) and MiniBatchKMeans with the same k and batch, PCA (full and
# randomized) with the same components, k-NN (exact, k=10, 10,000 queries
# of the blobs) against KNeighborsClassifier (brute force), Linear Learner (binary, 5 epochs,
# 8 models; regressor) against LogisticRegression, SGDClassifier (log loss, 5 epochs) and Ridge
# on a planted 64-feature plane (80/20 split); k-NN also against faiss (IndexFlatL2 exact,
# IndexIVFFlat nlist = round(sqrt(rows)), nprobe = nlist/16, recall@10 against exact; sten's faiss.IVFFlat
# with the same nlist and nprobe, recall@10 by the neighbours' distances against its exact search).
# Reports seconds incl. the CSV read, fit-only seconds (sten's own {"fit_seconds"} line; for
# k-NN the search: sten predict's own timing of the search, sten_knn_predict, without reading the
# model and the queries or writing the answers) and quality (k-means: mean squared distance to the closest centre on the training
# rows; PCA: the explained variance ratio's sum; linear: test accuracy or mse), then the ratios
# sten fit-only / peer fit-only. scikit-learn and faiss-cpu come from PyPI into
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
if ! "$V/bin/python" -c "import faiss" 2>/dev/null; then
    echo "installing the peer: faiss-cpu from PyPI into $V"
    "$V/bin/pip" install -q faiss-cpu
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
t() { s=$(date +%s.%N); taskset -c "$cores" "$@" >"$W/stdout" 2>"$W/stderr"; printf "%.3f" "$(echo "$(date +%s.%N) - $s" | bc)"; }
searched() { sed -n 's/.*; search \([0-9.]*\) s).*/\1/p' "$W/stderr"; } # sten predict's own k-NN search seconds
fit() { sed -n 's/.*"fit_seconds": \([0-9.]*\)}/\1/p' "$W/stdout"; } # sten's own line
: >"$W/fit" # "task seconds" lines, sten's and the peers' fit-only times, for the ratios
echo "| side | task | seconds (incl. CSV read) | fit-only seconds | quality |" >"$W/table"
echo "|---|---|---|---|---|" >>"$W/table"
sec=$(t build/sten train --algorithm kmeans --hyperparameters "$W/km.json" --train "$W/blobs.csv" --test "$W/blobs.csv" --model-dir "$W/km" --threads "$THREADS")
echo "| sten | k-means k=50 ($ROWS x 64) | $sec | $(fit) | msd $(sed -n 's/.*"test:msd": \(.*\)}/\1/p' "$W/stdout") |" >>"$W/table"
echo "sten:kmeans $(fit)" >>"$W/fit"
for m in pr pz; do
    sec=$(t build/sten train --algorithm pca --hyperparameters "$W/$m.json" --train "$W/x.csv" --model-dir "$W/$m" --threads "$THREADS")
    echo "| sten | PCA $m 20 of 200 | $sec | $(fit) | ratio sum $(grep explained_variance_ratio "$W/stdout" | "$V/bin/python" -c "import json,sys; print(round(sum(json.load(sys.stdin)['explained_variance_ratio']), 4))") |" >>"$W/table"
    echo "sten:pca_$m $(fit)" >>"$W/fit"
done
printf '{"feature_dim": "64", "k": "10", "predictor_type": "classifier", "sample_size": "%s"}' "$ROWS" >"$W/kn.json"
t build/sten train --algorithm knn --hyperparameters "$W/kn.json" --train "$W/lab.csv" --model-dir "$W/kn" \
    --threads "$THREADS" >/dev/null
sec=$(t build/sten predict -n "$W/kn/model.nc" --csv "$W/q.csv" --format jsonl --verbose -s "$W/kn.out" --threads "$THREADS")
knn=$(searched)
echo "| sten | k-NN Flat k=10, 10000 queries of $ROWS x 64 (predict; search: its own timing of sten_knn_predict) | $sec | $knn | |" >>"$W/table"
echo "sten:knn $knn" >>"$W/fit"
# IVF with faiss's settings below: nlist = round(sqrt(rows)), nprobe = nlist / 16
nlist=$(awk -v n="$ROWS" 'BEGIN { printf "%d", sqrt(n) + 0.5 }')
nprobe=$((nlist / 16 > 0 ? nlist / 16 : 1))
printf '{"feature_dim": "64", "k": "10", "predictor_type": "classifier", "sample_size": "%s", "index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": "%s"}' \
    "$ROWS" "$nlist" >"$W/kni.json"
t build/sten train --algorithm knn --hyperparameters "$W/kni.json" --train "$W/lab.csv" --model-dir "$W/kni" \
    --threads "$THREADS" >/dev/null
ivf_build=$(fit)
sec=$(t build/sten predict -n "$W/kni/model.nc" --csv "$W/q.csv" --nprobe "$nprobe" --format jsonl --verbose -s "$W/kni.out" --threads "$THREADS")
ivf=$(searched)
recall=$("$V/bin/python" - "$W/kn.out" "$W/kni.out" <<'PY'
import json, sys
import numpy as np
exact, ivf = ([json.loads(l)["distances"] for l in open(p)] for p in sys.argv[1:3])
# recall@10 against exact search, by the neighbours' distances (ties are measure-zero on these rows)
print(f"{np.mean([np.isclose(np.array(b)[:, None], np.array(a)[None, :], rtol=1e-5).any(1).mean() for a, b in zip(exact, ivf)]):.4f}")
PY
)
echo "| sten | k-NN faiss.IVFFlat nlist $nlist nprobe $nprobe k=10, 10000 queries (search: its own timing; fit $ivf_build) | $sec | $ivf | recall@10 $recall vs Flat |" >>"$W/table"
echo "sten:ivf $ivf" >>"$W/fit"
printf '{"feature_dim": "64", "predictor_type": "binary_classifier", "epochs": "5", "num_models": "8"}' >"$W/llb.json"
printf '{"feature_dim": "64", "predictor_type": "regressor", "epochs": "5", "num_models": "8"}' >"$W/llr.json"
sec=$(t build/sten train --algorithm linear-learner --hyperparameters "$W/llb.json" --train "$W/llb_tr.csv" --test "$W/llb_te.csv" --model-dir "$W/llb" --threads "$THREADS")
echo "| sten | linear-learner binary, 8 models x 5 epochs ($ROWS x 64 80/20) | $sec | $(fit) | accuracy $(sed -n 's/.*test:binary_classification_accuracy": \(.*\)}/\1/p' "$W/stdout") |" >>"$W/table"
echo "sten:llb $(fit)" >>"$W/fit"
sec=$(t build/sten train --algorithm linear-learner --hyperparameters "$W/llr.json" --train "$W/llr_tr.csv" --test "$W/llr_te.csv" --model-dir "$W/llr" --threads "$THREADS")
echo "| sten | linear-learner regressor, 8 models x 5 epochs | $sec | $(fit) | mse $(sed -n 's/.*test:mse": \(.*\)}/\1/p' "$W/stdout") |" >>"$W/table"
echo "sten:llr $(fit)" >>"$W/fit"
taskset -c "$cores" "$V/bin/python" - "$W" "$THREADS" >>"$W/table" <<'PY'
import sys, time, numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
w, threads = sys.argv[1], int(sys.argv[2])
fits = open(f"{w}/fit", "a")
# sten's times include reading the CSV text; so the peer's "incl. CSV read"
# rows add numpy's loadtxt of the same file to its fit
t = time.time(); X = np.loadtxt(f"{w}/blobs.csv", delimiter=",", dtype=np.float32); rb = time.time() - t
print(f"| numpy | loadtxt blobs.csv ({len(X)} x 64) | {rb:.3f} | | |")
for name, m in [("KMeans", KMeans(50, init="k-means++", n_init=1, random_state=0)),
                ("MiniBatchKMeans", MiniBatchKMeans(50, batch_size=5000, max_iter=3, n_init=1, random_state=0))]:
    t = time.time(); m.fit(X); t = time.time() - t
    print(f"| scikit-learn | {name} k=50 | {t + rb:.3f} | {t:.3f} | msd {m.inertia_ / len(X):.4f} |")
    print(f"peer:kmeans:{name} {t:.4f}", file=fits)
t = time.time(); X = np.loadtxt(f"{w}/x.csv", delimiter=",", dtype=np.float32); rx = time.time() - t
print(f"| numpy | loadtxt x.csv ({len(X)} x 200) | {rx:.3f} | | |")
# covariance_eigh (scikit-learn >= 1.5) is the fair peer of sten's regular mode: both
# eigendecompose the covariance; "full" is an SVD of the data
for solver in ("full", "covariance_eigh", "randomized"):
    try:
        t = time.time(); p = PCA(20, svd_solver=solver, random_state=0).fit(X); t = time.time() - t
    except ValueError:
        continue  # an older scikit-learn without this solver
    print(f"| scikit-learn | PCA {solver} 20 of 200 | {t + rx:.3f} | {t:.3f} | ratio sum {p.explained_variance_ratio_.sum():.4f} |")
    print(f"peer:pca_{'pz' if solver == 'randomized' else 'pr'}:PCA {solver} {t:.4f}", file=fits)
from sklearn.neighbors import KNeighborsClassifier
X = np.loadtxt(f"{w}/blobs.csv", delimiter=",", dtype=np.float32)
y = np.arange(1, len(X) + 1) % 7
m = KNeighborsClassifier(10, algorithm="brute").fit(X, y)
t = time.time(); m.predict(X[:10000]); t = time.time() - t
print(f"| scikit-learn | KNeighborsClassifier brute k=10, 10000 queries (predict only) | | {t:.3f} | |")
print(f"peer:knn:KNeighborsClassifier brute {t:.4f}", file=fits)
import faiss
faiss.omp_set_num_threads(threads)
Q = np.ascontiguousarray(X[:10000])
t = time.time(); flat = faiss.IndexFlatL2(X.shape[1]); flat.add(X); ta = time.time() - t
t = time.time(); _, I = flat.search(Q, 10); t = time.time() - t
print(f"| faiss | IndexFlatL2 k=10, 10000 queries (search only; add {ta:.3f}) | | {t:.3f} | |")
print(f"peer:knn:faiss IndexFlatL2 {t:.4f}", file=fits)
nlist = round(len(X) ** 0.5)
t = time.time(); ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(X.shape[1]), X.shape[1], nlist); ivf.train(X); ivf.add(X); tb = time.time() - t
ivf.nprobe = max(1, nlist // 16)
t = time.time(); _, J = ivf.search(Q, 10); t = time.time() - t
rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I, J)])
print(f"| faiss | IndexIVFFlat nlist {nlist} nprobe {ivf.nprobe} k=10 (search only; train+add {tb:.3f}) | | {t:.3f} | recall@10 {rec:.4f} vs Flat |")
print(f"peer:ivf:faiss IndexIVFFlat {t:.4f}", file=fits)
from sklearn.linear_model import LogisticRegression, SGDClassifier, Ridge
def split(name):
    tr, te = (np.loadtxt(f"{w}/{name}_{p}.csv", delimiter=",", dtype=np.float32) for p in ("tr", "te"))
    return tr[:, 1:], tr[:, 0], te[:, 1:], te[:, 0]
X, y, Xt, yt = split("llb")
for name, m in [("LogisticRegression lbfgs", LogisticRegression(max_iter=200)),
                ("SGDClassifier log_loss 5 epochs", SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0))]:
    t = time.time(); m.fit(X, y); t = time.time() - t
    print(f"| scikit-learn | {name} | | {t:.3f} | accuracy {(m.predict(Xt) == yt).mean():.4f} |")
    print(f"peer:llb:{name} {t:.4f}", file=fits)
X, y, Xt, yt = split("llr")
t = time.time(); m = Ridge(alpha=1.0).fit(X, y); t = time.time() - t
print(f"| scikit-learn | Ridge alpha=1 | | {t:.3f} | mse {((m.predict(Xt) - yt) ** 2).mean():.5f} |")
print(f"peer:llr:Ridge alpha=1 {t:.4f}", file=fits)
fits.close()
# the ratios: sten's fit-only seconds over each peer's, task by task (< 1: sten is faster)
sten, names = {}, {"kmeans": "k-means k=50", "pca_pr": "PCA regular", "pca_pz": "PCA randomized",
                   "knn": "k-NN exact search", "ivf": "k-NN IVF search", "llb": "linear-learner binary",
                   "llr": "linear-learner regressor"}
print("\n| task | sten fit-only s | peer | peer fit-only s | sten / peer |\n|---|---|---|---|---|")
for line in open(f"{w}/fit"):
    key, sec = line.rstrip("\n").rsplit(" ", 1)
    if key.startswith("sten:"):
        sten[key[5:]] = float(sec)
    else:
        _, task, peer = key.split(":", 2)
        print(f"| {names[task]} | {sten[task]:.3f} | {peer} | {float(sec):.3f} | {sten[task] / float(sec):.2f} |")
PY
threads_line="OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS MKL_NUM_THREADS=$MKL_NUM_THREADS, faiss.omp_set_num_threads($THREADS), sten --threads $THREADS, all pinned to cores $cores"
echo "$threads_line"
cat "$W/table"
{ echo; echo "## builtins.sh: k-means, PCA, k-NN and Linear Learner vs scikit-learn and faiss, fit-only ratios ($(date -u +%Y-%m-%d), $model, $THREADS threads)"; echo
  echo "Command: \`THREADS=$THREADS ROWS=$ROWS sh bench/builtins.sh\` (scikit-learn $("$V/bin/python" -c 'import sklearn; print(sklearn.__version__)'), faiss-cpu $("$V/bin/python" -c 'import faiss; print(faiss.__version__)'), numpy $("$V/bin/python" -c 'import numpy; print(numpy.__version__)')); $threads_line"; echo
  cat "$W/table"; } >>"$RESULTS"
