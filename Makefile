# lua-smpp build. `make` builds the C modules into build/, `make test` runs
# every spec; see README.md for the rest. Debian 12 packages are installed
# with apt-get when missing (`make deps`).

LUA_VERSION ?= 5.4
LUA         ?= lua$(LUA_VERSION)
BUSTED      ?= busted
PKG_CONFIG  ?= pkg-config
CC          ?= cc

BUILD := build
OPT   ?= -O2 -g
WARN  := -Wall -Wextra -Werror
# gnu11: libev's header and getaddrinfo want more than strict C99.
STD   := -std=gnu11

LUA_CFLAGS   := $(shell $(PKG_CONFIG) --cflags lua$(LUA_VERSION) 2>/dev/null)
CJSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcjson 2>/dev/null)
CJSON_LIBS   := $(shell $(PKG_CONFIG) --libs libcjson 2>/dev/null || echo -lcjson)
# libev ships no .pc file: ev.h and -lev.
EV_LIBS      := -lev

ALL_CFLAGS = $(STD) $(OPT) $(WARN) -fPIC -fvisibility=hidden $(CFLAGS)

# The plain C layers: no Lua, no I/O.
CODEC_SRC   := src/smpp_error.c src/smpp_pdu.c src/smpp_text.c src/smpp_receipt.c \
               src/smpp_status.c
SESSION_SRC := src/smpp_session.c
# Lua bindings. Modules are not linked against liblua (the host provides it).
# lsmpp_glue.c is the Lua face every session driver shares.
CORE_SRC := $(CODEC_SRC) $(SESSION_SRC) src/lsmpp_pdu.c src/lsmpp_glue.c src/lsmpp_json.c \
            src/lsmpp_session.c src/lsmpp_store.c src/lsmpp_core.c
# smpp.ev is every src/lsmpp_ev*.c: the module is split by job.
EV_SRC   := $(CODEC_SRC) $(SESSION_SRC) src/lsmpp_pdu.c src/lsmpp_glue.c \
            $(sort $(wildcard src/lsmpp_ev*.c))

HEADERS := $(wildcard src/*.h)

DEB_PACKAGES := build-essential pkg-config lua$(LUA_VERSION) liblua$(LUA_VERSION)-dev \
                libev-dev libcjson-dev lua-busted lua-socket luarocks
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test test-link test-lua test-c asan valgrind compat hosts bench-hosts fuzz fuzz-run bench bench-compare lint doc demo clean \
        faults soak

all: $(BUILD)/smpp/core.so $(BUILD)/smpp/ev.so

# apt_ensure: install the Debian packages named in $(1) that are missing.
define apt_ensure
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_ensure,$(DEB_PACKAGES))

$(BUILD)/smpp/core.so: $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) $(CJSON_CFLAGS) -shared -o $@ $(CORE_SRC) $(CJSON_LIBS) $(LDFLAGS)

# -pthread: host names are looked up on helper threads.
$(BUILD)/smpp/ev.so: $(EV_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -pthread $(LUA_CFLAGS) -shared -o $@ $(EV_SRC) $(EV_LIBS) $(LDFLAGS)

# ---- tests -----------------------------------------------------------------

C_TESTS := codec session outcomes

$(BUILD)/test_%: spec/c/test_%.c spec/c/harness.h $(CODEC_SRC) $(SESSION_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(STD) $(OPT) $(WARN) $(CFLAGS) -Isrc -o $@ $< $(CODEC_SRC) $(SESSION_SRC) $(LDFLAGS)

test: deps
	@$(MAKE) --no-print-directory all test-link test-c test-lua

# smpp.core is what OpenResty and Tarantool load inside their own event
# loops: it must pull in neither libev nor a thread library.
test-link: $(BUILD)/smpp/core.so
	@if ldd $< | grep -E 'libev|pthread' || nm -D --undefined-only $< | grep -E ' (ev_|pthread_)'; then \
	  echo "check core.so links: 0 passed, 1 failed (libev or pthread above)"; exit 1; \
	else echo "check core.so links: 1 passed, 0 failed"; fi

test-c: $(addprefix $(BUILD)/test_,$(C_TESTS))
	@for t in $(C_TESTS); do $(BUILD)/test_$$t spec/fixtures || exit 1; done

# Every spec on the libev backend, then the client-facing ones (smpp.client,
# the coroutines, the simulator and the programs built on them) again on the
# LuaSocket backend, the simulator with them.
SOCKET_SPECS := spec/client_spec.lua spec/coroutine_spec.lua spec/smpp_spec.lua \
                spec/backend_spec.lua spec/examples_spec.lua spec/cli_spec.lua \
                spec/outcomes_spec.lua spec/reconnect_spec.lua spec/pool_spec.lua \
                spec/throttle_spec.lua
test-lua: all
	SMPP_BACKEND=ev $(BUSTED) --lua=$(LUA) $(BUSTED_ARGS)
	SMPP_BACKEND=socket $(BUSTED) --lua=$(LUA) $(BUSTED_ARGS) $(SOCKET_SPECS)

# C tests and the Lua specs with AddressSanitizer + UndefinedBehaviorSanitizer.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan OPT="-O1 -g $(SAN)" LDFLAGS="$(SAN)" test-c
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan OPT="-O1 -g $(SAN)" LDFLAGS="$(SAN)" all
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(BUSTED) --lua=$(LUA) --cpath="$(BUILD)/asan/?.so" $(BUSTED_ARGS)

VALGRIND := valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect -q
valgrind: deps
	$(call apt_ensure,valgrind)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/vg OPT="-O0 -g" $(addprefix $(BUILD)/vg/test_,$(C_TESTS))
	@for t in $(C_TESTS); do $(VALGRIND) $(BUILD)/vg/test_$$t spec/fixtures || exit 1; done
	$(MAKE) --no-print-directory BUILD=$(BUILD)/vg OPT="-O0 -g" all
	LUA_CPATH="$(BUILD)/vg/?.so;;" $(VALGRIND) $(LUA) spec/support/ev_roundtrip.lua
	@echo "check valgrind driver: 1 passed, 0 failed"
	LUA_CPATH="$(BUILD)/vg/?.so;;" $(VALGRIND) $(LUA) spec/support/lua_roundtrip.lua
	@echo "check valgrind lua layer: 1 passed, 0 failed"
	@# Every core.session scenario and the receipt store: busted itself runs under valgrind.
	$(VALGRIND) $(LUA) $$(command -v $(BUSTED)) --cpath="$(BUILD)/vg/?.so" spec/session_spec.lua \
	  spec/receipt_store_spec.lua

# Every other Lua: the C modules built for each in build/<v>/smpp/ (v = 5.1,
# 5.2, 5.3, luajit; 5.4's stay in build/smpp/), then the whole spec suite on
# each (spec/support/compat_suite.sh). LuaJIT is Debian's luajit2 (never the
# plain luajit package: it takes nginx's Lua module away).
COMPAT_VERSIONS ?= 5.1 5.2 5.3 luajit
compat: deps
	$(call apt_ensure,lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev \
	  luajit2 libluajit2-5.1-dev)
	@rc=0; for v in $(COMPAT_VERSIONS); do \
	  if [ $$v = luajit ]; then flags="LUA_CFLAGS=$$($(PKG_CONFIG) --cflags luajit)"; \
	  else flags="LUA_VERSION=$$v"; fi; \
	  $(MAKE) --no-print-directory BUILD=$(BUILD)/$$v "$$flags" \
	    $(BUILD)/$$v/smpp/core.so $(BUILD)/$$v/smpp/ev.so >/dev/null || exit 1; \
	  SOCKET_SPECS="$(SOCKET_SPECS)" BUSTED="$(BUSTED)" sh spec/support/compat_suite.sh $$v \
	    || rc=1; \
	done; exit $$rc

# The real hosts: OpenResty (nginx + the Lua module, two workers, against
# the simulator: spec/hosts/openresty_test.lua) and Tarantool (a TAP test,
# spec/hosts/tarantool_tap.lua, and examples/tarantool/app.lua), both on the
# LuaJIT build of smpp.core in build/luajit/.
HOST_PACKAGES := nginx libnginx-mod-http-ndk libnginx-mod-http-lua tarantool curl \
                 luajit2 libluajit2-5.1-dev
hosts: deps
	$(call apt_ensure,$(HOST_PACKAGES))
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/luajit \
	  "LUA_CFLAGS=$$($(PKG_CONFIG) --cflags luajit)" $(BUILD)/luajit/smpp/core.so \
	  $(BUILD)/luajit/smpp/ev.so >/dev/null
	$(BUSTED) --lua=$(LUA) --pattern=_test spec/hosts/openresty_test.lua
	@out=$$(timeout 120 tarantool spec/hosts/tarantool_tap.lua 2>$(BUILD)/tarantool_tap.err); \
	  rc=$$?; echo "$$out"; \
	  ok=$$(echo "$$out" | grep -c '^ok '); bad=$$(echo "$$out" | grep -c '^not ok '); \
	  [ $$rc -eq 0 ] || [ $$bad -gt 0 ] || bad=1; \
	  echo "check tarantool tap: $$ok passed, $$bad failed"; [ $$bad -eq 0 ]
	@if out=$$(timeout 60 tarantool examples/tarantool/app.lua 2>&1) \
	    && echo "$$out" | grep -q '^receipt    DELIVRD'; then \
	  echo "$$out"; echo "check tarantool example: 1 passed, 0 failed"; \
	else echo "$$out"; echo "check tarantool example: 0 passed, 1 failed"; exit 1; fi

# OTPs/s with receipts through nginx (wrk), Tarantool fibers and the libev
# client, CPU per message side by side (bench/hosts.sh; not in CI).
bench-hosts: all
	$(call apt_ensure,$(HOST_PACKAGES) wrk bc)
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/luajit \
	  "LUA_CFLAGS=$$($(PKG_CONFIG) --cflags luajit)" $(BUILD)/luajit/smpp/core.so \
	  $(BUILD)/luajit/smpp/ev.so >/dev/null
	LUA=$(LUA) sh bench/hosts.sh

# libFuzzer targets, each run for FUZZ_SECONDS (bounded).
FUZZ_SECONDS ?= 20
# lua_*: the Lua faces (table -> PDU, core.session, core.unpack), with Lua 5.4 embedded.
FUZZERS := decode receipt text session client_session server_session lua_pdu lua_session \
            lua_unpack
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc
$(BUILD)/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/session_script.h $(CODEC_SRC) $(SESSION_SRC) $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CODEC_SRC) $(SESSION_SRC)
$(BUILD)/fuzz_lua_%: spec/fuzz/fuzz_lua_%.c spec/fuzz/lua_script_harness.h $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(LUA_CFLAGS) $(CJSON_CFLAGS) -o $@ $< $(CORE_SRC) \
	  $$($(PKG_CONFIG) --libs lua$(LUA_VERSION)) $(CJSON_LIBS)
fuzz: deps
	$(call apt_ensure,clang libclang-rt-14-dev)
	@$(MAKE) --no-print-directory fuzz-run

# Seeds: the golden vectors, from hex text to binary PDUs.
$(BUILD)/seeds: $(wildcard spec/fixtures/pdu/*.hex)
	@mkdir -p $@
	@for f in $^; do $(LUA) spec/fuzz/hex2bin.lua <$$f >$@/$$(basename $$f .hex).bin; done

fuzz-run: $(addprefix $(BUILD)/fuzz_,$(FUZZERS)) $(BUILD)/seeds
	@rc=0; for f in $(FUZZERS); do \
	  mkdir -p $(BUILD)/corpus/$$f; \
	  if $(BUILD)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	       $(BUILD)/corpus/$$f $(BUILD)/seeds >$(BUILD)/fuzz_$$f.log 2>&1; then \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(BUILD)/fuzz_$$f.log); \
	    echo "fuzz $$f: 1 passed, 0 failed ($$runs runs in $(FUZZ_SECONDS) s)"; \
	  else \
	    tail -40 $(BUILD)/fuzz_$$f.log; echo "fuzz $$f: 0 passed, 1 failed"; rc=1; \
	  fi; \
	done; exit $$rc

# ---- other jobs --------------------------------------------------------------

# The fault matrix (spec/fault_matrix.lua) on both backends: one row a case,
# each checking that every submit ended once and every receipt came once.
# What the gateway and the client wrote to stderr goes to build/faults-*.log.
faults: all
	@rc=0; for b in ev socket; do \
	  SMPP_BACKEND=$$b $(LUA) spec/fault_matrix.lua 2>$(BUILD)/faults-$$b.log || rc=1; \
	done; exit $$rc

# The soak (bench/soak.lua): smpp.client against the simulator in its own
# process at SOAK_RATE submits/s with receipts, every link dropped every
# SOAK_DROP_EVERY s; no outcome or receipt lost, RSS flat after warm-up.
SOAK_SECONDS ?= 600
SOAK_RATE ?= 5000
SOAK_DROP_EVERY ?= 60
soak: all
	$(LUA) bench/soak.lua --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE) \
	  --drop-every $(SOAK_DROP_EVERY) 2>$(BUILD)/soak.log

bench: all $(BUILD)/bench_codec $(BUILD)/bench_pingpong
	$(LUA) bench/codec.lua $(BUILD)/bench_codec
	LUA=$(LUA) $(LUA) bench/loopback.lua
	ulimit -n 25000 2>/dev/null; $(LUA) bench/loopback.lua idle 10000

# Side by side with npm smpp 0.5.x (installed under bench/npm on first use):
# not part of CI's run, about 10 minutes.
bench-compare: all
	LUA=$(LUA) sh bench/compare.sh

$(BUILD)/bench_pingpong: bench/pingpong.c
	@mkdir -p $(@D)
	$(CC) $(STD) -O2 $(WARN) -o $@ $<

$(BUILD)/bench_codec: bench/codec_c.c $(CODEC_SRC) $(HEADERS)
	$(CC) $(STD) -O2 $(WARN) -Isrc -o $@ $< $(CODEC_SRC)

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA) examples/demo.lua

lint:
	$(call apt_ensure,clang-format cppcheck lua-check)
	clang-format --dry-run --Werror src/*.c src/*.h spec/c/*.c spec/c/*.h spec/fuzz/*.c spec/fuzz/*.h \
	  bench/*.c
	luacheck lua spec examples bench bin/smpp-sim bin/smpp-send
	cppcheck --error-exitcode=1 --quiet --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -Isrc src

doc:
	$(call apt_ensure,lua-ldoc)
	ldoc -c config.ld .

clean:
	rm -rf $(BUILD) doc/ldoc
