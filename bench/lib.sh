# bench/lib.sh — what every side-by-side benchmark does first; sourced, not run.
# shellcheck shell=sh
# bench_build TARGET...   install missing Debian packages, configure and build
# bench_need_torch        install the PyTorch peer when missing and set $PY, its python, and
#                         $TORCH_FORMS, the forms it runs (bench/ae_torch.py --form). The peer:
#                           PEER=pypi (default): the current torch from PyPI (TORCH_VERSION=x.y.z
#                             pins one) in build/bench-venv, made by bench/peer_venv.py with the
#                             python3 first on PATH; forms eager, compile, bf16, compile-bf16
#                           PEER=debian: Debian's python3-torch (1.13, the old peer) through
#                             /usr/bin/python3; forms eager, bf16 (no torch.compile in 1.x)
#                         TORCH_FORMS="eager bf16" (say) runs fewer forms
# bench_threads N         export OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS = N,
#                         set $cores and $model, print them
# bench_platform          after bench_threads and bench_build: print what both sides run on
#                         (lscpu model, `sten info`, bench/torch_env.py under taskset: torch's
#                         version, threads, oneDNN ISA line); also kept in $platform_file
# bench_peer OUT ARGS...  run the peer ("$PY" ARGS, pinned to $cores), its JSON line appended
#                         to OUT; a form that fails is reported (stderr's tail) and skipped
# bench_strong_split S R  in the current folder: the strong-generalization split of ratings R
#                         (600 validation + 600 test users) with sten S, and its NetCDF files
# bench_dlrm_rows DIR N B N synthetic rows in Criteo's layout (seeded; bench/dlrm.sh's and
#                         dlrm-infer.sh's), converted to DIR/rows.nc hashed into B rows a table
#                         (DIR made if missing)
# bench_precisions        set $precisions: "fp32", and bf16 where `sten info` says the CPU has it
# bench_mpi TARGET...     the MPI benchmarks' start: install missing packages, build TARGETs with
#                         MPI in build-mpi/ (set $STEN), one thread per rank (OMP_NUM_THREADS,
#                         OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = 1), set $MPIRUN (ranks bound
#                         to cores), $model and $cores, and print them
# bench_median V...       the median of the numbers V (the upper one of an even count)
# bench_ml1m DIR          MovieLens-1M (../shared/data/ml-1m) as DSSTNE text DIR/ml1m.txt and
#                         NetCDF DIR/ml1m.nc (gl_input; bench/ae-train.sh's and ae-predict.sh's)
# RESULTS=FILE            where the scripts append their tables (default bench/RESULTS.md;
#                         RESULTS=/dev/null for a trial run)

RESULTS=${RESULTS:-bench/RESULTS.md}

bench_build() {
    sh scripts/deps.sh >/dev/null
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$(nproc)" --target "$@" >/dev/null
}

bench_need_torch() {
    PEER=${PEER:-pypi}
    case $PEER in
    pypi)
        PY=$(pwd)/build/bench-venv/bin/python
        if ! "$PY" -c "import torch" 2>/dev/null; then
            echo "installing the peer: PyTorch ${TORCH_VERSION:-(newest)} from PyPI into build/bench-venv"
            python3 bench/peer_venv.py build/bench-venv ${TORCH_VERSION:+"$TORCH_VERSION"}
        fi
        ;;
    debian)
        PY=/usr/bin/python3
        if ! "$PY" -c "import torch" 2>/dev/null; then
            echo "installing python3-torch (the Debian peer)"
            if [ "$(id -u)" -eq 0 ]; then apt-get install -y --no-install-recommends python3-torch
            else sudo -n apt-get install -y --no-install-recommends python3-torch; fi
        fi
        ;;
    *)
        echo "PEER must be pypi or debian, not '$PEER'" >&2
        return 2
        ;;
    esac
    if [ -z "${TORCH_FORMS:-}" ]; then
        TORCH_FORMS=$("$PY" -c 'import torch; print("eager compile bf16 compile-bf16" if hasattr(torch, "compile") else "eager bf16")')
        # no bf16 hardware (neither AVX-512 BF16 nor AMX): PyTorch's bf16 autocast is emulated
        # there (7.8k rows/s against 79k in fp32 scoring DLRM on an AMD Zen 3), so not a form to
        # measure against; TORCH_FORMS=... still runs them
        if ! grep -q -E 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
            TORCH_FORMS=$(echo "$TORCH_FORMS" | tr ' ' '\n' | grep -v bf16 | tr '\n' ' ' | sed 's/ $//')
            echo "peer: no bf16 hardware here: PyTorch's bf16 forms left out"
        fi
    fi
    echo "peer: PEER=$PEER, $PY, forms: $TORCH_FORMS"
}

bench_threads() {
    export OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" MKL_NUM_THREADS="$1"
    cores="0-$(($1 - 1))"
    model=$(lscpu | sed -n 's/^Model name: *//p')
    echo "cpu: $model; threads $1 (OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS MKL_NUM_THREADS=$MKL_NUM_THREADS), pinned to cores $cores"
}

bench_platform() {
    platform_file=$(mktemp)
    {
        echo "lscpu: Model name: $model"
        ./build/sten info | sed 's/^/sten info: /'
        taskset -c "$cores" "$PY" bench/torch_env.py
    } >"$platform_file"
    cat "$platform_file"
}

bench_peer() {
    peer_out=$1
    shift
    if ! taskset -c "$cores" "$PY" "$@" >>"$peer_out" 2>"$peer_out.err"; then
        echo "peer failed, skipped: $PY $*" >&2
        tail -n 5 "$peer_out.err" >&2
    fi
    rm -f "$peer_out.err"
}

bench_strong_split() {
    "$1" split --force "$2" --protocol strong --valid-users 600 --test-users 600 --format delimited \
        --delimiter : --columns user,-,item,-,rating -o st
    "$1" generate-netcdf --force -d gl_input -i st-train.txt -o gl_input.nc -f features -s samples -c
    "$1" generate-netcdf --force -d gl_output -i st-train.txt -o gl_output.nc -f features -s samples
}

bench_ml1m() {
    mkdir -p "$1"
    cmake --build build -j "$(nproc)" --target sten >/dev/null
    ./build/sten convert --force ../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz --format delimited --delimiter : \
        --columns user,-,item,-,rating -o "$1/ml1m.txt" 2>/dev/null
    ./build/sten generate-netcdf --force -d gl_input -i "$1/ml1m.txt" -o "$1/ml1m.nc" -f "$1/features" -s "$1/samples" \
        -c 2>/dev/null
}

bench_precisions() {
    precisions=fp32
    if ./build/sten info | grep -q "^bf16 *yes"; then precisions="fp32 bf16"; fi
}

bench_dlrm_rows() {
    mkdir -p "$1"
    awk -v n="$2" 'BEGIN { srand(11); for (r = 0; r < n; r++) {
            line = (rand() < 0.25) ? "1" : "0"
            for (k = 0; k < 13; k++) line = line "\t" ((rand() < 0.1) ? "" : int(rand() * 50) - 2)
            for (k = 0; k < 26; k++) line = line "\t" ((rand() < 0.05) ? "" : sprintf("%08x", int(rand() * rand() * 1000000) + k))
            print line } }' >"$1/rows.tsv"
    ./build/sten convert --force "$1/rows.tsv" -o "$1/rows.nc" --format criteo --hash-buckets "$3" 2>/dev/null
}

bench_mpi() {
    sh scripts/deps.sh >/dev/null
    cmake -S . -B build-mpi -DCMAKE_BUILD_TYPE=Release -DSTEN_MPI=ON -DSTEN_BENCH=OFF >/dev/null
    cmake --build build-mpi -j "$(nproc)" --target "$@" >/dev/null
    STEN=$(pwd)/build-mpi/sten
    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    MPIRUN="mpirun --oversubscribe --bind-to core"
    [ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
    model=$(lscpu | sed -n 's/^Model name: *//p')
    cores=$(getconf _NPROCESSORS_ONLN) # nproc would follow OMP_NUM_THREADS
    echo "cpu: $model, $cores cores; OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS; $(mpirun --version | head -n 1)"
}

bench_median() {
    echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
