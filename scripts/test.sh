#!/bin/sh
# test.sh — the README's test command: install missing Debian packages,
# configure, build warning-free (-Werror), run the whole CTest suite.
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   ASan+UBSan build in build-asan/
set -eu
cd "$(dirname "$0")/.."

dir=build
flags="-DCMAKE_BUILD_TYPE=Release"
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEN_SANITIZE=ON"
fi

sh scripts/deps.sh
cmake -S . -B "$dir" $flags -DSTEN_WERROR=ON
cmake --build "$dir" -j "$(nproc)"
cd "$dir"
ctest --output-on-failure -j "$(nproc)"
