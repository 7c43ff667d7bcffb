#!/bin/sh
# run.sh — DSSTNE's MovieLens walkthrough, end to end with sten:
#   ratings.csv -> DSSTNE text -> holdout split -> NetCDF input/output sharing
#   one samples index -> train the walkthrough's autoencoder -> top-10 per user,
#   seen items excluded -> evaluate on the holdout.
# Usage: examples/movielens/run.sh RATINGS.csv [WORKDIR] [STEN]
# Downloads nothing: point it at a MovieLens ratings.csv (or `sten synth` output).
set -eu
RATINGS=${1:?usage: run.sh RATINGS.csv [WORKDIR] [STEN]}
W=${2:-movielens-out}
HERE=$(cd "$(dirname "$0")" && pwd)
STEN=${3:-$HERE/../../build/sten}
mkdir -p "$W"
cd "$W"
# 1. DSSTNE's awk step: one line per user (values: none, i.e. indicator data)
"$STEN" convert --force "$RATINGS" -o ml.txt
# 2. hold out 20% of each user's movies for evaluation
"$STEN" split --force "$RATINGS" --protocol random --fraction 0.2 -o ml
# 3. the walkthrough's two generateNetCDF calls, one samples index shared
"$STEN" generate-netcdf --force -d gl_input -i ml-train.txt -o gl_input.nc -f features_input -s samples_input -c
"$STEN" generate-netcdf --force -d gl_output -i ml-train.txt -o gl_output.nc -f features_output -s samples_input -c
# 4. train (the walkthrough's command; the config's Training object picks Adam)
"$STEN" train -c "$HERE/config.json" -i gl_input.nc -o gl_output.nc -n gl.nc --force
# 5. predict top-10, excluding the movies each user has already seen
"$STEN" predict --force -b 1024 -d gl -i features_input -o features_output -k 10 -n gl.nc \
    -f ml-train.txt -r ml-train.txt -s recs
# 6. evaluate on the held-out movies
"$STEN" evaluate -r recs -t ml-test.txt -k 1,5,10 --features features_output
