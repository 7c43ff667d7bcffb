#!/bin/sh
# test_install.sh — `cmake --install` puts libsten (static and shared with a
# SONAME), sten.h, sten.pc and the sten binary in place, and a program built
# with `pkg-config --cflags --libs sten` links and runs against it.
set -eu
BUILD=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$BUILD" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n 1)
fail=0
for f in "$tmp/prefix/include/sten.h" "$tmp/prefix/bin/sten" "${libdir}libsten.a" \
         "${libdir}pkgconfig/sten.pc"; do
    [ -e "$f" ] || { echo "FAIL: missing $f"; fail=1; }
done
so=$(ls "${libdir}"libsten.so.*.*.* 2>/dev/null | head -n 1)
[ -n "$so" ] || { echo "FAIL: no versioned libsten.so"; exit 1; }
soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libsten.so.0" ] || { echo "FAIL: SONAME is '$soname', expected libsten.so.0"; fail=1; }

# the shared library exports the sten_ API and nothing else (no sten__
# internals, no unprefixed helpers)
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' >"$tmp/syms"
n_api=$(grep -c '^sten_[a-z]' "$tmp/syms" || true)
grep -v '^sten_[a-z]' "$tmp/syms" >"$tmp/bad_syms" || true
if [ -s "$tmp/bad_syms" ]; then
    echo "FAIL: libsten.so exports $(wc -l <"$tmp/bad_syms") symbols outside the sten_ API, e.g.:"
    head -n 5 "$tmp/bad_syms"
    fail=1
fi
[ "$n_api" -gt 100 ] || { echo "FAIL: libsten.so exports only $n_api sten_ symbols"; fail=1; }

cat >"$tmp/hello.c" <<'C'
#include <sten.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    sten_ctx *ctx;
    if (sten_ctx_init(&ctx) != STEN_OK)
        return 1;
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0};
    sten_gemm(ctx, STEN_NO_TRANS, STEN_NO_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    printf("%s %g %g %g %g\n", sten_version(), c[0], c[1], c[2], c[3]);
    sten_ctx_free(ctx);
    return strcmp(sten_version(), STEN_VERSION_STRING) != 0;
}
C
export PKG_CONFIG_PATH="${libdir}pkgconfig"
# shellcheck disable=SC2046
cc -o "$tmp/hello" "$tmp/hello.c" $(pkg-config --cflags --libs sten)
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/hello")
[ "$out" = "$(sed -n 's/^#define STEN_VERSION_STRING "\(.*\)"/\1/p' "$tmp/prefix/include/sten.h") 1 2 3 4" ] ||
    { echo "FAIL: linked program printed '$out'"; fail=1; }
# the installed binary runs and finds its BLAS
"$tmp/prefix/bin/sten" --version >/dev/null || { echo "FAIL: installed sten does not run"; fail=1; }
[ $fail -eq 0 ] && echo "ok: install, SONAME $soname, pkg-config link"
exit $fail
