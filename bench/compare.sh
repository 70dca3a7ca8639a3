#!/bin/sh
# make bench-compare: lua-smpp side by side with npm smpp 0.5.x, in one run
# (bench/compare.lua says what is measured). Installs the peer under
# bench/npm/node_modules (git-ignored) on first use; needs node and npm.
set -eu
here=$(dirname "$0")
LUA=${LUA:-lua5.4}
if [ ! -d "$here/npm/node_modules/smpp" ]; then
    npm install --no-audit --no-fund --prefix "$here/npm" >/dev/null
fi
exec "$LUA" "$here/compare.lua"
