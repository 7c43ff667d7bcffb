#!/bin/sh
# test_report_browser.sh — opens a `sten report` page in headless Chromium
# (Debian's `chromium`): a screenshot that is not blank, the rendered DOM
# with the charts' SVG paths drawn, and no console messages (an SVG error or
# a blocked fetch is one). The console check is tried first on a page with
# both faults, so it is known to catch them.
# Chromium missing: installed with apt-get when running as root under CI
# (CI=true) or when STEN_INSTALL_BROWSER=1; otherwise, or when that fails,
# the test is skipped (exit 77, CTest's SKIP_RETURN_CODE) and says why.
# Usage: test_report_browser.sh STEN EXAMPLES_DIR
set -u
STEN=$(realpath "$1")
EXAMPLES=$(realpath "$2")
skip() { echo "SKIP: $*"; exit 77; }
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }

browser() {
    for b in chromium chromium-browser; do
        command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return 0; }
    done
    return 1
}
if ! CHROMIUM=$(browser); then
    if [ "$(id -u)" -ne 0 ] || { [ "${CI:-}" != true ] && [ "${STEN_INSTALL_BROWSER:-}" != 1 ]; }; then
        skip "chromium is not installed (as root, CI=true or STEN_INSTALL_BROWSER=1 installs Debian's chromium)"
    fi
    echo "installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update && apt-get install -y --no-install-recommends chromium; } >/tmp/sten-chromium-install.log 2>&1 ||
        skip "apt-get could not install chromium (see /tmp/sten-chromium-install.log)"
    CHROMIUM=$(browser) || skip "chromium installed, but no chromium command"
fi

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
export OMP_WAIT_POLICY=passive STEN_PROGRESS=0
run() { "$STEN" "$@" 2>>sten.log || { cat sten.log; echo "FAIL: sten $*"; exit 1; }; }
run synth --users 300 --items 200 --interactions 12000 --seed 4 -o r.csv
run split r.csv --protocol random --fraction 0.2 --seed 4 -o d
run generate-netcdf -d gl_input -i d-train.txt -o in.nc -f features -s samples -c
run generate-netcdf -d gl_output -i d-train.txt -o out.nc -f features -s samples
run train -c "$EXAMPLES/movielens/config.json" -i in.nc -o out.nc -n m.nc -b 64 -e 4 --metrics train.jsonl
run predict -d gl -n m.nc -r d-train.txt -i features -o features -k 10 -s ae.recs
run baseline popularity --train d-train.txt -k 10 -s pop.recs
run evaluate -r ae.recs -t d-test.txt -k 1,5,10 --features features --json >ae.json
run evaluate -r pop.recs -t d-test.txt -k 1,5,10 --features features --json >pop.json
run report -o run.html --metrics train.jsonl --eval ae=ae.json --eval pop=pop.json --train d-train.txt \
    --recs ae=ae.recs --recs pop=pop.recs --features features --model m.nc

# A private profile and HOME: nothing of the user's browser is read or kept.
chrome() { # chrome PAGE ARGS...: stdout kept in out.txt, console messages in log.txt
    page=$1
    shift
    HOME=$W timeout 60 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --user-data-dir="$W/profile" --enable-logging=stderr --v=0 "$@" "file://$W/$page" >out.txt 2>log.txt
}
console() { grep ':CONSOLE' log.txt; }

# the console check must see an SVG error and a blocked fetch
sed 's|</main>|<svg><path d="M0 0L"/></svg><img src="http://example.invalid/x.png" alt=""></main>|' run.html >broken.html
chrome broken.html --dump-dom || true
if console | grep -q 'attribute d' && console | grep -q 'Content Security Policy'; then
    ok "the console check catches an SVG error and a blocked fetch"
else
    bad "the console check missed a fault of broken.html:"; cat log.txt
fi

chrome run.html --dump-dom
rc=$?
[ $rc -eq 0 ] && ok "chromium rendered the report" || { bad "chromium exit $rc"; tail -n 20 log.txt; }
if console >/dev/null; then bad "console messages:"; console; else ok "no console messages"; fi
mv out.txt dom.html
chrome run.html --screenshot="$W/shot.png" --window-size=1400,3000 --hide-scrollbars

/usr/bin/python3 - dom.html shot.png <<'EOF' || fail=1
import re, struct, sys, zlib
dom, shot = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
bad = 0
def check(cond, what):
    global bad
    print(("ok: " if cond else "FAIL: ") + what)
    bad += not cond
paths = re.findall(r'<path class="(?:line|dots) s\d[^"]*" d="([^"]*)"', dom)
check(len(paths) >= 8 and all(re.search(r"[ML][-\d.]+ [-\d.]+", d) for d in paths),
      f"rendered DOM: {len(paths)} data paths, each with points")
for t in ("Loss per epoch", "Recall@k", "NDCG@k", "The long tail", "Where the recommendations go",
          "Item vectors, first two principal components"):
    check(t in dom, f"rendered DOM: chart '{t}'")
# The PNG: IHDR, IDAT chunks, then un-filter each row (PNG filters 0-4).
data = open(shot, "rb").read()
check(data[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is a PNG")
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = {2: 3, 6: 4}.get(ctype, 0)
check(depth == 8 and bpp, f"screenshot: 8-bit RGB(A), {w}x{h}")
raw, stride, prev, colours, ink = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set(), 0
for y in range(h):
    f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:  # every 4th row is plenty
        for x in range(0, stride, bpp):
            px = bytes(row[x:x + 3])
            colours.add(px)
            ink += px != bytes(row[0:3])
    prev = row
check(len(colours) > 20, f"screenshot: {len(colours)} distinct colours (charts in several colours)")
check(ink > 0.02 * (w * h / 4), f"screenshot: {100 * ink / (w * h / 4):.1f}% of pixels differ from the background")
sys.exit(1 if bad else 0)
EOF
[ $fail -eq 0 ] && echo "passed: test_report_browser" || echo "FAILED: test_report_browser"
exit $fail
