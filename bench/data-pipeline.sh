#!/bin/sh
# bench/data-pipeline.sh — the data steps at ML-20M size (synthetic: 138,493
# users, 26,744 items, ~20M interactions): sten convert, then generate-netcdf
# for input and output sharing the samples index. Reports interactions/s and
# peak memory (GNU time) against the final CSR size; appends to RESULTS.md.
#   sh bench/data-pipeline.sh [WORKDIR]
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh
bench_build sten
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)"; exit 1; }
W=${1:-$ROOT/out/data-pipeline}
mkdir -p "$W"
cd "$W"
S=$ROOT/build/sten
"$S" synth --force --preset ml-20m -o ratings.csv 2>synth.err
n=$(tail -n +2 ratings.csv | wc -l)
measure() { # measure NAME CMD...: seconds and peak RSS (MB)
    name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$name.time" "$@" 2>"$name.err" >/dev/null
    read -r secs kb <"$name.time"
    echo "$name $secs $((kb / 1024))"
}
rm -f features samples
measure convert "$S" convert --force ratings.csv -o ml.txt >steps.txt
measure generate-input "$S" generate-netcdf --force -d gl_input -i ml.txt -o gl_input.nc -f features -s samples -c >>steps.txt
measure generate-output "$S" generate-netcdf --force -d gl_output -i ml.txt -o gl_output.nc -f features -s samples >>steps.txt
csr_mb=$(awk -v n="$n" 'BEGIN { printf "%.0f", (n * 4 + 138494 * 8) / 1048576 }')
table="| step | seconds | interactions/s | peak RSS (MB) | peak / CSR size ($csr_mb MB) |
|---|---|---|---|---|"
total=0
while read -r step secs mb; do
    total=$(awk -v a="$total" -v b="$secs" 'BEGIN { print a + b }')
    table="$table
| $step | $secs | $(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1fM", n / s / 1e6 }') | $mb | $(awk -v m="$mb" -v c="$csr_mb" 'BEGIN { printf "%.1fx", m / c }') |"
done <steps.txt
table="$table

End to end: $(awk -v n="$n" -v s="$total" 'BEGIN { printf "%.2fM interactions/s over %.1f s", n / s / 1e6, s }') for $n interactions."
echo "$table"
{
    echo
    echo "## Data pipeline at ML-20M size ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`sh bench/data-pipeline.sh\` (synthetic ML-20M shape; GNU time for peak RSS;"
    echo "\`lscpu\`: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) threads). Issue #3 aims at 5M"
    echo "interactions/s end to end and memory within 2x of the final CSR."
    echo
    echo "$table"
} >>"$ROOT/bench/RESULTS.md"
