#!/bin/sh
# test.sh — the README's test command: install missing Debian packages,
# configure, build warning-free (-Werror), run the whole CTest suite.
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   ASan+UBSan build in build-asan/ (and the MPI test
#                                under them in build-asan-mpi/)
#   scripts/test.sh --tsan       ThreadSanitizer build of the concurrency
#                                test (one model, many threads) and of the
#                                server (test_serve.py) in build-tsan/
set -eu
cd "$(dirname "$0")/.."

dir=build
flags="-DCMAKE_BUILD_TYPE=Release -DSTEN_MPI=ON" # the MPI tests run here (tests/test_mpi.sh)
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEN_SANITIZE=ON"
fi

sh scripts/deps.sh
if [ "${1:-}" = "--tsan" ]; then
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEN_TSAN=ON -DSTEN_WERROR=ON
    cmake --build build-tsan -j "$(nproc)" --target test_threads sten
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 exitcode=66" ctest --output-on-failure -R '^threads$')
    # the HTTP server's threads (request pool, batcher, signals) under TSan;
    # its data is made by the Release build
    [ -x build/sten ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j "$(nproc)" --target sten; }
    TSAN_OPTIONS="halt_on_error=1 exitcode=66" /usr/bin/python3 tests/test_serve.py build/sten examples build-tsan/sten
    exit 0
fi
cmake -S . -B "$dir" $flags -DSTEN_WERROR=ON
cmake --build "$dir" -j "$(nproc)"
cd "$dir"
ctest --output-on-failure -j "$(nproc)"
# again as a CPU without AVX2 or AVX-512 would run it (the BLAS GEMM, no
# bf16, the portable loss pass), so both sides of every run-time dispatch are
# tested; and on a CPU with AVX-512, the unit tests as one with AVX2 but not
# AVX-512 would run them (sten's AVX2 GEMM, Interaction and loss kernels)
if [ "$dir" = build ]; then
    echo "== the suite again with STEN_KERNELS=portable"
    STEN_KERNELS=portable ctest --output-on-failure -j "$(nproc)"
    if grep -q avx512f /proc/cpuinfo 2>/dev/null && grep -q avx2 /proc/cpuinfo; then
        echo "== the unit tests again with STEN_KERNELS=avx2"
        STEN_KERNELS=avx2 ctest --output-on-failure -j "$(nproc)" -R '^(core|kernels|nn|rec|threads|golden_nn)$'
    fi
fi
# the sanitizer build is the one without MPI (the default build: every test
# passes, the MPI test checks the refusal); the MPI paths (data and model
# parallel, tests/test_mpi.sh) run under ASan+UBSan here as well, Open MPI's
# own allocations kept out of the leak check
if [ "$dir" = build-asan ]; then
    echo "== the MPI test under ASan+UBSan"
    cd ..
    cmake -S . -B build-asan-mpi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEN_SANITIZE=ON -DSTEN_MPI=ON \
        -DSTEN_BENCH=OFF -DSTEN_WERROR=ON >/dev/null
    cmake --build build-asan-mpi -j "$(nproc)" --target sten model_diff
    (cd build-asan-mpi && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -R '^mpi$')
fi
