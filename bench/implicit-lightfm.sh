#!/bin/sh
# bench/implicit-lightfm.sh — sten beside the recommenders people pip
# install: implicit's ALS and BPR and LightFM (WARP), on MovieLens-1M with a
# random 80/20 split per user (ratings >= 4; the training part is excluded
# from every list). sten: Mult-DAE (examples/movielens/mult-dae.json, 100
# epochs) and EASE. Every model with fixed, common settings (no tuning on
# the test part), 2 threads, fit and top-20 for every user timed apart;
# every list scored by `sten evaluate`. The peers come from PyPI into
# build/bench-venv (installed here on demand, never by the tests).
#   sh bench/implicit-lightfm.sh [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
W=${1:-$ROOT/out/implicit-lightfm}
THREADS=${THREADS:-2}
. bench/lib.sh
case $RESULTS in /*) ;; *) RESULTS=$ROOT/$RESULTS ;; esac
bench_build sten
PY=$ROOT/build/bench-venv/bin/python
[ -x "$PY" ] || python3 bench/peer_venv.py build/bench-venv
if ! "$PY" -c "import implicit, lightfm" 2>/dev/null; then
    echo "installing the peers: implicit and lightfm from PyPI into build/bench-venv"
    "$PY" -m pip install -q implicit scipy setuptools wheel cython
    "$PY" -m pip install -q --no-build-isolation lightfm # its setup.py fails under build isolation
fi
mkdir -p "$W"
cp "$ROOT/build/sten" "$W/sten"
S=$W/sten
cd "$W"
"$S" split --force "$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz" --format delimited --delimiter : \
    --columns user,-,item,-,rating --min-rating 4 --protocol random -o r 2>/dev/null
"$S" generate-netcdf --force -d gl_input -i r-train.txt -o in.nc -f features -s samples -c 2>/dev/null
"$S" generate-netcdf --force -d gl_output -i r-train.txt -o out.nc -f features -s samples 2>/dev/null
export OMP_NUM_THREADS=$THREADS
echo "threads: OMP_NUM_THREADS=$OMP_NUM_THREADS, OPENBLAS_NUM_THREADS=1 for implicit (its advice), sten -t $THREADS"
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(date +%s.%N)
"$S" train -c "$ROOT/examples/movielens/mult-dae.json" -i in.nc -o out.nc -n dae.nc -e 100 -t "$THREADS" --force 2>/dev/null
f_dae=$(secs "$t0")
t0=$(date +%s.%N)
"$S" predict --force -d gl -n dae.nc -r r-train.txt -i features -o features -f r-train.txt -k 20 -t "$THREADS" -s dae.recs 2>/dev/null
r_dae=$(secs "$t0")
t0=$(date +%s.%N)
"$S" baseline --force ease --lambda 500 --train r-train.txt -r r-train.txt -k 20 -t "$THREADS" -s ease.recs 2>/dev/null
f_ease=$(secs "$t0")
OPENBLAS_NUM_THREADS=1 "$PY" "$ROOT/bench/implicit_peer.py" r-train.txt . 20 "$THREADS" >peers.jsonl
cat peers.jsonl
metric() { sed -n "s/.*\"k\": 20, [^}]*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
table="| model | settings | Recall@20 | NDCG@20 | fit s | top-20 for all users, s |
|---|---|---|---|---|---|"
for m in dae ease als bpr lightfm; do
    "$S" evaluate -r $m.recs -t r-test.txt -k 20 --json >$m.json
    case $m in
    dae) name="sten Mult-DAE" set="mult-dae.json, 100 epochs" f=$f_dae r=$r_dae ;;
    ease) name="sten EASE" set="lambda 500" f=- r="$f_ease (fit + lists)" ;;
    *)
        line=$(grep "\"model\": \"$m\"" peers.jsonl)
        name=$(case $m in als) echo "implicit ALS" ;; bpr) echo "implicit BPR" ;; *) echo "LightFM" ;; esac)
        set=$(echo "$line" | sed -n 's/.*"settings": "\([^"]*\)".*/\1/p')
        f=$(echo "$line" | sed -n 's/.*"fit_s": \([0-9.]*\).*/\1/p')
        r=$(echo "$line" | sed -n 's/.*"recommend_s": \([0-9.]*\).*/\1/p')
        ;;
    esac
    table="$table
| $name | $set | $(metric $m.json recall) | $(metric $m.json ndcg) | $f | $r |"
done
echo "$table"
{
    echo
    echo "## sten beside implicit and LightFM: MovieLens-1M, random 80/20 per user ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/implicit-lightfm.sh\` (ratings >= 4; $(sed -n 's/.*"peer": "\([^"]*\)".*/\1/p' peers.jsonl | head -n 1)"
    echo "$("$PY" -c 'import lightfm; print(lightfm.__version__)' 2>/dev/null) from PyPI; $THREADS threads each (OMP_NUM_THREADS=$THREADS,"
    echo "OPENBLAS_NUM_THREADS=1 for the Python peers); fixed settings, none tuned on the test part;"
    echo "\`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'))."
    echo
    echo "$table"
} >>"$RESULTS"
