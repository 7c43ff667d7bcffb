#!/bin/sh
# test_spark.sh — the Spark path (examples/spark/run.sh, python/sten/spark.py)
# on the first 50,000 ratings: Spark's conversion and batch scoring must give
# the single-process files and lists. Runs only where PySpark (in
# build/spark-venv, which the example installs) and Java are present, never
# installing them itself; otherwise exit 77 (skipped) saying why.
# Usage: test_spark.sh STEN SOURCE_DIR
set -u
STEN=$(realpath "$1")
SRC=$(realpath "$2")
if ! command -v java >/dev/null 2>&1 || ! "$SRC/build/spark-venv/bin/python" -c "import pyspark, numpy" 2>/dev/null; then
    echo "SKIP: PySpark or Java is not installed here (sh examples/spark/run.sh installs both)"
    exit 77
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ROWS=50000 EPOCHS=1 PARTS=3 STEN_BIN=$STEN sh "$SRC/examples/spark/run.sh" "$W"
