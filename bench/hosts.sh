#!/bin/sh
# make bench-hosts: OTPs per second, each with its receipt, through the
# OpenResty endpoint (wrk, 50 connections, two workers), from Tarantool
# fibers and from the libev client (50 at a time), against one simulator;
# the client side's CPU per message beside each other, in one run.
# Target: a host driver costs at most twice the libev client's CPU per
# message (nginx's figure includes its HTTP work).
#   sh bench/hosts.sh [SECONDS [N]]
set -e
secs=${1:-10}
n=${2:-20000}
lua=${LUA:-lua5.4}
tmp=$(mktemp -d /tmp/smpp-bench-hosts.XXXXXX)
trap 'kill $sim_pid 2>/dev/null; [ -f "$tmp/logs/nginx.pid" ] && kill -QUIT $(cat "$tmp/logs/nginx.pid") 2>/dev/null; sleep 0.5; rm -rf "$tmp"' EXIT

$lua bin/smpp-sim --port 0 > "$tmp/sim.out" 2>/dev/null &
sim_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/sim.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$tmp/sim.out")

ticks() { # utime + stime of the given pids, in clock ticks
  t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t
}
hz=$(getconf CLK_TCK)
sim_cpu() { ticks $sim_pid; }

printf '%-22s %10s %8s %12s %18s %16s\n' host messages seconds "messages/s" "client CPU µs/msg" "sim CPU µs/msg"

run_client() { # name, command
  s0=$(sim_cpu)
  out=$($2)
  s1=$(sim_cpu)
  set -- $out
  printf '%-22s %10s %8s %12s %18s %16.1f\n' "$1" "$2" "$3" "$4" "$5" \
    "$(echo "($s1 - $s0) * 1000000 / $hz / $2" | bc -l)"
  echo "$5" > "$tmp/cpu.$1"
}

run_client "ev" "$lua bench/hosts_client.lua $port $n 50"
run_client "tarantool" "tarantool bench/hosts_client.lua $port $n 50"

http_port=$((30000 + $$ % 20000))
SMPP_PASSWORD=secret sh examples/openresty/run --http-port $http_port --smpp-port $port \
  --system-id test --workers 2 --prefix "$tmp" > "$tmp/run.out" 2>&1 &
for _ in $(seq 100); do
  curl -s -m 2 "http://127.0.0.1:$http_port/stats" | grep -q '"state":"bound"' && break
  sleep 0.1
done
sleep 0.5
workers=$(pgrep -P "$(cat "$tmp/logs/nginx.pid")" | tr '\n' ' ')
w0=$(ticks $workers); s0=$(sim_cpu)
wrk -t 2 -c 50 -d "${secs}s" \
  "http://127.0.0.1:$http_port/otp?to=%2B6598765432&template=otp-login&code=123456&wait=10" \
  > "$tmp/wrk.out"
w1=$(ticks $workers); s1=$(sim_cpu)
reqs=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)s.*/\1/p' "$tmp/wrk.out")
# nginx's and the handler's own cost per request (/ping: the same handler
# without the client), the same way.
p0=$(ticks $workers)
wrk -t 2 -c 50 -d "${secs}s" \
  "http://127.0.0.1:$http_port/ping?to=%2B6598765432&template=otp-login&code=123456&wait=10" \
  > "$tmp/wrk_ping.out"
p1=$(ticks $workers)
preqs=$(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)s.*/\1/p' "$tmp/wrk_ping.out")
http=$(echo "($p1 - $p0) * 1000000 / $hz / $preqs" | bc -l)
bad=$(sed -n 's/^ *Non-2xx or 3xx responses: \([0-9]*\)/\1/p' "$tmp/wrk.out")
rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$tmp/wrk.out")
printf '%-22s %10s %8s %12.0f %18.1f %16.1f\n' "openresty (HTTP+SMPP)" "$reqs" "$secs" "$rate" \
  "$(echo "($w1 - $w0) * 1000000 / $hz / $reqs" | bc -l)" \
  "$(echo "($s1 - $s0) * 1000000 / $hz / $reqs" | bc -l)"
[ -z "$bad" ] || echo "non-2xx answers: $bad (must be none)"
grep -h "Socket errors" "$tmp/wrk.out" || true
echo "errors in nginx's log: $(grep -c '\[error\]\|callback failed' "$tmp/logs/error.log") (must be 0)"
ev=$(cat "$tmp/cpu.ev"); tt=$(cat "$tmp/cpu.tarantool")
echo "tarantool / ev client CPU per message: $(echo "$tt / $ev" | bc -l | cut -c1-4) (target <= 2)"
smpp=$(echo "($w1 - $w0) * 1000000 / $hz / $reqs - $http" | bc -l)
printf '%-22s %10s %8s %12s %18.1f\n' "  of which HTTP+handler" "$preqs" "$secs" "" "$http"
printf '%-22s %10s %8s %12s %18.1f\n' "  of which the client" "" "" "" "$smpp"
echo "openresty client / ev client CPU per message: $(echo "$smpp / $ev" | bc -l | cut -c1-4) (target <= 2)"
