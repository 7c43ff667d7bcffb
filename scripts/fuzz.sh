#!/bin/sh
# fuzz.sh — sten's fuzz drivers under libFuzzer with ASan+UBSan
# (docs/fuzzing.md). Builds build-fuzz with clang (-DSTEN_FUZZ=ON), then
# runs each driver for a fixed time from its seed corpus.
#   scripts/fuzz.sh                 a campaign: FUZZ_SECONDS (default 1800) per driver,
#                                   the grown corpora kept in FUZZ_DIR between runs
#   scripts/fuzz.sh --ci            the CI step: FUZZ_SECONDS (default 20) per driver,
#                                   from the committed seeds only
#   scripts/fuzz.sh [--ci] NAME...  only these drivers (config text index libsvm recordio
#                                   convert criteo labeled hparams netcdf model)
# FUZZ_TIMEOUT (default 10) is the seconds one input may take before it
# counts as a finding: raise it where the machine is shared and loaded.
# FUZZ_JOBS drivers run at once (default: the number of cores); FUZZ_DIR
# (default build-fuzz/fuzz) holds corpus/NAME, logs/NAME.log and
# findings/NAME/. A finding (crash, leak, sanitizer report, timeout, memory
# blow-up) makes the script exit 1 naming the input: fix it, then add the
# input to tests/fuzz/corpus/NAME/ as crash-<what> so CTest replays it.
set -eu
cd "$(dirname "$0")/.."

ALL="config text index libsvm recordio convert criteo labeled hparams netcdf model builtins"
ci=0
if [ "${1:-}" = "--ci" ]; then
    ci=1
    shift
fi
names=${*:-$ALL}
secs=${FUZZ_SECONDS:-$([ $ci = 1 ] && echo 20 || echo 1800)}
tmo=${FUZZ_TIMEOUT:-10} # seconds one input may take (raise it on a loaded machine)
jobs=${FUZZ_JOBS:-$(nproc)}
dir=${FUZZ_DIR:-build-fuzz/fuzz}

sh scripts/deps.sh
# clang, however Debian names it (scripts/deps.sh installs it)
cc=${CC:-}
if [ -z "$cc" ] || ! "$cc" --version 2>/dev/null | grep -q clang; then
    cc=$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$cc" ] || { echo "fuzz: clang not found (scripts/deps.sh installs it)" >&2; exit 1; }

targets=""
for n in $names; do
    case " $ALL " in
    *" $n "*) targets="$targets fuzz_$n" ;;
    *) echo "fuzz: no driver '$n' (drivers: $ALL)" >&2; exit 64 ;;
    esac
done
CC=$cc cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEN_FUZZ=ON -DSTEN_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $targets

if [ $ci = 1 ]; then # a fresh corpus each time: CI tests the seeds, not a history
    rm -rf "$dir"
fi
mkdir -p "$dir/logs"

seeds_of() { # the committed seed directories of a driver
    if [ "$1" = config ]; then
        echo tests/data/config tests/data/config/good tests/data/config/bad tests/data/config/fuzz
    else
        echo "tests/fuzz/corpus/$1"
    fi
}

run_one() { # run_one NAME: one driver for $secs seconds; its verdict in logs/NAME.rc
    n=$1
    mkdir -p "$dir/corpus/$n" "$dir/findings/$n"
    # -timeout: one input taking this long is a finding; -rss_limit_mb: so
    # is a process growing past it (the drivers cap sten's own memory far
    # lower, tests/fuzz/fuzz.h)
    set +e
    build-fuzz/tests/fuzz_$n -max_total_time="$secs" -timeout="$tmo" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/findings/$n/" "$dir/corpus/$n" $(seeds_of "$n") >"$dir/logs/$n.log" 2>&1
    echo $? >"$dir/logs/$n.rc"
    set -e
}

echo "fuzz: $names"
echo "fuzz: ${secs}s per driver, $jobs at once; logs, corpora and findings in $dir"
running=0
for n in $names; do
    run_one "$n" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

fail=0
printf '%-9s %12s %8s %7s %7s %7s  %s\n' driver execs exec/s cov ft corpus verdict
for n in $names; do
    log=$dir/logs/$n.log
    rc=$(cat "$dir/logs/$n.rc")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    verdict=ok
    if [ "$rc" != 0 ]; then
        verdict="FINDING: $(ls "$dir/findings/$n" | head -n 1) ($(grep -m1 -E 'ERROR|REQUIRE|runtime error' "$log" | cut -c1-120))"
        fail=1
    fi
    printf '%-9s %12s %8s %7s %7s %7s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$verdict"
done
if [ $fail = 1 ]; then
    echo "fuzz: findings above; logs in $dir/logs, inputs in $dir/findings" >&2
    exit 1
fi
echo "fuzz: no findings"
