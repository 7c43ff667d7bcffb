#!/bin/sh
# test_pipeline.sh — the sten command end to end on data it generates:
# synth (determinism, skew), convert (every input format, errors), split,
# generate-netcdf (DSSTNE's header, errors, no half-written files), train
# (refusal to overwrite, metrics, checkpoints, resume, model attributes),
# predict (never a seen item), evaluate, baselines, FM (shared encodings,
# SageMaker's inputs), the one overwrite rule of every command, messages for
# wrong files and empty inputs, DSSTNE's spellings, and the MovieLens
# walkthrough example. Usage: test_pipeline.sh STEN DATA_DIR EXAMPLES_DIR
set -u
STEN=$(realpath "$1")
DATA=$(realpath "$2")
EXAMPLES=$(realpath "$3")
fail=0
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"

ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
# expect_exit CODE PATTERN CMD...: exit code and a pattern on stderr
expect_exit() {
    want=$1 pat=$2
    shift 2
    "$@" >out.txt 2>err.txt
    got=$?
    if [ "$got" -ne "$want" ]; then bad "$* -> exit $got, expected $want"; cat err.txt; return; fi
    if ! grep -qF -- "$pat" err.txt; then bad "$*: stderr lacks '$pat'"; cat err.txt; return; fi
    ok "$* -> $got"
}
same() { # same FILE EXPECTED_TEXT
    printf '%b' "$2" >expected.txt
    if cmp -s "$1" expected.txt; then ok "$1 as expected"; else bad "$1 differs:"; diff expected.txt "$1"; fi
}

# ---- synth: seeded, deterministic, skewed
"$STEN" synth --preset small --seed 5 -o a.csv 2>/dev/null && "$STEN" synth --preset small --seed 5 -o b.csv -t 1 2>/dev/null
cmp -s a.csv b.csv && ok "synth: same seed, other thread count -> same bytes" || bad "synth is not deterministic"
"$STEN" synth --preset small --seed 6 -o c.csv 2>/dev/null
cmp -s a.csv c.csv && bad "synth: another seed gave the same data" || ok "synth: another seed differs"
awk -F, 'NR > 1 { n[$2]++ } END { for (i in n) print n[i] }' a.csv | sort -rn >counts.txt
awk -F, 'NR > 1 { t++; if (seen[$1 "," $2]++) dup++ } END { printf "%d %d ", t, dup + 0 }' a.csv >stats.txt
awk '{ c[NR] = $1; t += $1 } END { for (j = 1; j <= NR / 100; j++) top += c[j]; printf "%d %.3f\n", NR, top / t }' counts.txt >>stats.txt
read total dups items share <stats.txt
[ "$items" -le 1000 ] && [ "$total" -gt 90000 ] && [ "$total" -lt 110000 ] && ok "synth: shape ($total interactions, $items items)" || bad "synth shape: $total interactions, $items items"
awk -v s="$share" 'BEGIN { exit !(s > 0.10) }' && ok "synth: top 1% of items hold $share of interactions" || bad "synth not skewed: top 1% share $share"
[ "$dups" -eq 0 ] && ok "synth: no repeated (user, item)" || bad "synth: $dups repeated pairs"

# ---- convert: every format, grouping, order, values, thresholds, errors
"$STEN" convert "$DATA/convert/ratings.csv" -o r.txt --force 2>/dev/null
same r.txt '2\t30:10\n1\t10:20\n'
"$STEN" convert "$DATA/convert/ratings.csv" -o r.txt --force --value rating 2>/dev/null
same r.txt '2\t30,1:10,4\n1\t10,5:20,4.5\n'
"$STEN" convert "$DATA/convert/ratings.csv" -o r.txt --force --value timestamp --min-rating 4 2>/dev/null
same r.txt '2\t10,300\n1\t10,100:20,250\n'
"$STEN" convert "$DATA/convert/ratings.dat" -o r.txt --force 2>/dev/null
same r.txt '1\t10:20\n2\t10\n'
gzip -c "$DATA/convert/ratings.dat" >ratings.dat.gz
"$STEN" convert ratings.dat.gz -o r.txt --force 2>/dev/null
same r.txt '1\t10:20\n2\t10\n'
"$STEN" convert "$DATA/convert/u.data" -o r.txt --force --value rating 2>/dev/null
same r.txt '1\t10,5:20,3\n2\t10,4\n'
"$STEN" convert "$DATA/convert/custom.txt" -o r.txt --force --format delimited --delimiter ';' --columns item,-,user --header 2>/dev/null
same r.txt 'u1\t10:20\nu2\t10\n'
# the bounded-memory path (sorted runs through temporary files) gives the same bytes
"$STEN" convert a.csv -o conv1.txt 2>/dev/null && "$STEN" convert a.csv -o conv2.txt --max-memory 1 2>conv2.err
cmp -s conv1.txt conv2.txt && grep -q "sorted through temporary files" conv2.err \
    && ok "convert --max-memory 1 (external sort) = in-memory result" || bad "convert external sort differs"
expect_exit 65 "bad_rating.csv:3:3: rating \"abc\" is not a number" "$STEN" convert "$DATA/convert/bad_rating.csv" -o x.txt
[ ! -e x.txt ] && ok "convert: no output after an error" || bad "convert left x.txt behind"
expect_exit 65 "short.data:1: expected 4 fields separated by 'TAB' (MovieLens u.data), got 3" "$STEN" convert "$DATA/convert/short.data" -o x.txt
"$STEN" convert "$DATA/convert/ratings.csv" -o fm.txt --to fm --threshold 4 2>/dev/null
same fm.txt '# sten-fm-encoding 3bf8dd102ad65d08 features 5\n0 0:1 4:1\n1 0:1 2:1\n1 1:1 2:1\n1 1:1 3:1\n'
# --to fm --encoding: the first file writes the numbering, the next one is encoded with it (users
# 1, 2 and items 10, 20, 30 keep their features; item 40 is unknown and left out of its line)
"$STEN" convert "$DATA/convert/ratings.csv" -o fm1.txt --to fm --threshold 4 --encoding enc 2>/dev/null
same enc.users '2\t0\n1\t1\n'
same enc.items '10\t0\n20\t1\n30\t2\n'
printf 'userId,movieId,rating,timestamp\n1,30,5.0,1\n1,40,2.0,2\n2,20,4.0,3\n' >test.csv
"$STEN" convert test.csv -o fm2.txt --to fm --threshold 4 --encoding enc 2>fm2.err
same fm2.txt '# sten-fm-encoding 3bf8dd102ad65d08 features 5\n1 1:1 4:1\n0 1:1\n1 0:1 3:1\n'
grep -q "0 ratings name a user and 1 an item that the encoding enc lacks" fm2.err \
    && ok "convert --to fm --encoding: unknown items counted" || { bad "encoding warning"; cat fm2.err; }
"$STEN" convert test.csv -o fm3.txt --to fm --threshold 4 2>fm3.err
grep -q "numbered in this file's own order" fm3.err && ok "convert --to fm without --encoding says so" || bad "no note"
printf '1\t0\n' >lone.users
expect_exit 66 "lone.users exists but lone.items does not" "$STEN" convert test.csv -o fm4.txt --to fm --encoding lone
: >empty.users; : >empty.items
expect_exit 65 "empty.users: the index is empty" "$STEN" convert test.csv -o fm4.txt --to fm --encoding empty
expect_exit 64 "--encoding is for --to fm" "$STEN" convert test.csv -o fm4.txt --encoding enc
# train refuses files of two encodings, before training (fm1 and fm3 were numbered separately)
printf '{"feature_dim": "10", "num_factors": "2", "predictor_type": "binary_classifier"}\n' >hp_small.json
expect_exit 65 "were converted with different encodings" "$STEN" train --algorithm factorization-machines \
    --hyperparameters hp_small.json --train fm1.txt --test fm3.txt --model-dir encdir --index-base 0
[ ! -e encdir/model.nc ] && ok "train: no model after refusing mixed encodings" || bad "encdir/model.nc written"
"$STEN" train --algorithm factorization-machines --hyperparameters hp_small.json --train fm1.txt \
    --test fm2.txt --model-dir encdir --index-base 0 >/dev/null 2>&1 && ok "train: one encoding accepted" \
    || bad "train refused fm1/fm2 of one encoding"
printf '1 1:0.5 3:2\n# comment\n0 qid:4 2:1\n' >a.svm
"$STEN" convert a.svm -o svm.txt --format libsvm --index-base 1 --labels svm.labels 2>/dev/null
same svm.txt '1\t0,0.5:2,2\n3\t1,1\n'
same svm.labels '1\t1\n3\t0\n'
printf '1 0:1\n' >b.svm
expect_exit 65 "b.svm:1:3: expected an index >= 1 (the stated base), got \"0\"" "$STEN" convert b.svm -o x.txt --format libsvm --index-base 1
expect_exit 64 "--format libsvm needs --index-base 0 or 1" "$STEN" convert b.svm -o x.txt --format libsvm
expect_exit 64 "unknown --format 'json'" "$STEN" convert a.csv -o x.txt --format json
expect_exit 66 "none.csv: cannot open" "$STEN" convert none.csv -o x.txt

# ---- split
"$STEN" split a.csv --protocol random -o s 2>/dev/null
tr ':\t' '\n\n' <s-train.txt | wc -l >n1; tr ':\t' '\n\n' <s-test.txt | wc -l >n2
awk -v a="$(cat n1)" -v b="$(cat n2)" -v t="$total" 'BEGIN { r = (b - 2000) / t; exit !(a + b - 4000 == t && r > 0.18 && r < 0.22) }' \
    && ok "split random: 20% held out, nothing lost" || bad "split random: $(cat n1) + $(cat n2) lines vs $total"
"$STEN" split a.csv --protocol loo -o l 2>/dev/null
awk -F'\t' '{ if (split($2, x, ":") != 1) bad++ } END { exit bad > 0 }' l-test.txt && ok "split loo: one item per user" || bad "split loo"
"$STEN" split a.csv --protocol strong --valid-users 100 --test-users 100 -o g 2>/dev/null
[ "$(wc -l <g-test-holdout.txt)" -eq 100 ] && [ "$(wc -l <g-valid-foldin.txt)" -eq 100 ] && ok "split strong: 100 + 100 held-out users" || bad "split strong user counts"
expect_exit 64 "unknown --protocol 'kfold'" "$STEN" split a.csv -o z --protocol kfold

# ---- generate-netcdf: DSSTNE's header, shared samples index, errors
"$STEN" generate-netcdf -d gl_input -i s-train.txt -o gl_input.nc -f features -s samples -c 2>/dev/null
"$STEN" generate-netcdf -d gl_output -i s-train.txt -o gl_output.nc -f features -s samples 2>/dev/null
ncdump -h gl_input.nc | sed 1d | tr -d '\t' >header.txt
for line in 'examplesDim0 = 2000 ;' 'uint sparseStart0(examplesDim0) ;' 'uint sparseEnd0(examplesDim0) ;' \
            'uint sparseIndex0(sparseDataDim0) ;' ':datasets = 1U ;' ':name0 = "gl_input" ;' \
            ':attributes0 = 3U ;' ':kind0 = 0U ;' ':dataType0 = 0U ;' ':dimensions0 = 1U ;' ':width0 = 1024U ;'; do
    grep -qxF -- "$line" header.txt || bad "ncdump -h lacks: $line"
done
grep -q sparseData0 header.txt && bad "indicator data must not have sparseData0" || ok "generate-netcdf: DSSTNE's header"
printf 'u1\ti1,2.5:i2\nu2 i3\n' >broken.txt
expect_exit 65 "broken.txt:2: expected \"sample<TAB>features\", found no TAB" "$STEN" generate-netcdf -d x -i broken.txt -o broken.nc -f f2 -s s2 -c
[ ! -e broken.nc ] && [ ! -e f2 ] && ok "generate-netcdf: nothing written after an error" || bad "generate-netcdf left files behind"
printf 'u1\ti1,x\n' >badval.txt
expect_exit 65 "badval.txt:1:7: feature \"i1\": value \"x\" is not a number" "$STEN" generate-netcdf -d x -i badval.txt -o x.nc -f f3 -s s3 -c -t analog
expect_exit 66 "nofeatures: cannot open" "$STEN" generate-netcdf -d x -i s-train.txt -o x.nc -f nofeatures -s s4
head -c 2000 gl_input.nc >broken.nc
expect_exit 65 "broken.nc: cannot open as NetCDF" "$STEN" train -c "$EXAMPLES/movielens/config.json" -i broken.nc -o gl_output.nc -n b.nc
expect_exit 66 "DataSet \"gl_input\" is not in the data files (they hold: gl_output)" \
    "$STEN" train -c "$EXAMPLES/movielens/config.json" -i gl_output.nc -o gl_output.nc -n b.nc
printf 'f1\t0\nf2\n' >badidx.txt
expect_exit 65 "badidx.txt:2: expected \"label<TAB>integer\", found no TAB" "$STEN" generate-netcdf -d x -i s-train.txt -o x.nc -f badidx.txt -s s5
printf '\tf1\n' >nolabel.txt
expect_exit 65 "nolabel.txt:1:1: the sample label before the TAB is empty" "$STEN" generate-netcdf -d x -i nolabel.txt -o x.nc -f f6 -s s6 -c
expect_exit 64 "-c and -m exclude each other" "$STEN" generate-netcdf -d x -i s-train.txt -o x.nc -f f -s s -c -m

# ---- train: DSSTNE's command, metrics, refusal to overwrite, checkpoints, resume
cat >config.json <<'JSON'
{ "Version": 0.7, "ShuffleIndices": false, "SparsenessPenalty": {"p": 0.5, "beta": 2.0},
  "Denoising": {"p": 0.2}, "ErrorFunction": "ScaledMarginalCrossEntropy",
  "ScaledMarginalCrossEntropy": {"oneTarget": 1.0, "zeroTarget": 0.0, "oneScale": 1.0, "zeroScale": 1.0},
  "Layers": [{"Name": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},
             {"Name": "Hidden", "N": 64, "Activation": "Sigmoid", "Sparse": true},
             {"Name": "Output", "N": "auto", "DataSet": "gl_output", "Activation": "Sigmoid"}],
  "Training": {"Optimizer": "Adam", "Alpha": 0.003} }
JSON
"$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n gl.nc -b 256 -e 6 --metrics m.jsonl --checkpoint-every 3 2>/dev/null \
    && ok "train: DSSTNE's command line" || bad "train failed"
[ "$(wc -l <m.jsonl)" -eq 6 ] && ok "train: one metrics line per epoch" || bad "train metrics lines: $(wc -l <m.jsonl)"
awk -F'"loss": ' 'NR > 1 { split($2, a, ","); if (a[1] + 0 >= prev) up++ } { split($2, b, ","); prev = b[1] + 0 } END { exit up > 0 }' m.jsonl \
    && ok "train: the loss falls every epoch" || bad "train: the loss did not fall every epoch"
[ -e gl-epoch3.nc ] && [ -e gl-epoch6.nc ] && ok "train: checkpoints every 3 epochs" || bad "train: checkpoints missing"
ncdump -h gl.nc >model.txt
for att in ':errorFunction = 3U' ':layers = 3U' ':weights = 2U' 'layer0_name = "Input"' 'layer1_Nx = 64U' \
           'float weight0_weights(weight0_weightDim)' 'weight1_inputLayer = "Hidden"' ':sten_format_version = 1'; do
    grep -qF -- "$att" model.txt || bad "model lacks $att"
done
ok "train: model file has DSSTNE's attributes"
expect_exit 73 "gl.nc already exists; pass --force" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n gl.nc
"$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n resumed.nc -b 256 -e 6 --checkpoint-every 3 --resume gl-epoch3.nc 2>/dev/null
cmp -s resumed.nc gl.nc && ok "train: --resume from epoch 3 reproduces the 6-epoch model byte for byte" \
    || { ncdump resumed.nc | sed 1d >r1; ncdump gl.nc | sed 1d >r2; cmp -s r1 r2 && ok "train: --resume reproduces the model" || bad "train: resume differs"; }
"$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n again.nc -b 256 -e 6 --checkpoint-every 3 2>/dev/null
ncdump again.nc | sed 1d >a1; ncdump gl.nc | sed 1d >a2
cmp -s a1 a2 && ok "train: the same seed gives an identical model" || bad "train is not reproducible"
# a disk that fills while the model is written (a file size limit stands in for it): exit 74 with
# the reason, the previous model untouched, no temporary left behind (HDF5 writing into a full
# file crashed: exit 139; the space is now reserved before HDF5 writes)
cp gl.nc before.nc
(trap '' XFSZ; ulimit -f 64; exec "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n gl.nc -b 256 -e 1 --force 2>full.err)
rc=$?
[ $rc -eq 74 ] && grep -q "gl.nc: cannot reserve .* MB for the model: File too large" full.err && cmp -s before.nc gl.nc &&
    [ -z "$(ls | grep '\.tmp\.')" ] && ok "train: a full disk while writing the model exits 74, the old model intact" ||
    { bad "train on a full disk: exit $rc"; cat full.err; ls; }
(trap '' XFSZ; ulimit -f 64; exec "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n ck.nc -b 256 -e 2 --checkpoint-every 1 2>full.err)
rc=$?
[ $rc -eq 74 ] && grep -q "ck-epoch1.nc: cannot reserve" full.err && [ ! -e ck-epoch1.nc ] && [ ! -e ck.nc ] &&
    [ -z "$(ls | grep '\.tmp\.')" ] && ok "train: a full disk while writing a checkpoint exits 74, nothing half-written" ||
    { bad "checkpoint on a full disk: exit $rc"; cat full.err; }
"$STEN" split a.csv --protocol strong --positive 0 --valid-users 300 --test-users 10 -o v 2>/dev/null
"$STEN" generate-netcdf -d gl_input -i v-valid-foldin.txt -o vin.nc -f features -s vsamples 2>/dev/null
"$STEN" generate-netcdf -d gl_output -i v-valid-holdout.txt -o vout.nc -f features -s vsamples 2>/dev/null
"$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n v.nc -b 256 -e 200 --validate vin.nc \
    --validate vout.nc --patience 2 --metrics v.jsonl 2>err.txt
grep -q '"valid_loss"' v.jsonl && [ "$(wc -l <v.jsonl)" -lt 200 ] && grep -q "early stop after epoch" err.txt \
    && ok "train: validation loss per epoch, early stop after $(wc -l <v.jsonl) epochs" || bad "train: validation / early stopping"
# Mult-VAE (examples/movielens/mult-vae.json) selected on validation ranking: NDCG@20 of the
# validation users per epoch, the best epoch's weights kept, and that NDCG the one `sten predict`
# + `sten evaluate` give for the kept model
"$STEN" train -c "$EXAMPLES/movielens/mult-vae.json" -i gl_input.nc -o gl_output.nc -n vae.nc -b 256 -e 6 \
    --validate vin.nc --validate vout.nc --select ndcg@20 --keep-best --metrics vae.jsonl 2>vae.err
best=$(sed -n 's/.*"epoch": \([0-9]*\),.*"valid_ndcg@20": \([0-9.e-]*\).*/\2 \1/p' vae.jsonl | sort -g | tail -n 1)
kept=$(sed -n 's/.*kept the weights of epoch \([0-9]*\),.*/\1/p' vae.err)
"$STEN" predict -d gl -n vae.nc -r v-valid-foldin.txt -i features -o features -f v-valid-foldin.txt -k 20 -s vae.recs 2>/dev/null
"$STEN" evaluate -r vae.recs -t v-valid-holdout.txt -k 20 --features features --json >vae.eval 2>/dev/null
ev=$(sed -n 's/.*"ndcg": \([0-9.]*\).*/\1/p' vae.eval)
[ "$(wc -l <vae.jsonl)" -eq 6 ] && [ -n "$kept" ] && [ "${best#* }" = "$kept" ] &&
    awk -v a="${best% *}" -v b="$ev" 'BEGIN { exit !(a > 0.05 && (a - b) ^ 2 < 1e-10) }' &&
    ok "train --select ndcg@20 --keep-best: kept epoch $kept of 6, validation NDCG@20 ${best% *} = evaluate's $ev" ||
    { bad "Mult-VAE validation selection: best '$best', kept '$kept', evaluate '$ev'"; cat vae.err vae.jsonl; }
sed 's/"DataSet" : "gl_output"/"DataSet" : "gl_input"/' "$EXAMPLES/movielens/mult-dae.json" >shared.json
expect_exit 64 "--validate-users: dataset gl_input feeds both an Input and an Output layer" "$STEN" train -c shared.json -i gl_input.nc -o gl_input.nc -n s.nc --validate-users 5
# --validate-users: validation users drawn from the training data itself, the same for the same seed
for run in 1 2; do
    "$STEN" train -c "$EXAMPLES/movielens/mult-dae.json" -i gl_input.nc -o gl_output.nc -n vu$run.nc -b 256 -e 3 \
        --validate-users 200 --select ndcg@20 --keep-best --metrics vu$run.jsonl 2>vu$run.err
done
for run in 1 2; do
    ncdump vu$run.nc | sed 1d >vu$run.cdl
    sed 's/"seconds": [0-9.]*, "examples_per_s": [0-9.]*, //' vu$run.jsonl >vu$run.m
done
grep -q "sten train: 200 validation users held out of" vu1.err && grep -q '"valid_ndcg@20": 0\.[0-9]' vu1.jsonl &&
    [ "$(wc -l <vu1.jsonl)" -eq 3 ] && cmp -s vu1.cdl vu2.cdl && cmp -s vu1.m vu2.m &&
    ok "train --validate-users 200: validation NDCG@20 per epoch, the same model for the same seed" ||
    { bad "train --validate-users"; cat vu1.err vu1.jsonl; }
expect_exit 64 "--validate and --validate-users both name validation data" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n s.nc --validate vin.nc --validate-users 5
expect_exit 64 "--select expects loss, recall@K or ndcg@K, got 'map@10'" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n s.nc --validate vin.nc --select map@10
expect_exit 64 "--select recall@K needs --validate" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n s.nc --select recall@5
sed 's/"Type" : "Variational", "N" : "auto"/"Type" : "Variational", "N" : 100/' "$EXAMPLES/movielens/mult-vae.json" >vbad.json
expect_exit 64 'layer "Z": a Variational layer of N = 100 takes one dense Source 2N = 200 wide' "$STEN" train -c vbad.json -i gl_input.nc -o gl_output.nc -n s.nc
sed 's/"Activation" : "SoftMax"/"Activation" : "Sigmoid"/' "$EXAMPLES/movielens/mult-vae.json" >vbad.json
expect_exit 64 "the Multinomial ErrorFunction needs a SoftMax output" "$STEN" train -c vbad.json -i gl_input.nc -o gl_output.nc -n s.nc
# sten tune: Hyperband over a Mult-DAE's rate, width and denoising on the validation users'
# NDCG@20; the same spec gives the same trials (timing aside), an interrupted run resumes to the
# same trials, the best trial's model predicts, and spec mistakes name the key
sed 's/"Epochs" : 200/"Epochs" : 9/; s/"BatchSize" : 500/"BatchSize" : 256/' "$EXAMPLES/movielens/mult-dae.json" >dae.json
cat >spec.json <<'SPEC'
{"Strategy": "Hyperband", "RandomSeed": 4,
 "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:ndcg@20"},
 "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2},
 "ParameterRanges": {
   "ContinuousParameterRanges": [{"Name": "Training.Alpha", "MinValue": "0.0003", "MaxValue": "0.03", "ScalingType": "Logarithmic"},
                                 {"Name": "Denoising.p", "MinValue": 0, "MaxValue": 0.6}],
   "IntegerParameterRanges": [{"Name": "Layers.Hidden.N", "MinValue": 16, "MaxValue": 128}]}}
SPEC
targs="-c dae.json -i gl_input.nc -o gl_output.nc --validate vin.nc --validate vout.nc"
norm() { sed 's/"seconds":[0-9.e+-]*,//' "$1/trials.jsonl" | sort; }
"$STEN" tune --spec spec.json --dir tu1 -t 2 -- $targs >tu1.out 2>tu1.err
rc=$?
"$STEN" tune --spec spec.json --dir tu2 -t 2 -- $targs >/dev/null 2>&1
best=$(sed -n 's/.*"objective": \([0-9.e-]*\),.*/\1/p' tu1/best.json)
top=$(sed -n 's/.*"status":"Completed","objective":\([0-9.e-]*\),.*/\1/p' tu1/trials.jsonl | sort -g | tail -n 1)
[ $rc -eq 0 ] && [ "$(wc -l <tu1/trials.jsonl)" -eq 5 ] && [ -n "$best" ] &&
    awk -v a="$best" -v b="$top" 'BEGIN { exit !(a == b && a > 0.05) }' &&
    grep -q "^5 trials: " tu1.out && [ -s tu1/best-model.nc ] && [ -s tu1/best-config.json ] &&
    ok "tune: 5 trials (Hyperband), best validation NDCG@20 $best ($(sed -n 's/^5 trials: //p' tu1.out))" ||
    { bad "tune: exit $rc, best '$best', top '$top'"; cat tu1.err tu1.out; }
norm tu1 >n1
norm tu2 >n2
cmp -s n1 n2 && ok "tune: the same spec and seed give the same trials" || { bad "tune is not deterministic"; diff n1 n2; }
# an interruption after two trials: their lines kept, the rest run again
cp -r tu1 tu3
head -n 2 tu1/trials.jsonl >tu3/trials.jsonl
rm -rf tu3/best* tu3/trial-5
"$STEN" tune --spec spec.json --dir tu3 -t 2 -- $targs >/dev/null 2>tu3.err
norm tu3 >n3
sed 's/"wall_seconds": [0-9.]*//' tu1/best.json >b1
sed 's/"wall_seconds": [0-9.]*//; s/tu3/tu1/' tu3/best.json >b3
grep -q "resuming in tu3: 2 of 5 trials done" tu3.err && cmp -s n1 n3 && cmp -s b1 b3 &&
    ok "tune: an interrupted run resumes to the same trials and best" || { bad "tune resume"; cat tu3.err; diff n1 n3; diff b1 b3; }
# a stop signal to the whole process group, trials included (as Ctrl-C gives; SIGTERM here, since a
# script's background jobs ignore SIGINT) records no trial as failed; the same command resumes to the
# uninterrupted run's trials
rm -rf tu5
setsid "$STEN" tune --spec spec.json --dir tu5 -t 2 -- $targs >/dev/null 2>tu5.err &
tpid=$!
for i in $(seq 400); do [ -d tu5/trial-2 ] && break; sleep 0.01; done
/bin/kill -s TERM -- -"$tpid" 2>/dev/null
wait "$tpid"
trc=$?
failed=$(grep -c '"status":"Failed"' tu5/trials.jsonl 2>/dev/null)
"$STEN" tune --spec spec.json --dir tu5 -t 2 -- $targs >/dev/null 2>>tu5.err
norm tu5 >n5
[ "$trc" -eq 130 ] && [ "${failed:-0}" -eq 0 ] && cmp -s n1 n5 &&
    ok "tune: a stop signal to the process group marks no trial failed; resuming gives the same trials" ||
    { bad "tune interrupt: exit $trc, $failed failed"; cat tu5.err; diff n1 n5; }
"$STEN" predict -d gl -n tu1/best-model.nc -r v-valid-foldin.txt -i features -o features -f v-valid-foldin.txt -k 5 -s tu.recs 2>/dev/null &&
    [ "$(wc -l <tu.recs)" -eq "$(wc -l <v-valid-foldin.txt)" ] && ok "tune: the best trial's model predicts" || bad "tune: the best model does not predict"
expect_exit 73 "tu1: holds a tuning run of another spec, config or arguments; --force starts over there" "$STEN" tune --spec spec.json --dir tu1 -- -c config.json -i gl_input.nc -o gl_output.nc --validate vin.nc --validate vout.nc
sed 's/"Strategy": "Hyperband"/"Strategy": "Hyperband", "MaxRuntime": 5/' spec.json >spec2.json
expect_exit 65 "spec2.json: MaxRuntime: expected one of Strategy, HyperParameterTuningJobObjective" "$STEN" tune --spec spec2.json --dir tu4 -- $targs
sed 's/Layers.Hidden.N/Layers.Hiden.N/' spec.json >spec2.json
expect_exit 65 "spec2.json: \"Layers.Hiden.N\": the config has no layer named \"Hiden\"" "$STEN" tune --spec spec2.json --dir tu4 -- $targs
expect_exit 64 "-n in the training arguments: the tuner sets it for each trial" "$STEN" tune --spec spec.json --dir tu4 -- $targs -n m.nc
[ ! -e tu4 ] && ok "tune: nothing made on a refused spec" || bad "tune left tu4 behind on an error"
sed 's/"Sigmoid", "Sparse": true}/"Sigmod", "Sparse": true}/' config.json >typo.json
expect_exit 65 "typo.json:5:42: layer \"Hidden\": unknown activation \"Sigmod\"" "$STEN" train -c typo.json -i gl_input.nc -o gl_output.nc -n t.nc
expect_exit 64 "-n MODEL.nc is required" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc
expect_exit 64 "--precision expects fp32, bf16 or auto, got 'fp16'" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n p.nc --precision fp16
# --precision auto: says what it measured and took, and trains in that
"$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n auto.nc -b 256 -e 1 --precision auto 2>auto.err \
    && grep -q "^precision auto: \(bf16\|fp32\) (" auto.err \
    && grep -q "sten train: .*, $(sed -n 's/^precision auto: \([a-z0-9]*\) .*/\1/p' auto.err)\$" auto.err \
    && ok "train --precision auto: $(sed -n 's/^precision auto: //p' auto.err)" || bad "train --precision auto: $(cat auto.err)"
# bf16 precision: trains, predicts, and its lists agree with fp32's where the CPU has it
if "$STEN" info | grep -q "^bf16 *yes"; then
    "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n bf.nc -b 256 -e 6 --precision bf16 2>/dev/null \
        && ok "train --precision bf16" || bad "train --precision bf16 failed"
    "$STEN" predict -d gl -n bf.nc -r s-train.txt -i features -o features -f s-train.txt -s bf.txt -k 20 --precision bf16 2>/dev/null
    "$STEN" predict -d gl -n bf.nc -r s-train.txt -i features -o features -f s-train.txt -s bf32.txt -k 20 2>/dev/null
    # the bf16 model served in bf16 and in fp32: top-20 sets overlap almost entirely
    awk -F'\t' 'NR == FNR { n = split($2, r, ":"); for (i = 1; i < n; i++) { split(r[i], p, ","); s[$1 "|" p[1]] = 1 }; next }
                { n = split($2, r, ":"); for (i = 1; i < n; i++) { split(r[i], p, ","); tot++; if (s[$1 "|" p[1]]) hit++ } }
                END { printf "%.4f\n", hit / tot; exit !(tot == 40000 && hit / tot > 0.95) }' bf.txt bf32.txt >overlap.txt \
        && ok "predict --precision bf16: top-20 overlap with fp32 $(cat overlap.txt)" || bad "bf16 vs fp32 top-20 overlap $(cat overlap.txt)"
else
    expect_exit 69 "AVX-512 BF16" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n bf.nc --precision bf16
fi
# int8 inference on DSSTNE's one-hidden-layer autoencoder: its hidden layer reads the sparse input and
# its output feeds top-K, both fp32, so the lists are fp32's to the byte
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features -f s-train.txt -s i8.txt -k 20 --precision int8 2>/dev/null &&
    "$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features -f s-train.txt -s i8f.txt -k 20 2>/dev/null &&
    [ -s i8.txt ] && cmp -s i8.txt i8f.txt && ok "predict --precision int8: the autoencoder's lists are fp32's" \
    || bad "predict --precision int8 on the autoencoder differs from fp32"

# ---- predict: seen items never come back; K beyond the catalogue
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features -f s-train.txt -s recs.txt -k 20 2>/dev/null \
    && ok "predict ran" || bad "predict failed"
awk -F'\t' 'NR == FNR { n = split($2, it, ":"); for (i = 1; i <= n; i++) seen[$1 "|" it[i]] = 1; next }
            { n = split($2, r, ":"); for (i = 1; i < n; i++) { split(r[i], p, ","); if (seen[$1 "|" p[1]]) hit++ } ; lines++ }
            END { exit !(hit == 0 && lines == 2000) }' s-train.txt recs.txt \
    && ok "predict: no seen item in 2000 users' top-20" || bad "predict returned a seen item"
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features --exclude-seen -s all.txt -k 5000 2>/dev/null
awk -F'\t' 'NR == FNR { n[$1] = split($2, it, ":"); next } { m = split($2, r, ":") - 1; if (m + n[$1] != 1000) bad++ } END { exit bad > 0 }' s-train.txt all.txt \
    && ok "predict: K > catalogue lists every unseen item once" || bad "predict with K > catalogue"
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -l Hidden -s emb.txt 2>/dev/null
awk -F'\t' '{ if (split($2, v, ",") != 64) bad++ } END { exit bad > 0 || NR != 2000 }' emb.txt \
    && ok "predict --layer: 64-dim embeddings for 2000 users" || bad "predict --layer"
expect_exit 64 "-p expects a float format such as %4.3f or DSSTNE's 4.3f, got '%s'" "$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features -s x -p '%s'

# ---- index fingerprints: predict refuses index files other than the model's (DSSTNE's trap:
# plausible lists naming the wrong items); the width check stays for files without fingerprints
ncdump -h gl_input.nc | grep -q 'sten_featureEntries0 = 1000U' && ncdump -h gl_input.nc | grep -q 'sten_sampleEntries0 = 2000U' \
    && ncdump -h gl.nc | grep -q 'layer0_sten_featureEntries = 1000U' && ncdump -h gl.nc | grep -q 'layer2_sten_featureFingerprint = "' \
    && ! ncdump -h gl.nc | grep -q 'layer1_sten_feature' \
    && ok "fingerprints: in the datasets, copied into the model's input and output layers" || bad "fingerprint attributes missing"
fp=$(ncdump -h gl.nc | sed -n 's/.*layer2_sten_featureFingerprint = "\([0-9a-f]*\)".*/\1/p')
[ "$(ncdump -h gl-epoch3.nc | sed -n 's/.*layer2_sten_featureFingerprint = "\([0-9a-f]*\)".*/\1/p')" = "$fp" ] \
    && [ "$(ncdump -h resumed.nc | sed -n 's/.*layer2_sten_featureFingerprint = "\([0-9a-f]*\)".*/\1/p')" = "$fp" ] \
    && ok "fingerprints: kept by checkpoints and --resume" || bad "fingerprints lost in checkpoints or --resume"
# two labels swapped: same entries and width, another map
awk -F'\t' 'NR == 1 { l = $1; n = $2; next } NR == 2 { print $1 "\t" n; print l "\t" $2; next } { print }' features >swapped
expect_exit 65 "swapped: this feature index (1000 entries, fingerprint " \
    "$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o swapped -s fpx.txt -k 20
grep -qF "is not the one layer \"Output\" of model gl.nc was trained with (1000 entries, fingerprint $fp): predictions would name the wrong items; use the index files generate-netcdf wrote beside the training data" err.txt \
    && [ ! -e fpx.txt ] && ok "predict: a swapped output index is refused, naming both files, nothing written" || { bad "swapped output index"; cat err.txt; }
expect_exit 65 "is not the one layer \"Input\" of model gl.nc was trained with (1000 entries, fingerprint " \
    "$STEN" predict -d gl -n gl.nc -r s-train.txt -i swapped -o features -s fpx.txt -k 20
# an index from other data (numbered in another order)
"$STEN" generate-netcdf -d other -i s-test.txt -o other.nc -f other_features -s other_samples -c 2>/dev/null
expect_exit 65 "other_features: this feature index (" "$STEN" predict -d gl -n gl.nc -r s-train.txt -i other_features -o other_features -s fpx.txt
# the model's index grown since (generate-netcdf -m): its new items have no trained units
{ cat features; printf 'newitem\t1000\n'; } >grown
expect_exit 65 "grown: this feature index (1001 entries, fingerprint " \
    "$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o grown -s fpx.txt
grep -qF "is the one layer \"Output\" of model gl.nc was trained with (1000 entries, fingerprint $fp) plus 1 entry added since" err.txt \
    && ok "predict: an index grown since training is named as such" || { bad "predict grown index"; cat err.txt; }
# the same map in another line order is the same index
sort -r features >reordered
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i reordered -o reordered -f s-train.txt -s fp1.txt -k 20 2>/dev/null
cmp -s fp1.txt recs.txt && ok "predict: the same index in another line order is accepted (same lists)" || bad "predict: reordered index"
# a model without fingerprints (DSSTNE's, or sten's before them) still predicts, and its widths are checked
ncdump -p 9,17 gl.nc | grep -v 'sten_feature' >nofp.cdl && ncgen -k nc4 -o nofp.nc nofp.cdl
"$STEN" predict -d gl -n nofp.nc -r s-train.txt -i features -o features -f s-train.txt -s fp2.txt -k 20 2>/dev/null
cmp -s fp2.txt recs.txt && ok "predict: a model without fingerprints gives the same lists" || bad "predict with a model without fingerprints"
{ cat features; printf 'extra\t1100\n'; } >wide
expect_exit 65 "wide: this feature index numbers 1101 units (its largest integer is 1100) but layer \"Output\" of model nofp.nc has N = 1024" \
    "$STEN" predict -d gl -n nofp.nc -r s-train.txt -i features -o wide -s fpx.txt
head -n 800 features >narrow
"$STEN" predict -d gl -n nofp.nc -r s-train.txt -i narrow -o features -s fp3.txt 2>err.txt \
    && grep -qF "warning: narrow: this feature index is 896 units wide (rounded up to 128) but layer \"Input\" of model nofp.nc has N = 1024" err.txt \
    && ok "predict: a narrower index without fingerprints to compare is a warning" || { bad "predict narrow index"; cat err.txt; }
# train: datasets whose rows are other samples, resuming or validating on data of another index
head -n 1000 s-train.txt >half1.txt; tail -n 1000 s-train.txt >half2.txt
"$STEN" generate-netcdf -d gl_input -i half1.txt -o h_in.nc -f features -s hsamples 2>/dev/null
"$STEN" generate-netcdf -d gl_output -i half2.txt -o h_out.nc -f features -s hsamples 2>/dev/null
expect_exit 65 "layer \"Output\": DataSet \"gl_output\" has rows for other samples than DataSet \"gl_input\" (1000 samples" \
    "$STEN" train -c config.json -i h_in.nc -o h_out.nc -n h.nc -e 1
"$STEN" generate-netcdf -d gl_input -i s-train.txt -o o_in.nc -f other_features -s samples -m 2>/dev/null
expect_exit 65 "gl-epoch3.nc: layer \"Input\": DataSet \"gl_input\" was made with another feature index" \
    "$STEN" train -c config.json -i o_in.nc -o gl_output.nc -n o.nc -b 256 -e 6 --resume gl-epoch3.nc
expect_exit 65 "validation data: layer \"Input\": DataSet \"gl_input\" was made with another feature index" \
    "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc -n o.nc -b 256 -e 1 --validate o_in.nc --validate gl_output.nc
[ ! -e h.nc ] && [ ! -e o.nc ] && ok "train: nothing written after a fingerprint mismatch" || bad "train wrote a model after a mismatch"

# ---- evaluate and baselines: the autoencoder must beat popularity
"$STEN" baseline popularity --train s-train.txt -k 20 -s pop.txt 2>/dev/null
"$STEN" baseline ease --train s-train.txt -k 20 -s ease.txt 2>/dev/null
for m in recs pop ease; do
    "$STEN" evaluate -r $m.txt -t s-test.txt -k 20 --features features --json >$m.json 2>/dev/null || bad "evaluate $m"
done
r_ae=$(sed -n 's/.*"recall": \([0-9.]*\).*/\1/p' recs.json); r_pop=$(sed -n 's/.*"recall": \([0-9.]*\).*/\1/p' pop.json)
r_ease=$(sed -n 's/.*"recall": \([0-9.]*\).*/\1/p' ease.json)
awk -v a="$r_ease" -v p="$r_pop" 'BEGIN { exit !(a > p) }' && ok "EASE ($r_ease) beats popularity ($r_pop) on Recall@20" || bad "EASE $r_ease vs popularity $r_pop"
echo "   (autoencoder after 6 epochs: Recall@20 $r_ae)"
printf 'u1\ta,0.9:b,0.8:c,0.7:\nu2\tc,0.5:\n' >r.recs
printf 'u1\tb:d\nu2\ta\nu3\tc\n' >r.truth
"$STEN" evaluate -r r.recs -t r.truth -k 2 --items 4 >ev.txt 2>/dev/null
grep -q '^     2     0.1667     0.1667     0.1667     0.1290     0.0833     0.3333$' ev.txt \
    && ok "evaluate: hand-computed P/R/NDCG/MAP/HR@2" || { bad "evaluate numbers"; cat ev.txt; }
grep -q 'without a recommendation line: 1' ev.txt && ok "evaluate: a user without a list counts as misses" || bad "evaluate: missing list"

# ---- Factorization Machines through the SageMaker-style front door
awk -F, 'NR > 1 { printf "%d %d:1 %d:1\n", ($3 >= 4), $1 - 1, 2000 + $2 - 1 }' a.csv >fm.all
awk "NR % 5 != 0" fm.all >fm.train; awk "NR % 5 == 0" fm.all >fm.test
cat >hp.json <<'JSON'
{"feature_dim": "3000", "num_factors": "16", "predictor_type": "binary_classifier",
 "epochs": "10", "mini_batch_size": "500", "factors_lr": "0.001", "linear_lr": "0.005"}
JSON
"$STEN" train --algorithm factorization-machines --hyperparameters hp.json --train fm.train \
    --test fm.test --model-dir fmdir --index-base 0 >fm.out 2>/dev/null && [ -s fmdir/model.nc ] \
    && ok "train --algorithm factorization-machines" || bad "FM front door failed"
for m in test:binary_classification_accuracy test:binary_classification_cross_entropy test:binary_f_beta test:auc; do
    grep -q "^{\"$m\": [0-9.]*}$" fm.out || bad "FM metrics lack $m"
done
auc=$(sed -n 's/^{"test:auc": \([0-9.]*\)}$/\1/p' fm.out)
awk -v a="$auc" 'BEGIN { exit !(a > 0.6) }' && ok "FM learns: test AUC $auc" || bad "FM test AUC $auc"
n_test=$(wc -l <fm.test)
"$STEN" predict -d fm -n fmdir/model.nc --libsvm fm.test --index-base 0 -s fm.json --format json 2>/dev/null
"$STEN" predict -d fm -n fmdir/model.nc --libsvm fm.test --index-base 0 -s fm.jsonl --format jsonl 2>/dev/null
"$STEN" predict -d fm -n fmdir/model.nc --libsvm fm.test --index-base 0 -s fm.scores 2>/dev/null
/usr/bin/python3 -c "
import json, sys
p = json.load(open('fm.json'))['predictions']
l = [json.loads(x) for x in open('fm.jsonl')]
s = [float(x) for x in open('fm.scores')]
ok = len(p) == len(l) == len(s) == $n_test and all(a['score'] == b['score'] and a['predicted_label'] == (a['score'] >= 0.5) for a, b in zip(p, l))
ok = ok and all(abs(a['score'] - b) < 1e-6 for a, b in zip(p, s))
sys.exit(0 if ok else 1)" && ok "predict on an FM model: SageMaker's JSON, JSON lines and plain scores agree" || bad "FM predict formats"
cat >fm.cdl <<'CDL'
netcdf fm {
dimensions:
    examplesDim0 = 4 ; sparseDataDim0 = 8 ; examplesDim1 = 4 ; dataDim1 = 4 ;
variables:
    uint sparseStart0(examplesDim0) ; uint sparseEnd0(examplesDim0) ;
    uint sparseIndex0(sparseDataDim0) ; float sparseData0(sparseDataDim0) ;
    float data1(dataDim1) ;
    :datasets = 2U ; :name0 = "fm_input" ; :attributes0 = 1U ; :kind0 = 0U ; :dataType0 = 4U ;
    :dimensions0 = 1U ; :width0 = 3000U ; :name1 = "fm_label" ; :attributes1 = 0U ; :kind1 = 0U ;
    :dataType1 = 4U ; :dimensions1 = 1U ; :width1 = 1U ;
data:
    sparseStart0 = 0, 2, 4, 6 ; sparseEnd0 = 2, 4, 6, 8 ;
    sparseIndex0 = 0, 2000, 1, 2001, 0, 2001, 1, 2000 ; sparseData0 = 1, 1, 1, 1, 1, 1, 1, 1 ;
    data1 = 1, 0, 0, 1 ;
}
CDL
ncgen -k nc4 -o fm.nc fm.cdl && "$STEN" train --algorithm factorization-machines --hyperparameters hp.json \
    --train fm.nc --test fm.nc --model-dir fmnc >fmnc.out 2>/dev/null && grep -q '"test:auc"' fmnc.out \
    && ok "FM front door reads DSSTNE NetCDF data (fm_input + fm_label)" || bad "FM on NetCDF data"

# ---- a DLRM-shaped network from the config language (Embedding, Interaction) through `sten train`
cat >dlrm_in.cdl <<'CDL'
netcdf dlrm_in {
dimensions:
    examplesDim0 = 8 ; dataDim0 = 16 ; examplesDim1 = 8 ; sparseDataDim1 = 8 ;
    examplesDim2 = 8 ; sparseDataDim2 = 12 ;
variables:
    float data0(dataDim0) ;
    uint sparseStart1(examplesDim1) ; uint sparseEnd1(examplesDim1) ; uint sparseIndex1(sparseDataDim1) ;
    uint sparseStart2(examplesDim2) ; uint sparseEnd2(examplesDim2) ; uint sparseIndex2(sparseDataDim2) ;
    :datasets = 3U ;
    :name0 = "dense" ; :attributes0 = 0U ; :kind0 = 0U ; :dataType0 = 4U ; :dimensions0 = 1U ; :width0 = 2U ;
    :name1 = "C1" ; :attributes1 = 3U ; :kind1 = 0U ; :dataType1 = 4U ; :dimensions1 = 1U ; :width1 = 5U ;
    :name2 = "C2" ; :attributes2 = 3U ; :kind2 = 0U ; :dataType2 = 4U ; :dimensions2 = 1U ; :width2 = 4U ;
data:
    data0 = 0.1, 1, 0.5, 0, 0.9, 0.2, 0, 0.3, 1, 1, 0.4, 0.6, 0.2, 0.8, 0.7, 0.1 ;
    sparseStart1 = 0, 1, 2, 3, 4, 5, 6, 7 ; sparseEnd1 = 1, 2, 3, 4, 5, 6, 7, 8 ;
    sparseIndex1 = 0, 1, 2, 3, 4, 0, 1, 2 ;
    sparseStart2 = 0, 2, 3, 5, 6, 8, 9, 11 ; sparseEnd2 = 2, 3, 5, 6, 8, 9, 11, 12 ;
    sparseIndex2 = 0, 1, 2, 1, 3, 0, 2, 3, 1, 0, 3, 2 ;
}
CDL
cat >dlrm_out.cdl <<'CDL'
netcdf dlrm_out {
dimensions:
    examplesDim0 = 8 ; dataDim0 = 8 ;
variables:
    float data0(dataDim0) ;
    :datasets = 1U ; :name0 = "label" ; :attributes0 = 0U ; :kind0 = 0U ; :dataType0 = 4U ;
    :dimensions0 = 1U ; :width0 = 1U ;
data:
    data0 = 1, 0, 0, 1, 1, 0, 1, 0 ;
}
CDL
cat >dlrm.json <<'JSON'
{ "Layers": [
    { "Name": "Dense", "Kind": "Input", "N": "auto", "DataSet": "dense" },
    { "Name": "C1", "Kind": "Input", "N": "auto", "DataSet": "C1", "Sparse": true },
    { "Name": "C2", "Kind": "Input", "N": "auto", "DataSet": "C2", "Sparse": true },
    { "Name": "Bottom", "N": 4, "Activation": "Tanh", "Source": "Dense" },
    { "Name": "E1", "Type": "Embedding", "N": 4, "Source": "C1" },
    { "Name": "E2", "Type": "Embedding", "N": 4, "Source": "C2", "Pooling": 1 },
    { "Name": "Inter", "Type": "Interaction", "N": "auto", "KeepFirst": 1, "Sources": ["Bottom", "E1", "E2"] },
    { "Name": "Click", "Kind": "Output", "N": 1, "Activation": "Sigmoid", "DataSet": "label", "Source": "Inter" } ],
  "ErrorFunction": "CrossEntropy",
  "Training": { "Optimizer": "Adam", "Alpha": 0.05, "Epochs": 30, "BatchSize": 4 } }
JSON
ncgen -k nc4 -o dlrm_in.nc dlrm_in.cdl && ncgen -k nc4 -o dlrm_out.nc dlrm_out.cdl &&
    "$STEN" train -c dlrm.json -i dlrm_in.nc -o dlrm_out.nc -n dlrm.nc --metrics dlrm.jsonl 2>dlrm.err \
    && ncdump -h dlrm.nc | grep -q "float layer4_sten_embedding(" && ncdump -h dlrm.nc | grep -q "layer6_type = 6U" \
    && awk -F'"loss": ' 'NR == 1 { split($2, a, ","); first = a[1] } END { split($2, a, ","); exit !(a[1] < 0.8 * first) }' dlrm.jsonl \
    && ok "train: a DLRM config (Embedding, Interaction) learns and its tables are in the model" \
    || { bad "DLRM config through sten train"; cat dlrm.err; head -n 2 dlrm.jsonl; }

# ---- examples/criteo/run.sh: synth -> convert -> train --test -> predict scores -> evaluate
ROWS=3000 BUCKETS=2000 sh "$EXAMPLES/criteo/run.sh" "" crun "$STEN" >crun.out 2>crun.err &&
    a1=$(sed -n 's/.*"test:auc": \([0-9.]*\).*/\1/p' crun.out) && a2=$(awk '$1 == "AUC" { print $2 }' crun.out) &&
    awk -v a="$a1" -v b="$a2" 'BEGIN { exit !(a > 0.5 && (a - b < 0.00006 && b - a < 0.00006)) }' \
    && ok "examples/criteo/run.sh: test AUC $a1 from train = $a2 from predict + evaluate" \
    || { bad "examples/criteo/run.sh"; tail -n 5 crun.err; cat crun.out; }
# and on real Criteo rows, where ../shared has them (CI has)
KAGGLE="$EXAMPLES/../../shared/data/criteo/kaggle_first8000_split/train.txt"
if [ -r "$KAGGLE" ]; then
    head -n 2400 "$KAGGLE" >kaggle.tsv
    BUCKETS=5000 sh "$EXAMPLES/criteo/run.sh" kaggle.tsv kaggle "$STEN" >kaggle.out 2>kaggle.err &&
        grep -q '^AUC ' kaggle.out && ok "examples/criteo/run.sh on real Criteo rows ($(awk '$1 == "AUC"' kaggle.out))" \
        || { bad "examples/criteo/run.sh on real Criteo rows"; tail -n 5 kaggle.err; }
fi

# ---- synthetic click logs in Criteo's layout: seeded, convertible, a planted model's AUC
"$STEN" synth --preset criteo --rows 3000 --scale 0.001 --seed 4 -o ctr1.tsv 2>ctr.err &&
    "$STEN" synth --preset criteo --rows 3000 --scale 0.001 --seed 4 -o ctr2.tsv 2>/dev/null && cmp -s ctr1.tsv ctr2.tsv \
    && [ "$(awk -F'\t' 'NF == 40' ctr1.tsv | wc -l)" -eq 3000 ] \
    && grep -q "the planted model's AUC 0\.[6-9]" ctr.err \
    && "$STEN" convert ctr1.tsv -o ctr.nc --format criteo --min-freq 1 2>/dev/null \
    && ok "synth --preset criteo: seeded, 40 fields, planted AUC reported, converts" || { bad "synth criteo"; cat ctr.err; }
expect_exit 64 "--scale expects a number" "$STEN" synth --preset criteo --scale 2 -o x.tsv

# ---- Criteo TSV -> NetCDF (hashed; vocabulary) -> the Kaggle DLRM architecture (examples/criteo)
awk 'BEGIN { srand(7); for (r = 0; r < 400; r++) {
        line = (rand() < 0.25) ? "1" : "0"
        for (k = 0; k < 13; k++) line = line "\t" ((rand() < 0.1) ? "" : int(rand() * 50) - 2)
        for (k = 0; k < 26; k++) line = line "\t" ((rand() < 0.05) ? "" : sprintf("%08x", int(rand() * rand() * 1000) + k))
        print line } }' >criteo.tsv
"$STEN" convert criteo.tsv -o criteo.nc --format criteo --hash-buckets 64 2>criteo.err &&
    ncdump -h criteo.nc | grep -q 'name27 = "label"' && grep -q "400 examples" criteo.err \
    && ok "convert --format criteo: 400 rows -> dense, C1..C26, label" || { bad "criteo convert"; cat criteo.err; }
"$STEN" convert criteo.tsv -o criteo_v.nc --format criteo --min-freq 2 2>/dev/null && [ -s criteo_v.nc ] \
    && ok "convert --format criteo --min-freq (vocabulary)" || bad "criteo vocabulary convert"
printf '1\t2\n' >criteo_bad.tsv
expect_exit 65 "criteo_bad.tsv:1: expected 40 TAB-separated fields (label, I1..I13, C1..C26), got 2" \
    "$STEN" convert criteo_bad.tsv -o cb.nc --format criteo
[ ! -e cb.nc ] && ok "criteo: nothing written after an error" || bad "criteo left cb.nc behind"
expect_exit 64 "--hash-buckets and --min-freq exclude each other" \
    "$STEN" convert criteo.tsv -o cb.nc --format criteo --hash-buckets 8 --min-freq 2
"$STEN" train -c "$EXAMPLES/criteo/dlrm.json" -i criteo.nc -o criteo.nc -n criteo_model.nc -e 2 -b 64 \
    --metrics criteo.jsonl --test criteo.nc >criteo_test.out 2>criteo_train.err && [ "$(wc -l <criteo.jsonl)" -eq 2 ] \
    && ncdump -h criteo_model.nc | grep -q "layer31_sten_embedding(" \
    && grep -q '^{"epoch": 2, "test:auc": 0\.[0-9]*, "test:logloss": [0-9.]*, "test:accuracy": 0\.[0-9]*}$' criteo_test.out \
    && grep -q '"test:auc": ' criteo.jsonl \
    && ok "train: examples/criteo/dlrm.json (Kaggle DLRM) on converted Criteo data, test AUC/logloss per epoch" \
    || { bad "DLRM example on Criteo data"; tail -n 3 criteo_train.err; cat criteo_test.out; }
"$STEN" train -c "$EXAMPLES/criteo/linear.json" -i criteo.nc -o criteo.nc -n lin.nc -e 1 --test criteo.nc \
    2>/dev/null | grep -q '"test:auc": 0\.' && ok "train: examples/criteo/linear.json (logistic regression)" \
    || bad "examples/criteo/linear.json"
"$STEN" predict -n criteo_model.nc -i criteo.nc --format scores -s criteo.scores 2>/dev/null &&
    /usr/bin/python3 - criteo.scores criteo.tsv criteo_test.out <<'PY' && ok "predict -i DATA.nc --format scores: one score per row, the AUC train --test printed" || bad "predict scores of NetCDF data"
import json, sys
s = [float(x) for x in open(sys.argv[1])]
y = [int(l.split("\t")[0]) for l in open(sys.argv[2])]
want = [json.loads(l) for l in open(sys.argv[3])][-1]["test:auc"]
pos = [a for a, b in zip(s, y) if b]
neg = [a for a, b in zip(s, y) if not b]
auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / len(pos) / len(neg)
sys.exit(0 if len(s) == 400 and abs(auc - want) < 1e-6 else 1)
PY
# int8 inference: the same rows scored with the MLPs' products on 8-bit integers, close to fp32's
"$STEN" predict -n criteo_model.nc -i criteo.nc --format scores -s criteo8.scores --precision int8 2>/dev/null &&
    /usr/bin/python3 - criteo.scores criteo8.scores <<'PY' && ok "predict --precision int8: scores within 0.01 of fp32's, not all equal" || bad "predict --precision int8"
import sys
a = [float(x) for x in open(sys.argv[1])]
b = [float(x) for x in open(sys.argv[2])]
d = [abs(x - y) for x, y in zip(a, b)]
sys.exit(0 if len(a) == len(b) == 400 and max(d) < 0.01 and max(d) > 0 else 1)
PY
expect_exit 64 "--precision int8 is for inference (predict, serve)" \
    "$STEN" train -c "$EXAMPLES/criteo/dlrm.json" -i criteo.nc -o criteo.nc -n never.nc --precision int8
expect_exit 64 'the data given: dataset "dense" is dense, 13 wide; layer "Dense" takes 2' \
    "$STEN" train -c dlrm.json -i dlrm_in.nc -o dlrm_out.nc -n never.nc --test criteo.nc
[ ! -e never.nc ] && ok "train --test: refused before training, no model" || bad "train --test left never.nc"
sed 's/"num_factors": "16"/"num_factors": "0"/' hp.json >hp0.json
expect_exit 65 "hyperparameter num_factors = 0 is out of range (expected an integer from 1 to 100000)" \
    "$STEN" train --algorithm factorization-machines --hyperparameters hp0.json --train fm.train --model-dir fmerr --index-base 0
sed 's/"epochs"/"epoch"/' hp.json >hpx.json
expect_exit 65 "unknown hyperparameter \"epoch\"" \
    "$STEN" train --algorithm factorization-machines --hyperparameters hpx.json --train fm.train --model-dir fmerr --index-base 0
expect_exit 64 "libsvm data needs --index-base 0 or 1" \
    "$STEN" train --algorithm factorization-machines --hyperparameters hp.json --train fm.train --model-dir fmerr
printf '2 0:1 2001:1\n' >fm.bad
expect_exit 65 "fm.bad: example 1 has label 2; a binary_classifier needs 0 or 1" \
    "$STEN" train --algorithm factorization-machines --hyperparameters hp.json --train fm.bad --model-dir fmerr --index-base 0

# ---- FM: the model directory, --test and the hyperparameters file are checked before training
expect_exit 73 "fmdir/model.nc already exists; pass --force to overwrite it" "$STEN" train \
    --algorithm factorization-machines --hyperparameters hp.json --train fm.train --model-dir fmdir --index-base 0
cp fmdir/model.nc fm_before.nc
"$STEN" train --algorithm factorization-machines --hyperparameters hp.json --train fm.train --model-dir fmdir \
    --index-base 0 --force >/dev/null 2>&1 && ok "train FM --force replaces DIR/model.nc" || bad "train FM --force"
: >notadir
expect_exit 73 "--model-dir notadir is a file, not a directory" "$STEN" train \
    --algorithm factorization-machines --hyperparameters hp.json --train fm.train --model-dir notadir --index-base 0
expect_exit 66 "nope.json: cannot open the hyperparameters file: No such file or directory" "$STEN" train \
    --algorithm factorization-machines --hyperparameters nope.json --train fm.train --model-dir fmx --index-base 0
expect_exit 66 "fmdir: is a directory, not a hyperparameters file" "$STEN" train \
    --algorithm factorization-machines --hyperparameters fmdir --train fm.train --model-dir fmx --index-base 0
expect_exit 66 "none.svm: cannot open" "$STEN" train --algorithm factorization-machines --hyperparameters hp.json \
    --train fm.train --test none.svm --model-dir fmt --index-base 0
grep -q "epoch 1" err.txt && bad "train FM trained before reading --test" || ok "train FM: --test read before training"
: >empty.svm
expect_exit 65 "empty.svm: no examples" "$STEN" train --algorithm factorization-machines --hyperparameters hp.json \
    --train fm.train --test empty.svm --model-dir fmt --index-base 0
[ ! -e fmt/model.nc ] && ok "train FM: no model after a bad --test" || bad "fmt/model.nc written"
sed 's/"epochs": "10"/"epochs": "1", "_tuning_objective_metric": "test:binary_classification_accuracy"/' hp.json >hpt.json
"$STEN" train --algorithm factorization-machines --hyperparameters hpt.json --train fm.train --model-dir fmtune \
    --index-base 0 >/dev/null 2>&1 && ok "train FM accepts SageMaker's _tuning_objective_metric" || bad "_tuning_objective_metric"
sed 's/test:binary_classification_accuracy/validation:auc/' hpt.json >hpt2.json
expect_exit 65 "hyperparameter _tuning_objective_metric = \"validation:auc\" names no metric" "$STEN" train \
    --algorithm factorization-machines --hyperparameters hpt2.json --train fm.train --model-dir fmx --index-base 0

# ---- FM predict reads what train reads, and SageMaker's JSON request; no -d
head -n 4 fm.test >fm4.test
"$STEN" predict -n fmdir/model.nc --data fm4.test --index-base 0 -s p_svm.txt 2>/dev/null
/usr/bin/python3 - fm4.test <<'PY'
import json, struct, sys
rows = [[int(t.split(":")[0]) for t in l.split()[1:]] for l in open(sys.argv[1])]
labels = [float(l.split()[0]) for l in open(sys.argv[1])]
inst = [{"data": {"features": {"keys": r, "shape": [3000], "values": [1.0] * len(r)}}} for r in rows]
json.dump({"instances": inst}, open("req.json", "w"))
with open("req.jsonl", "w") as f:
    for r in rows:
        dense = [0.0] * 3000
        for k in r:
            dense[k] = 1.0
        f.write(json.dumps({"features": dense}) + "\n")
def varint(v):
    out = b""
    while True:
        out += bytes([(v & 0x7f) | (0x80 if v > 0x7f else 0)])
        v >>= 7
        if not v:
            return out
def ld(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b
def entry(tensor):
    return ld(1, b"values") + ld(2, ld(2, tensor))
with open("req.rec", "wb") as f:
    for r, y in zip(rows, labels):
        t = ld(1, struct.pack("<%df" % len(r), *([1.0] * len(r)))) + ld(2, b"".join(varint(k) for k in r)) + ld(3, varint(3000))
        rec = ld(1, entry(t)) + ld(2, entry(ld(1, struct.pack("<f", y))))
        f.write(struct.pack("<II", 0xCED7230A, len(rec)) + rec + b"\0" * (-len(rec) % 4))
PY
for f in req.json req.jsonl req.rec; do
    "$STEN" predict -n fmdir/model.nc --data $f -s p_$f.txt 2>/dev/null && cmp -s p_svm.txt p_$f.txt \
        && ok "predict --data $f (no -d): the scores of the libsvm lines" || { bad "predict --data $f"; cat p_$f.txt; }
done
printf '{"instances": [{"feature": [1]}]}\n' >bad_req.json
expect_exit 65 "bad_req.json: instance 1: unknown key \"feature\" in an instance (expected features or data)" \
    "$STEN" predict -n fmdir/model.nc --data bad_req.json -s p_bad.txt
printf '{"features": [1]}\n{"features": [1,\n' >bad_req.jsonl
expect_exit 65 "bad_req.jsonl:2:" "$STEN" predict -n fmdir/model.nc --data bad_req.jsonl -s p_bad.txt
printf '{"instances": [{"data": {"features": {"keys": [5, 3], "shape": [3000]}}}]}\n' >bad_keys.json
expect_exit 65 "bad_keys.json: instance 1: keys are not increasing (keys[1])" \
    "$STEN" predict -n fmdir/model.nc --data bad_keys.json -s p_bad.txt
printf '{"instances": [{"data": 3}]}\n' >bad_data.json
expect_exit 65 "bad_data.json: instance 1: \"data\" must be an object" \
    "$STEN" predict -n fmdir/model.nc --data bad_data.json -s p_bad.txt

# ---- every command that writes refuses to overwrite an output (exit 73) unless --force
echo keep >kept.txt
for cmd in "synth --preset small -o kept.txt" "convert a.csv -o kept.txt" "split a.csv --protocol random -o kept0" \
           "generate-netcdf -d x -i s-train.txt -o kept.txt -f fx -s sx -c" \
           "generate-netcdf -d x -i s-train.txt -o kx.nc -f kept.txt -s sx -c" \
           "baseline popularity --train s-train.txt -s kept.txt" "similar -r s-train.txt -s kept.txt" \
           "predict -d gl -n gl.nc -r s-train.txt -i features -o features -s kept.txt" \
           "train -c config.json -i gl_input.nc -o gl_output.nc -n kept.txt"; do
    : >kept0-train.txt
    expect_exit 73 "already exists; pass --force to overwrite it" "$STEN" $cmd
done
"$STEN" store build --store kst --recs recs.txt 2>/dev/null
expect_exit 73 "kept.txt already exists; pass --force to overwrite it" "$STEN" store export --store kst -o kept.txt
[ "$(cat kept.txt)" = keep ] && [ ! -e kx.nc ] && ok "refused outputs are untouched, nothing else written" || bad "kept.txt changed"
"$STEN" similar -r s-train.txt -s kept.txt --force 2>/dev/null && [ "$(cat kept.txt)" != keep ] \
    && ok "--force overwrites" || bad "similar --force"
expect_exit 73 "ck3-epoch2.nc already exists" sh -c ": >ck3-epoch2.nc; \"$STEN\" train -c config.json -i gl_input.nc \
    -o gl_output.nc -n ck3.nc -e 2 --checkpoint-every 1"
[ ! -e ck3.nc ] && ok "train: an existing checkpoint is refused before training" || bad "ck3.nc written"
: >ck4-epoch6.nc
expect_exit 73 "ck4-epoch6.nc already exists" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc \
    -n ck4.nc -b 256 -e 6 --checkpoint-every 3 --resume gl-epoch3.nc
[ ! -e ck4.nc ] && [ ! -s ck4-epoch6.nc ] && ok "train --resume: the checkpoints it would write are checked too" \
    || bad "ck4 written"
expect_exit 73 "nodir/: cannot write the model there" "$STEN" train -c config.json -i gl_input.nc -o gl_output.nc \
    -n nodir/m.nc

# ---- messages that say what is wrong
expect_exit 64 "-d wrong: the model gl.nc has no input dataset \"wrong_input\"; its input layers read: gl_input (use -d gl" \
    "$STEN" predict -d wrong -n gl.nc -r s-train.txt -i features -o features -s wrong.txt
expect_exit 65 "gl_input.nc: this is a dataset, not a model (it holds dataset gl_input)" \
    "$STEN" predict -d gl -n gl_input.nc -r s-train.txt -i features -o features -s wrong.txt
expect_exit 65 "gl.nc: this is a model, not a dataset" "$STEN" train -c config.json -i gl.nc -o gl_output.nc -n wrong.nc
expect_exit 66 ".: is a directory, not a network config file" "$STEN" train -c . -i gl_input.nc -o gl_output.nc -n wrong.nc
cat >noout.json <<'JSON'
{ "Layers": [{"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},
             {"Name": "Hidden", "Kind": "Hidden", "N": 8}] }
JSON
expect_exit 65 "noout.json:2:14: no Output layer: the last layer \"Hidden\" is a Hidden layer" \
    "$STEN" train -c noout.json -i gl_input.nc -o gl_output.nc -n wrong.nc
: >empty.idx
expect_exit 65 "empty.idx: the index is empty" "$STEN" predict -n gl.nc -r s-train.txt -i empty.idx -o features -s wrong.txt
: >empty.txt
expect_exit 65 "empty.txt: no held-out items" "$STEN" evaluate -r recs.txt -t empty.txt
expect_exit 65 "empty.txt: no scores" "$STEN" evaluate --scores empty.txt
expect_exit 65 "empty.txt: no training interactions" "$STEN" baseline popularity --train empty.txt -s wrong.txt
[ ! -e wrong.txt ] && [ ! -e wrong.nc ] && ok "no output after these errors" || bad "an output was left behind"
printf 'user,item,rating\n1,5,3\n1,7,4\n2,5,2\n2,9,5\n1,9,1\n' >nots.csv
"$STEN" split nots.csv --format delimited --columns user,item,rating --header --protocol loo -o nots 2>nots.err
grep -q "nots.csv has no timestamps, so there is no time order: --protocol loo held out each user's item that first appears latest" nots.err \
    && same nots-test.txt '1\t9\n2\t9\n' || { bad "split loo without timestamps: $(cat nots.err)"; }
expect_exit 65 "--protocol time-cut needs timestamps, and this log has none" \
    "$STEN" split nots.csv --format delimited --columns user,item,rating --header --protocol time-cut -o nots2

# ---- DSSTNE's spellings: predict -p 4.5f, train -d NAME
"$STEN" predict -d gl -n gl.nc -r s-train.txt -i features -o features -s p45.txt -k 2 -p 4.5f 2>/dev/null
grep -qE '^[^	]+	[^,]+,[0-9]\.[0-9]{5}:[^,]+,[0-9]\.[0-9]{5}:$' p45.txt && ok "predict -p 4.5f (DSSTNE's spelling)" \
    || { bad "predict -p 4.5f"; head -2 p45.txt; }
"$STEN" train -d gl -c config.json -i gl_input.nc -o gl_output.nc -n dname.nc -b 256 -e 1 2>/dev/null \
    && ok "train -d NAME (DSSTNE's usage line) is accepted" || bad "train -d"

# ---- the MovieLens walkthrough example on synthetic data
"$EXAMPLES/movielens/run.sh" "$W/a.csv" "$W/walk" "$STEN" >walk.txt 2>&1 && grep -q '^ *10 ' walk.txt \
    && ok "examples/movielens/run.sh runs end to end" || { bad "walkthrough"; tail -20 walk.txt; }

exit $fail
