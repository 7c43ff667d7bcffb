#!/bin/sh
# demo.sh — the README's main-job command. Installs what is missing, builds
# sten (Release), then runs the part of the pipeline that exists today and
# prints a short result table. Later issues grow it into the end-to-end
# recommender demo (synth -> split -> train -> predict -> evaluate).
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
STEN=build/sten

echo "== sten --help"
$STEN --help
echo
echo "== sten info"
$STEN info
echo
echo "== kernel micro-benchmark at DSSTNE MovieLens shapes (bench/kernels)"
./build/bench/bench_kernels --reps 5
