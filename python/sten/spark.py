"""sten on Apache Spark: data preparation and batch scoring (docs/scale-out.md).

How DSSTNE was used at Amazon: Spark turns a large interaction table into
DSSTNE's text format and index files, sten trains (on one machine or over
MPI), and Spark scores users partition by partition by piping them through
``sten predict``. Spark is not imported by ``import sten``; this module needs
PySpark (``pip install pyspark``) and a Java runtime, and the ``sten``
command on every executor (``STEN_BIN``, the ``sten`` on PATH, or the
``sten=`` argument).

- :func:`to_dsstne` writes what ``sten convert`` + ``sten generate-netcdf -c``
  write for the same table: DSSTNE text (one line per user, users in order of
  first appearance, a user's items in time order, ties by the item's first
  appearance, a repeated (user, item) keeping its latest record), the global
  feature and sample index files and the NetCDF datasets; plus, optionally,
  one NetCDF shard per partition over the same global feature index.
- :func:`recommend` scores DSSTNE text lines with a trained model, one
  ``sten predict`` per partition, and returns the recommendation lines.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Iterable, Iterator, List, Optional

__all__ = ["to_dsstne", "recommend", "sten_binary"]


def sten_binary(sten: Optional[str] = None) -> str:
    """The sten command to run: the argument, $STEN_BIN, or the one on PATH."""
    path = sten or os.environ.get("STEN_BIN") or shutil.which("sten")
    if not path:
        raise FileNotFoundError("no sten command: pass sten=..., set STEN_BIN or put sten on PATH")
    return os.path.abspath(path) if os.path.exists(path) else path


def _run(cmd: List[str]) -> str:
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stderr


def to_dsstne(df, out_dir: str, user: str = "user", item: str = "item", time: Optional[str] = None,
              datasets: Iterable[str] = ("gl_input", "gl_output"), shards: bool = False,
              sten: Optional[str] = None) -> dict:
    """Converts an interaction DataFrame into DSSTNE's files under out_dir.

    df: a Spark DataFrame with a user and an item column (any type; written as
    text) and optionally a time column (numbers; absent: every record at time
    0, as ``sten convert`` without a timestamp). The record order of df (its
    files' order for a DataFrame read from files) decides "first appearance".

    Writes out_dir/text/part-* (the DSSTNE text, in order), out_dir/features
    and out_dir/samples (index files), out_dir/<name>.nc for each name in
    datasets (``sten generate-netcdf -c`` over the text: the single-process
    files), and with shards=True out_dir/shards/<name>-<partition>.nc, each
    over the global feature index with its own samples index
    out_dir/shards/samples-<partition>. Returns the paths.
    """
    from pyspark.sql import Window, functions as F

    exe = sten_binary(sten)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rows = df.select(F.col(user).cast("string").alias("u"), F.col(item).cast("string").alias("i"),
                     (F.col(time).cast("double") if time else F.lit(0.0)).alias("t"))
    rows = rows.withColumn("r", F.monotonically_increasing_id())  # the records' order
    # a user's and an item's first appearance, as sten numbers them
    first_u = rows.groupBy("u").agg(F.min("r").alias("ur"))
    first_i = rows.groupBy("i").agg(F.min("r").alias("ir"))
    # a repeated (user, item): the latest record (at equal times, the later one)
    latest = Window.partitionBy("u", "i").orderBy(F.col("t").desc(), F.col("r").desc())
    kept = rows.withColumn("k", F.row_number().over(latest)).where("k = 1").join(first_i, "i")
    lines = (kept.groupBy("u")
             .agg(F.array_sort(F.collect_list(F.struct("t", "ir", "i"))).alias("x"))
             .join(first_u, "u")
             .select("ur", F.concat_ws("\t", "u", F.concat_ws(":", F.col("x.i"))).alias("line")))
    text_dir = os.path.join(out_dir, "text")
    # a global sort: part files in the order of their users' first appearance,
    # so the directory read in name order is the single-process text file
    lines.orderBy("ur").select("line").write.mode("overwrite").text(text_dir)
    for name in os.listdir(text_dir):  # Hadoop's checksums and marker are not data
        if not name.startswith("part-"):
            os.remove(os.path.join(text_dir, name))
    features, samples = os.path.join(out_dir, "features"), os.path.join(out_dir, "samples")
    for p in (features, samples):
        if os.path.exists(p):
            os.remove(p)
    out = {"text": text_dir, "features": features, "samples": samples, "datasets": {}, "shards": []}
    for k, name in enumerate(datasets):
        nc = os.path.join(out_dir, name + ".nc")
        _run([exe, "generate-netcdf", "--force", "-d", name, "-i", text_dir, "-o", nc, "-f", features,
              "-s", samples] + (["-c"] if k == 0 else []))
        out["datasets"][name] = nc
    if shards:
        shard_dir = os.path.join(out_dir, "shards")
        os.makedirs(shard_dir, exist_ok=True)
        names = list(datasets)

        def shard(index: int, it: Iterator) -> Iterator[str]:
            part = list(it)
            if not part:
                return iter(())
            made = []
            with tempfile.TemporaryDirectory() as tmp:
                txt = os.path.join(tmp, "part.txt")
                with open(txt, "w") as f:
                    for row in part:
                        f.write(row.line + "\n")
                for name in names:
                    nc = os.path.join(shard_dir, "%s-%05d.nc" % (name, index))
                    _run([exe, "generate-netcdf", "--force", "-d", name, "-i", txt, "-o", nc, "-f", features,
                          "-s", os.path.join(shard_dir, "samples-%05d" % index)])
                    made.append(nc)
            return iter(made)

        out["shards"] = sorted(spark_rdd(lines.orderBy("ur").select("line")).mapPartitionsWithIndex(shard)
                               .collect())
    return out


def spark_rdd(df):
    """The RDD of a DataFrame (a function so tests can see what runs where)."""
    return df.rdd


def recommend(lines, model: str, features: str, k: int = 10, exclude_seen: bool = True,
              dataset: str = "gl", batch: int = 1024, threads: int = 1, extra: Iterable[str] = (),
              sten: Optional[str] = None):
    """Recommendation lines for DSSTNE text lines, one ``sten predict`` per
    partition (the model and the index shipped to the executors with
    SparkContext.addFile).

    lines: an RDD of DSSTNE text lines ("user<TAB>item:item...") or a
    DataFrame with one string column. Returns an RDD of "user<TAB>item,score:..."
    lines in the order of the input (partition by partition).
    """
    from pyspark import SparkFiles

    exe = sten_binary(sten)
    rdd = lines.rdd.map(lambda r: r[0]) if hasattr(lines, "rdd") else lines
    sc = rdd.context
    sc.addFile(os.path.abspath(model))
    sc.addFile(os.path.abspath(features))
    model_name, feat_name = os.path.basename(model), os.path.basename(features)
    flags = ["-k", str(k), "-b", str(batch), "-t", str(threads)] + list(extra)
    if exclude_seen:
        flags.append("--exclude-seen")

    def score(it: Iterator[str]) -> Iterator[str]:
        part = list(it)
        if not part:
            return iter(())
        with tempfile.TemporaryDirectory() as tmp:
            users, recs = os.path.join(tmp, "users.txt"), os.path.join(tmp, "recs.txt")
            with open(users, "w") as f:
                for line in part:
                    f.write(line.rstrip("\n") + "\n")
            _run([exe, "predict", "-d", dataset, "-n", SparkFiles.get(model_name), "-r", users,
                  "-i", SparkFiles.get(feat_name), "-o", SparkFiles.get(feat_name), "-s", recs] + flags)
            with open(recs) as f:
                return iter(f.read().splitlines())

    return rdd.mapPartitions(score)
