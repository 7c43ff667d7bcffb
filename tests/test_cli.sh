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
exit $fail
