#!/usr/bin/python3
"""test_serve.py — `sten serve` end to end: the real server on an ephemeral
loopback port, driven by real HTTP requests (stdlib only).

Builds its data with sten itself (synth -> convert -> generate-netcdf ->
train -> predict -> similar -> store build), then checks every endpoint,
the Personalize and SageMaker shapes, the three recommenders and the
fallback, bad requests (clear 4xx, server keeps serving), a seeded fuzz of
the request bodies and raw request bytes, the token, saturation (503 +
Retry-After), hot reload during requests (0 failures) and a failed reload
(old model kept), and the event log surviving kill -9.

Usage: test_serve.py STEN EXAMPLES_DIR [SERVE_STEN]
SERVE_STEN: another build of sten to run the servers with (ThreadSanitizer's:
the data is made with STEN, the servers run their model on one thread so
only the server's own threads meet).
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

STEN = os.path.realpath(sys.argv[1])
EXAMPLES = os.path.realpath(sys.argv[2])
SERVE = os.path.realpath(sys.argv[3]) if len(sys.argv) > 3 else STEN
SERVE_ARGS = ["-t", "1"] if len(sys.argv) > 3 else []
failures = 0


def ok(msg):
    print("ok:", msg, flush=True)


def bad(msg):
    global failures
    failures += 1
    print("FAIL:", msg, flush=True)


def check(cond, msg):
    ok(msg) if cond else bad(msg)
    return cond


def run(*args):
    r = subprocess.run([STEN, *args], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(r.stderr)
        raise SystemExit(f"sten {' '.join(args)} failed ({r.returncode})")
    return r


class Server:
    """One `sten serve` process on a free port."""

    def __init__(self, *args, name="serve"):
        self.portfile = os.path.join(W, name + ".port")
        if os.path.exists(self.portfile):
            os.unlink(self.portfile)
        self.err = open(os.path.join(W, name + ".err"), "w+")
        self.p = subprocess.Popen([SERVE, "serve", "--port", "0", "--port-file", self.portfile, *SERVE_ARGS, *args],
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        t0 = time.time()
        while not os.path.exists(self.portfile):
            if self.p.poll() is not None or time.time() - t0 > 60:
                self.err.seek(0)
                raise SystemExit("server did not start: " + self.err.read())
            time.sleep(0.02)
        self.port = int(open(self.portfile).read())

    def req(self, method, path, body=None, headers=None, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def post(self, path, body, **kw):
        st, h, data = self.req("POST", path, body, **kw)
        try:
            return st, h, json.loads(data)
        except ValueError:
            return st, h, data

    def stderr(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read()

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=30)
        self.err.close()
        return rc


def recs_file(path):
    """predict's lines: user -> [items]."""
    out = {}
    for line in open(path):
        user, rest = line.rstrip("\n").split("\t")
        out[user] = [t.split(",")[0] for t in rest.split(":") if t]
    return out


def history_file(path):
    out = {}
    for line in open(path):
        user, rest = line.rstrip("\n").split("\t")
        out[user] = [t.split(",")[0] for t in rest.split(":") if t]
    return out


W = tempfile.mkdtemp(prefix="sten-serve-")
try:
    os.chdir(W)
    # ---- data, model, precomputed lists, neighbours, store
    run("synth", "--preset", "small", "--seed", "7", "-o", "r.csv")
    run("convert", "r.csv", "-o", "ml.txt")
    run("generate-netcdf", "-d", "gl_input", "-i", "ml.txt", "-o", "gl_input.nc", "-f", "features_input",
        "-s", "samples", "-c")
    run("generate-netcdf", "-d", "gl_output", "-i", "ml.txt", "-o", "gl_output.nc", "-f", "features_output",
        "-s", "samples", "-c")
    run("train", "-c", os.path.join(EXAMPLES, "movielens", "config.json"), "-i", "gl_input.nc", "-o",
        "gl_output.nc", "-n", "gl.nc", "-e", "2")
    run("predict", "-d", "gl", "-i", "features_input", "-o", "features_output", "-k", "10", "-n", "gl.nc",
        "-f", "ml.txt", "-r", "ml.txt", "-s", "recs")
    run("similar", "-r", "ml.txt", "-i", "features_output", "-s", "sims.txt", "-k", "50")
    run("store", "build", "--store", "st", "--recs", "recs", "--similar", "sims.txt")
    info = run("store", "info", "--store", "st").stdout
    check("users' lists 2000" in info and "items' neighbour lists" in info, "store info: " + " ".join(info.split()))
    with open("bad.recs", "w") as f:
        f.write("u1\t1,0.5:2,0.25:\nu2\t3,0.5:4,high:\n")
    r = subprocess.run([STEN, "store", "build", "--store", "st", "--recs", "bad.recs"], capture_output=True, text=True)
    check(r.returncode == 65 and "bad.recs:2: column 12: score 'high' is not a finite number" in r.stderr
          and "the store is unchanged" in r.stderr, "store build: a bad line names file:line:column, exit 65")
    check(run("store", "info", "--store", "st").stdout == info, "... and the store is unchanged")
    r = subprocess.run([STEN, "store", "info", "--store", "nowhere"], capture_output=True, text=True)
    check(r.returncode == 66 and "nowhere: cannot open the store" in r.stderr, "store info on a missing store: 66")
    recs = recs_file("recs")
    hist = history_file("ml.txt")
    users = sorted(recs, key=int)[:40]
    with open("token", "w") as f:
        f.write("s3cret\n")
    AUTH = {"Authorization": "Bearer s3cret"}

    # ---- the acceptance command (plus a store and a token)
    s = Server("--model", "gl.nc", "-d", "gl", "-i", "features_input", "-o", "features_output",
               "--history", "ml.txt", "--store", "st", "--token-file", "token")
    st, h, body = s.req("GET", "/ping")
    check(st == 200 and b"ready" in body, "GET /ping answers 200 once the model is loaded")
    check(h.get("X-Model-Version", "").startswith("gl.nc@"), "model version in every response's headers")
    st, _, _ = s.post("/recommendations", {"userId": users[0], "numResults": 10})
    check(st == 401, "no token: 401")
    st, _, _ = s.post("/recommendations", {"userId": users[0]}, headers={"Authorization": "Bearer wrong"})
    check(st == 401, "a wrong token: 401")

    # model recommendations = predict's lists, never a history item
    same = 0
    for u in users:
        st, _, b = s.post("/recommendations", {"userId": u, "numResults": 10}, headers=AUTH)
        items = [e["itemId"] for e in b["itemList"]] if st == 200 else None
        if st != 200 or b.get("recommender") != "model" or not b.get("recommendationId") or not b.get(
                "modelVersion"):
            bad(f"recommendations for {u}: {st} {b}")
            break
        if set(items) & set(hist[u]):
            bad(f"user {u} got a history item back: {set(items) & set(hist[u])}")
        same += items == recs[u]
    check(same == len(users), f"model lists equal `sten predict`'s for {same}/{len(users)} users, no seen items")
    st, _, b = s.post("/recommendations", {"userId": users[1], "numResults": 3}, headers=AUTH)
    check(st == 200 and len(b["itemList"]) == 3 and all(isinstance(e["score"], float) for e in b["itemList"]),
          "numResults 3 -> 3 items with numeric scores")

    # the other recommenders
    st, _, b = s.post("/recommendations", {"userId": users[2], "numResults": 5, "recommender": "precomputed"},
                      headers=AUTH)
    check(st == 200 and b["recommender"] == "precomputed" and [e["itemId"] for e in b["itemList"]] == recs[users[2]][:5],
          "precomputed: the stored list")
    st, _, b = s.post("/recommendations", {"userId": users[3], "numResults": 10, "recommender": "item-to-item"},
                      headers=AUTH)
    i2i = [e["itemId"] for e in b["itemList"]] if st == 200 else []
    check(st == 200 and b["recommender"] == "item-to-item" and len(i2i) == 10 and not set(i2i) & set(hist[users[3]]),
          "item-to-item from the user's history: 10 items, none seen")
    sc = [e["score"] for e in b["itemList"]]
    check(sc == sorted(sc, reverse=True), "item-to-item scores descend")
    st, _, b = s.post("/recommendations", {"itemId": "5", "numResults": 5}, headers=AUTH)
    check(st == 200 and b["recommender"] == "item-to-item" and "5" not in [e["itemId"] for e in b["itemList"]]
          and len(b["itemList"]) == 5, "related items (itemId): neighbours, never the item itself")
    st, _, b = s.post("/recommendations", {"userId": "nobody", "numResults": 4}, headers=AUTH)
    check(st == 200 and b["recommender"] == "popularity" and b.get("fallback") == "popularity"
          and b.get("reason") == "unknown user" and len(b["itemList"]) == 4,
          "cold start: an unknown user gets popularity, and the answer says so")
    st, _, b = s.post("/recommendations", {"userId": users[4], "numResults": 5, "exclude": recs[users[4]][:2]},
                      headers=AUTH)
    check(st == 200 and [e["itemId"] for e in b["itemList"]] == recs[users[4]][2:7], "exclude: items left out")

    # ranking
    items = recs[users[5]][:4][::-1] + ["no-such-item"]
    st, _, b = s.post("/personalize-ranking", {"userId": users[5], "inputList": items}, headers=AUTH)
    ranked = [e["itemId"] for e in b.get("personalizedRanking", [])] if st == 200 else []
    check(ranked == recs[users[5]][:4] + ["no-such-item"] and b["personalizedRanking"][-1]["score"] is None,
          "GetPersonalizedRanking: the model's order, unknown items last with a null score")

    # events: excluded at once, for known and new users
    top = recs[users[6]][0]
    st, _, b = s.post("/events", {"userId": users[6], "sessionId": "s1", "eventList": [
        {"eventType": "click", "itemId": top, "sentAt": 1765000000}]}, headers=AUTH)
    check(200 <= st < 300 and b.get("accepted") == 1 and b.get("durable") is True, "PutEvents: 2xx, durable")
    st, _, b = s.post("/recommendations", {"userId": users[6], "numResults": 10}, headers=AUTH)
    check(st == 200 and top not in [e["itemId"] for e in b["itemList"]], "an event's item is excluded at once")
    st, _, b = s.post("/events", {"userId": "newbie", "sessionId": "s2", "eventList": [
        {"eventType": "click", "itemId": "1", "sentAt": 1765000000.5},
        {"eventType": "purchase", "itemId": "2", "sentAt": 1765000001}]}, headers=AUTH)
    st2, _, b2 = s.post("/recommendations", {"userId": "newbie", "numResults": 10}, headers=AUTH)
    got = [e["itemId"] for e in b2.get("itemList", [])]
    check(st == 200 and st2 == 200 and b2["recommender"] == "model" and len(got) == 10 and "1" not in got
          and "2" not in got, "a new user's events: model recommendations from them at once")

    # SageMaker shapes
    st, h, b = s.post("/invocations", {"instances": [{"userId": users[7], "numResults": 3}, {"items": ["1", "2"]}]},
                      headers=AUTH)
    check(st == 200 and len(b["predictions"]) == 2 and [e["itemId"] for e in b["predictions"][0]["itemList"]]
          == recs[users[7]][:3] and len(b["predictions"][1]["itemList"]) == 25,
          "/invocations JSON: {instances} -> {predictions}")
    st, h, data = s.req("POST", "/invocations", '{"items":["1"],"numResults":2}\n\n{"userId":"%s","numResults":1}\n'
                        % users[8], headers=dict(AUTH, **{"Content-Type": "application/jsonlines"}))
    lines = data.decode().splitlines()
    check(st == 200 and h.get("Content-Type") == "application/jsonlines" and len(lines) == 2
          and json.loads(lines[1])["itemList"][0]["itemId"] == recs[users[8]][0], "/invocations JSON Lines")
    st, _, b = s.post("/invocations", "x", headers=dict(AUTH, **{"Content-Type": "text/csv"}))
    check(st == 415, "/invocations with text/csv: 415")

    # bad requests: clear 4xx, server keeps serving
    cases = [
        ("/recommendations", '{"userId": 1', 400, "body:1:"),
        ("/recommendations", '[1,2]', 400, "expected a JSON object"),
        ("/recommendations", '{"userId":"1","numResult":3}', 400, 'unknown key "numResult"'),
        ("/recommendations", '{"userId":"1","numResults":0}', 400, '"numResults" must be an integer from 1 to 500'),
        ("/recommendations", '{"userId":7}', 400, '"userId" must be a non-empty string'),
        ("/recommendations", '{"numResults":3}', 400, '"userId" or "itemId" is required'),
        ("/recommendations", '{"userId":"1","recommender":"magic"}', 400, '"recommender" must be'),
        ("/recommendations", '{"userId":"1","userId":"2"}', 400, "duplicate object key"),
        ("/events", '{"sessionId":"s","eventList":[]}', 400, '"eventList" must be an array of 1 to'),
        ("/events", '{"sessionId":"s","eventList":[{"eventType":"click","itemId":"1"}]}', 400,
         'eventList[0]: "sentAt"'),
        ("/personalize-ranking", '{"userId":"1","inputList":[]}', 400, '"inputList" with 1 to'),
        ("/invocations", '{"instances":[{"features":[1,2]}]}', 400, 'unknown key "features"'),
        ("/nope", '{}', 404, "no such endpoint"),
    ]
    for path, body, want, msg in cases:
        st, _, b = s.post(path, body, headers=AUTH)
        check(st == want and msg in b.get("message", ""), f"{path} {body!r} -> {st} {b.get('message')!r}")
    st, h, _ = s.req("GET", "/recommendations", headers=AUTH)
    check(st == 405 and h.get("Allow") == "POST", "GET on a POST endpoint: 405 with Allow")
    st, _, b = s.post("/recommendations", '{"userId":"' + "x" * (1 << 21) + '"}', headers=AUTH)
    check(st == 413, "a 2 MiB body: 413")

    # seeded fuzz: mutated bodies to every POST endpoint, then raw request bytes
    rng = random.Random(20261206)
    seeds = [json.dumps({"userId": users[0], "numResults": 5, "exclude": ["1"]}),
             json.dumps({"userId": users[1], "inputList": ["1", "2"]}),
             json.dumps({"userId": "f", "sessionId": "s", "eventList": [{"eventType": "c", "itemId": "3",
                                                                        "sentAt": 1}]}),
             json.dumps({"instances": [{"userId": users[2]}, {"items": ["4"]}]})]
    paths = ["/recommendations", "/personalize-ranking", "/events", "/invocations"]
    statuses = {}
    for i in range(400):
        k = rng.randrange(4)
        b = bytearray(seeds[k].encode())
        for _ in range(rng.randrange(1, 6)):
            op = rng.randrange(4)
            pos = rng.randrange(len(b) + 1)
            if op == 0 and b:
                del b[pos % len(b)]
            elif op == 1:
                b.insert(pos, rng.randrange(256))
            elif op == 2 and b:
                b[pos % len(b)] = rng.choice(b'{}[]",:0-9e.\\\x00\xff nulltrue')
            else:
                b[pos:pos] = rng.choice([b'{"a":', b'[[[[[[', b'"\\u0000"', b'1e999', b'-1', b'null', b'""'])
        st, _, _ = s.req("POST", paths[k], bytes(b), headers=AUTH)
        statuses[st] = statuses.get(st, 0) + 1
    check(set(statuses) <= {200, 400, 413}, f"fuzzed bodies: statuses {statuses}")
    raw = [b"GARBAGE\r\n\r\n", b"POST /recommendations HTTP/1.1\r\nContent-Length: 5\r\n\r\n{", b"\x00\xff" * 100,
           b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
           b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           b"GET /ping HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n"]
    for r in raw:
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=3) as c:
                c.sendall(r)
                c.shutdown(socket.SHUT_WR)
                c.recv(4096)
        except OSError:
            pass
    st, _, _ = s.req("GET", "/ping")
    check(st == 200 and s.p.poll() is None, "after bad JSON, oversized bodies and raw garbage the server keeps serving")

    # metrics
    st, h, data = s.req("GET", "/metrics", headers=AUTH)
    m = data.decode()
    check(st == 200 and 'sten_requests_total{endpoint="recommendations",code="200"}' in m
          and 'sten_request_seconds_bucket{endpoint="recommendations",le="+Inf"}' in m
          and 'sten_model_info{version="gl.nc@' in m
          and int(m.split("\nsten_events_total ")[1].split()[0]) >= 3,
          "/metrics: Prometheus counts, latency histograms, model version")

    # hot reload during requests: zero failed requests
    stop = threading.Event()
    results = []
    st, _, b = s.post("/recommendations", {"userId": users[0], "numResults": 10}, headers=AUTH)
    v0 = b.get("modelVersion", "")

    def hammer(u):
        while not stop.is_set():
            try:
                st, _, b = s.post("/recommendations", {"userId": u, "numResults": 10}, headers=AUTH, timeout=30)
                results.append(st == 200 and b.get("recommender") == "model")
            except Exception as e:  # noqa: BLE001 - any failure counts
                results.append(False)
                print("request failed:", e)

    threads = [threading.Thread(target=hammer, args=(u,)) for u in users[:4]]
    for t in threads:
        t.start()
    for _ in range(4):
        time.sleep(0.3)
        s.p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    # a broken model file: the reload fails, the old model keeps serving
    shutil.copy("gl.nc", "gl.good")
    with open("gl.nc", "wb") as f:
        f.write(b"not a model")
    s.p.send_signal(signal.SIGHUP)
    time.sleep(0.8)
    stop.set()
    for t in threads:
        t.join()
    shutil.move("gl.good", "gl.nc")
    check(len(results) > 20 and all(results), f"SIGHUP x4 + a failed reload during {len(results)} requests: all 200")
    check(s.stderr().count("reloaded gl.nc") == 4 and "reload failed, the previous model keeps serving" in s.stderr(),
          "reloads logged; the failed one kept the previous model")
    st, _, b = s.post("/recommendations", {"userId": users[0], "numResults": 10}, headers=AUTH)
    check(st == 200 and [e["itemId"] for e in b["itemList"]] == recs[users[0]], "same answers after the reloads")
    v1 = b.get("modelVersion", "")
    check(v0.startswith("gl.nc@") and v0.endswith("/r1") and v1.endswith("/r5") and v0[:-3] == v1[:-3],
          f"the same file reloaded gets a new version ({v0} -> {v1})")

    # kill -9, restart: every acknowledged event is there
    acked = []
    for i in range(20):
        item = recs[users[9]][i % 10]
        st, _, b = s.post("/events", {"userId": users[9], "sessionId": "k", "eventList": [
            {"eventType": "click", "itemId": item, "sentAt": 1765000100 + i}]}, headers=AUTH)
        if st == 200:
            acked.append(item)
    s.stop(signal.SIGKILL)
    s = Server("--model", "gl.nc", "-i", "features_input", "-o", "features_output", "--history", "ml.txt",
               "--store", "st", name="serve2")
    st, _, b = s.post("/recommendations", {"userId": users[9], "numResults": 20})
    got = [e["itemId"] for e in b.get("itemList", [])]
    check(len(acked) == 20 and st == 200 and not set(acked) & set(got),
          "kill -9 and restart: all 20 acknowledged events replayed (their items excluded)")
    st, _, b = s.post("/recommendations", {"userId": users[6], "numResults": 10})
    check(top not in [e["itemId"] for e in b.get("itemList", [])], "events from before the restart too")
    check(s.stop() == 0, "SIGTERM: clean exit 0")

    # saturation: a one-slot queue answers 503 with Retry-After, never hangs or crashes. A batch
    # of 2 with a 300 ms window keeps the first request queued while the batch waits to fill, so
    # any other request in that window finds the queue full, however slowly a loaded machine
    # starts the threads (with a batch of 1 the queue drained too fast to ever fill)
    s = Server("--model", "gl.nc", "-i", "features_input", "-o", "features_output", "--history", "ml.txt",
               "--queue", "1", "--batch", "2", "--batch-window-us", "300000", "--http-threads", "2", name="serve3")
    outcomes = []
    go = threading.Barrier(16)

    def one(u):
        go.wait()
        st, h, _ = s.post("/recommendations", {"userId": u, "numResults": 5})
        outcomes.append((st, h.get("Retry-After")))

    ts = [threading.Thread(target=one, args=(u,)) for u in users[:16]]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    n503 = sum(1 for st, ra in outcomes if st == 503 and ra == "1")
    check(len(outcomes) == 16 and n503 > 0 and all(st in (200, 503) for st, _ in outcomes),
          f"saturated: {n503} of 16 answered 503 with Retry-After, the rest 200")
    check(s.stop() == 0, "saturated server stops cleanly")

    # --precision int8 (inference): DSSTNE's one-hidden-layer autoencoder reads its sparse input
    # and ranks its output in fp32 either way, so the server answers fp32's list
    answers = []
    for prec, name in (("fp32", "serve6"), ("int8", "serve7")):
        s = Server("--model", "gl.nc", "-i", "features_input", "-o", "features_output", "--history", "ml.txt",
                   "--precision", prec, name=name)
        st, _, b = s.post("/recommendations", {"userId": users[3], "numResults": 10})
        answers.append((st, [e["itemId"] for e in b.get("itemList", [])]))
        check(s.stop() == 0, f"--precision {prec}: the server stops cleanly")
    check(answers[0][0] == answers[1][0] == 200 and len(answers[0][1]) == 10 and answers[0][1] == answers[1][1],
          "serve --precision int8: the autoencoder's list is fp32's")

    # filters (category rules) from item metadata, the server started from a --config file
    catalogue = sorted({i for its in hist.values() for i in its} | {i for its in recs.values() for i in its}, key=int)
    genres = {}
    with open("items.csv", "w") as f:
        f.write("\ufeffITEM_ID,GENRES,NOTE\n")
        for i in catalogue:
            g = ["A", "B", "C"][int(i) % 3] + ("|B" if int(i) % 5 == 0 and int(i) % 3 != 1 else "")
            genres[i] = set(g.split("|"))
            f.write(f'{i},{g},"says ""hi"", {i}"\n' if int(i) % 7 == 0 else f"{i},{g},\n")
    with open("serve.json", "w") as f:
        json.dump({"model": "gl.nc", "input-features": "features_input", "output-features": "features_output",
                   "history": "ml.txt", "store": "st", "items": "items.csv", "port": 1,
                   "filters": {"noA": 'EXCLUDE ItemID WHERE Items.GENRES IN ("A")',
                               "genre": "INCLUDE ItemID WHERE Items.GENRES IN ($G)",
                               "bc": 'INCLUDE ItemID WHERE Items.GENRES IN ("B") AND Items.GENRES NOT IN ("C") '
                                     'OR Items.GENRES IN ("C") | EXCLUDE ItemID WHERE Items.GENRES IN ("A")'}}, f)
    s = Server("--config", "serve.json", name="serve5")  # --port 0 on the command line wins over the file's 1
    check(s.port != 1, "--config: the command line's options win over the file's")
    u = users[5]
    for rec in ("model", "precomputed", "item-to-item", "popularity"):
        st, _, b = s.post("/recommendations", {"userId": u, "numResults": 10, "recommender": rec,
                                               "filterArn": "arn:aws:personalize:eu-west-1:1:filter/noA"})
        got = [e["itemId"] for e in b["itemList"]] if st == 200 else []
        check(st == 200 and got and not any("A" in genres.get(i, set()) for i in got)
              and not set(got) & set(hist[u]), f"{rec} + EXCLUDE filter (an ARN): {len(got)} items, none in A")
        st, _, b = s.post("/recommendations", {"userId": u, "numResults": 10, "recommender": rec,
                                               "filterArn": "genre", "filterValues": {"G": '"B"'}})
        got = [e["itemId"] for e in b["itemList"]] if st == 200 else []
        check(st == 200 and got and all("B" in genres.get(i, set()) for i in got),
              f"{rec} + INCLUDE filter with a parameter: {len(got)} items, all in B")
    a_items = [i for i in catalogue if "A" in genres[i]]
    st, _, b1 = s.post("/recommendations", {"userId": u, "numResults": 10, "filterArn": "noA"})
    st2, _, b2 = s.post("/recommendations", {"userId": u, "numResults": 10, "exclude": a_items})
    l1, l2 = [e["itemId"] for e in b1.get("itemList", [])], [e["itemId"] for e in b2.get("itemList", [])]
    check(st == st2 == 200 and len(l1) == 10 and l1 == l2,
          "the model's filtered list = its list with the filtered items excluded (exact top-K, not a cut of it)")
    st, _, b = s.post("/recommendations", {"userId": u, "numResults": 20, "filterArn": "bc",
                                           "recommender": "popularity"})
    got = [e["itemId"] for e in b["itemList"]] if st == 200 else []
    check(st == 200 and got and all(("B" in genres[i] and "C" not in genres[i] or "C" in genres[i])
                                    and "A" not in genres[i] for i in got),
          "AND binds before OR; '|' pipes two expressions")
    st, _, b = s.post("/recommendations", {"itemId": catalogue[3], "numResults": 5, "filterArn": "noA"})
    got = [e["itemId"] for e in b["itemList"]] if st == 200 else []
    check(st == 200 and got and not any("A" in genres[i] for i in got), "related items + filter")
    for body, want in (
            ({"userId": u, "filterArn": "nope"}, 'no filter named "nope" (defined: noA, genre, bc)'),
            ({"userId": u, "filterArn": "genre"}, "filter genre needs a value for $G"),
            ({"userId": u, "filterArn": "genre", "filterValues": {"G": '"B'}}, "closing '\"' is missing"),
            ({"userId": u, "filterArn": "genre", "filterValues": {"H": '"B"'}}, "filter genre has no parameter $H"),
            ({"userId": u, "filterArn": "genre", "filterValues": {"G": 3}}, '"G" must be a string'),
            ({"userId": u, "filterValues": {"G": '"B"'}}, '"filterValues" without "filterArn"')):
        st, _, b = s.post("/recommendations", body)
        check(st == 400 and want in b.get("message", ""), f"filter error -> 400: {b.get('message')}")
    rng = random.Random(11)
    alphabet = ['"', ",", " ", "A", "B", "\\", "|", "$", "\u00e9", "\x00"]
    codes = set()
    for _ in range(200):  # seeded fuzz of the parameter values: 200 or 400, nothing else
        v = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        st, _, b = s.post("/recommendations", {"userId": u, "numResults": 5, "filterArn": "genre",
                                               "filterValues": {"G": v}, "recommender": "popularity"})
        codes.add(st)
    check(codes <= {200, 400} and s.p.poll() is None, f"200 fuzzed filterValues: answers {sorted(codes)}")
    st, _, b = s.post("/personalize-ranking", {"userId": u, "inputList": ["1", "2"], "filterArn": "noA"})
    check(st == 400 and "filters apply to /recommendations" in b.get("message", ""), "ranking + filter: 400")
    check(s.stop() == 0, "the --config server stops cleanly")

    def refused(args, code, want, what):
        r = subprocess.run([SERVE, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=120)
        check(r.returncode == code and want in r.stderr, f"{what}: exit {r.returncode}, {r.stderr.strip()[:150]}")

    base = ["--history", "ml.txt", "--items", "items.csv"]
    refused(base + ["--filter", 'x=EXCLUDE ItemID WHERE Items.GENRE IN ("A")'], 65,
            "filter x: column 22: a field of the item metadata (GENRES, NOTE), found \"Items.GENRE\"",
            "a filter naming an unknown field")
    refused(base + ["--filter", 'x=EXCLUDE ItemID WHERE Items.GENRES IN ("A"'], 65,
            "filter x: column 42: ')' expected, found the end of the expression", "an unclosed filter")
    refused(["--history", "ml.txt", "--filter", 'x=EXCLUDE ItemID WHERE Items.G IN ("A")'], 65,
            "filters need the items' metadata (--items FILE)", "a filter without --items")
    with open("bad.csv", "w") as f:
        f.write("ITEM_ID,GENRES\n1,A\n2,\"B\n")
    refused(["--history", "ml.txt", "--items", "bad.csv"], 65, "bad.csv:3:3: a quoted field is not closed",
            "items file: an unclosed quote names file:line:column")
    with open("bad.csv", "w") as f:
        f.write("ITEM_ID,GENRES\n1,A\n2,B,C\n")
    refused(["--history", "ml.txt", "--items", "bad.csv"], 65, "bad.csv:3: 3 columns, the header has 2",
            "items file: a short or long row")
    with open("bad.json", "w") as f:
        f.write('{"history": "ml.txt",\n "prot": 8080}\n')
    refused(["--config", "bad.json"], 65, 'bad.json: unknown key "prot" (expected port, ', "config: an unknown key")
    with open("bad.json", "w") as f:
        f.write('{"history": "ml.txt",\n "port": }\n')
    refused(["--config", "bad.json"], 65, "bad.json:2:10:", "config: a syntax error names file:line:column")
    refused(["--config", "missing.json"], 66, "missing.json", "config: a missing file, 66")
    # index files other than the model's (two labels swapped): refused at start, naming both files
    with open("features_output") as f:
        rows = f.read().splitlines()
    (l0, n0), (l1, n1) = rows[0].split("\t"), rows[1].split("\t")
    with open("swapped_output", "w") as f:
        f.write("\n".join([f"{l1}\t{n0}", f"{l0}\t{n1}"] + rows[2:]) + "\n")
    refused(["--model", "gl.nc", "-i", "features_input", "-o", "swapped_output"], 65,
            "swapped_output: this feature index (", "an output index the model was not trained with")
    refused(["--model", "gl.nc", "-i", "swapped_output", "-o", "features_output"], 65,
            "of model gl.nc was trained with (", "an input index the model was not trained with")

    # a Factorization Machine behind /invocations: SageMaker's FM shapes, predict's scores
    with open("fm.all", "w") as f:
        rng = random.Random(3)
        for i in range(3000):
            u, it = rng.randrange(200), rng.randrange(100)
            f.write(f"{int((u + it) % 3 == 0)} {u}:1 {200 + it}:1\n")
    with open("hp.json", "w") as f:
        json.dump({"feature_dim": "300", "num_factors": "8", "predictor_type": "binary_classifier",
                   "epochs": "3", "mini_batch_size": "200"}, f)
    run("train", "--algorithm", "factorization-machines", "--hyperparameters", "hp.json", "--train", "fm.all",
        "--model-dir", "fmdir", "--index-base", "0")
    with open("fm.test", "w") as f:
        f.write("0 3:1 205:1\n1 17:1 230:1\n")
    run("predict", "-d", "fm", "-n", "fmdir/model.nc", "--libsvm", "fm.test", "--index-base", "0", "-s",
        "fm.json", "--format", "json")
    want = json.load(open("fm.json"))["predictions"]
    s = Server("--model", "fmdir/model.nc", name="serve4")
    inst = []
    for row in ([3, 205], [17, 230]):
        x = [0] * 300
        for k in row:
            x[k] = 1
        inst.append({"features": x})
    st, _, b = s.post("/invocations", {"instances": inst})
    got = b.get("predictions", []) if st == 200 else []
    check(len(got) == 2 and all(abs(g["score"] - w["score"]) < 1e-5 and g["predicted_label"] == w["predicted_label"]
                                for g, w in zip(got, want)),
          f"FM /invocations: {got} = sten predict's {want}")
    st, _, b = s.post("/recommendations", {"userId": "1"})
    check(st == 200 and b.get("fallback") == "popularity", "a scoring model asked for lists: a fallback, not a 500")
    check(s.stop() == 0, "FM server stops cleanly")
finally:
    if failures or sys.exc_info()[0]:  # the servers' own words
        for f in sorted(os.listdir(W)):
            if f.endswith(".err"):
                print(f"--- {f}:\n" + open(os.path.join(W, f), errors="replace").read()[-4000:])
    os.chdir("/")
    shutil.rmtree(W, ignore_errors=True)

print(f"{failures} failed")
sys.exit(1 if failures else 0)
