-- bench/serve_wrk.lua — wrk's script for bench/serve.sh: POST /recommendations
-- with a JSON body whose userId cycles over a list of users (one label a
-- line: the sample labels of the history file), each wrk thread starting at
-- another place in the list. Settings come from the environment:
--   STEN_WRK_USERS  the user list (required)
--   STEN_WRK_REC    "recommender": precomputed, item-to-item, model, or mix
--                   (the three in turn, request by request)
--   STEN_WRK_K      numResults (default 10)
--   STEN_WRK_LABEL  a name for the run, copied into the result line
-- When wrk ends, done() prints one line "STEN_WRK {json}": requests, seconds,
-- req/s, latency percentiles (microseconds) and the error counts (status:
-- non-2xx/3xx answers, as wrk's "Non-2xx or 3xx responses" line; socket:
-- connect, read, write and timeout errors).
--   STEN_WRK_USERS=users.txt STEN_WRK_REC=precomputed \
--     wrk -t2 -c32 -d10s --latency -s bench/serve_wrk.lua http://127.0.0.1:PORT/

local threads = 0

function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

function init(args)
    users = {}
    for line in io.lines(os.getenv("STEN_WRK_USERS")) do
        if #line > 0 then
            users[#users + 1] = line
        end
    end
    if #users == 0 then
        error("STEN_WRK_USERS: no users")
    end
    local rec = os.getenv("STEN_WRK_REC") or "precomputed"
    recs = rec == "mix" and { "precomputed", "item-to-item", "model" } or { rec }
    k = tonumber(os.getenv("STEN_WRK_K") or "10")
    -- threads start far apart in the list (a prime stride)
    i = ((tid or 0) * 7919) % #users
    n = 0
    headers = { ["Content-Type"] = "application/json" }
end

function request()
    i = i % #users + 1
    n = n + 1
    local body = string.format('{"userId":"%s","numResults":%d,"recommender":"%s"}', users[i], k,
        recs[n % #recs + 1])
    return wrk.format("POST", "/recommendations", headers, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format('STEN_WRK {"label":"%s","requests":%d,"seconds":%.3f,"rps":%.1f,'
        .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"status_errors":%d,'
        .. '"socket_errors":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
        os.getenv("STEN_WRK_LABEL") or "", summary.requests, secs, summary.requests / secs,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.max, e.status, e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout))
end
