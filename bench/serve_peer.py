"""bench/serve_peer.py -- the Python peer of bench/serve.sh: answers the same
precomputed lookups as `sten serve --store` (POST /recommendations with
{"userId", "numResults", ...}; {"itemList": [{"itemId", "score"}], ...}) from
the same recommendation file (`sten predict -s RECS`: "user<TAB>item,score:...")
loaded into a dict. Never run by the tests.

Two forms:
  FastAPI (what bench/serve.sh runs when PyPI can be reached): the app below,
    served by uvicorn with uvloop and httptools, one worker process per core,
    JSON through orjson when it is installed:
      STEN_PEER_RECS=RECS uvicorn --app-dir bench serve_peer:app --workers 2 ...
  stdlib (the fallback): http.server's ThreadingHTTPServer, HTTP/1.1 keep-alive:
      python3 bench/serve_peer.py --stdlib RECS PORT
GET /health answers once the lists are loaded."""
import itertools
import json
import os
import sys

try:
    import orjson

    def dumps(o):
        return orjson.dumps(o)

    loads = orjson.loads
    JSON_LIB = "orjson"
except ImportError:  # the stdlib form, or a venv without orjson
    def dumps(o):
        return json.dumps(o, separators=(",", ":")).encode()

    loads = json.loads
    JSON_LIB = "json"


def load(path):
    """user -> [(item, score), ...], best first, as the file lists them."""
    lists = {}
    with open(path) as f:
        for line in f:
            user, _, rest = line.rstrip("\n").partition("\t")
            items = []
            for pair in rest.split(":"):
                if pair:
                    item, _, score = pair.partition(",")
                    items.append((item, float(score)))
            lists[user] = tuple(items)
    return lists


_rid = itertools.count(1)


def answer(lists, body):
    """(status, JSON bytes) for a request body, as sten serve shapes them."""
    try:
        req = loads(body)
    except ValueError as e:
        return 400, dumps({"message": "body: %s" % e})
    if not isinstance(req, dict) or not isinstance(req.get("userId"), str):
        return 400, dumps({"message": "GetRecommendations: \"userId\" is required"})
    k = req.get("numResults", 25)
    if not isinstance(k, int) or not 1 <= k <= 500:
        return 400, dumps({"message": "GetRecommendations: \"numResults\" must be an integer from 1 to 500"})
    items = lists.get(req["userId"])
    if items is None:
        return 404, dumps({"message": "no precomputed list for this user"})
    return 200, dumps({"itemList": [{"itemId": i, "score": s} for i, s in items[:k]],
                       "recommendationId": "RID-%016x" % next(_rid), "recommender": "precomputed"})


def fastapi_app(path):
    from fastapi import FastAPI, Request, Response

    lists = load(path)
    app = FastAPI()

    @app.post("/recommendations")
    async def recommendations(request: Request):
        status, out = answer(lists, await request.body())
        return Response(content=out, status_code=status, media_type="application/json")

    @app.get("/health")
    async def health():
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    return app


if "STEN_PEER_RECS" in os.environ and __name__ != "__main__":
    app = fastapi_app(os.environ["STEN_PEER_RECS"])


def stdlib_main(path, port):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lists = load(path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def send(self, status, out):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/recommendations":
                self.send(404, b'{"message":"no such endpoint"}')
            else:
                self.send(*answer(lists, body))

        def do_GET(self):
            if self.path == "/health":
                self.send(200, b'{"status":"ok"}')
            else:
                self.send(404, b'{"message":"no such endpoint"}')

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("serve_peer: stdlib ThreadingHTTPServer (%s) on 127.0.0.1:%d, %d users" % (JSON_LIB, port, len(lists)),
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "--stdlib":
        raise SystemExit(__doc__)
    stdlib_main(sys.argv[2], int(sys.argv[3]))
