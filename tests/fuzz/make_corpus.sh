#!/bin/sh
# make_corpus.sh — regenerates the seed corpora of the file-reader fuzz
# drivers (tests/fuzz/corpus/<name>/) with sten's own commands, plus
# ncdump (netcdf-bin): the NetCDF drivers take CDL text, which they have
# libnetcdf write to a file (tests/fuzz/cdl.h, docs/fuzzing.md).
# Seeds are kept tiny (a few KB): the fuzzer mutates them, CTest replays
# each cut at many lengths. Files named crash-* are inputs that once
# crashed a reader: they are kept, never regenerated.
#   tests/fuzz/make_corpus.sh build/sten
set -eu
STEN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
C=$(pwd)/corpus
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"

put() { # put NAME FILE: the file into corpus NAME (replacing a seed of that name)
    mkdir -p "$C/$1"
    cp "$2" "$C/$1/$(basename "$2")"
}
cdl() { # cdl IN.nc OUT.cdl: the file as CDL text
    ncdump "$1" >"$2"
}

# ---- interaction logs and DSSTNE text
"$STEN" synth --users 12 --items 20 --interactions 60 --seed 3 -o ratings.csv 2>/dev/null
head -n 25 ratings.csv >log-ratings.csv
awk -F, 'NR > 1 { print $1 "::" $2 "::" $3 "::" $4 }' log-ratings.csv >log-ratings.dat
awk -F, 'NR > 1 { print $1 "\t" $2 "\t" $3 "\t" $4 }' log-ratings.csv >log-u.data
awk -F, 'BEGIN { print "item;x;user" } NR > 1 { print $2 ";" $3 ";" $1 }' log-ratings.csv >log-semicolon.txt
gzip -n -c log-ratings.csv >log-ratings.csv.gz
printf 'userId,movieId,rating,timestamp\r\n1,2,4.5,100\r\n1,3,,\r\n2,2,nan,7\r\n2,3,1e999,8\r\n' >log-crlf.csv
for f in log-*; do put convert "$f"; done

"$STEN" convert log-ratings.csv -o text-bool.txt 2>/dev/null
"$STEN" convert log-ratings.csv -o text-rating.txt --value rating 2>/dev/null
printf '\357\273\277u1\t1,0.5:2,1.5,9:3\r\nu2\ti1:i2:i1\n\nu1\t2:f,2e3\nu3\t\n' >text-edge.txt
for f in text-*; do put text "$f"; done

# ---- index files (written by generate-netcdf)
"$STEN" generate-netcdf -d gl_input -i text-bool.txt -o gl_input.nc -f features -s samples -c 2>/dev/null
"$STEN" generate-netcdf -d gl_output -i text-rating.txt -o gl_output.nc -f features -s samples -t analog \
    2>/dev/null
head -n 12 features >index-features.txt
head -n 8 samples >index-samples.txt
printf 'a\t3\nb\t0\n\nc\t7\r\nd\t1\n' >index-gaps.txt
for f in index-*; do put index "$f"; done

# ---- libsvm (convert --to fm writes it), recordio, JSON instances
"$STEN" convert log-ratings.csv -o fm.svm --to fm --threshold 4 2>/dev/null
head -n 10 fm.svm >svm-fm.svm
printf '1 qid:3 1:0.5 7:2 # comment\n-1 2:1e-3 3:-4\n0\n+1 999:1\n' >svm-edge.svm
for f in svm-*; do put libsvm "$f"; put labeled "$f"; done

# RecordIO-protobuf as SageMaker writes it: MXNet RecordIO framing around
# aialgs.data.Record {features{"values": Float32Tensor}, label{"values": ...}}
/usr/bin/python3 - <<'PY'
import struct

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def ld(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload

def tensor(vals, keys=None, shape=None, kind=2):
    fmt = {2: "<%df", 3: "<%dd"}[kind]
    t = ld(1, struct.pack(fmt % len(vals), *vals))
    if keys is not None:
        t += ld(2, b"".join(varint(k) for k in keys)) + ld(3, b"".join(varint(s) for s in shape))
    return ld(kind, t)

def entry(value):
    return ld(1, b"values") + ld(2, value)

def record(vals, label, keys=None, shape=None, kind=2):
    return ld(1, entry(tensor(vals, keys, shape, kind))) + ld(2, entry(tensor([label])))

def frame(recs):
    out = b""
    for r in recs:
        out += struct.pack("<II", 0xCED7230A, len(r)) + r + b"\0" * (-len(r) % 4)
    return out

with open("rec-sparse.rec", "wb") as f:
    f.write(frame([record([1.0, 0.5], 1.0, [2, 7], [16]), record([2.0], 0.0, [15], [16])]))
with open("rec-dense.rec", "wb") as f:
    f.write(frame([record([2.0, 0.0, 3.0], 0.0), record([1.0, 1.0], 1.0, kind=3)]))
PY
for f in rec-*; do put recordio "$f"; put labeled "$f"; done

printf '{"instances": [{"features": [1, 0, 2.5]}, {"data": {"features": {"keys": [1, 5], "shape": [64], "values": [0.5, 1]}}}]}\n' >json-instances.json
printf '{"features": [0, 1]}\n{"data": {"keys": [3], "shape": [64]}}\n' >json-lines.json
for f in json-*; do put labeled "$f"; done

# ---- Criteo click logs (and their NetCDF, a labelled-data file)
"$STEN" synth --preset criteo --rows 4 --scale 0.0001 --seed 2 -o criteo.tsv 2>/dev/null
cp criteo.tsv criteo-synth.tsv
printf '1\t\t2\t-3\t\t\t\t\t\t\t\t\t\t\tab\t\tcd\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n' >criteo-missing.tsv
for f in criteo-*; do put criteo "$f"; done
"$STEN" convert criteo.tsv -o criteo.nc --format criteo --hash-buckets 4 2>/dev/null

# ---- NetCDF data files, as CDL; the kinds sten does not write by hand
cdl gl_input.nc netcdf-bool.cdl
cdl gl_output.nc netcdf-analog.cdl
cat >netcdf-kinds.cdl <<'CDL'
netcdf kinds {
dimensions:
    examplesDim0 = 3 ; uniqueExamplesDim0 = 2 ; sparseDataDim0 = 3 ;
    examplesDim1 = 3 ; dataDim1 = 6 ;
    examplesDim2 = 2 ; dataDim2 = 2 ;
variables:
    uint64 sparseStart0(uniqueExamplesDim0) ; uint64 sparseEnd0(uniqueExamplesDim0) ;
    uint sparseIndex0(sparseDataDim0) ; ubyte sparseData0(sparseDataDim0) ;
    uint index0(examplesDim0) ; float dataWeight0(examplesDim0) ;
    double data1(dataDim1) ;
    uint data2(dataDim2) ;
    :datasets = 3U ;
    :name0 = "x" ; :attributes0 = 193U ; :kind0 = 0U ; :dataType0 = 8U ; :dimensions0 = 2U ;
    :width0 = 4U ; :height0 = 2U ;
    :name1 = "y" ; :attributes1 = 0U ; :kind1 = 0U ; :dataType1 = 5U ; :dimensions1 = 1U ; :width1 = 2U ;
    :name2 = "hot" ; :attributes2 = 2U ; :kind2 = 0U ; :dataType2 = 0U ; :dimensions2 = 1U ; :width2 = 5U ;
data:
    sparseStart0 = 0, 2 ; sparseEnd0 = 2, 3 ; sparseIndex0 = 0, 7, 3 ; sparseData0 = 128, 255, 1 ;
    index0 = 1, 0, 1 ; dataWeight0 = 1, 0.5, 2 ;
    data1 = 1, 2, 3, 4, 5, 6 ;
    data2 = 4, 0 ;
}
CDL
for f in netcdf-*; do put netcdf "$f"; done
cdl criteo.nc labeled-criteo.cdl
put labeled labeled-criteo.cdl

# ---- models, as CDL: an autoencoder, an FM (with Adam's state), a small DLRM
cat >ae.json <<'JSON'
{"Version": 0.7, "Name": "AE", "Kind": "FeedForward",
 "Layers": [
  {"Name": "Input", "Kind": "Input", "N": "auto", "DataSet": "gl_input", "Sparse": true},
  {"Name": "Hidden", "Kind": "Hidden", "Type": "FullyConnected", "N": 1, "Activation": "Sigmoid"},
  {"Name": "Output", "Kind": "Output", "Type": "FullyConnected", "DataSet": "gl_input", "N": "auto",
   "Activation": "Sigmoid", "Sparse": true}],
 "ErrorFunction": "ScaledMarginalCrossEntropy",
 "Training": {"Optimizer": "SGD", "Alpha": 0.01, "Epochs": 1, "BatchSize": 8}}
JSON
"$STEN" train -c ae.json -i gl_input.nc -o gl_input.nc -n ae.nc -t 1 2>/dev/null
cdl ae.nc model-ae.cdl
printf '{"feature_dim": "40", "num_factors": "2", "predictor_type": "binary_classifier", "epochs": "1"}\n' \
    >hyperparameters.json
"$STEN" train --algorithm factorization-machines --hyperparameters hyperparameters.json --train fm.svm \
    --model-dir fmdir --index-base 0 >/dev/null 2>&1
cdl fmdir/model.nc model-fm.cdl
cat >dlrm.json <<'JSON'
{"Version": 0.9, "Name": "DLRM", "Kind": "FeedForward",
 "Layers": [
  {"Name": "Dense", "Kind": "Input", "N": "auto", "DataSet": "dense"},
  {"Name": "C1", "Kind": "Input", "N": "auto", "DataSet": "C1", "Sparse": true},
  {"Name": "C2", "Kind": "Input", "N": "auto", "DataSet": "C2", "Sparse": true},
  {"Name": "Bottom", "N": 2, "Activation": "RELU", "Source": "Dense"},
  {"Name": "E1", "Type": "Embedding", "N": 2, "Source": "C1"},
  {"Name": "E2", "Type": "Embedding", "N": 2, "Source": "C2"},
  {"Name": "Interaction", "Type": "Interaction", "N": "auto", "KeepFirst": 1, "Sources": ["Bottom", "E1", "E2"]},
  {"Name": "Top", "N": 2, "Activation": "RELU", "Source": "Interaction"},
  {"Name": "Click", "Kind": "Output", "N": 1, "DataSet": "label", "Activation": "Sigmoid", "Source": "Top"}],
 "ErrorFunction": "CrossEntropy",
 "Training": {"Optimizer": "SGD", "Alpha": 0.01, "Epochs": 1, "BatchSize": 4}}
JSON
"$STEN" train -c dlrm.json -i criteo.nc -o criteo.nc -n dlrm.nc -t 1 2>/dev/null
cdl dlrm.nc model-dlrm.cdl
for f in model-*; do put model "$f"; done

# ---- FM hyperparameters
cp hyperparameters.json hparams-strings.json
printf '{"feature_dim": 3000, "num_factors": 16, "predictor_type": "regressor", "mini_batch_size": 7,\n "bias_init_method": "constant", "bias_init_value": "0.5", "factors_init_method": "uniform",\n "factors_init_scale": 0.1, "clip_gradient": "None", "eps": 1e-8, "_tuning_objective_metric": "test:rmse"}\n' \
    >hparams-numbers.json
for f in hparams-*; do put hparams "$f"; done

du -sh "$C"
