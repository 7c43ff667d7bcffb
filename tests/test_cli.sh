#!/bin/sh
# test_cli.sh — the sten command's surface: help, version, usage errors exit
# 64 with a usage message on stderr.
set -u
STEN=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() { # expect <exit code> <stderr/stdout pattern or -> <args...>
    want=$1 pat=$2
    shift 2
    "$STEN" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: sten $*: exit $got, expected $want"; cat "$tmp/err"; fail=1; return
    fi
    if [ "$pat" != "-" ] && ! grep -q -- "$pat" "$tmp/out" "$tmp/err"; then
        echo "FAIL: sten $*: output lacks '$pat'"; cat "$tmp/out" "$tmp/err"; fail=1; return
    fi
    echo "ok: sten $* -> $got"
}

expect 0 "usage: sten <subcommand>" --help
expect 0 "info" --help
expect 0 "^sten [0-9]*\.[0-9]*\.[0-9]*$" --version
expect 0 "usage: sten info" help info
expect 0 "usage: sten info" info --help
expect 0 "threads   3" info --threads 3
expect 0 "OpenMP" info
expect 64 "usage: sten <subcommand>"
expect 64 "unknown subcommand 'frobnicate'" frobnicate
expect 64 "unknown option '--frob'" --frob
expect 64 "unknown subcommand 'nope'" help nope
expect 64 "unknown option '--bogus'" info --bogus
expect 64 "needs a value" info --threads
expect 64 "expects an integer in \[0, 1024\], got '2x'" info --threads 2x
expect 64 "unexpected argument 'extra'" info extra
# one overwrite rule: every command that writes files documents --force (exit 73 without it)
for c in synth convert split generate-netcdf train predict baseline similar store; do
    expect 0 "--force" help $c
done
expect 0 "refused if it exists, unless --force" train --algorithm factorization-machines --help
# DSSTNE's spellings are accepted (the values are checked before any file is read)
expect 66 "nothing.nc" predict -n nothing.nc -r x -i y -o z -s "$tmp/p.txt" -p 4.5f
expect 64 "-p expects a float format such as %4.3f or DSSTNE's 4.3f, got '4.5s'" predict -n m -r x -i y -o z -s p -p 4.5s
expect 66 "nothing.json: cannot open the network config" train -d gl -c nothing.json -i a -o b -n "$tmp/m.nc"
# sten similar on generated data: a line per item, "item<TAB>nbr,score:...:",
# at most -k neighbours, never the item itself, best first
if "$STEN" synth --users 300 --items 80 --interactions 4000 --format dsstne -o "$tmp/sim.txt" 2>/dev/null; then
    expect 0 "usage: sten similar" help similar
    for m in cosine jaccard conditional ease; do
        expect 0 "$m neighbours of" similar -r "$tmp/sim.txt" -s "$tmp/sim-$m.txt" -k 5 --measure $m -t 2
        if ! awk -F'\t' 'NF != 2 || $2 !~ /^([^,:]+,[0-9.e+-]+:)+$/ { bad = 1 }
                         { n = split($2, p, /[,:]/); last = 1e300; if (n > 11) bad = 1
                           for (q = 1; q < n; q += 2) { if (p[q] == $1 || p[q + 1] + 0 > last) bad = 1; last = p[q + 1] + 0 } }
                         END { exit bad || NR < 40 }' "$tmp/sim-$m.txt"; then
            echo "FAIL: sten similar --measure $m: malformed output"; head -3 "$tmp/sim-$m.txt"; fail=1
        fi
    done
    expect 64 "-r TRAIN is required" similar -s "$tmp/sim-x.txt"
    expect 64 "unknown --measure 'dice'" similar -r "$tmp/sim.txt" -s "$tmp/sim-x.txt" --measure dice
    expect 64 "expects a number in \[0, 1\], got '2'" similar -r "$tmp/sim.txt" -s "$tmp/sim-x.txt" --alpha 2
    expect 64 "the limit is max_items = 10" similar -r "$tmp/sim.txt" -s "$tmp/sim-x.txt" --measure ease --max-items 10
    [ -e "$tmp/sim-x.txt" ] && { echo "FAIL: sten similar left an output behind after an error"; fail=1; }
    # sten baseline itemknn|rp3beta: at most -k items a line, best first, never one of
    # the user's own training items; the same lists for 1 and 2 threads
    for m in itemknn rp3beta; do
        expect 0 "$m over 80 items" baseline $m --train "$tmp/sim.txt" -s "$tmp/nb-$m.txt" -k 7 -t 1 --neighbours 20
        expect 0 "$m over 80 items" baseline $m --train "$tmp/sim.txt" -s "$tmp/nb-$m-2.txt" -k 7 -t 2 --neighbours 20
        cmp -s "$tmp/nb-$m.txt" "$tmp/nb-$m-2.txt" || { echo "FAIL: sten baseline $m: lists differ with -t 2"; fail=1; }
        if ! awk -F'\t' 'NR == FNR { n = split($2, p, /[,:]/); for (q = 1; q <= n; q++) own[$1 "," p[q]] = 1; next }
                         NF != 2 || $2 !~ /^([^,:]+,[0-9.e+-]+:)+$/ { bad = 1 }
                         { n = split($2, p, /[,:]/); last = 1e300; if (n > 15) bad = 1
                           for (q = 1; q < n; q += 2) { if (($1 "," p[q]) in own || p[q + 1] + 0 > last) bad = 1; last = p[q + 1] + 0 } }
                         END { exit bad || FNR < 200 }' "$tmp/sim.txt" "$tmp/nb-$m.txt"; then
            echo "FAIL: sten baseline $m: malformed output or a user's own item"; head -3 "$tmp/nb-$m.txt"; fail=1
        fi
    done
    expect 64 "--neighbours expects an integer in \[1, 1000000\], got '0'" baseline itemknn --train "$tmp/sim.txt" -s "$tmp/nb-x.txt" --neighbours 0
    expect 64 "--shrink expects a number" baseline itemknn --train "$tmp/sim.txt" -s "$tmp/nb-x.txt" --shrink -1
    expect 64 "--alpha expects a number in \[0, 4\], got 'x'" baseline rp3beta --train "$tmp/sim.txt" -s "$tmp/nb-x.txt" --alpha x
    expect 64 "--beta expects a number in \[0, 4\], got '9'" baseline rp3beta --train "$tmp/sim.txt" -s "$tmp/nb-x.txt" --beta 9
    expect 64 "name the baseline: popularity, ease, itemknn or rp3beta" baseline knn --train "$tmp/sim.txt" -s "$tmp/nb-x.txt"
    [ -e "$tmp/nb-x.txt" ] && { echo "FAIL: sten baseline left an output behind after an error"; fail=1; }
else
    echo "FAIL: sten synth"; fail=1
fi

# OpenBLAS's core type (docs/performance.md, "When OpenBLAS does not know the
# CPU"). OpenBLAS on Prescott is how a release that does not know the CPU runs;
# here it is forced, so the default mode must respect it and warn, and
# STEN_BLAS_CORETYPE=best must re-execute onto the CPU's best core type.
# benv <exit> <pattern> <env(1) arguments, then sten's>: like expect
benv() {
    want=$1 pat=$2
    shift 2
    env -u STEN_BLAS_REEXEC -u STEN_BLAS_CORETYPE "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: env $*: exit $got, expected $want"; cat "$tmp/err"; fail=1; return 1
    fi
    if ! grep -q -- "$pat" "$tmp/out" "$tmp/err"; then
        echo "FAIL: env $*: output lacks '$pat'"; cat "$tmp/out" "$tmp/err"; fail=1; return 1
    fi
    echo "ok: env $* -> $got"
}
lacks() { # lacks <pattern>: the last benv's output must not have it
    if grep -q -- "$1" "$tmp/out" "$tmp/err"; then
        echo "FAIL: output has '$1'"; cat "$tmp/out" "$tmp/err"; fail=1
    fi
}
benv 64 "STEN_BLAS_CORETYPE: unknown value 'fast' (expected auto, keep or best)" STEN_BLAS_CORETYPE=fast "$STEN" info
# the core type this CPU should get, from /proc/cpuinfo rather than from sten
flags=$(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
best=
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
    best=SkylakeX; has avx512_bf16 && best=Cooperlake
elif has avx2 && has fma; then best=Haswell
elif has avx; then best=Sandybridge
fi
if [ -n "$best" ]; then
    P="OPENBLAS_CORETYPE=Prescott"
    # the user's choice is respected, and info says it is generic and what to do
    benv 0 "^blas core Prescott: generic SSE3 kernels, 4-11x slower than $best on BLAS-bound work; OPENBLAS_CORETYPE=Prescott is set: unset it, or STEN_BLAS_CORETYPE=best" $P "$STEN" info &&
        { lacks "re-executed"; lacks "USE_OPENMP $best"; }
    benv 0 "^blas core Prescott: generic SSE3 kernels, .*; kept because STEN_BLAS_CORETYPE=keep" \
        $P STEN_BLAS_CORETYPE=keep "$STEN" info && lacks "re-executed"
    # best: re-executed once, the arguments kept (--threads 3), OpenBLAS on $best
    benv 0 "^blas core $best (.* kernels; sten re-executed itself with OPENBLAS_CORETYPE=$best: OpenBLAS had picked Prescott)" \
        $P STEN_BLAS_CORETYPE=best "$STEN" info --threads 3 &&
        for p in "^threads   3$" "^blas      OpenBLAS .* USE_OPENMP $best "; do
            grep -q -- "$p" "$tmp/out" || { echo "FAIL: re-executed info lacks '$p'"; cat "$tmp/out"; fail=1; }
        done
    # a second run never re-executes (the guard is set): still Prescott, said so
    benv 0 "^blas core Prescott: generic SSE3 kernels, .*sten re-executed itself (OpenBLAS had picked Prescott) but OpenBLAS did not take OPENBLAS_CORETYPE=Prescott" \
        STEN_BLAS_REEXEC=Prescott $P STEN_BLAS_CORETYPE=best "$STEN" info
    # the hot work runs on the new core, stdin passed through: a re-executed EASE
    # reading /dev/stdin writes what OpenBLAS on $best writes, bit for bit
    if "$STEN" synth --users 300 --items 80 --interactions 4000 --format dsstne -o "$tmp/bc.txt" 2>/dev/null; then
        env -u STEN_BLAS_REEXEC $P STEN_BLAS_CORETYPE=best "$STEN" similar -r /dev/stdin -s "$tmp/bc-fixed.txt" \
            -k 5 --measure ease -t 2 <"$tmp/bc.txt" 2>"$tmp/err"
        for c in "$best" Prescott; do
            env -u STEN_BLAS_REEXEC OPENBLAS_CORETYPE=$c STEN_BLAS_CORETYPE=keep "$STEN" similar -r "$tmp/bc.txt" \
                -s "$tmp/bc-$c.txt" -k 5 --measure ease -t 2 2>>"$tmp/err"
        done
        if ! cmp -s "$tmp/bc-fixed.txt" "$tmp/bc-$best.txt"; then
            echo "FAIL: re-executed EASE differs from OpenBLAS on $best"; cat "$tmp/err"; fail=1
        elif cmp -s "$tmp/bc-$best.txt" "$tmp/bc-Prescott.txt"; then
            echo "note: $best and Prescott gave the same EASE lists here; the check above cannot tell them apart"
        else
            echo "ok: re-executed EASE from stdin = OpenBLAS on $best (and differs from Prescott)"
        fi
    else
        echo "FAIL: sten synth"; fail=1
    fi
else
    echo "skip: no AVX here, so no core type better than Prescott to check"
fi
# SageMaker's k-means and PCA (docs/builtins.md): the acceptance commands on
# generated data; every row gets a line with SageMaker's response fields
b="$tmp/bi"
mkdir -p "$b"
awk 'BEGIN { srand(17); for (c = 0; c < 10; c++) for (j = 0; j < 16; j++) m[c, j] = 60 * rand() - 30
             for (i = 0; i < 3000; i++) { c = i % 10; line = ""
                 for (j = 0; j < 16; j++) { u = rand() + rand() + rand() - 1.5; line = line (j ? "," : "") sprintf("%.4f", m[c, j] + u) }
                 print line } }' >"$b/blobs.csv"
printf '{"k": "10", "feature_dim": "16", "init_method": "kmeans++", "mini_batch_size": "1000"}' >"$b/hp.json"
expect 0 '"test:msd": ' train --algorithm kmeans --hyperparameters "$b/hp.json" --train "$b/blobs.csv" \
    --test "$b/blobs.csv" --model-dir "$b/km"
grep '"test:msd"' "$tmp/out" >"$b/msd_dense"
# the same rows as libsvm stay sparse (a batch spread out at a time): the same centres, the same msd
awk -F, '{ printf "0"; for (i = 1; i <= NF; i++) if ($i + 0 != 0) printf " %d:%s", i - 1, $i; print "" }' "$b/blobs.csv" >"$b/blobs.libsvm"
expect 0 "3000 sparse rows of 16 features" train --algorithm kmeans --hyperparameters "$b/hp.json" \
    --train "$b/blobs.libsvm" --test "$b/blobs.libsvm" --index-base 0 --model-dir "$b/kms"
grep '"test:msd"' "$tmp/out" >"$b/msd_sparse"
cmp -s "$b/msd_dense" "$b/msd_sparse" && [ -s "$b/msd_dense" ] && echo "ok: k-means on sparse libsvm rows: the dense fit's test:msd" ||
    { echo "FAIL: k-means sparse vs dense"; cat "$b/msd_dense" "$b/msd_sparse"; fail=1; }
secs='^{"read_seconds": [0-9]*\.[0-9]*, "fit_seconds": [0-9]*\.[0-9]*}$'
grep -q "$secs" "$tmp/out" || { echo "FAIL: k-means did not print read/fit seconds"; cat "$tmp/out"; fail=1; }
expect 0 "3000 rows (kmeans)" predict -n "$b/km/model.nc" --csv "$b/blobs.csv" --format jsonl -s "$b/out"
# one line per row; each blob (row % 10) in one cluster of its own
if ! awk '!/^\{"closest_cluster": [0-9]+, "distance_to_cluster": [0-9.e+-]+\}$/ { bad = 1 }
          { split($0, f, /[:,}]/); c = f[2] + 0; d = f[4] + 0; b = (NR - 1) % 10
            if (c > 9 || d > 5) bad = 1
            if (b in of) { if (of[b] != c) bad = 1 } else { if (c in taken) bad = 1; of[b] = c; taken[c] = 1 } }
          END { exit bad || NR != 3000 }' "$b/out"; then
    echo "FAIL: sten predict --csv (k-means): wrong lines"; head -3 "$b/out"; fail=1
fi
expect 73 "already exists" train --algorithm kmeans --hyperparameters "$b/hp.json" --train "$b/blobs.csv" --model-dir "$b/km"
expect 0 "3000 rows (kmeans)" predict -n "$b/km/model.nc" --data "$b/blobs.csv" --format jsonl -s "$b/out2"
cmp -s "$b/out" "$b/out2" && echo "ok: predict --data with a k-means model: --csv's answers" ||
    { echo "FAIL: predict --data (k-means) differs from --csv"; fail=1; }
expect 69 "this is a kmeans model" predict -n "$b/km/model.nc" -r "$b/blobs.csv" -i f -o f -s "$b/out3"
awk 'BEGIN { srand(5); for (i = 0; i < 600; i++) { line = ""
             for (j = 0; j < 30; j++) { u = rand() + rand() + rand() - 1.5; line = line (j ? "," : "") sprintf("%.5f", u * (j < 5 ? 10 - j : 1)) }
             print line } }' | gzip >"$b/x.csv.gz"
gunzip -c "$b/x.csv.gz" >"$b/x.csv"
printf '{"num_components": "5", "feature_dim": "30", "algorithm_mode": "regular", "subtract_mean": "true", "mini_batch_size": "500"}' >"$b/hpp.json"
expect 0 '"explained_variance_ratio": ' train --algorithm pca --hyperparameters "$b/hpp.json" --train "$b/x.csv.gz" --model-dir "$b/pc"
grep -q "$secs" "$tmp/out" || { echo "FAIL: PCA did not print read/fit seconds"; cat "$tmp/out"; fail=1; }
grep '"explained_variance"' "$tmp/out" >"$b/ev_dense"
# the same rows as libsvm stay sparse (sten_pca_fit_csr): the same explained variance
gunzip -c "$b/x.csv.gz" | awk -F, '{ printf "0"; for (i = 1; i <= NF; i++) if ($i + 0 != 0) printf " %d:%s", i - 1, $i; print "" }' >"$b/x.libsvm"
expect 0 "600 sparse rows of 30 features" train --algorithm pca --hyperparameters "$b/hpp.json" --train "$b/x.libsvm" \
    --index-base 0 --model-dir "$b/pcs"
grep '"explained_variance"' "$tmp/out" >"$b/ev_sparse"
if paste -d'\n' "$b/ev_dense" "$b/ev_sparse" | tr -d '{}[]",' | awk '{ for (i = 2; i <= NF; i++) v[NR, i] = $i; n = NF }
        END { for (i = 2; i <= n; i++) if (v[1, i] == "explained_variance_ratio:" || v[1, i] + 0 == 0) continue;
              else { d = v[1, i] - v[2, i]; if (d < 0) d = -d; if (d > 1e-4 * (v[1, i] < 0 ? -v[1, i] : v[1, i])) bad = 1 }
              exit bad || n < 6 }'; then
    echo "ok: PCA on sparse libsvm rows: the explained variance of the dense rows"
else
    echo "FAIL: PCA sparse vs dense"; cat "$b/ev_dense" "$b/ev_sparse"; fail=1
fi
expect 0 "600 rows (pca)" predict -n "$b/pc/model.nc" --csv "$b/x.csv" --format jsonl -s "$b/outp"
if ! awk '!/^\{"projection": \[[^],]+(, [^],]+)*\]\}$/ || split($0, f, ", ") != 5 { bad = 1 } END { exit bad || NR != 600 }' "$b/outp"; then
    echo "FAIL: sten predict --csv (PCA): wrong lines"; head -3 "$b/outp"; fail=1
fi
expect 0 "600 rows (pca)" predict -n "$b/pc/model.nc" --csv "$b/x.csv" -s "$b/outj"
grep -q '^{"predictions": \[{"projection": \[' "$b/outj" || { echo "FAIL: predict --csv --format json"; fail=1; }
# bad hyperparameters and rows: the key and its range, file:line:column
printf '{"k": "0", "feature_dim": "16"}' >"$b/bad.json"
expect 65 'hyperparameter k = "0" is out of range (expected an integer from 1 to 1000000)' \
    train --algorithm kmeans --hyperparameters "$b/bad.json" --train "$b/blobs.csv" --model-dir "$b/km2"
printf '{"num_components": "5", "feature_dim": "30", "mini_batch_size": "5", "algorithm": "x"}' >"$b/bad.json"
expect 65 'unknown PCA hyperparameter "algorithm"' \
    train --algorithm pca --hyperparameters "$b/bad.json" --train "$b/x.csv" --model-dir "$b/pc2"
printf '1,2\n3,oops\n' >"$b/bad.csv"
expect 65 'bad.csv:1:4: expected 30 fields (feature_dim), got 2' \
    predict -n "$b/pc/model.nc" --csv "$b/bad.csv" -s "$b/outb"
printf '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n1,2,3,4,5,6,7,8,9,10,11,12,13,14,x5,16\n' >"$b/bad.csv"
expect 65 'bad.csv:2:34: expected a number, got "x5"' \
    train --algorithm kmeans --hyperparameters "$b/hp.json" --train "$b/bad.csv" --model-dir "$b/km3"
expect 65 "x.csv:1:" train --algorithm kmeans --hyperparameters "$b/hp.json" --train "$b/x.csv" --model-dir "$b/km3"
if [ -e "$b/km3/model.nc" ] || [ -e "$b/outb" ]; then echo "FAIL: an output was left behind after an error"; fail=1; fi
expect 0 "local_lloyd_num_trials" train --algorithm kmeans --help
expect 64 "unknown --algorithm 'xgboost' (factorization-machines, kmeans, pca, knn or linear-learner)" train --algorithm xgboost \
    --hyperparameters "$b/hp.json" --train "$b/blobs.csv" --model-dir "$b/km4"
# SageMaker's k-NN: the label first in the training CSV (blob number = row % 10),
# features only to predict; every row answered with its blob
awk '{ print (NR - 1) % 10 "," $0 }' "$b/blobs.csv" >"$b/lab.csv"
printf '{"feature_dim": "16", "k": "5", "predictor_type": "classifier", "sample_size": "2000"}' >"$b/hpk.json"
expect 0 '"test:accuracy": 1}' train --algorithm knn --hyperparameters "$b/hpk.json" --train "$b/lab.csv" \
    --test "$b/lab.csv" --model-dir "$b/kn"
expect 0 "3000 rows (knn, faiss.Flat, k 5; search " predict -n "$b/kn/model.nc" --csv "$b/blobs.csv" --format jsonl -s "$b/outk"
if ! awk '!/^\{"predicted_label": [0-9]\}$/ { bad = 1 } { split($0, f, /[:}]/); if (f[2] + 0 != (NR - 1) % 10) bad = 1 }
          END { exit bad || NR != 3000 }' "$b/outk"; then
    echo "FAIL: sten predict --csv (k-NN): wrong lines"; head -3 "$b/outk"; fail=1
fi
# SageMaker's JSON inference input (after a blank line: told apart by its first non-blank byte)
{ echo; printf '{"instances": ['; head -n 3 "$b/blobs.csv" | awk '{ printf "%s{\"features\": [%s]}", (NR > 1 ? ", " : ""), $0 }'; echo ']}'; } >"$b/three.json"
expect 0 "3 rows (knn" predict -n "$b/kn/model.nc" --data "$b/three.json" --format jsonl -s "$b/outk3"
head -n 3 "$b/outk" | cmp -s - "$b/outk3" && echo "ok: predict --data JSON instances: the CSV rows' answers" ||
    { echo "FAIL: predict --data JSON instances (k-NN)"; cat "$b/outk3"; fail=1; }
expect 0 "3000 rows (knn" predict -n "$b/kn/model.nc" --csv "$b/blobs.csv" --format jsonl --verbose -s "$b/outv"
# verbose: the 5 neighbours' labels (all the row's blob) and distances, nearest first;
# the 2000 rows sampled into the index find themselves at distance 0
if ! awk '!/^\{"predicted_label": [0-9], "labels": \[[0-9], [0-9], [0-9], [0-9], [0-9]\], "distances": \[[^]]+\]\}$/ { bad = 1 }
          { b = (NR - 1) % 10; split($0, p, /\[|\]/); n = split(p[2], l, ", "); m = split(p[4], d, ", ")
            if (n != 5 || m != 5) bad = 1
            z += d[1] == "0"
            for (i = 1; i <= n; i++) { if (l[i] + 0 != b) bad = 1; if (i > 1 && d[i] + 0 < d[i - 1] + 0) bad = 1 } }
          END { exit bad || NR != 3000 || z != 2000 }' "$b/outv"; then
    echo "FAIL: sten predict --csv --verbose (k-NN): wrong lines"; head -2 "$b/outv"; fail=1
fi
printf '{"feature_dim": "16", "k": "4", "predictor_type": "regressor", "sample_size": "3000", "index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": "20", "dimension_reduction_type": "sign", "dimension_reduction_target": "8", "_tuning_objective_metric": "test:mse"}' >"$b/hpr.json"
expect 0 '"test:mse": 0}' train --algorithm knn --hyperparameters "$b/hpr.json" --train "$b/lab.csv" --test "$b/lab.csv" \
    --model-dir "$b/kr"
expect 0 "3000 rows (knn, faiss.IVFFlat, nprobe 3; search " predict -n "$b/kr/model.nc" --csv "$b/blobs.csv" --nprobe 3 -s "$b/outr"
if ! awk '{ n = split($0, f, /\{"predicted_label": /) - 1; for (i = 2; i <= n + 1; i++) if (f[i] + 0 != (i - 2) % 10) bad = 1 }
          END { exit bad || n != 3000 || NR != 1 }' "$b/outr" || ! grep -q '^{"predictions": \[{"predicted_label": 0}, ' "$b/outr"; then
    echo "FAIL: sten predict --csv --format json (k-NN IVF): wrong answer"; head -c 200 "$b/outr"; fail=1
fi
expect 64 "has 20 lists" predict -n "$b/kr/model.nc" --csv "$b/blobs.csv" --nprobe 21 -s "$b/outr2"
expect 64 "nprobe is for faiss.IVFFlat" predict -n "$b/kn/model.nc" --csv "$b/blobs.csv" --nprobe 2 -s "$b/outr2"
expect 64 "--verbose and --nprobe are for k-NN models, this is a kmeans model" \
    predict -n "$b/km/model.nc" --csv "$b/blobs.csv" --verbose -s "$b/outr2"
# the same rows as SageMaker's RecordIO-protobuf (dense tensors) and as libsvm: the same model's answers
# rec.py CSV OUT [sparse]: label-first CSV rows as RecordIO-protobuf records, dense tensors or
# (sparse) the non-zero values with their keys and the shape
cat >"$b/rec.py" <<'PY'
import struct, sys
def varint(n):
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])
def ld(tag, body):
    return bytes([tag]) + varint(len(body)) + body
def entry(values, keys=None, dim=0):  # map entry "values" -> Value{float32_tensor{values[, keys, shape]}}
    tensor = ld(0x0A, struct.pack("<%df" % len(values), *values))
    if keys is not None:
        tensor += ld(0x12, b"".join(varint(k) for k in keys)) + ld(0x1A, varint(dim))
    return ld(0x0A, b"values") + ld(0x12, ld(0x12, tensor))
sparse = len(sys.argv) > 3
with open(sys.argv[2], "wb") as out:
    for line in open(sys.argv[1]):
        x = [float(v) for v in line.split(",")]
        if sparse:
            keys = [j for j, v in enumerate(x[1:]) if v != 0]
            features = entry([x[1 + j] for j in keys], keys, len(x) - 1)
        else:
            features = entry(x[1:])
        rec = ld(0x0A, features) + ld(0x12, entry(x[:1]))
        out.write(struct.pack("<II", 0xCED7230A, len(rec)) + rec + b"\0" * (-len(rec) % 4))
PY
/usr/bin/python3 "$b/rec.py" "$b/lab.csv" "$b/lab.rec"
awk -F, '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %d:%s", i - 2, $i; print "" }' "$b/lab.csv" >"$b/lab.libsvm"
expect 0 "wrote" train --algorithm knn --hyperparameters "$b/hpk.json" --train "$b/lab.rec" --model-dir "$b/krec"
expect 0 "3000 rows (knn" predict -n "$b/krec/model.nc" --csv "$b/blobs.csv" --format jsonl --verbose -s "$b/outv2"
expect 0 "wrote" train --algorithm knn --hyperparameters "$b/hpk.json" --train "$b/lab.libsvm" --index-base 0 \
    --model-dir "$b/klib"
expect 0 "3000 rows (knn" predict -n "$b/klib/model.nc" --data "$b/lab.libsvm" --index-base 0 --format jsonl \
    --verbose -s "$b/outv3"
if cmp -s "$b/outv" "$b/outv2" && cmp -s "$b/outv" "$b/outv3"; then
    echo "ok: k-NN from RecordIO-protobuf and from libsvm: the CSV model's answers, byte for byte"
else
    echo "FAIL: k-NN from RecordIO-protobuf / libsvm differs from CSV"; fail=1
fi
head -c 30 "$b/lab.rec" >"$b/bad.rec"
expect 65 "record 1: truncated record" train --algorithm knn --hyperparameters "$b/hpk.json" --train "$b/bad.rec" \
    --model-dir "$b/kbad"
# IVFPQ over an fjlt-reduced index: 4 bytes a point; every blob's rows still vote their own label
printf '{"feature_dim": "16", "k": "5", "predictor_type": "classifier", "sample_size": "3000", "index_type": "faiss.IVFPQ", "faiss_index_pq_m": "4", "dimension_reduction_type": "fjlt", "dimension_reduction_target": "8", "_tuning_objective_metric": "test:accuracy"}' >"$b/hpq.json"
expect 0 '"test:accuracy": 1}' train --algorithm knn --hyperparameters "$b/hpq.json" --train "$b/lab.csv" --test "$b/lab.csv" \
    --model-dir "$b/kq"
expect 0 "3000 rows (knn, faiss.IVFPQ" predict -n "$b/kq/model.nc" --csv "$b/blobs.csv" -s "$b/outq"
printf '{"feature_dim": "16", "k": "5", "predictor_type": "classifier", "sample_size": "100", "index_type": "faiss.IVFPQ", "faiss_index_pq_m": "3"}' >"$b/bad.json"
expect 65 'faiss_index_pq_m = 3 does not divide the index width 16' \
    train --algorithm knn --hyperparameters "$b/bad.json" --train "$b/lab.csv" --model-dir "$b/kn2"
printf '{"feature_dim": "16", "k": "5", "predictor_type": "classifer", "sample_size": "100"}' >"$b/bad.json"
expect 65 'predictor_type = "classifer" is not allowed (expected classifier or regressor)' \
    train --algorithm knn --hyperparameters "$b/bad.json" --train "$b/lab.csv" --model-dir "$b/kn2"
expect 65 'blobs.csv:1:[0-9]*: expected 17 fields (the label and feature_dim), got 16' \
    train --algorithm knn --hyperparameters "$b/hpk.json" --train "$b/blobs.csv" --model-dir "$b/kn2"
if [ -e "$b/kn2/model.nc" ] || [ -e "$b/outr2" ]; then echo "FAIL: a k-NN output was left behind after an error"; fail=1; fi
# SageMaker's Linear Learner: label first (binary from a plane, a linear
# regression, three shifted classes); every row answered with SageMaker's fields
awk 'BEGIN { srand(23); for (i = 0; i < 3000; i++) { s = 0.4; r = 1.5; c = i % 3; line = ""
             for (j = 0; j < 8; j++) { x = sprintf("%.5f", rand() + rand() + rand() - 1.5 + (j == c) * 2)
                 s += (j % 2 ? -1 : 1) * (j + 1) * x; r += (j - 3) * x; line = line "," x }
             print (s > 0) line >"/dev/stdout"; print sprintf("%.5f", r) line >"/dev/stderr"; print c line >"'"$b"'/mc.csv" } }' \
    >"$b/llb.csv" 2>"$b/llr.csv"
cut -d, -f2- "$b/llb.csv" >"$b/llx.csv"
head -2000 "$b/llb.csv" >"$b/llb_tr.csv"; tail -1000 "$b/llb.csv" >"$b/llb_va.csv"
printf '{"feature_dim": "8", "predictor_type": "binary_classifier", "epochs": "10", "num_models": "4", "_tuning_objective_metric": "validation:binary_classification_accuracy"}' >"$b/hpl.json"
expect 0 '"test:binary_classification_accuracy": ' train --algorithm linear-learner --hyperparameters "$b/hpl.json" \
    --train "$b/llb_tr.csv" --validation "$b/llb_va.csv" --test "$b/llb_va.csv" --model-dir "$b/ll"
for m in validation:objective_loss validation:binary_classification_accuracy test:binary_f_beta test:precision test:recall; do
    grep -q "^{\"$m\": [0-9.e-]*}$" "$tmp/out" || { echo "FAIL: linear-learner did not print $m"; fail=1; }
done
awk -F': ' '/test:binary_classification_accuracy/ { a = $2 + 0 } END { exit !(a > 0.95) }' "$tmp/out" ||
    { echo "FAIL: linear-learner test accuracy too low"; cat "$tmp/out"; fail=1; }
# sten tune over a built-in's hyperparameter file: Linear Learner's rate and decay on the
# validation channel's loss (SageMaker's metric lines), values written as strings as SageMaker does
printf '{"Strategy": "Random", "RandomSeed": 2, "ResourceLimits": {"MaxNumberOfTrainingJobs": 3},
 "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:objective_loss"},
 "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1"},
   {"Name": "wd", "MinValue": "0", "MaxValue": "0.01"}]}}' >"$b/tune.json"
expect 0 "3 trials: 3 completed, 0 stopped early, 0 failed" tune --spec "$b/tune.json" --dir "$b/tu" -- \
    --algorithm linear-learner --hyperparameters "$b/hpl.json" --train "$b/llb_tr.csv" --validation "$b/llb_va.csv" \
    --model-dir "$b/ll"
if [ "$(grep -c '"status":"Completed","objective":[0-9]' "$b/tu/trials.jsonl")" -ne 3 ] ||
    ! grep -q '"learning_rate": "0\.[0-9]*"' "$b/tu/best-hyperparameters.json" ||
    ! grep -q '"predictor_type": "binary_classifier"' "$b/tu/best-hyperparameters.json" ||
    [ ! -s "$b/tu/trial-1/model.nc" ]; then
    echo "FAIL: sten tune over linear-learner's hyperparameters"; cat "$b/tu/trials.jsonl" "$b/tu/best-hyperparameters.json"; fail=1
else
    echo "ok: sten tune: linear-learner's learning_rate and wd, best $(sed -n 's/.*"objective": \([0-9.e-]*\),.*/\1/p' "$b/tu/best.json")"
fi
expect 65 'tune.json: "learning_rate": a network.s hyperparameters are config paths with dots' tune --spec "$b/tune.json" \
    --dir "$b/tu5" -- -c "$b/hpl.json" -i a.nc
expect 0 "3000 rows (linear)" predict -n "$b/ll/model.nc" --csv "$b/llx.csv" --format jsonl -s "$b/outl"
# each line {"score": p, "predicted_label": 0|1}, p in [0, 1], and right on > 95% of the rows
if ! paste -d' ' "$b/outl" "$b/llb.csv" | awk '!/^\{"score": [0-9.e-]+, "predicted_label": [01]\} [01],/ { bad = 1 }
          { split($0, f, /[:,} ]+/); p = f[2] + 0; l = f[4] + 0; y = f[5] + 0
            if (p < 0 || p > 1) bad = 1; ok += l == y }
          END { exit bad || NR != 3000 || ok < 0.95 * NR }'; then
    echo "FAIL: sten predict --csv (linear-learner binary): wrong lines"; head -3 "$b/outl"; fail=1
fi
printf '{"feature_dim": "8", "predictor_type": "regressor", "epochs": "20", "mini_batch_size": "100", "_tuning_objective_metric": "test:mse"}' >"$b/hplr.json"
expect 0 '"test:mse": ' train --algorithm linear-learner --hyperparameters "$b/hplr.json" --train "$b/llr.csv" \
    --test "$b/llr.csv" --model-dir "$b/llr"
grep -q '^{"test:absolute_loss": ' "$tmp/out" || { echo "FAIL: linear-learner regressor: no test:absolute_loss"; fail=1; }
awk -F': ' '/test:mse/ { m = $2 + 0 } END { exit !(m < 0.01) }' "$tmp/out" || { echo "FAIL: linear-learner mse"; fail=1; }
expect 0 "3000 rows (linear)" predict -n "$b/llr/model.nc" --csv "$b/llx.csv" --format json -s "$b/outlr"
if ! grep -q '^{"predictions": \[{"score": [0-9.e-]*}, ' "$b/outlr" ||
   [ "$(grep -o '"score"' "$b/outlr" | wc -l)" -ne 3000 ] || grep -q predicted_label "$b/outlr"; then
    echo "FAIL: sten predict --csv (linear-learner regressor): wrong answer"; head -c 200 "$b/outlr"; fail=1
fi
printf '{"feature_dim": "8", "predictor_type": "multiclass_classifier", "num_classes": "3", "epochs": "5"}' >"$b/hplm.json"
expect 0 '"test:multiclass_accuracy": ' train --algorithm linear-learner --hyperparameters "$b/hplm.json" \
    --train "$b/mc.csv" --test "$b/mc.csv" --model-dir "$b/llm"
expect 0 "3000 rows (linear)" predict -n "$b/llm/model.nc" --csv "$b/llx.csv" --format jsonl -s "$b/outlm"
if ! awk '!/^\{"score": \[[0-9.e-]+, [0-9.e-]+, [0-9.e-]+\], "predicted_label": [012]\}$/ { bad = 1 }
          { split($0, f, /[][,:} ]+/); s = f[2] + f[3] + f[4]; if (s < 0.999 || s > 1.001) bad = 1; ok += f[6] == (NR - 1) % 3 }
          END { exit bad || NR != 3000 || ok < 0.8 * NR }' "$b/outlm"; then
    echo "FAIL: sten predict --csv (linear-learner multiclass): wrong lines"; head -3 "$b/outlm"; fail=1
fi
expect 73 "already exists" train --algorithm linear-learner --hyperparameters "$b/hpl.json" --train "$b/llb_tr.csv" --model-dir "$b/ll"
expect 64 "only linear-learner reads a validation channel" train --algorithm knn --hyperparameters "$b/hpk.json" \
    --train "$b/lab.csv" --validation "$b/lab.csv" --model-dir "$b/ll2"
expect 64 "--verbose and --nprobe are for k-NN models, this is a linear model" \
    predict -n "$b/ll/model.nc" --csv "$b/llx.csv" --verbose -s "$b/outl2"
printf '{"feature_dim": "8", "predictor_type": "regressor", "loss": "huber_loss"}' >"$b/bad.json"
expect 69 'loss = "huber_loss" is not supported yet' \
    train --algorithm linear-learner --hyperparameters "$b/bad.json" --train "$b/llr.csv" --model-dir "$b/ll2"
printf '{"feature_dim": "8", "predictor_type": "binary_classifier", "loss": "softmax_loss"}' >"$b/bad.json"
expect 65 'loss = "softmax_loss" does not apply to predictor_type binary_classifier (expected auto, logistic or hinge_loss)' \
    train --algorithm linear-learner --hyperparameters "$b/bad.json" --train "$b/llb.csv" --model-dir "$b/ll2"
expect 65 'linear-learner: training row 3 has label 2 (binary_classifier expects 0 or 1)' \
    train --algorithm linear-learner --hyperparameters "$b/hpl.json" --train "$b/mc.csv" --model-dir "$b/ll2"
expect 65 'llx.csv:1:[0-9]*: expected 9 fields (the label and feature_dim), got 8' \
    train --algorithm linear-learner --hyperparameters "$b/hpl.json" --train "$b/llx.csv" --model-dir "$b/ll2"
# Linear Learner on sparse rows (libsvm, 1-based): trained without spreading them out,
# validated and tested on sparse rows; predict answers the libsvm rows as their CSV twins
for f in llb_tr llb_va llb; do
    awk -F, '{ printf "%s", $1; for (i = 2; i <= NF; i++) if ($i + 0 != 0) printf " %d:%s", i - 1, $i; print "" }' \
        "$b/$f.csv" >"$b/$f.svm"
done
expect 0 "2000 sparse rows of 8 features" train --algorithm linear-learner --hyperparameters "$b/hpl.json" \
    --train "$b/llb_tr.svm" --validation "$b/llb_va.svm" --test "$b/llb_va.svm" --index-base 1 --model-dir "$b/lls"
awk -F': ' '/test:binary_classification_accuracy/ { a = $2 + 0 } END { exit !(a > 0.95) }' "$tmp/out" ||
    { echo "FAIL: linear-learner on sparse rows: test accuracy too low"; cat "$tmp/out"; fail=1; }
expect 0 "3000 rows (linear)" predict -n "$b/lls/model.nc" --data "$b/llb.svm" --index-base 1 --format jsonl -s "$b/outs"
expect 0 "3000 rows (linear)" predict -n "$b/lls/model.nc" --csv "$b/llx.csv" --format jsonl -s "$b/outsc"
if ! paste -d' ' "$b/outs" "$b/outsc" | awk '{ split($0, f, /[:,} ]+/); d = f[2] - f[6]; if (d < 0) d = -d
          if (d > 1e-5 || f[4] != f[8]) bad = 1 } END { exit bad || NR != 3000 }'; then
    echo "FAIL: sten predict on libsvm rows differs from the same rows as CSV"; head -2 "$b/outs" "$b/outsc"; fail=1
fi
# the same channels streamed 700 rows at a time (files larger than memory): it still learns, and
# predict streamed writes exactly the lines of predict reading the rows whole
expect 0 "read 700 rows at a time" train --algorithm linear-learner --hyperparameters "$b/hpl.json" \
    --train "$b/llb_tr.svm" --validation "$b/llb_va.svm" --test "$b/llb_va.svm" --index-base 1 --stream-rows 700 \
    --model-dir "$b/llst"
awk -F': ' '/test:binary_classification_accuracy/ { a = $2 + 0 } END { exit !(a > 0.95) }' "$tmp/out" ||
    { echo "FAIL: linear-learner streamed: test accuracy too low"; cat "$tmp/out"; fail=1; }
expect 0 "3000 rows (linear, 400 at a time)" predict -n "$b/llst/model.nc" --data "$b/llb.svm" --index-base 1 \
    --stream-rows 400 --format json -s "$b/outst"
expect 0 "3000 rows (linear)" predict -n "$b/llst/model.nc" --data "$b/llb.svm" --index-base 1 --format json -s "$b/outst2"
cmp -s "$b/outst" "$b/outst2" || { echo "FAIL: sten predict --stream-rows differs from a whole read"; fail=1; }
# sparse RecordIO-protobuf training rows (tensors with keys and shape) beside a CSV validation
# channel: the CSV rows are gathered into a CSR to match (and a CSV test channel stays dense)
/usr/bin/python3 "$b/rec.py" "$b/llb_tr.csv" "$b/llb_tr_sparse.rec" sparse
expect 0 "2000 sparse rows of 8 features, with validation" train --algorithm linear-learner \
    --hyperparameters "$b/hpl.json" --train "$b/llb_tr_sparse.rec" --validation "$b/llb_va.csv" --test "$b/llb_va.csv" \
    --model-dir "$b/llrec"
awk -F': ' '/validation:binary_classification_accuracy/ { v = $2 + 0 } /test:binary_classification_accuracy/ { t = $2 + 0 }
    END { d = v - t; exit !(v > 0.95 && d <= 0.002 && d >= -0.002) }' "$tmp/out" ||
    { echo "FAIL: linear-learner, sparse RecordIO training with CSV validation"; cat "$tmp/out"; fail=1; }
# RecordIO-protobuf rows of dense tensors (the reader keeps them as a CSR, so they train and score
# sparse): predict's answers those of the same rows as CSV (to float rounding: the CSV reader parses
# straight to float)
/usr/bin/python3 "$b/rec.py" "$b/llb_tr.csv" "$b/llb_tr_dense.rec"
/usr/bin/python3 "$b/rec.py" "$b/llb.csv" "$b/llb_dense.rec"
expect 0 "2000 sparse rows of 8 features" train --algorithm linear-learner --hyperparameters "$b/hpl.json" \
    --train "$b/llb_tr_dense.rec" --model-dir "$b/llrd"
expect 0 "3000 rows (linear)" predict -n "$b/ll/model.nc" --data "$b/llb_dense.rec" --format jsonl -s "$b/outrd"
if ! paste -d' ' "$b/outrd" "$b/outl" | awk '{ split($0, f, /[:,} ]+/); d = f[2] - f[6]; if (d < 0) d = -d
          if (d > 1e-5 || f[4] != f[8]) bad = 1 } END { exit bad || NR != 3000 }'; then
    echo "FAIL: sten predict on RecordIO rows differs from the same rows as CSV"; head -2 "$b/outrd" "$b/outl"; fail=1
fi
expect 64 "only linear-learner streams, from libsvm channels" train --algorithm linear-learner \
    --hyperparameters "$b/hpl.json" --train "$b/llb_tr.csv" --stream-rows 700 --model-dir "$b/ll2"
expect 64 "--stream-rows reads libsvm rows: give --index-base 0 or 1" predict -n "$b/llst/model.nc" \
    --data "$b/llb.svm" --stream-rows 400 -s "$b/outl2"
printf '{"feature_dim": "7", "predictor_type": "binary_classifier"}' >"$b/bad.json"
expect 65 'llb_tr.svm:1: feature index 8 is not below feature_dim 7' \
    train --algorithm linear-learner --hyperparameters "$b/bad.json" --train "$b/llb_tr.svm" --index-base 1 --model-dir "$b/ll2"
# Criteo rows as libsvm for Linear Learner: dense values, then each field one hot
"$STEN" synth --preset criteo --rows 4000 --scale 0.0005 --seed 3 -o "$b/ctr.tsv" 2>/dev/null
head -3000 "$b/ctr.tsv" >"$b/ctr_tr.tsv"; tail -1000 "$b/ctr.tsv" >"$b/ctr_te.tsv"
expect 0 "feature_dim 26013" convert "$b/ctr_tr.tsv" -o "$b/ctr_tr.svm" --format criteo --hash-buckets 1001 --to libsvm
expect 0 "feature_dim 26013" convert "$b/ctr_te.tsv" -o "$b/ctr_te.svm" --format criteo --hash-buckets 1001 --to libsvm
if ! awk -F'[ :]' '{ for (i = 2; i < NF; i += 2) { if ($i < 13) d++; else c++; if ($i >= 26013) bad = 1 } }
          END { exit bad || c < 25 * NR || d < 5 * NR }' "$b/ctr_tr.svm"; then
    echo "FAIL: sten convert --format criteo --to libsvm: wrong lines"; head -2 "$b/ctr_tr.svm"; fail=1
fi
expect 64 "--to libsvm is for --format criteo" convert "$b/ctr_tr.tsv" -o "$b/x.svm" --to libsvm
printf '{"feature_dim": "26013", "predictor_type": "binary_classifier", "epochs": "3", "binary_classifier_model_selection_criteria": "loss_function"}' >"$b/hpc.json"
expect 0 '"test:objective_loss": ' train --algorithm linear-learner --hyperparameters "$b/hpc.json" \
    --train "$b/ctr_tr.svm" --test "$b/ctr_te.svm" --index-base 0 --model-dir "$b/llc"
awk -F': ' '/test:objective_loss/ { a = $2 + 0 } END { exit !(a > 0 && a < 0.69) }' "$tmp/out" ||
    { echo "FAIL: linear-learner on Criteo rows: no better than chance"; cat "$tmp/out"; fail=1; }
if [ -e "$b/ll2/model.nc" ] || [ -e "$b/outl2" ]; then echo "FAIL: a linear-learner output was left behind after an error"; fail=1; fi
exit $fail
