#!/usr/bin/env python3
"""test_report.py — `sten report` and `sten train --report` on a short real
training run: the page is self-contained (no URLs but the SVG namespace, no
scripts), its charts have drawn paths, its sections match its inputs, the
numbers of the metrics and evaluation files appear in it, names are escaped,
and bad inputs get file:line errors, exit codes and no half-written page.
Usage: test_report.py STEN EXAMPLES_DIR   (python3 standard library only)"""
import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile

STEN, EXAMPLES = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
failures = 0


def check(cond, what, detail=""):
    global failures
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond or not detail else "\n    " + str(detail)[:2000]))
    failures += 0 if cond else 1


def sten(*args, rc=0):
    p = subprocess.run([STEN, *args], capture_output=True, text=True,
                       env=dict(os.environ, OMP_WAIT_POLICY="passive", STEN_PROGRESS="0"))
    if rc is not None and p.returncode != rc:
        raise SystemExit(f"sten {' '.join(args)}: exit {p.returncode}, expected {rc}\n{p.stderr}")
    return p


class Page(html.parser.HTMLParser):
    """Tags, attributes and text of a page; unbalanced tags are counted."""

    def __init__(self):
        super().__init__()
        self.tags, self.stack, self.unbalanced, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.unbalanced += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    p = Page()
    p.feed(src)
    p.close()
    return src, p


def self_contained(name, src, page):
    urls = [u for u in re.findall(r"https?://[^\s\"'<>)]*", src) if u != "http://www.w3.org/2000/svg"]
    check(not urls, f"{name}: no URLs but the SVG namespace", urls)
    check(not re.search(r"<script|<link|<iframe|<img|@import|url\(|@font-face|src=", src, re.I),
          f"{name}: no scripts, links, images, imports or fonts")
    check(page.unbalanced == 0 and not page.stack, f"{name}: tags balanced",
          f"{page.unbalanced} unbalanced, open at the end: {page.stack}")
    svgs = [a for t, a in page.tags if t == "svg"]
    check(svgs and all(a.get("viewbox") for a in svgs), f"{name}: {len(svgs)} SVG charts with a viewBox")


def drawn_paths(page):
    """d attributes of the data paths (lines and dots), by class."""
    return [(a.get("class", ""), a.get("d", "")) for t, a in page.tags
            if t == "path" and re.search(r"\b(line|dots)\b", a.get("class", "")) and "key" not in a.get("class", "")]


def points(d):
    return len(re.findall(r"[ML]", d))


with tempfile.TemporaryDirectory() as w:
    os.chdir(w)
    # ---- a short real run: data, a 5-epoch autoencoder, lists, evaluations
    sten("synth", "--users", "400", "--items", "250", "--interactions", "16000", "--seed", "11", "-o", "r.csv")
    sten("split", "r.csv", "--protocol", "random", "--fraction", "0.2", "--seed", "11", "-o", "d")
    sten("generate-netcdf", "-d", "gl_input", "-i", "d-train.txt", "-o", "in.nc", "-f", "features", "-s", "samples", "-c")
    sten("generate-netcdf", "-d", "gl_output", "-i", "d-train.txt", "-o", "out.nc", "-f", "features", "-s", "samples")
    ae = os.path.join(EXAMPLES, "movielens", "config.json")
    # the acceptance command, as written in the issue (plus the metrics file to compare with)
    sten("train", "-c", ae, "-i", "in.nc", "-o", "out.nc", "-n", "m.nc", "-b", "64", "-e", "5",
         "--report", "run.html", "--metrics", "train.jsonl", "--validate", "in.nc", "--validate", "out.nc")
    check(os.path.exists("m.nc") and os.path.exists("run.html"), "train --report: model and report written")
    lines = [json.loads(l) for l in open("train.jsonl")]
    check(len(lines) == 5, "train --metrics: 5 lines", len(lines))

    src, page = parse("run.html")
    self_contained("train --report", src, page)
    text = " ".join(page.text)
    check("Training" in text and "Item embeddings" in text, "train --report: training and embedding sections")
    check("Ranking quality" not in text and "Item popularity" not in text,
          "train --report: no sections without their inputs")
    paths = drawn_paths(page)
    loss_paths = [d for c, d in paths if "line" in c][:2]
    check(len(loss_paths) == 2 and all(points(d) == 5 for d in loss_paths),
          "train --report: loss and valid_loss drawn through 5 epochs", loss_paths)
    for key in ("loss", "valid_loss"):
        want = [f"{l[key]:.6g}" for l in lines]
        cells = re.findall(r"<td>([^<]*)</td>", src)
        check(all(v in cells for v in want), f"train --report: every epoch's {key} in the table", want)
    circles = sum(1 for t, a in page.tags if t == "circle")
    dots = [d for c, d in paths if "dots" in c]
    check(len(dots) == 1 and points(dots[0]) == 250, "train --report: 250 item points (one per item, no padding)",
          [points(d) for d in dots])
    check(circles >= 10, "train --report: epoch markers drawn", circles)

    # ---- sten report from files: every section
    sten("predict", "-d", "gl", "-n", "m.nc", "-r", "d-train.txt", "-i", "features", "-o", "features", "-k", "20",
         "-s", "ae.recs")
    sten("baseline", "popularity", "--train", "d-train.txt", "-k", "20", "-s", "pop.recs")
    for m in ("ae", "pop"):
        with open(m + ".json", "w") as f:
            f.write(sten("evaluate", "-r", m + ".recs", "-t", "d-test.txt", "-k", "1,5,10,20", "--features",
                         "features", "--json").stdout)
    full = ["--metrics", "train.jsonl", "--eval", "ae=ae.json", "--eval", "pop.json", "--train", "d-train.txt",
            "--recs", "ae=ae.recs", "--recs", "pop=pop.recs", "--features", "features", "--model", "m.nc"]
    sten("report", "-o", "all.html", "--title", "<b>&\"'run'", *full)
    src, page = parse("all.html")
    self_contained("report", src, page)
    text = " ".join(page.text)
    for title in ("Training", "Ranking quality", "Recall@k", "NDCG@k", "Item popularity and coverage",
                  "The long tail", "Where the recommendations go", "Item embeddings"):
        check(title in text, f"report: '{title}' present")
    check("&lt;b&gt;&amp;&quot;&#39;run&#39;" in src and "<b>&" not in src, "report: the title is escaped")
    ev = json.load(open("ae.json"))
    cells = re.findall(r"<td>([^<]*)</td>", src)
    want = [f"{a[m]:.6g}" for a in ev["at"] for m in ("recall", "ndcg")]
    check(all(v in cells for v in want), "report: ae.json's Recall@k and NDCG@k in the table", want)
    rec_lines = [d for c, d in drawn_paths(page) if "line" in c]
    check(sum(1 for d in rec_lines if points(d) == 4) >= 4, "report: Recall/NDCG curves over the 4 cut-offs")
    # coverage: distinct items of ae.recs over the 250 items of the index
    items = {e.split(",")[0] for l in open("ae.recs") for e in l.rstrip("\n").split("\t")[1].split(":") if e}
    check(f"{100 * len(items) / 250:.2f}%" in cells, "report: ae's coverage as counted here",
          f"{len(items)} items -> {100 * len(items) / 250:.2f}%")
    labels = {l.split("\t")[0] for l in open("features")}
    tips = re.findall(r"<circle[^>]*><title>([^<]*)</title>", src)
    check(sum(1 for t in tips if t in labels) == 250, "report: 250 embedding points named by the item index",
          len(tips))
    check(all(d.strip() for c, d in drawn_paths(page)) and len(drawn_paths(page)) >= 8,
          "report: every data path has points", len(drawn_paths(page)))

    # ---- the overwrite rule, usage and bad inputs
    p = sten("report", "-o", "all.html", "--metrics", "train.jsonl", rc=73)
    check("already exists" in p.stderr, "report: an existing output is refused (73)")
    sten("report", "-o", "all.html", "--metrics", "train.jsonl", "--force")
    check("Item embeddings" not in open("all.html").read(), "report --force: replaced")
    check(sten("report", "-o", "x.html", rc=64).returncode == 64, "report: nothing to report -> 64")
    check(sten("report", "--metrics", "train.jsonl", rc=64).returncode == 64, "report: no -o -> 64")
    with open("bad.jsonl", "w") as f:
        f.write('{"epoch": 1, "loss": 2.5}\n\n{"epoch": 2, "loss": }\n')
    p = sten("report", "-o", "bad.html", "--metrics", "bad.jsonl", rc=65)
    check("bad.jsonl:3:" in p.stderr, "report: a JSON error names file:line", p.stderr)
    for body, msg in (('[1, 2]\n', "bad.jsonl:1: expected one JSON object"),
                      ('{"epoch": 1, "loss": "x"}\n', 'bad.jsonl:1: "loss" must be a number'),
                      ('{"loss": 1}\n', 'bad.jsonl:1: "epoch" must be'),
                      ('{"epoch": 1, "loss": 1, "loss": 2}\n', "bad.jsonl:1:"),
                      ('\n', "no metrics lines")):
        open("bad.jsonl", "w").write(body)
        p = sten("report", "-o", "bad.html", "--metrics", "bad.jsonl", rc=65)
        check(msg in p.stderr, f"report: {body.strip() or 'empty'} -> 65, '{msg}'", p.stderr)
    open("scores.json", "w").write('{"n": 3, "rmse": 0.1}\n')
    p = sten("report", "-o", "bad.html", "--eval", "scores.json", rc=65)
    check("score metrics" in p.stderr, "report: a score evaluation is refused (65)", p.stderr)
    open("ev.json", "w").write('{"users": 3,\n "at": [{"k": 5, "recal": 0.1}]}\n')
    p = sten("report", "-o", "bad.html", "--eval", "ev.json", rc=65)
    check('unknown key "recal"' in p.stderr, "report: an unknown evaluation key is named", p.stderr)
    open("ev.json", "w").write('{"users": 3,\n "at": [}\n')
    p = sten("report", "-o", "bad.html", "--eval", "ev.json", rc=65)
    check("ev.json:2:" in p.stderr, "report: a JSON syntax error names file:line", p.stderr)
    check(sten("report", "-o", "bad.html", "--metrics", "nope.jsonl", rc=66).returncode == 66,
          "report: a missing input -> 66")
    check(not os.path.exists("bad.html") and not [n for n in os.listdir(".") if n.startswith("bad.html")],
          "report: failures leave no page and no temporary")
    p = sten("report", "-o", "d.html", "--model", "in.nc", rc=None)
    check(p.returncode in (65, 66) and "in.nc" in p.stderr and not os.path.exists("d.html"),
          "report: a dataset given as --model is refused", p.stderr)
    p = sten("train", "-c", ae, "-i", "in.nc", "-o", "out.nc", "-n", "m2.nc", "-b", "64", "-e", "5",
             "--report", "run.html", rc=73)
    check("run.html already exists" in p.stderr and not os.path.exists("m2.nc"),
          "train --report: an existing report is refused before training (73)", p.stderr)

print(f"{'FAILED' if failures else 'passed'}: test_report ({failures} failures)")
sys.exit(1 if failures else 0)
