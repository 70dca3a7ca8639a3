#!/bin/sh
# The whole spec suite on one Lua other than 5.4, with the C modules built
# for it in build/<v>/ (make compat builds them first):
#   spec/support/compat_suite.sh 5.1|5.2|5.3|luajit
# Every Lua file of the checkout must load (parse) there; the smoke tests of
# the C modules run; then busted runs every spec on the libev backend and the
# client-facing ones (SOCKET_SPECS, from make) on the LuaSocket backend.
# Prints one `check compat <v> ...: N passed, M failed` line per part, which
# .ci/run counts (busted's own summary lines are indented so they are not
# counted twice). Exits non-zero when anything failed.
v=$1
case $v in
  luajit) lua=luajit ;;
  5.[123]) lua=lua$v ;;
  *) echo "usage: $0 5.1|5.2|5.3|luajit" >&2; exit 2 ;;
esac
busted=${BUSTED:-busted}
cpath="build/$v/?.so"
log=build/$v/busted.log
rc=0

report() { # report NAME PASSED FAILED
  echo "check compat $v $1: $2 passed, $3 failed"
  [ "$3" -eq 0 ] || rc=1
}

# Parse every Lua file (bin/ scripts start with #!, which loadfile skips).
files=$(find lua spec examples bench -name '*.lua' -not -path '*/node_modules/*' | sort)
out=$(echo '
  local bad = 0
  for _, f in ipairs(arg) do
    local fn, err = loadfile(f)
    if not fn then print(err); bad = bad + 1 end
  end
  print(#arg - bad, bad)' | $lua - $files bin/smpp-sim bin/smpp-send 2>&1)
echo "$out" | sed '$d'
set -- $(echo "$out" | tail -1)
report parse "${1:-0}" "${2:-1}"

for smoke in compat_smoke session_smoke lua_roundtrip; do
  if LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$cpath;;" timeout 60 \
       $lua spec/support/$smoke.lua >build/$v/$smoke.log 2>&1; then
    report "$smoke" 1 0
  else
    cat build/$v/$smoke.log; report "$smoke" 0 1
  fi
done

# busted NAME ARGS...: one busted run, its summary turned into a check line.
run_busted() {
  name=$1; shift
  LUA=$lua timeout 600 "$busted" --lua="$lua" --cpath="$cpath" "$@" >"$log" 2>&1
  # busted's output, its summary indented (so it is not counted twice)
  sed 's/^\([0-9]* successes \/\)/  busted: \1/' "$log"
  # busted says "1 error", "1 failure", "1 success": singular or plural.
  sum=$(sed -n 's/^\([0-9]*\) successe\{0,1\}s\{0,1\} \/ \([0-9]*\) failures\{0,1\} \/ \([0-9]*\) errors\{0,1\}.*/\1 \2 \3/p' "$log")
  set -- ${sum:-0 0 1} # no summary: busted itself failed
  report "$name" "$1" $(($2 + $3))
}

SMPP_BACKEND=ev run_busted specs
SMPP_BACKEND=socket run_busted "specs socket" $SOCKET_SPECS

exit $rc
