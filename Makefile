# graysplit build. `make V=1` shows the commands.
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

BUILD    ?= build
CLANG    ?= clang
CC       ?= gcc
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
DESTDIR  ?=
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS    ?= -g -O2
CFLAGS    += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE
# Each object's header dependencies, written by the compiler (build/**/*.d).
DEPFLAGS  := -MMD -MP
LDLIBS    := -lbpf -lelf -lz -ljson-c -lmicrohttpd -lm
SANITIZE  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
# Rollout files (apply -f): libcyaml, and libyaml for the line of each node.
LDLIBS    += -lcyaml -lyaml
# The fast path's check for conntrack in the node's nftables ruleset.
LDLIBS    += -lnftables
# Interface facts for the fast path's redirect targets: rtnetlink and the netdev family.
LDLIBS    += -lmnl
# Fleet mode: etcd's v3 JSON gateway over HTTP(S), and its watch thread.
LDLIBS    += -lcurl -lpthread

BPF_SRC   := bpf/graysplit.bpf.c
BPF_HDRS  := $(wildcard bpf/lib/*.h) $(wildcard include/*.h)
BPF_OBJ   := $(BUILD)/graysplit.bpf.o
SKEL      := $(BUILD)/graysplit.skel.h

# user/ by role: core/ (maps, attach machinery, control-plane operations,
# policy, status: no argv, no stdout), cli/ (the command line), agent/ (the
# daemon), and main.c, which hands the CLI the agent's entry point. Headers
# are included by bare name, so the include path of each folder is its rule:
# core sees core; cli sees core and cli; agent sees core and agent; only
# main.c sees all three. tests/lint/includes.sh checks the same on the files.
LAYERS    := core fleet cli agent
INC_core  := -Iinclude -Iuser/core -I$(BUILD)
INC_fleet := $(INC_core) -Iuser/fleet
INC_cli   := $(INC_fleet) -Iuser/cli
INC_agent := $(INC_fleet) -Iuser/agent
INC_main  := $(INC_fleet) -Iuser/cli -Iuser/agent
# The include path of the folder of the source being compiled ($* is
# "core/maps", or "main").
layer_inc = $(INC_$(firstword $(subst /, ,$*)))

LIB_SRCS  := $(foreach l,$(LAYERS),$(wildcard user/$(l)/*.c))
LIB_OBJS  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
ASAN_OBJS := $(patsubst user/%.c,$(BUILD)/asan/%.o,$(LIB_SRCS))
USER_HDRS := $(foreach l,$(LAYERS),$(wildcard user/$(l)/*.h)) $(wildcard include/*.h)
# The sources that include the skeleton: only their objects wait for it.
SKEL_SRCS := $(shell grep -l '^\#include "graysplit.skel.h"' $(LIB_SRCS))
# Tests see core; a test of a CLI or an agent part sees that folder too.
TEST_INC  := $(INC_core)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFT_SRCS))
BPFT_LIB  := $(filter-out $(BPFT_SRCS),$(wildcard tests/bpf/*.c))

.PHONY: all deps check test test-unit test-bpf test-bats test-fuzz bench demo demo-fleet demo-downstream fmt lint clean install uninstall tests
.PHONY: fuzz fuzz-packets fuzz-parsers fuzz-targets bench-bins bench-quick bench-prog soak

all: $(BUILD)/graysplit

deps:
	$(Q)bash scripts/deps.sh

$(BUILD) $(BUILD)/tests/unit $(BUILD)/tests/bpf:
	$(Q)mkdir -p $@

$(BUILD)/graysplit.tmp.o: $(BPF_SRC) $(BPF_HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# bpftool gen object links and strips DWARF while keeping BTF.
$(BPF_OBJ): $(BUILD)/graysplit.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(SKEL): $(BPF_OBJ)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name graysplit_bpf > $@

$(BUILD)/user/%.o: user/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(layer_inc) -c $< -o $@

$(BUILD)/asan/%.o: user/%.c
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(layer_inc) $(SANITIZE) -c $< -o $@

$(BUILD)/libgraysplit.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libgraysplit-asan.a: $(ASAN_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/graysplit: $(BUILD)/user/main.o $(BUILD)/libgraysplit.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libgraysplit.a $(LDLIBS) -o $@

# Tests are built with ASan and UBSan.
$(BUILD)/tests/unit/test_agent_opts $(BUILD)/fuzz/fuzz_agent_opts: TEST_INC += -Iuser/cli
$(BUILD)/tests/unit/test_prom: TEST_INC += -Iuser/agent
$(BUILD)/tests/unit/test_store: TEST_INC += -Iuser/fleet

# The policy's traffic simulation makes millions of decisions: built
# optimised without sanitizers (against the plain library), it takes half
# the time; its functions run under ASan and UBSan in test_policy and in
# fuzz_decision.
$(BUILD)/tests/unit/test_policy_sim: tests/unit/test_policy_sim.c $(wildcard tests/unit/*.h) $(BUILD)/libgraysplit.a $(USER_HDRS) | $(BUILD)/tests/unit
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) $< $(BUILD)/libgraysplit.a $(LDLIBS) -lcmocka -lm -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libgraysplit-asan.a $(USER_HDRS) | $(BUILD)/tests/unit
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) $(SANITIZE) $< $(BUILD)/libgraysplit-asan.a $(LDLIBS) -lcmocka -lm -o $@

# The BPF tests' shared parts (fixture, packets, checks, scenarios, fibnet,
# the fuzz model) are compiled once, into an archive every test links.
BPFT_LIB_OBJS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/lib/%.o,$(BPFT_LIB))

$(BUILD)/tests/bpf/lib/%.o: tests/bpf/%.c $(SKEL)
	$(call msg,CC-TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) $(TEST_INC) -Itests/bpf $(SANITIZE) -c $< -o $@

$(BUILD)/libbpftest-asan.a: $(BPFT_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

-include $(BPFT_LIB_OBJS:.o=.d)

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(BUILD)/libbpftest-asan.a $(wildcard tests/bpf/*.h) $(BUILD)/libgraysplit-asan.a $(SKEL) $(USER_HDRS) | $(BUILD)/tests/bpf
	$(call msg,CC-TEST,$@)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) -Itests/bpf $(SANITIZE) $< $(BUILD)/libbpftest-asan.a $(BUILD)/libgraysplit-asan.a $(LDLIBS) -lcmocka -lm -o $@

# libFuzzer targets (tests/fuzz/fuzz_*.c): clang, with the library built
# again with coverage instrumentation so the fuzzer sees inside user/.
FUZZ_CC     ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS   := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS))

$(BUILD)/fuzz/obj/%.o: user/%.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(DEPFLAGS) $(layer_inc) $(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link -c $< -o $@

# The generated skeleton is no dependency the compiler can report before it
# exists: the objects whose sources include it wait for it by name.
$(foreach d,user asan fuzz/obj,$(patsubst user/%.c,$(BUILD)/$(d)/%.o,$(SKEL_SRCS))): $(SKEL)

-include $(patsubst %.o,%.d,$(LIB_OBJS) $(ASAN_OBJS) $(FUZZ_OBJS) $(BUILD)/user/main.o)

$(BUILD)/libgraysplit-fuzz.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libgraysplit-fuzz.a $(USER_HDRS)
	$(call msg,CC-FUZZ,$@)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(TEST_INC) -Itests/fuzz $(FUZZ_SANITIZE) -fsanitize=fuzzer $< \
		$(BUILD)/libgraysplit-fuzz.a $(LDLIBS) -o $@

fuzz-targets: $(FUZZ_BINS)

# Each parser target for FUZZ_SECONDS (default 60) from its seed corpus;
# crashes are minimised into tests/fuzz/regress/<target>/.
fuzz-parsers: deps
	$(Q)$(MAKE) --no-print-directory fuzz-targets
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_BINS)

fuzz: fuzz-parsers

tests: $(BUILD)/graysplit $(UNIT_BINS) $(BPFT_BINS) $(FUZZ_BINS) bench-bins

# Every suite, one closing line "N passed, N failed"; non-zero on any failure.
# The bats files need only the binary: they start as soon as it is built,
# and the test programs (a minute of compiling with sanitizers) build beside
# them as the run's first job (GS_TEST_BUILD in tests/run.sh).
test: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc) $(BUILD)/graysplit
	$(Q)GS_TEST_BUILD='$(MAKE) --no-print-directory -j$(shell nproc) tests' bash tests/run.sh

# The quick tier, for every change: unit, BPF and fuzz replay tests and the
# end-to-end smoke (tests/bats/smoke.bats), in a minute or two.
check: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc) $(BUILD)/graysplit
	$(Q)GS_TEST_BUILD='$(MAKE) --no-print-directory -j$(shell nproc) $(UNIT_BINS) $(BPFT_BINS) $(FUZZ_BINS)' \
		bash tests/run.sh unit bpf fuzz smoke

test-unit test-bpf test-bats test-fuzz: deps
	$(Q)$(MAKE) --no-print-directory -j$(shell nproc) tests
	$(Q)bash tests/run.sh $(patsubst test-%,%,$@)

# Full-size fuzzing (the smoke slices run in `make test`).
FUZZ_FRAMES ?= 1000000
FUZZ_SEED   ?= 1

fuzz: fuzz-packets

# Random and mutated frames through both BPF programs, checked against a
# reference model (tests/bpf/fuzz.c); FUZZ_SEED reproduces a run.
fuzz-packets: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/tests/bpf/test_fuzz_packets
	$(Q)CMOCKA_MESSAGE_OUTPUT=TAP $(BUILD)/tests/bpf/test_fuzz_packets \
		--frames $(FUZZ_FRAMES) --seed $(FUZZ_SEED)

# Benchmark programs (tests/bench/); scripts/bench.sh runs them and the
# e2e scripts and prints one table. bench-quick: smoke sizes, in make test.
bench-bins: $(BUILD)/bench/agent_load

# The forwarding-rate bench (scripts/bench-fwd.sh): its own two small XDP
# programs (generator and sink, tests/bench/bpf/) and their driver.
$(BUILD)/bench/bpf:
	$(Q)mkdir -p $@

$(BUILD)/bench/bpf/fwd_bench.bpf.o: tests/bench/bpf/fwd_bench.bpf.c | $(BUILD)/bench/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp && $(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BUILD)/bench/bpf/fwd_bench.skel.h: $(BUILD)/bench/bpf/fwd_bench.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name fwd_bench > $@

$(BUILD)/bench/fwd_bench: tests/bench/fwd_bench.c tests/bpf/packet.c tests/bpf/packet.h \
		$(BUILD)/bench/bpf/fwd_bench.skel.h
	$(call msg,CC-BENCH,$@)
	$(Q)$(CC) $(CFLAGS) -Iinclude -Itests/bpf -I$(BUILD)/bench/bpf $< tests/bpf/packet.c -lbpf -lelf -lz -o $@

bench-bins: $(BUILD)/bench/fwd_bench

# Per-packet cost of both BPF programs over empty ones (BPF_PROG_TEST_RUN);
# scripts/bench.sh's "prog" component. Optimised, no sanitizers: it sets up a
# 10M-flow table. Crafted frames and test runs from tests/bpf. It runs
# $(BUILD)/graysplit (attach --flows 10000000), which must match its maps.
PROG_BENCH_LIB := tests/bpf/fixture.c tests/bpf/packet.c

$(BUILD)/bench/prog_bench: tests/bench/prog_bench.c $(PROG_BENCH_LIB) $(wildcard tests/bpf/*.h) \
		$(BUILD)/libgraysplit.a $(SKEL) $(BUILD)/graysplit
	$(call msg,CC-BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) -Itests/bpf $< $(PROG_BENCH_LIB) $(BUILD)/libgraysplit.a $(LDLIBS) \
		-lcmocka -lm -o $@

bench-bins: $(BUILD)/bench/prog_bench

# That one alone (BENCH_ARGS=--quick: smoke run).
bench-prog: deps all $(BUILD)/bench/prog_bench
	$(Q)$(BUILD)/bench/prog_bench $(BENCH_ARGS)

bench: deps all
	$(Q)$(MAKE) --no-print-directory bench-bins
	$(Q)bash scripts/bench.sh

bench-quick: deps all
	$(Q)$(MAKE) --no-print-directory bench-bins
	$(Q)bash scripts/bench.sh --quick

demo: deps all
	$(Q)bash scripts/demo.sh

# Fleet mode: three nodes, one etcd, one rollout, one decision (docs/fleet.md).
demo-fleet: deps all
	$(Q)bash scripts/demo-fleet.sh

# The downstream watch: the backends' database watched, a canary whose query
# got twice as heavy failed back on its calls alone (docs/downstream.md).
demo-downstream: deps all
	$(Q)bash scripts/demo-downstream.sh

# Ten minutes (SOAK_SECONDS) of steady load, split changes and faults on a
# test bed of its own; not part of `make test`. See scripts/soak.sh.
soak: deps all
	$(Q)bash scripts/soak.sh

FMT_FILES := $(wildcard include/*.h bpf/*.c bpf/lib/*.h user/*.c user/*/*.c user/*/*.h \
	tests/unit/*.c tests/unit/*.h tests/bpf/*.c tests/bpf/*.h \
	tests/fuzz/*.c tests/fuzz/*.h tests/bench/*.c)

fmt:
	$(Q)clang-format -i $(FMT_FILES)

# The include graph of user/ (no loop, no include across the folders'
# rule: tests/lint/includes.sh), then format, cppcheck, and clang-tidy
# with each folder's own include path.
lint: $(SKEL)
	$(Q)bash tests/lint/includes.sh
	$(Q)clang-format --dry-run -Werror $(FMT_FILES)
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem $(INC_main) user/
	$(Q)$(foreach l,$(LAYERS),clang-tidy --quiet $(filter-out %/skel.c,$(wildcard user/$(l)/*.c)) \
		-- $(CFLAGS) $(INC_$(l)) && ) clang-tidy --quiet user/main.c -- $(CFLAGS) $(INC_main)

SBINDIR  := $(PREFIX)/sbin
MAN8DIR  := $(PREFIX)/share/man/man8
UNITDIR  := $(PREFIX)/lib/systemd/system

# The binary, the man page and the agent's systemd unit (its ExecStart
# pointing at this PREFIX). DESTDIR stages the tree for a package.
install: all
	install -D -m 0755 $(BUILD)/graysplit $(DESTDIR)$(SBINDIR)/graysplit
	install -D -m 0644 docs/graysplit.8 $(DESTDIR)$(MAN8DIR)/graysplit.8
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' scripts/graysplit-agent.service \
		>$(DESTDIR)$(UNITDIR)/graysplit-agent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/graysplit-agent.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/graysplit $(DESTDIR)$(MAN8DIR)/graysplit.8 \
		$(DESTDIR)$(UNITDIR)/graysplit-agent.service

clean:
	$(Q)rm -rf $(BUILD)

# The agent's cost at a paced ring-buffer event rate, driven through a live
# instance's pinned programs (scripts/bench-agent.sh runs it). Optimised, no
# sanitizers: it must keep up with 100k events/s.
AGENT_LOAD_LIB := tests/bpf/packet.c

$(BUILD)/bench/agent_load: tests/bench/agent_load.c $(AGENT_LOAD_LIB) tests/bpf/packet.h \
		$(BUILD)/libgraysplit.a
	$(call msg,CC-BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(TEST_INC) -Itests/bpf $< $(AGENT_LOAD_LIB) $(BUILD)/libgraysplit.a $(LDLIBS) \
		-lpthread -o $@

# The end-to-end and agent benchmarks alone (BENCH_ARGS=--quick: smoke run).
.PHONY: bench-e2e bench-agent
bench-e2e: deps all
	$(Q)bash scripts/bench-e2e.sh $(BENCH_ARGS)

bench-agent: deps all $(BUILD)/bench/agent_load
	$(Q)bash scripts/bench-agent.sh $(BENCH_ARGS)
