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
else
    echo "FAIL: sten synth"; fail=1
fi
exit $fail
