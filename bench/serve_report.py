"""bench/serve_report.py -- bench/serve.sh's report.
  serve_report.py line < RESULT       one run's line (a JSON line of results.jsonl)
  serve_report.py table RESULTS.jsonl RESULTS.md
                                      the summary table, printed and appended to
                                      RESULTS.md (its header from the STB_*
                                      variables serve.sh sets)"""
import datetime
import json
import os
import sys

# phase -> (req/s at least, p99 below in ms), from the serving issue
TARGETS = {"1 precomputed": (50000, 2.0), "2 item-to-item": (20000, 5.0), "3 model": (2000, 20.0)}


def ms(us):
    return us / 1000.0


def errors(r):
    return r["wrk"]["status_errors"] + r["wrk"]["socket_errors"]


def verdict(r):
    """(target text, met) for a result line."""
    t = TARGETS.get(r["phase"])
    if t:
        ok = r["wrk"]["rps"] >= t[0] and ms(r["wrk"]["p99_us"]) < t[1] and errors(r) == 0
        return ">= %s req/s, p99 < %g ms" % (format(t[0], ","), t[1]), ok
    if r["phase"].startswith("4"):
        return "0 errors, 0 failed reloads", errors(r) == 0 and r.get("failures", 0) == 0
    if r["phase"].startswith("5"):
        return "0 errors", errors(r) == 0
    return "-", None


def line(r):
    w = r["wrk"]
    return ("    %s, -c%d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms; non-2xx %d, socket errors %d"
            % (r["phase"], r["conns"], w["rps"], ms(w["p50_us"]), ms(w["p99_us"]), ms(w["p999_us"]),
               ms(w["max_us"]), w["status_errors"], w["socket_errors"]))


def medians(rows):
    """One row per (phase, conns): the run with the median req/s (the lower
    one of an even count), with "runs" (the count) and "span" (min, max
    req/s); errors summed over the runs."""
    groups = {}
    for r in rows:
        groups.setdefault((r["phase"], r["conns"]), []).append(r)
    out = []
    for g in groups.values():
        g = sorted(g, key=lambda r: r["wrk"]["rps"])
        m = dict(g[(len(g) - 1) // 2])
        m["wrk"] = dict(m["wrk"], status_errors=sum(r["wrk"]["status_errors"] for r in g),
                        socket_errors=sum(r["wrk"]["socket_errors"] for r in g))
        m["runs"], m["span"] = len(g), (g[0]["wrk"]["rps"], g[-1]["wrk"]["rps"])
        out.append(m)
    return out


def table(rows):
    out = ["| phase | recommender | conns | runs | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | socket errors "
           "| target | met |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        w = r["wrk"]
        t, ok = verdict(r)
        runs = "%d (%.0f-%.0f req/s)" % (r["runs"], r["span"][0], r["span"][1]) if r["runs"] > 1 else "1"
        out.append("| %s | %s | %d | %s | %.0f | %.2f | %.2f | %.2f | %d | %d | %s | %s |"
                   % (r["phase"], r["rec"], r["conns"], runs, w["rps"], ms(w["p50_us"]), ms(w["p99_us"]),
                      ms(w["p999_us"]), w["status_errors"], w["socket_errors"], t,
                      "-" if ok is None else ("yes" if ok else "**no**")))
    return out


def notes(rows):
    out = []
    for phase in TARGETS:
        got = [r for r in rows if r["phase"] == phase]
        if got:
            best = max(got, key=lambda r: r["wrk"]["rps"])
            met = [r["conns"] for r in got if verdict(r)[1]]
            out.append("- %s: best %.0f req/s (-c%d, p99 %.2f ms); target %s: %s."
                       % (phase, best["wrk"]["rps"], best["conns"], ms(best["wrk"]["p99_us"]), verdict(best)[0],
                          "met at -c" + "/".join(map(str, met)) if met else "**not met**"))
    for r in rows:
        if r["phase"].startswith("4"):
            out.append("- %s: %d SIGHUPs under -c%d, %d reloads, %d failed; HUP to reloaded: %s ms; wrk errors %d "
                       "(non-2xx %d, socket %d); RSS %.0f -> %.0f MB."
                       % (r["phase"], r["hups"], r["conns"], r["reloads"], r["failures"],
                          "/".join(map(str, r["reload_ms"])), errors(r), r["wrk"]["status_errors"],
                          r["wrk"]["socket_errors"], r["rss_before_kb"] / 1024, r["rss_after_kb"] / 1024))
        if r["phase"].startswith("5") and r.get("rss_kb"):
            s = r["rss_kb"]
            out.append("- soak: %.0f s at -c%d, %.0f req/s, %d errors; RSS start %.0f MB, end %.0f MB, max %.0f MB "
                       "(%d samples, 2 s apart; %+.1f MB start to end)."
                       % (r["wrk"]["seconds"], r["conns"], r["wrk"]["rps"], errors(r), s[0] / 1024, s[-1] / 1024,
                          max(s) / 1024, len(s), (s[-1] - s[0]) / 1024))
            if r.get("rss_anon_kb"):
                a = r["rss_anon_kb"]
                out.append("  Of it anonymous (the server's own memory): start %.0f MB, end %.0f MB, max %.0f MB "
                           "(%+.1f MB); the rest are file pages (the %.0f MB LMDB store's map, the binary), "
                           "bounded by the files' sizes."
                           % (a[0] / 1024, a[-1] / 1024, max(a) / 1024, (a[-1] - a[0]) / 1024,
                              r.get("store_kb", 0) / 1024))
    sten = {r["conns"]: r for r in rows if r["phase"] == "1 precomputed"}
    for r in rows:
        if r["phase"] == "6 peer" and r["conns"] in sten and r["wrk"]["rps"]:
            s = sten[r["conns"]]
            out.append("- **sten/peer at -c%d: %.1fx the req/s** (%.0f vs %.0f; p99 %.2f vs %.2f ms)."
                       % (r["conns"], s["wrk"]["rps"] / r["wrk"]["rps"], s["wrk"]["rps"], r["wrk"]["rps"],
                          ms(s["wrk"]["p99_us"]), ms(r["wrk"]["p99_us"])))
    return out


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "line":
        print(line(json.loads(sys.stdin.read())))
        return
    if len(sys.argv) != 4 or sys.argv[1] != "table":
        raise SystemExit(__doc__)
    rows = medians([json.loads(l) for l in open(sys.argv[2]) if l.strip()])
    e = os.environ.get
    text = "\n".join(table(rows) + [""] + notes(rows))
    print()
    print(text)
    head = [
        "\n## bench/serve — `sten serve` under load on loopback, wrk (%s)\n" % datetime.date.today(),
        "Command: `%s` (%s s in all)\n" % (e("STB_COMMAND", "sh bench/serve.sh"), e("STB_SECONDS", "?")),
        "CPU (lscpu Model name): %s; %s threads (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=%s). "
        "The server (`sten serve %s`), wrk -t2 and the peer all run pinned to cores %s: client and server share "
        "them. wrk is closed loop (bench/serve_wrk.lua: POST /recommendations, userId cycling over the history's "
        "users); latencies are wrk's, without coordinated-omission correction. With runs > 1, the row is the run "
        "with the median req/s.\n"
        % (e("STB_CPU", "?"), e("STB_THREADS", "?"), e("STB_THREADS", "?"), e("STB_FLAGS", ""), e("STB_CORES", "?")),
        "Data: %s. Model: %s. sten serve listened %s s after its start (history, store and model loaded); "
        "SIGTERM: %s.\n" % (e("STB_DATA", "?"), e("STB_MODEL", "?"), e("STB_STARTUP", "?"), e("STB_STOP", "?")),
        "Peer: %s, answering the same precomputed lists from the same recs file (bench/serve_peer.py).\n"
        % e("STB_PEER", "?"),
    ]
    if e("STB_IDLE"):
        head.append("**The machine was not idle**: %s\n" % e("STB_IDLE"))
    if e("STB_SAID"):
        head.append("sten serve's log: `%s`\n" % e("STB_SAID").replace("\n", " / "))
    with open(sys.argv[3], "a") as f:
        f.write("\n".join(head) + "\n" + text + "\n")


if __name__ == "__main__":
    main()
