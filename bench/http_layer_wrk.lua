-- bench/http_layer_wrk.lua — wrk's script for bench/http-layer.sh: POST
-- /recommendations with a small JSON body, {"userId":"N","numResults":10},
-- N cycling over 1..100000 (each wrk thread starting elsewhere). When wrk
-- ends, done() prints one line "HTTP_LAYER_WRK {json}": requests, seconds,
-- req/s, latency percentiles (microseconds), error counts (status: non-2xx/3xx
-- answers; socket: connect, read, write and timeout errors).
--   wrk -t2 -c32 -d10s --latency -s bench/http_layer_wrk.lua http://127.0.0.1:PORT/

local threads = 0

function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

function init(args)
    i = ((tid or 0) * 7919) % 100000
    headers = { ["Content-Type"] = "application/json" }
end

function request()
    i = i % 100000 + 1
    return wrk.format("POST", "/recommendations", headers,
        string.format('{"userId":"%d","numResults":10}', i))
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format('HTTP_LAYER_WRK {"requests":%d,"seconds":%.3f,"rps":%.1f,'
        .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"status_errors":%d,'
        .. '"socket_errors":%d}\n',
        summary.requests, secs, summary.requests / secs,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
