# bench/lib.sh — what every side-by-side benchmark does first; sourced, not run.
# bench_build TARGET...   install missing Debian packages, configure and build
# bench_need_torch        install the PyTorch peer (python3-torch) when missing
# bench_threads N         export OMP_NUM_THREADS and OPENBLAS_NUM_THREADS, set $cores, print them
# bench_strong_split S R  in the current folder: the strong-generalization split of ratings R
#                         (600 validation + 600 test users) with sten S, and its NetCDF files

bench_build() {
    sh scripts/deps.sh >/dev/null
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$(nproc)" --target "$@" >/dev/null
}

bench_need_torch() {
    /usr/bin/python3 -c "import torch" 2>/dev/null && return 0
    echo "installing python3-torch (the peer) from Debian"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y --no-install-recommends python3-torch
    else sudo -n apt-get install -y --no-install-recommends python3-torch; fi
}

bench_threads() {
    export OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1"
    cores="0-$(($1 - 1))"
    model=$(lscpu | sed -n 's/^Model name: *//p')
    echo "cpu: $model; threads $1 (OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS), pinned to cores $cores"
}

bench_strong_split() {
    "$1" split "$2" --protocol strong --valid-users 600 --test-users 600 --format delimited \
        --delimiter : --columns user,-,item,-,rating -o st
    "$1" generate-netcdf -d gl_input -i st-train.txt -o gl_input.nc -f features -s samples -c
    "$1" generate-netcdf -d gl_output -i st-train.txt -o gl_output.nc -f features -s samples
}
