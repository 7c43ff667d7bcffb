#!/bin/sh
# run.sh — serving walkthrough: a batch job fills the store, `sten serve`
# answers from the model, the precomputed lists and the item neighbours,
# events arrive, and the continuous-training loop refreshes the model from
# the event log and hot-reloads it with no request failing.
# Usage: examples/serving/run.sh [WORKDIR] [STEN]     (needs curl)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
W=${1:-serving-out}
STEN=${2:-$HERE/../../build/sten}
mkdir -p "$W"
cd "$W"
rm -rf st port

# 1. data and a model (DSSTNE's workflow)
"$STEN" synth --force --preset small --seed 11 -o ratings.csv 2>/dev/null
"$STEN" convert --force ratings.csv -o train.txt 2>/dev/null
"$STEN" generate-netcdf --force -d gl_input -i train.txt -o gl_input.nc -f features_input -s samples -c 2>/dev/null
"$STEN" generate-netcdf --force -d gl_output -i train.txt -o gl_output.nc -f features_output -s samples -c 2>/dev/null
"$STEN" train -c "$HERE/../movielens/config.json" -i gl_input.nc -o gl_output.nc -n gl.nc -e 5 --force 2>/dev/null

# 2. the batch job: precomputed top-50 lists and 100 neighbours per item, into the store
"$STEN" predict --force -d gl -n gl.nc -i features_input -o features_output -k 50 -f train.txt -r train.txt -s recs 2>/dev/null
"$STEN" similar --force -r train.txt -i features_output -s sims.txt -k 100 2>/dev/null
"$STEN" store build --store st --recs recs --similar sims.txt

# 3. the service (loopback, an ephemeral port)
"$STEN" serve --port 0 --port-file port --model gl.nc -d gl -i features_input -o features_output \
    --history train.txt --store st 2>serve.log &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
while [ ! -s port ]; do sleep 0.05; done
URL=http://127.0.0.1:$(cat port)
post() { curl -sf -X POST -H 'Content-Type: application/json' "$URL$1" -d "$2"; echo; }

echo "== the three recommenders for user 7"
for r in model precomputed item-to-item; do
    post /recommendations "{\"userId\": \"7\", \"numResults\": 5, \"recommender\": \"$r\"}"
done
echo "== related items (item 3), an unknown user (popularity, and it says so)"
post /recommendations '{"itemId": "3", "numResults": 5}'
post /recommendations '{"userId": "someone-new", "numResults": 5}'

echo "== events: user 7 clicks its top item, a new user arrives"
top=$(post /recommendations '{"userId": "7", "numResults": 1}' | sed 's/.*"itemId":"\([^"]*\)".*/\1/')
post /events "{\"userId\": \"7\", \"sessionId\": \"s1\", \"eventList\": [{\"eventType\": \"click\", \"itemId\": \"$top\", \"sentAt\": $(date +%s)}]}"
post /events "{\"userId\": \"u-new\", \"sessionId\": \"s2\", \"eventList\": [{\"eventType\": \"click\", \"itemId\": \"1\", \"sentAt\": $(date +%s)}, {\"eventType\": \"click\", \"itemId\": \"4\", \"sentAt\": $(date +%s)}]}"
post /recommendations '{"userId": "7", "numResults": 5}'
post /recommendations '{"userId": "u-new", "numResults": 5}'

echo "== continuous training: histories + event log -> one more epoch from the model -> hot reload"
"$STEN" store export --force --store st --history train.txt -o merged.txt
"$STEN" generate-netcdf --force -d gl_input -i merged.txt -o gl_input.nc -f features_input -s samples 2>/dev/null
"$STEN" generate-netcdf --force -d gl_output -i merged.txt -o gl_output.nc -f features_output -s samples 2>/dev/null
"$STEN" train -c "$HERE/../movielens/config.json" -i gl_input.nc -o gl_output.nc --resume gl.nc \
    -n gl.next.nc -e 6 --force 2>/dev/null
mv gl.next.nc gl.nc # atomic: the server reads a whole file or the old one
kill -HUP $PID
sleep 1
grep "reloaded" serve.log
post /recommendations '{"userId": "u-new", "numResults": 5}'
curl -sf "$URL/metrics" | grep -E '^sten_(requests_total|model_info|reloads_total|events_total)'
