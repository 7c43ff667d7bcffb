#!/bin/sh
# run.sh — sten with Apache Spark (docs/scale-out.md), one command:
#   sh examples/spark/run.sh [WORKDIR]
# Installs what it needs (a Java runtime from Debian, PySpark from PyPI into
# build/spark-venv), then on MovieLens-1M (../shared/data/ml-1m, or the
# synthetic ML-1M when absent; ROWS=N keeps its first N ratings):
#  1. Spark (local mode) converts the ratings DataFrame into DSSTNE text, the
#     index files and the NetCDF datasets (python/sten/spark.py to_dsstne),
#     plus one NetCDF shard per partition over the global feature index;
#  2. the single-process commands (sten convert, sten generate-netcdf) make
#     the same files from the same ratings, and the two are compared;
#  3. sten trains the DSSTNE autoencoder on them (one process);
#  4. Spark scores the users partition by partition through `sten predict`
#     (recommend), and the lines are compared with one `sten predict`.
# Exits non-zero if anything differs.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${1:-$ROOT/out/spark}
ROWS=${ROWS:-0}
EPOCHS=${EPOCHS:-3}
PARTS=${PARTS:-4}
mkdir -p "$W"
W=$(cd "$W" && pwd)
STEN=${STEN_BIN:-$ROOT/build/sten}
if [ ! -x "$STEN" ]; then
    sh "$ROOT/scripts/deps.sh" >/dev/null
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build" -j "$(nproc)" --target sten >/dev/null
fi
# Java (PySpark 4 needs 17 or newer) and PySpark
if ! command -v java >/dev/null 2>&1; then
    echo "spark example: installing a Java runtime (default-jre-headless)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
    $SUDO apt-get install -y --no-install-recommends default-jre-headless >/dev/null ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends default-jre-headless >/dev/null; }
fi
VENV=$ROOT/build/spark-venv
if ! "$VENV/bin/python" -c "import pyspark, numpy" 2>/dev/null; then
    echo "spark example: installing PySpark into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pyspark numpy
fi
PY="$VENV/bin/python"
export PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY" # executors run the same Python

# the ratings
ml1m=$ROOT/../shared/data/ml-1m/ratings.movieid_no_ts.dat.gz
cd "$W"
if [ -f "$ml1m" ]; then
    data="MovieLens-1M"
    zcat "$ml1m" | { if [ "$ROWS" -gt 0 ]; then head -n "$ROWS"; else cat; fi; } | sed 's/::/,/g' >ratings.csv
else
    data="synthetic ML-1M"
    "$STEN" synth --force --preset ml-1m --seed 7 -o synth.csv 2>/dev/null
    tail -n +2 synth.csv | cut -d, -f1-3 | { if [ "$ROWS" -gt 0 ]; then head -n "$ROWS"; else cat; fi; } >ratings.csv
fi
echo "spark example: $data, $(wc -l <ratings.csv) ratings"

# 1. Spark
# Spark's own chatter goes to spark.log (shown if a step fails)
export SPARK_LOCAL_IP=127.0.0.1
spark_py() { STEN_BIN=$STEN PYTHONPATH=$ROOT/python "$PY" - "$W" "$PARTS" 2>>spark.log || { cat spark.log; exit 1; }; }
: >spark.log
spark_py <<'PYEOF'
import sys, time
from pyspark.sql import SparkSession
from sten import spark as sp
w, parts = sys.argv[1], int(sys.argv[2])
s = (SparkSession.builder.master("local[2]").appName("sten-spark")
     .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(parts)).getOrCreate())
s.sparkContext.setLogLevel("ERROR")
t = time.time()
df = s.read.csv(w + "/ratings.csv", schema="user STRING, item STRING, rating DOUBLE")
out = sp.to_dsstne(df, w + "/spark", shards=True)
print("spark example: Spark conversion %.1f s: %d NetCDF shards" % (time.time() - t, len(out["shards"])))
s.stop()
PYEOF

# 2. the single-process commands, and the comparison
mkdir -p one
t0=$(date +%s.%N)
"$STEN" convert --force ratings.csv --format delimited --delimiter , --columns user,item,- -o one/text.txt 2>/dev/null
"$STEN" generate-netcdf --force -d gl_input -i one/text.txt -o one/gl_input.nc -f one/features -s one/samples -c 2>/dev/null
"$STEN" generate-netcdf --force -d gl_output -i one/text.txt -o one/gl_output.nc -f one/features -s one/samples 2>/dev/null
echo "spark example: single-process conversion $(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }') s"
cat spark/text/part-* >spark/text.txt
same() { if cmp -s "$1" "$2"; then echo "  same: $3"; else echo "  DIFFERENT: $3 ($1, $2)"; fail=1; fi; }
dump() { ncdump "$1" | tail -n +2; } # the first line names the file
fail=0
same one/text.txt spark/text.txt "DSSTNE text"
same one/features spark/features "feature index"
same one/samples spark/samples "sample index"
for n in gl_input gl_output; do
    dump one/$n.nc >one/$n.cdl
    dump spark/$n.nc >spark/$n.cdl
    same one/$n.cdl spark/$n.cdl "$n.nc (ncdump)"
done
shard_rows=0
for f in spark/shards/gl_input-*.nc; do
    shard_rows=$((shard_rows + $(ncdump -h "$f" | sed -n 's/.*examplesDim0 = \([0-9]*\).*/\1/p')))
done
[ "$shard_rows" -eq "$(wc -l <one/samples)" ] && echo "  shards: $shard_rows users in all, as in the whole file" ||
    { echo "  DIFFERENT: the shards hold $shard_rows users"; fail=1; }

# 3. train (one process; over MPI: docs/scale-out.md)
"$STEN" train --force -c "$ROOT/examples/movielens/config.json" -i one/gl_input.nc -o one/gl_output.nc \
    -n model.nc -e "$EPOCHS" 2>/dev/null
# 4. Spark batch scoring against one sten predict
"$STEN" predict --force -d gl -n model.nc -r one/text.txt -i one/features -o one/features --exclude-seen -k 10 \
    -s one/recs.txt 2>/dev/null
spark_py <<'PYEOF'
import sys, time
from pyspark.sql import SparkSession
from sten import spark as sp
w, parts = sys.argv[1], int(sys.argv[2])
s = SparkSession.builder.master("local[2]").appName("sten-spark").config("spark.ui.enabled", "false").getOrCreate()
s.sparkContext.setLogLevel("ERROR")
t = time.time()
import glob  # the part files in name order: Hadoop's listing order is not promised
users = s.sparkContext.textFile(",".join(sorted(glob.glob(w + "/spark/text/part-*"))), parts)
recs = sp.recommend(users, w + "/model.nc", w + "/spark/features", k=10).collect()
with open(w + "/spark/recs.txt", "w") as f:
    f.write("".join(r + "\n" for r in recs))
print("spark example: Spark scoring %.1f s over %d partitions: %d users" % (time.time() - t, users.getNumPartitions(), len(recs)))
s.stop()
PYEOF
same one/recs.txt spark/recs.txt "recommendation lines"
[ $fail = 0 ] && echo "spark example: the Spark path gives the single-process files and lists" ||
    { echo "spark example: differences above"; exit 1; }
