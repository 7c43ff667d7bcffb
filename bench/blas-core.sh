#!/bin/sh
# bench/blas-core.sh — EASE item neighbours (`sten similar --measure ease`:
# spotrf + spotri on an items x items matrix, BLAS-bound) with OpenBLAS on its
# generic Prescott kernels, as on a CPU its release does not know, against
# sten's fix (re-executed with OPENBLAS_CORETYPE set to the CPU's best core
# type) and OpenBLAS's own choice. Appends to bench/RESULTS.md.
#   sh bench/blas-core.sh [RATINGS_CSV] [WORKDIR]
#   STEN=path/to/sten (default: build and use build/sten), ROUNDS (2), THREADS (2),
#   CONVERT="sten convert options" for RATINGS_CSV (default: none, auto-detected)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
R=${1:-$ROOT/../shared/data/ml-latest-small/ratings.csv}
W=${2:-$ROOT/out/blas-core}
. bench/lib.sh
if [ -z "${STEN:-}" ]; then
    bench_build sten
    STEN=$ROOT/build/sten
fi
ROUNDS=${ROUNDS:-2}
T=${THREADS:-2}
RESULTS=$(cd "$ROOT" && realpath -m "$RESULTS")
mkdir -p "$W"
cd "$W"
# shellcheck disable=SC2086
"$STEN" convert --force ${CONVERT:-} "$R" -o ratings.txt 2>convert.log
# The three setups, as env(1) arguments. "fixed" is how the automatic fix
# runs: OpenBLAS starts on Prescott, sten re-executes itself with the best
# core type (STEN_BLAS_CORETYPE=best, since here the Prescott comes from
# OPENBLAS_CORETYPE, which the default mode respects).
setup() {
    case $1 in
    generic) echo "OPENBLAS_CORETYPE=Prescott STEN_BLAS_CORETYPE=keep" ;;
    fixed) echo "OPENBLAS_CORETYPE=Prescott STEN_BLAS_CORETYPE=best" ;;
    openblas) echo "-u OPENBLAS_CORETYPE STEN_BLAS_CORETYPE=keep" ;;
    esac
}
: >runs.txt
for r in $(seq "$ROUNDS"); do
    order="generic fixed openblas"
    [ $((r % 2)) -eq 0 ] && order="openblas fixed generic"
    for s in $order; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        # shellcheck disable=SC2046
        /usr/bin/time -f "%e %U" -o time.txt env $(setup "$s") "$STEN" similar --force -r ratings.txt \
            -s "sim-$s.txt" -k 20 --measure ease -t "$T" 2>"sim-$s.log"
        echo "$s $r $(cat time.txt) $load" >>runs.txt
    done
done
core() { # shellcheck disable=SC2046
    env $(setup "$1") "$STEN" info | sed -n 's/^blas core //p'
}
items=$(sed -n 's/.* \([0-9]*\) items.*/\1/p' convert.log)
{
    echo
    echo "## bench/blas-core — EASE with OpenBLAS's generic kernels vs sten's re-exec fix ($(date +%Y-%m-%d))"
    echo
    echo "Command: \`STEN=$STEN ROUNDS=$ROUNDS THREADS=$T${CONVERT:+ CONVERT=\"$CONVERT\"} sh bench/blas-core.sh $R\`"
    echo
    echo "CPU (lscpu Model name): $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores. $("$STEN" info | sed -n 's/^blas  *\(OpenBLAS\)/\1/p')${OPENBLAS_CORETYPE:+ (the environment sets OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE; the setups below override or unset it)}. Work: \`sten similar --measure ease -k 20 -t $T\` on $(basename "$(dirname "$R")") ($items items: Cholesky factor and inverse of a $items x $items matrix). Rounds alternate the order; the 1-minute load average before each run is the noise gauge (the machine is shared)."
    echo
    echo "| setup | env | blas core (sten info) | runs | real s (each) | user s (each) | load before |"
    echo "|---|---|---|---|---|---|---|"
    for s in generic fixed openblas; do
        awk -v s="$s" -v e="$(setup "$s")" -v c="$(core $s)" '$1 == s { n++; re = re sep $3; us = us sep $4; ld = ld sep $5; sep = ", " }
            END { printf "| %s | `%s` | %s | %d | %s | %s | %s |\n", s, e, c, n, re, us, ld }' runs.txt
    done
    echo
    echo "- generic: what a CPU that OpenBLAS does not know gets; fixed: what the default mode (auto) then does, the same re-execution onto the best core type (\\\`best\\\` here only because this Prescott comes from OPENBLAS_CORETYPE, which auto respects); openblas: OpenBLAS's own pick on this CPU."
    awk '{ t[$1] += $3 } END { printf "\n- **generic/fixed: %.1fx the wall time** (sums over the rounds: %.1f vs %.1f s); openblas/fixed %.2fx.\n", t["generic"] / t["fixed"], t["generic"], t["fixed"], t["openblas"] / t["fixed"] }' runs.txt
} | tee -a "$RESULTS"
