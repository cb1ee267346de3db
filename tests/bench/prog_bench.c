// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Per-packet cost of graysplit's BPF programs (issue 6), with
 * BPF_PROG_TEST_RUN: each call runs one frame (repeat = 1: the kernel does
 * not restore a rewritten frame between repetitions) and reports the time it
 * took; a case is rounds of such calls, each graysplit call followed by the
 * same frame through an empty program of the same type, so noise hits both.
 * A figure is the median over rounds of (graysplit mean - empty mean), next
 * to the median of the empty program's means.
 *
 * The kernel calls an XDP program attached to some interface directly (the
 * XDP dispatcher) and any other through an indirect, retpolined call. Both
 * XDP programs are therefore attached, each to one veth of a pair in a
 * private network namespace this process creates with unshare(): it has no
 * name and dies with the process, so nothing is left behind on any exit. A
 * third, unattached empty program shows what the trap would have cost. tc
 * has no dispatcher: both tc programs are called indirectly, attached or not.
 *
 * The service is set up with the real control-plane operations (user/core/ops.h):
 * 100 backends (90 stable, 10 canary at a 10% share) and Maglev tables of
 * GS_MAGLEV_SIZE slots built by graysplit's own builder. The downstream
 * watch of a backend host (gs_tc_dep_out, gs_tc_dep_in) runs on the same
 * object, with dep_kinds as attach --role backend writes it. Every case
 * checks the counters to prove the program took the path the figure names.
 *
 * Reading the figures: every call enters the kernel afresh, and where the
 * kernel flushes the TLB on each entry (PTI without PCID, as on the PVM guests
 * this was written on) the first touch of each page costs a page walk. One
 * per-CPU counter alone then measured 45 ns over the empty program, so the
 * figures count pages touched more than instructions; the warm pass-through
 * figure (many runs in one call) shows the difference.
 *
 * Results: JSON lines on stdout (the bench convention); progress on stderr.
 * Usage: prog_bench [--quick] [--only TEXT] [--calls N]
 *   --quick   ~10k calls a case, a 100k-flow working set, no 10M-flow part
 *   --only    only the figures whose name contains TEXT (development)
 *   --calls   calls per case and program (default 200k; --quick 10k)
 *   --no-check  do not insist on the path (for experimental variants)
 *   --variant OBJ  another build's graysplit.bpf.o: its tc reply program is
 *             timed in the same rounds (a change's before and after)
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "error.h"
#include "fixture.h"
#include "graysplit.h"
#include "loader.h"
#include "map_iter.h"
#include "maps.h"
#include "ops.h"
#include "packet.h"

#define NBACKENDS     100
#define NCANARY	      10
#define CANARY_PPM    100000
#define VPORT	      80
#define BACKEND_PORT  8080
#define CLIENT_PORT   40000
#define BIG_FLOWS     10000000u
#define WORKSET_FULL  1000000u
#define WORKSET_QUICK 100000u
#define WARM_REPEAT   100u
#define IF_GS	      "gsubA"
#define IF_BASE	      "gsubB"
#define IF_CLI	      "gsubC"
/* Client addresses of generated flows start here (10.32.0.0 + index). */
#define CLIENT4_BASE 0x0a200000u

static bool quick;
static const char *only; /* --only TEXT: just the figures naming it */
static bool no_check;	 /* --no-check: variants that cut a path short */
static unsigned int rounds = 20;
static unsigned int per_round = 10000;
static const char *attach_mode = "not attached";
/* --variant OBJ: another build's graysplit.bpf.o, its tc reply program timed
 * in the same rounds (development: a change's before and after). */
static const char *variant_path;
static int variant_tc_fd = -1, variant_xdp_fd = -1;
static struct gs_maps variant_maps;
static char cli_pin_dir[64];
static char cli_path[PATH_MAX];

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "prog_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "prog_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- programs ---------------------------------------------------------- */

/* "return ret": the empty program every figure is measured against. */
static int empty_prog(enum bpf_prog_type type, int ret, const char *name)
{
	struct bpf_insn insns[2];
	int fd;

	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[0].dst_reg = BPF_REG_0;
	insns[0].imm = ret;
	insns[1].code = BPF_JMP | BPF_EXIT;
	fd = bpf_prog_load(type, name, "Dual BSD/GPL", insns, 2, NULL);
	if (fd < 0)
		die("cannot load the empty %s program: %s", name, strerror(errno));
	return fd;
}

/* The kernel-reported time of one run of frame through prog_fd, ns. */
static uint32_t run_timed(int prog_fd, const uint8_t *frame, size_t len, uint32_t repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (uint32_t)len,
		    .repeat = repeat ? repeat : 1);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
	return opts.duration;
}

/* ---- the private namespace and its veths -------------------------------- */

static void cli_cleanup(void)
{
	char cmd[PATH_MAX + 256];

	if (!cli_pin_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "'%s' --pin-dir %s detach --all >/dev/null 2>&1; rm -rf %s",
		 cli_path, cli_pin_dir, cli_pin_dir);
	if (system(cmd))
		note("cleanup of %s reported an error", cli_pin_dir);
	cli_pin_dir[0] = '\0';
}

static void on_signal(int sig)
{
	(void)sig;
	/* exit() runs the atexit handler that removes the CLI's pins. */
	exit(130);
}

static void netns_up(void)
{
	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
	if (system("ip link add " IF_GS " type veth peer name " IF_BASE " && "
		   "ip link add " IF_CLI " type veth peer name " IF_CLI "p"))
		die("cannot create the veth pairs in the private namespace");
	/*
	 * Routes to the backends through IF_CLI with the next hop's MAC known,
	 * and forwarding on: the FIB then resolves every DNATed frame, and the
	 * fast path redirects it, as on a node whose neighbours are resolved.
	 */
	if (system("ip link set lo up && ip link set " IF_CLI " up && ip link set " IF_CLI
		   "p up && "
		   "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && "
		   "ip addr add 10.99.0.1/24 dev " IF_CLI " && "
		   "ip neigh add 10.99.0.2 lladdr 02:00:00:00:99:02 nud permanent dev " IF_CLI
		   " && "
		   "ip route add 10.1.0.0/16 via 10.99.0.2 && "
		   "ip -6 addr add fd99::1/64 dev " IF_CLI " nodad && "
		   "ip -6 neigh add fd99::2 lladdr 02:00:00:00:99:02 nud permanent dev " IF_CLI
		   " && "
		   "ip -6 route add fd01::/64 via fd99::2"))
		die("cannot set up routes in the private namespace");
}

/* The fast path may redirect to IF_CLI (what attach does for its interfaces). */
static void tx_port_add(int tx_ports_fd)
{
	uint32_t ifindex = if_nametoindex(IF_CLI);

	if (!ifindex || bpf_map_update_elem(tx_ports_fd, &ifindex, &ifindex, BPF_ANY))
		die("cannot add %s to tx_ports: %s", IF_CLI, strerror(errno));
}

static void fast_path_set(int config_fd, bool on)
{
	struct gs_config cfg = {.flags = on ? 0 : GS_CFG_NO_FAST_PATH,
				.fib_ttl_ticks = gs_fib_ttl_ticks()};
	uint32_t zero = 0;

	if (bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY))
		die("cannot switch the fast path: %s", strerror(errno));
}

/* Native XDP on a veth: the program joins the kernel's XDP dispatcher. */
static int xdp_attach(const char *ifname, int prog_fd)
{
	int ifindex = (int)if_nametoindex(ifname);

	if (!ifindex)
		return -errno;
	return bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, NULL);
}

/* ---- setup through the control plane ------------------------------------ */

/* Every map of the control plane's set, by the names it pins them under:
 * a map added to the object cannot be left out here. */
static void maps_of_obj(struct bpf_object *obj, struct gs_maps *m)
{
	int i;

	for (i = 0; i < GS_MAP_COUNT; i++) {
		((int *)m)[i] = bpf_object__find_map_fd_by_name(obj, gs_map_names[i]);
		if (((int *)m)[i] < 0)
			die("map %s: not in the object", gs_map_names[i]);
	}
}

static void maps_of(struct graysplit_bpf *skel, struct gs_maps *m)
{
	maps_of_obj(skel->obj, m);
}

static const char *vip_of(bool v6)
{
	return v6 ? "fd00::10" : "10.0.0.10";
}

static void ops_check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, gs_last_error());
}

/* The service on VIP:80/tcp, NBACKENDS backends, NCANARY of them canary. */
static void service_setup(struct gs_maps *m, bool v6)
{
	union gs_addr vip = pkt_addr(vip_of(v6)), addr;
	struct gs_service_key key;
	char text[64];
	int i;

	gs_service_key_init(&key, &vip, VPORT, IPPROTO_TCP);
	ops_check(gs_service_add(m, &key, GS_HASH_FLOW), "service add");
	for (i = 0; i < NBACKENDS; i++) {
		if (v6)
			snprintf(text, sizeof(text), "fd01::%x", i + 1);
		else
			snprintf(text, sizeof(text), "10.1.%d.%d", i / 200, i % 200 + 1);
		addr = pkt_addr(text);
		ops_check(gs_backend_add(
				  m, &key, &addr, BACKEND_PORT,
				  i < NBACKENDS - NCANARY ? GS_GROUP_STABLE : GS_GROUP_CANARY, 1),
			  "backend add");
	}
	ops_check(gs_split_set(m, &key, CANARY_PPM), "split set");
}

/* Both families' services, the redirect target and the config attach
 * writes (the next hop cache's life), in an object's maps. */
static void maps_setup(struct gs_maps *m)
{
	service_setup(m, false);
	service_setup(m, true);
	tx_port_add(m->tx_ports);
	fast_path_set(m->config, true);
}

/* The variant object, loaded and set up as the main one. */
static void variant_setup(void)
{
	struct bpf_object *obj = bpf_object__open_file(variant_path, NULL);
	struct bpf_map *flows;

	if (!obj)
		die("variant %s: cannot open: %s", variant_path, strerror(errno));
	flows = bpf_object__find_map_by_name(obj, "flows");
	if (!flows || bpf_map__set_max_entries(flows, gs_flow_table_entries(GS_DEFAULT_FLOWS)))
		die("variant %s: no flows map", variant_path);
	if (bpf_object__load(obj))
		die("variant %s: cannot load", variant_path);
	variant_tc_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "gs_tc_reply"));
	variant_xdp_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "gs_xdp_fwd"));
	if (variant_tc_fd < 0 || variant_xdp_fd < 0)
		die("variant %s: no gs_tc_reply or gs_xdp_fwd", variant_path);
	gs_maps_init(&variant_maps);
	maps_of_obj(obj, &variant_maps);
	maps_setup(&variant_maps);
	note("variant: %s loaded and set up as the main object", variant_path);
}

static uint64_t stat_sum(int stats_fd, enum gs_counter counter)
{
	uint64_t sum = 0;

	if (gs_percpu_sum(stats_fd, counter, &sum, 1))
		die("cannot read counter %d", counter);
	return sum;
}

struct key_list {
	uint8_t *keys;
	size_t n, cap, key_size;
};

static int collect_key(const void *key, const void *value, void *ctx)
{
	struct key_list *l = ctx;

	(void)value;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->keys = realloc(l->keys, l->cap * l->key_size);
		if (!l->keys)
			die("out of memory");
	}
	memcpy(l->keys + l->n * l->key_size, key, l->key_size);
	l->n++;
	return 0;
}

/* Empty a flow table, so a case starts from nothing. */
static void map_clear(int fd, size_t value_size)
{
	struct key_list l = {.key_size = sizeof(struct gs_flow_key)};
	size_t i;

	if (gs_map_foreach(fd, l.key_size, value_size, collect_key, &l))
		die("cannot walk a flow table");
	for (i = 0; i < l.n; i++)
		bpf_map_delete_elem(fd, l.keys + i * l.key_size);
	free(l.keys);
}

/* Memory the kernel charges for a map (fdinfo "memlock"), bytes. */
static uint64_t map_memlock(int fd)
{
	char path[64], line[256];
	uint64_t bytes = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		die("cannot read %s", path);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lu", &bytes) == 1)
			break;
	fclose(f);
	return bytes;
}

/* ---- frames ------------------------------------------------------------- */

struct frame {
	uint8_t buf[PKT_MAX];
	size_t len;
	bool v6;
};

static void frame_make(struct frame *f, bool v6, const char *dst, uint8_t flags)
{
	struct pkt_spec spec = {
		.src = v6 ? "fd0c::5" : "192.168.1.5",
		.dst = dst,
		.sport = CLIENT_PORT,
		.dport = VPORT,
		.proto = IPPROTO_TCP,
		.tcp_flags = flags,
	};

	f->len = pkt_build(&spec, f->buf);
	f->v6 = v6;
}

/* The same frame from client number idx, checksums right again. */
static void frame_client(struct frame *f, uint32_t idx)
{
	uint32_t be;

	if (f->v6) {
		be = htonl(idx + 1);
		memcpy(f->buf + 14 + 8 + 12, &be, 4);
	} else {
		be = htonl(CLIENT4_BASE + idx);
		memcpy(f->buf + 14 + 12, &be, 4);
	}
	pkt_fix_csums(f->buf, f->len);
}

static struct gs_flow_key frame_key(const struct frame *f)
{
	struct pkt_view view;

	if (!pkt_parse(f->buf, f->len, &view))
		die("crafted frame does not parse");
	return pkt_flow_key(&view);
}

/* One untimed run that must leave the frame XDP_PASS. */
static void run_plain(int prog_fd, const struct frame *f)
{
	uint8_t out[PKT_MAX];
	uint32_t retval;
	size_t out_len;

	if (fx_test_run(prog_fd, f->buf, f->len, out, &out_len, &retval))
		die("BPF_PROG_TEST_RUN: %s", strerror(errno));
}

/* ---- the measurement ----------------------------------------------------- */

struct bench_case;
/* Prepare the frame of call i (and any untimed state it needs). */
typedef const struct frame *(*next_fn)(struct bench_case *c, uint64_t i);

struct bench_case {
	int prog_fd;
	int base_fd;
	int var_fd; /* > 0: a variant timed in the same rounds */
	next_fn next;
	struct frame frame;
	int flows_fd; /* for next functions that touch the flow table */
	struct gs_flow_key key;
	uint32_t workset; /* clients in play */
	uint64_t rng;
	uint32_t next_client;
	uint32_t repeat; /* runs per call; 0 = 1. Only for frames left unchanged */
	/* next_after_aux: a frame run untimed through aux_fd before each call */
	int aux_fd;
	struct frame aux;
};

struct result {
	double var_value; /* the same for the variant (var_fd) */
	double value;	  /* median over rounds of graysplit - empty, ns */
	double baseline;  /* median over rounds of the empty program, ns */
	uint64_t calls;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool wanted(const char *figure)
{
	return !only || strstr(figure, only);
}

static void measure(struct bench_case *c, const char *figure, struct result *res)
{
	double *diff = calloc(rounds, sizeof(*diff)), *base = calloc(rounds, sizeof(*base));
	double *vdiff = calloc(rounds, sizeof(*vdiff));
	uint64_t i = 0;
	unsigned int r, k;

	if (!diff || !base || !vdiff)
		die("out of memory");
	memset(res, 0, sizeof(*res));
	if (!wanted(figure)) {
		free(diff);
		free(base);
		free(vdiff);
		return;
	}
	for (r = 0; r < rounds; r++) {
		uint64_t sum_gs = 0, sum_base = 0, sum_var = 0;

		for (k = 0; k < per_round; k++, i++) {
			const struct frame *f = c->next(c, i);

			/* Alternate the order so neither always runs second; a
			 * variant takes its turn first, between or last. */
			if (c->var_fd > 0 && k % 3 == 0)
				sum_var += run_timed(c->var_fd, f->buf, f->len, c->repeat);
			if (k & 1) {
				sum_base += run_timed(c->base_fd, f->buf, f->len, c->repeat);
				if (c->var_fd > 0 && k % 3 == 1)
					sum_var += run_timed(c->var_fd, f->buf, f->len, c->repeat);
				sum_gs += run_timed(c->prog_fd, f->buf, f->len, c->repeat);
			} else {
				sum_gs += run_timed(c->prog_fd, f->buf, f->len, c->repeat);
				if (c->var_fd > 0 && k % 3 == 1)
					sum_var += run_timed(c->var_fd, f->buf, f->len, c->repeat);
				sum_base += run_timed(c->base_fd, f->buf, f->len, c->repeat);
			}
			if (c->var_fd > 0 && k % 3 == 2)
				sum_var += run_timed(c->var_fd, f->buf, f->len, c->repeat);
		}
		diff[r] = ((double)sum_gs - (double)sum_base) / per_round;
		vdiff[r] = ((double)sum_var - (double)sum_base) / per_round;
		base[r] = (double)sum_base / per_round;
	}
	res->value = median(diff, rounds);
	res->var_value = median(vdiff, rounds);
	res->baseline = median(base, rounds);
	res->calls = i;
	free(diff);
	free(base);
	free(vdiff);
}

static void json_escape_print(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* One figure. target_ns < 0: no target (pass null). */
static void emit(const char *figure, double value, const char *unit, const char *baseline,
		 double baseline_value, double target, const char *target_text)
{
	printf("{\"figure\": ");
	json_escape_print(figure);
	printf(", \"value\": %.1f, \"unit\": ", value);
	json_escape_print(unit);
	printf(", \"baseline\": ");
	if (baseline) {
		json_escape_print(baseline);
		printf(", \"baseline_value\": %.1f, \"ratio\": %.2f", baseline_value,
		       baseline_value > 0 ? value / baseline_value : 0.0);
	} else {
		printf("null, \"baseline_value\": null, \"ratio\": null");
	}
	printf(", \"target\": ");
	if (target_text)
		json_escape_print(target_text);
	else
		printf("null");
	printf(", \"pass\": %s}\n", target < 0 ? "null" : value <= target ? "true" : "false");
	fflush(stdout);
}

static void emit_cost(const char *figure, const struct result *res, const char *baseline,
		      double target)
{
	char target_text[64];

	if (!res->calls)
		return;
	note("%-52s %7.1f ns over %5.1f ns (%lu calls)", figure, res->value, res->baseline,
	     (unsigned long)res->calls);
	snprintf(target_text, sizeof(target_text), "<= %.0f ns over baseline", target);
	emit(figure, res->value, "ns", baseline, res->baseline, target,
	     target >= 0 ? target_text : NULL);
}

/* The counter moved by exactly want over a case: the path was the one named. */
static void expect_delta(int stats_fd, enum gs_counter counter, uint64_t before, uint64_t want,
			 const char *what)
{
	uint64_t got = stat_sum(stats_fd, counter) - before;

	if (got != want && !no_check)
		die("%s: counter %d moved by %lu, want %lu: the case did not take its path", what,
		    counter, (unsigned long)got, (unsigned long)want);
}

static const struct frame *next_same(struct bench_case *c, uint64_t i)
{
	(void)i;
	return &c->frame;
}

/* Read the case's flow entry, let edit change it, write it back: what makes
 * the next frame take the path its case names. */
static void edit_flow(struct bench_case *c, const char *what, void (*edit)(struct gs_flow *))
{
	struct gs_flow flow;

	if (bpf_map_lookup_elem(c->flows_fd, &c->key, &flow))
		die("%s: flow entry missing", what);
	edit(&flow);
	if (bpf_map_update_elem(c->flows_fd, &c->key, &flow, BPF_EXIST))
		die("%s: cannot update the flow entry: %s", what, strerror(errno));
}

static void close_flow(struct gs_flow *flow)
{
	flow->state = GS_FLOW_CLOSING;
}

static void expire_next_hop(struct gs_flow *flow)
{
	flow->fib_stamp = 0;
}

/* A SYN that must select again: the previous connection on the tuple closed. */
static const struct frame *next_syn_reselect(struct bench_case *c, uint64_t i)
{
	(void)i;
	edit_flow(c, "SYN same tuple", close_flow);
	return &c->frame;
}

/* An established flow whose cached next hop has just expired: each frame
 * asks the FIB and fills the cache again. */
static const struct frame *next_uncached(struct bench_case *c, uint64_t i)
{
	(void)i;
	edit_flow(c, "established, not cached", expire_next_hop);
	return &c->frame;
}

static const struct frame *next_new_client(struct bench_case *c, uint64_t i)
{
	(void)i;
	frame_client(&c->frame, c->next_client++);
	return &c->frame;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const struct frame *next_random_client(struct bench_case *c, uint64_t i)
{
	(void)i;
	frame_client(&c->frame, (uint32_t)(xorshift(&c->rng) % c->workset));
	return &c->frame;
}

static const char *fam(bool v6)
{
	return v6 ? "IPv6" : "IPv4";
}

static const char *xdp_baseline(void)
{
	static char text[96];

	snprintf(text, sizeof(text), "empty XDP program (%s)", attach_mode);
	return text;
}

/* The address frame_client() gives client number idx. */
static union gs_addr client_addr(bool v6, uint32_t idx)
{
	union gs_addr a = pkt_addr(v6 ? "fd0c::5" : "192.168.1.5");

	a.w[3] = htonl(v6 ? idx + 1 : CLIENT4_BASE + idx);
	return a;
}

#define FILL_BATCH 65536u

/*
 * Fill the flow table with n established connections of clients 0..n-1,
 * each entry exactly as the data path writes one for a connection it picked
 * up established, spread round-robin over the service's backends.
 * From userspace in batches: through the program it took 15 us a flow here.
 */
static void fill_flows(struct gs_maps *m, bool v6, uint32_t n)
{
	struct gs_flow_key *keys = calloc(FILL_BATCH, sizeof(*keys));
	struct gs_flow *flows = calloc(FILL_BATCH, sizeof(*flows));
	struct gs_backend *all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	uint32_t *ids = calloc(GS_MAX_BACKENDS, sizeof(*ids));
	union gs_addr vip = pkt_addr(vip_of(v6));
	struct gs_service_key svc_key;
	struct gs_service svc;
	uint32_t idx, nids = 0, id, i, count;
	struct timespec ts;
	double t0 = now_s();

	if (!keys || !flows || !all || !ids)
		die("out of memory");
	gs_service_key_init(&svc_key, &vip, VPORT, IPPROTO_TCP);
	ops_check(gs_service_lookup(m, &svc_key, &svc), "service lookup");
	ops_check(gs_backends_read(m, all), "backends read");
	for (id = 0; id < GS_MAX_BACKENDS; id++)
		if (all[id].state == GS_BACKEND_ACTIVE && all[id].service_id == svc.id)
			ids[nids++] = id;
	if (!nids)
		die("fill: the service has no backend");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (idx = 0; idx < n; idx += count) {
		count = n - idx < FILL_BATCH ? n - idx : FILL_BATCH;
		for (i = 0; i < count; i++) {
			const struct gs_backend *b = &all[ids[(idx + i) % nids]];

			memset(&keys[i], 0, sizeof(keys[i]));
			keys[i].src = client_addr(v6, idx + i);
			keys[i].dst = vip;
			keys[i].sport = htons(CLIENT_PORT);
			keys[i].dport = htons(VPORT);
			keys[i].proto = IPPROTO_TCP;
			memset(&flows[i], 0, sizeof(flows[i]));
			flows[i].created_ns =
				(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			flows[i].backend_id = ids[(idx + i) % nids];
			flows[i].service_id = svc.id;
			flows[i].state = GS_FLOW_ESTABLISHED;
			flows[i].group = b->group;
			flows[i].rev_flags = GS_REV_F_SYNACK | GS_REV_F_RESPONSE;
		}
		i = count;
		if (bpf_map_update_batch(m->flows, keys, flows, &i, NULL))
			die("fill flows: %s", strerror(errno));
	}
	note("  filled %u flows in %.1f s", n, now_s() - t0);
	free(keys);
	free(flows);
	free(all);
	free(ids);
}

/* The forward cases of one family but the working set, on a loaded graysplit. */
static void forward_cases(int prog_fd, int base_fd, struct gs_maps *m, bool v6)
{
	struct bench_case c = {.prog_fd = prog_fd, .base_fd = base_fd, .flows_fd = m->flows};
	uint64_t before, redirects, cached;
	struct result res;
	char figure[128];

	map_clear(m->flows, sizeof(struct gs_flow));

	/* Established: one connection, its handshake done, plain ACKs. */
	frame_make(&c.frame, v6, vip_of(v6), PKT_SYN);
	run_plain(prog_fd, &c.frame);
	frame_make(&c.frame, v6, vip_of(v6), PKT_ACK);
	run_plain(prog_fd, &c.frame);
	c.next = next_same;
	snprintf(figure, sizeof(figure), "XDP established TCP (flow-table hit), %s", fam(v6));
	before = stat_sum(m->stats, GS_CNT_FLOW_MISSING) + stat_sum(m->stats, GS_CNT_FLOW_NEW) +
		 stat_sum(m->stats, GS_CNT_FLOW_RESELECT);
	redirects = stat_sum(m->stats, GS_CNT_FAST_REDIRECT);
	cached = stat_sum(m->stats, GS_CNT_FAST_CACHED);
	measure(&c, figure, &res);
	if (stat_sum(m->stats, GS_CNT_FLOW_MISSING) + stat_sum(m->stats, GS_CNT_FLOW_NEW) +
			    stat_sum(m->stats, GS_CNT_FLOW_RESELECT) !=
		    before &&
	    !no_check)
		die("established: a packet selected again");
	expect_delta(m->stats, GS_CNT_FAST_REDIRECT, redirects, res.calls,
		     "established: fast path redirect");
	/* The flow's cached next hop answers all but one frame per TTL
	 * (GS_FIB_CACHE_TTL_NS), thousands of calls apart. */
	cached = stat_sum(m->stats, GS_CNT_FAST_CACHED) - cached;
	if (cached * 100 < res.calls * 99 && !no_check)
		die("established: only %lu of %lu redirects had the next hop from the cache",
		    (unsigned long)cached, (unsigned long)res.calls);
	emit_cost(figure, &res, xdp_baseline(), 80);

	/* The frame of the flow that pays for the cache: once per TTL, and the
	 * first after the handshake. */
	c.key = frame_key(&c.frame);
	c.next = next_uncached;
	snprintf(figure, sizeof(figure),
		 "XDP established TCP, next hop not cached (FIB lookup; no target), %s", fam(v6));
	redirects = stat_sum(m->stats, GS_CNT_FAST_REDIRECT);
	cached = stat_sum(m->stats, GS_CNT_FAST_CACHED);
	measure(&c, figure, &res);
	expect_delta(m->stats, GS_CNT_FAST_REDIRECT, redirects, res.calls,
		     "established, not cached: fast path redirect");
	expect_delta(m->stats, GS_CNT_FAST_CACHED, cached, 0, "established, not cached");
	emit_cost(figure, &res, xdp_baseline(), -1);
	c.next = next_same;

	/* The same with the fast path switched off: the balancer alone. */
	snprintf(figure, sizeof(figure),
		 "XDP established TCP, fast path off (DNAT + XDP_PASS; no target), %s", fam(v6));
	fast_path_set(m->config, false);
	before = stat_sum(m->stats, GS_CNT_FAST_OFF);
	measure(&c, figure, &res);
	fast_path_set(m->config, true);
	expect_delta(m->stats, GS_CNT_FAST_OFF, before, res.calls, "established, fast path off");
	emit_cost(figure, &res, xdp_baseline(), -1);

	/* SYN, same tuple: the connection before it closed, so the SYN
	 * selects and writes its entry again (graysplit keeps a SYN on an
	 * open handshake as a retransmission, which would not select). */
	frame_make(&c.frame, v6, vip_of(v6), PKT_SYN);
	c.key = frame_key(&c.frame);
	c.next = next_syn_reselect;
	snprintf(figure, sizeof(figure), "XDP TCP SYN, same 5-tuple (select + flow write), %s",
		 fam(v6));
	before = stat_sum(m->stats, GS_CNT_FLOW_RESELECT);
	measure(&c, figure, &res);
	expect_delta(m->stats, GS_CNT_FLOW_RESELECT, before, res.calls, "SYN same tuple");
	emit_cost(figure, &res, xdp_baseline(), 150);

	/* Not for any service. */
	frame_make(&c.frame, v6, v6 ? "fd00::99" : "10.0.0.99", PKT_ACK);
	c.next = next_same;
	snprintf(figure, sizeof(figure), "XDP not for any service (pass-through), %s", fam(v6));
	before = stat_sum(m->stats, GS_CNT_PASS_NO_SERVICE);
	measure(&c, figure, &res);
	expect_delta(m->stats, GS_CNT_PASS_NO_SERVICE, before, res.calls, "pass-through");
	emit_cost(figure, &res, xdp_baseline(), 15);

	/*
	 * The same, warm: many runs per call are valid here because the frame
	 * is not rewritten. Each call enters the kernel afresh, and on a
	 * machine that flushes the TLB on every kernel entry (PTI without
	 * PCID) the first touch of each page a call makes costs a page walk;
	 * this shows how much of the figure above is that.
	 */
	snprintf(figure, sizeof(figure),
		 "XDP pass-through, warm (repeat=%u in one call; no target), %s", WARM_REPEAT,
		 fam(v6));
	c.repeat = WARM_REPEAT;
	measure(&c, figure, &res);
	c.repeat = 0;
	emit_cost(figure, &res, xdp_baseline(), -1);

	/* A new tuple every SYN, from an empty table. */
	map_clear(m->flows, sizeof(struct gs_flow));
	frame_make(&c.frame, v6, vip_of(v6), PKT_SYN);
	c.next = next_new_client;
	c.next_client = 0;
	snprintf(figure, sizeof(figure), "XDP TCP SYN, new 5-tuple each packet, empty table, %s",
		 fam(v6));
	before = stat_sum(m->stats, GS_CNT_FLOW_NEW);
	measure(&c, figure, &res);
	expect_delta(m->stats, GS_CNT_FLOW_NEW, before, res.calls, "new tuple");
	emit_cost(figure, &res, xdp_baseline(), 400);
	map_clear(m->flows, sizeof(struct gs_flow));
}

/*
 * Established, random flows of a large working set. Run after every family's
 * new-tuple case, which starts from a table that never held a million
 * flows: emptied after one, its free list is scattered over all its memory
 * (IPv6 new tuples measured 2.8-3.3 us after a 1M fill, 2.1-2.6 us without).
 */
static void workset_case(int prog_fd, int base_fd, struct gs_maps *m, bool v6)
{
	struct bench_case c = {.prog_fd = prog_fd, .base_fd = base_fd, .flows_fd = m->flows};
	uint32_t workset = quick ? WORKSET_QUICK : WORKSET_FULL;
	struct result res;
	char figure[128];
	uint64_t before, missing;

	snprintf(figure, sizeof(figure), "XDP established, %s-flow working set, %s",
		 workset == WORKSET_FULL ? "1M" : "100k", fam(v6));
	map_clear(m->flows, sizeof(struct gs_flow));
	if (wanted(figure))
		fill_flows(m, v6, workset);
	frame_make(&c.frame, v6, vip_of(v6), PKT_ACK);
	c.next = next_random_client;
	c.workset = workset;
	c.rng = 0x9e3779b97f4a7c15ull;
	before = stat_sum(m->stats, GS_CNT_FLOW_MISSING);
	measure(&c, figure, &res);
	missing = stat_sum(m->stats, GS_CNT_FLOW_MISSING) - before;
	if (missing * 1000 > res.calls && !no_check)
		die("working set: %lu of %lu hits missed the table", (unsigned long)missing,
		    (unsigned long)res.calls);
	emit_cost(figure, &res, xdp_baseline(), 300);
	map_clear(m->flows, sizeof(struct gs_flow));
}

/* The reply path: an established connection's plain ACK from the backend. */
static void reply_case(struct graysplit_bpf *skel, int base_fd, struct gs_maps *m, bool v6)
{
	int xdp_fd = bpf_program__fd(skel->progs.gs_xdp_fwd);
	struct bench_case c = {.prog_fd = bpf_program__fd(skel->progs.gs_tc_reply),
			       .base_fd = base_fd,
			       .next = next_same};
	struct gs_flow_key key;
	struct gs_flow flow;
	struct gs_backend backend;
	struct pkt_spec spec;
	struct frame f, vf;
	char addr[64], figure[128];
	struct result res;
	uint64_t before, vbefore;

	frame_make(&f, v6, vip_of(v6), PKT_SYN);
	run_plain(xdp_fd, &f);
	key = frame_key(&f);
	if (bpf_map_lookup_elem(m->flows, &key, &flow) ||
	    bpf_map_lookup_elem(m->backends, &flow.backend_id, &backend))
		die("reply: the SYN left no flow");
	if (v6)
		inet_ntop(AF_INET6, backend.addr.b, addr, sizeof(addr));
	else
		inet_ntop(AF_INET, &backend.addr.w[3], addr, sizeof(addr));
	memset(&spec, 0, sizeof(spec));
	spec.src = addr;
	spec.dst = v6 ? "fd0c::5" : "192.168.1.5";
	spec.sport = ntohs(backend.port);
	spec.dport = CLIENT_PORT;
	spec.proto = IPPROTO_TCP;
	/* The handshake through both programs, then the backend's ACKs. */
	spec.tcp_flags = PKT_SYN | PKT_ACK;
	c.frame.len = pkt_build(&spec, c.frame.buf);
	run_plain(c.prog_fd, &c.frame);
	if (variant_tc_fd > 0) {
		/* The variant's own flow: the same handshake through its
		 * programs (the same backends, so the same choice). */
		frame_make(&vf, v6, vip_of(v6), PKT_SYN);
		run_plain(variant_xdp_fd, &vf);
		run_plain(variant_tc_fd, &c.frame);
		frame_make(&vf, v6, vip_of(v6), PKT_ACK);
		run_plain(variant_xdp_fd, &vf);
		c.var_fd = variant_tc_fd;
	}
	frame_make(&f, v6, vip_of(v6), PKT_ACK);
	run_plain(xdp_fd, &f);
	spec.tcp_flags = PKT_ACK;
	c.frame.len = pkt_build(&spec, c.frame.buf);
	snprintf(figure, sizeof(figure), "tc reply, established TCP, %s", fam(v6));
	before = stat_sum(m->stats, GS_CNT_REV_REWRITTEN);
	vbefore = c.var_fd > 0 ? stat_sum(variant_maps.stats, GS_CNT_REV_REWRITTEN) : 0;
	measure(&c, figure, &res);
	expect_delta(m->stats, GS_CNT_REV_REWRITTEN, before, res.calls, "reply");
	emit_cost(figure, &res, "empty tc program (SCHED_CLS; tc has no dispatcher)", 80);
	if (c.var_fd > 0 && wanted(figure)) {
		expect_delta(variant_maps.stats, GS_CNT_REV_REWRITTEN, vbefore, res.calls,
			     "variant reply");
		note("%-52s %7.1f ns (same rounds; %s)", "  variant", res.var_value, variant_path);
		map_clear(variant_maps.flows, sizeof(struct gs_flow));
	}
	map_clear(m->flows, sizeof(struct gs_flow));
}

/* ---- the downstream watch (attach --role backend) ------------------------ */

#define DEP_PORT	 5432
#define DEP_BACKEND_PORT 41000 /* the backend's side of its connection */
#define TC_BASELINE	 "empty tc program (SCHED_CLS; tc has no dispatcher)"

/* A followed connection's frame after the one before it: aux (the answer
 * before a request, the request before an answer) goes through aux_fd
 * untimed, so every timed frame is a new request, or a new answer. */
static const struct frame *next_after_aux(struct bench_case *c, uint64_t i)
{
	(void)i;
	run_plain(c->aux_fd, &c->aux);
	return &c->frame;
}

/* PostgreSQL's simple query and the start of its answer (RowDescription). */
static const char dep_query[] = "Q\0\0\0\x0dSELECT 1\0";
static const char dep_rows[] = "T\0\0\0\x21\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x17\0\x04";

/* A frame of the backend's connection 10.1.0.2:41000 -> 10.2.0.5:5432
 * (fd01::2, fd02::5), as the backend sends it (egress) or receives it. */
static void dep_frame(struct frame *f, bool v6, bool egress, uint8_t flags, const char *payload,
		      size_t payload_len)
{
	struct pkt_spec spec = {
		.src = egress ? (v6 ? "fd01::2" : "10.1.0.2") : (v6 ? "fd02::5" : "10.2.0.5"),
		.dst = egress ? (v6 ? "fd02::5" : "10.2.0.5") : (v6 ? "fd01::2" : "10.1.0.2"),
		.sport = egress ? DEP_BACKEND_PORT : DEP_PORT,
		.dport = egress ? DEP_PORT : DEP_BACKEND_PORT,
		.proto = IPPROTO_TCP,
		.tcp_flags = flags,
		.payload = payload,
		.payload_len = payload_len,
	};

	f->len = pkt_build(&spec, f->buf);
	f->v6 = v6;
}

/* The followed pair's counters, summed over CPUs. */
static struct gs_dep_stats dep_stats_of(const struct gs_maps *m, bool v6)
{
	struct gs_dep_stats st;
	struct gs_dep_key key;
	uint32_t slot;

	memset(&key, 0, sizeof(key));
	key.backend = pkt_addr(v6 ? "fd01::2" : "10.1.0.2");
	key.dep = pkt_addr(v6 ? "fd02::5" : "10.2.0.5");
	key.dport = htons(DEP_PORT);
	if (bpf_map_lookup_elem(m->dep_slots, &key, &slot))
		die("downstream: the connection's pair has no slot");
	if (gs_percpu_sum(m->dep_stats, slot, (uint64_t *)&st, sizeof(st) / sizeof(uint64_t)))
		die("cannot read dep_stats");
	return st;
}

static void dep_expect(uint64_t got, uint64_t want, const char *what)
{
	if (got != want && !no_check)
		die("%s moved by %lu, want %lu: the case did not take its path", what,
		    (unsigned long)got, (unsigned long)want);
}

/*
 * The downstream watch a backend host runs (gs_tc_dep_out at tc egress,
 * gs_tc_dep_in at ingress), with dep_kinds as attach --role backend writes
 * it (PostgreSQL on 5432, Redis on 6379, any address):
 *  - the common packet: the backend answering its own client (no entry, no
 *    SYN seen, to a port dep_kinds does not name): dep_flows and two
 *    dep_kinds lookups miss, nothing is written;
 *  - a request on a followed connection to 10.2.0.5:5432, each a new one
 *    (the answer before it run untimed through gs_tc_dep_in);
 *  - the answer to it, a call: the error-reply byte read and a latency
 *    sample (the request before it run untimed through gs_tc_dep_out).
 */
static void dep_cases(struct graysplit_bpf *skel, int base_fd, struct gs_maps *m, bool v6)
{
	int out_fd = bpf_program__fd(skel->progs.gs_tc_dep_out);
	int in_fd = bpf_program__fd(skel->progs.gs_tc_dep_in);
	static const struct {
		uint16_t port;
		uint32_t proto;
	} kinds[] = {{DEP_PORT, GS_DEP_PROTO_POSTGRES}, {6379, GS_DEP_PROTO_REDIS}};
	struct bench_case c = {.base_fd = base_fd};
	struct gs_dep_stats before, after;
	struct gs_dep_kind_key kk;
	struct gs_dep_kind kind;
	struct gs_dep_flow flow;
	struct gs_flow_key key;
	struct pkt_spec spec;
	struct result res;
	char figure[128];
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		memset(&kk, 0, sizeof(kk));
		kk.port = htons(kinds[i].port);
		kind.proto = kinds[i].proto;
		if (bpf_map_update_elem(m->dep_kinds, &kk, &kind, BPF_ANY))
			die("cannot write dep_kinds: %s", strerror(errno));
	}

	/* The backend's answer to its client: 8080 -> the client's port. */
	memset(&spec, 0, sizeof(spec));
	spec.src = v6 ? "fd01::2" : "10.1.0.2";
	spec.dst = v6 ? "fd0c::5" : "192.168.1.5";
	spec.sport = BACKEND_PORT;
	spec.dport = CLIENT_PORT;
	spec.proto = IPPROTO_TCP;
	spec.tcp_flags = PKT_ACK | PKT_PSH;
	spec.payload = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	spec.payload_len = strlen(spec.payload);
	c.frame.len = pkt_build(&spec, c.frame.buf);
	c.frame.v6 = v6;
	c.prog_fd = out_fd;
	c.next = next_same;
	snprintf(figure, sizeof(figure),
		 "tc dep_out, backend answering its client (not followed: lookups miss), %s",
		 fam(v6));
	measure(&c, figure, &res);
	key = frame_key(&c.frame);
	if (!bpf_map_lookup_elem(m->dep_flows, &key, &flow) && !no_check)
		die("downstream: the backend's answer to its client was followed");
	emit_cost(figure, &res, TC_BASELINE, -1);

	/* A connection to the dependency: SYN, SYN-ACK, ACK. */
	dep_frame(&c.frame, v6, true, PKT_SYN, NULL, 0);
	run_plain(out_fd, &c.frame);
	dep_frame(&c.frame, v6, false, PKT_SYN | PKT_ACK, NULL, 0);
	run_plain(in_fd, &c.frame);
	dep_frame(&c.frame, v6, true, PKT_ACK, NULL, 0);
	run_plain(out_fd, &c.frame);
	if (dep_stats_of(m, v6).established != 1 && !no_check)
		die("downstream: the handshake did not establish the connection");

	/* Requests, each after an answer (the call before it untimed). The
	 * first request goes untimed, so that every untimed answer is a call. */
	dep_frame(&c.frame, v6, true, PKT_ACK | PKT_PSH, dep_query, sizeof(dep_query) - 1);
	dep_frame(&c.aux, v6, false, PKT_ACK | PKT_PSH, dep_rows, sizeof(dep_rows) - 1);
	run_plain(out_fd, &c.frame);
	c.prog_fd = out_fd;
	c.aux_fd = in_fd;
	c.next = next_after_aux;
	snprintf(figure, sizeof(figure), "tc dep_out, request on a followed connection, %s",
		 fam(v6));
	before = dep_stats_of(m, v6);
	measure(&c, figure, &res);
	after = dep_stats_of(m, v6);
	dep_expect(after.requests - before.requests, res.calls, "downstream request: requests");
	dep_expect(after.calls - before.calls, res.calls, "downstream request: calls");
	emit_cost(figure, &res, TC_BASELINE, -1);

	/* Answers, each to a request (the request before it untimed). The
	 * last request is answered untimed first, so that every untimed
	 * request is a new one. */
	c.aux = c.frame;
	dep_frame(&c.frame, v6, false, PKT_ACK | PKT_PSH, dep_rows, sizeof(dep_rows) - 1);
	run_plain(in_fd, &c.frame);
	c.prog_fd = in_fd;
	c.aux_fd = out_fd;
	snprintf(figure, sizeof(figure),
		 "tc dep_in, answer on a followed connection (a call: latency sample), %s",
		 fam(v6));
	before = dep_stats_of(m, v6);
	measure(&c, figure, &res);
	after = dep_stats_of(m, v6);
	dep_expect(after.calls - before.calls, res.calls, "downstream answer: calls");
	dep_expect(after.requests - before.requests, res.calls, "downstream answer: requests");
	dep_expect(after.error_replies - before.error_replies, 0,
		   "downstream answer: error replies");
	emit_cost(figure, &res, TC_BASELINE, -1);
	dep_frame(&c.frame, v6, true, PKT_FIN | PKT_ACK, NULL, 0);
	run_plain(out_fd, &c.frame);
	map_clear(m->dep_flows, sizeof(struct gs_dep_flow));
}

#define DISPATCH_FIGURE "empty XDP program not attached (indirect call) vs attached (dispatcher)"

/* What measuring one program attached and the other not would have cost. */
static void dispatcher_check(int attached_fd)
{
	int loose_fd = empty_prog(BPF_PROG_TYPE_XDP, XDP_PASS, "gs_empty_loose");
	struct bench_case c = {.prog_fd = loose_fd, .base_fd = attached_fd, .next = next_same};
	struct result res;

	frame_make(&c.frame, false, vip_of(false), PKT_ACK);
	measure(&c, DISPATCH_FIGURE, &res);
	if (!res.calls) {
		close(loose_fd);
		return;
	}
	note("%-52s %7.1f ns over %5.1f ns", "empty XDP, not attached vs attached", res.value,
	     res.baseline);
	emit(DISPATCH_FIGURE, res.value, "ns", xdp_baseline(), res.baseline, -1, NULL);
	close(loose_fd);
}

/* Bytes per flow of a loaded instance: kernel memlock and struct sizes.
 * One flow table (backend_addrs is per backend, not per flow). */
static void flow_memory(struct gs_maps *m, uint32_t max_entries, const char *label)
{
	uint64_t bytes = map_memlock(m->flows);
	char figure[160];

	snprintf(figure, sizeof(figure), "flow table bytes per flow, kernel memlock of flows, %s",
		 label);
	emit(figure, (double)bytes / max_entries, "B", NULL, 0, -1, NULL);
	snprintf(figure, sizeof(figure), "flow table memory, kernel memlock, %s", label);
	emit(figure, (double)bytes / (1 << 20), "MiB", NULL, 0, -1, NULL);
	note("%s: flows %lu bytes for %u entries; backend_addrs %lu bytes", label,
	     (unsigned long)bytes, max_entries, (unsigned long)map_memlock(m->backend_addrs));
}

#define BIG_FIGURE                                                                                 \
	"XDP established, 10M-flow working set (10M-entry table attached by the CLI), IPv4"

/*
 * The 10M-flow table through the real CLI: does `attach --flows 10000000`
 * load, what does it cost in memory, and an established hit among 10M flows.
 */
static void ten_million(int base_fd)
{
	char cmd[PATH_MAX + 256], path[PATH_MAX];
	struct bench_case c = {.base_fd = base_fd, .next = next_random_client};
	struct gs_maps m;
	struct result res;
	uint64_t before, missing;
	double t0, load_s;
	int rc;

	snprintf(cli_pin_dir, sizeof(cli_pin_dir), "/sys/fs/bpf/gsub%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "'%s' --pin-dir %s attach --flows %u " IF_CLI " >&2", cli_path,
		 cli_pin_dir, BIG_FLOWS);
	note("%s", cmd);
	t0 = now_s();
	rc = system(cmd);
	load_s = now_s() - t0;
	emit("attach --flows 10000000: loads (1) or not (0)", rc == 0, "bool", NULL, 0, -1, NULL);
	if (rc) {
		note("attach --flows %u failed: no 10M figures", BIG_FLOWS);
		cli_cleanup();
		return;
	}
	emit("attach --flows 10000000: time to attach", load_s, "s", NULL, 0, -1, NULL);
	ops_check(gs_maps_open(cli_pin_dir, &m), "open the CLI's maps");
	flow_memory(&m, BIG_FLOWS, "10M-entry tables (attach --flows 10000000)");
	snprintf(path, sizeof(path), "%s/%s", cli_pin_dir, GS_PIN_PROG_XDP);
	c.prog_fd = bpf_obj_get(path);
	if (c.prog_fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	service_setup(&m, false);
	fill_flows(&m, false, BIG_FLOWS);
	frame_make(&c.frame, false, vip_of(false), PKT_ACK);
	c.workset = BIG_FLOWS;
	c.rng = 0x2545f4914f6cdd1dull;
	before = stat_sum(m.stats, GS_CNT_FLOW_MISSING);
	measure(&c, BIG_FIGURE, &res);
	missing = stat_sum(m.stats, GS_CNT_FLOW_MISSING) - before;
	emit_cost(BIG_FIGURE, &res, xdp_baseline(), -1);
	/* A table filled to its size evicts a little early (per-CPU free lists). */
	emit("10M flows into a 10M-entry table: share of random hits that missed",
	     100.0 * (double)missing / (double)res.calls, "%", NULL, 0, -1, NULL);
	close(c.prog_fd);
	gs_maps_close(&m);
	cli_cleanup();
}

static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		note("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

int main(int argc, char **argv)
{
	struct graysplit_bpf *skel;
	int xdp_fd, empty_xdp, empty_tc;
	struct gs_maps m;
	char exe[PATH_MAX];
	ssize_t n;
	double t0 = now_s();
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
			rounds = 10;
			per_round = 1000;
		} else if (!strcmp(argv[i], "--no-check")) {
			no_check = true;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--variant") && i + 1 < argc) {
			variant_path = argv[++i];
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			per_round = (unsigned int)strtoul(argv[++i], NULL, 0) / rounds;
			if (!per_round)
				per_round = 1;
		} else {
			fprintf(stderr,
				"usage: %s [--quick] [--only TEXT] [--calls N] [--no-check] "
				"[--variant OBJ]\n",
				argv[0]);
			return 2;
		}
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	/* build/bench/prog_bench -> build/graysplit */
	snprintf(cli_path, sizeof(cli_path), "%s/graysplit", dirname(dirname(exe)));
	atexit(cli_cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	pin_cpu();
	netns_up();

	skel = gs_skel_open();
	if (!skel)
		die("cannot open the BPF object");
	/* As `attach` sizes them by default (GS_DEFAULT_FLOWS). */
	bpf_map__set_max_entries(skel->maps.flows, gs_flow_table_entries(GS_DEFAULT_FLOWS));
	if (graysplit_bpf__load(skel))
		die("cannot load the BPF object");
	xdp_fd = bpf_program__fd(skel->progs.gs_xdp_fwd);
	empty_xdp = empty_prog(BPF_PROG_TYPE_XDP, XDP_PASS, "gs_empty_xdp");
	empty_tc = empty_prog(BPF_PROG_TYPE_SCHED_CLS, 0, "gs_empty_tc");
	if (!xdp_attach(IF_GS, xdp_fd) && !xdp_attach(IF_BASE, empty_xdp)) {
		attach_mode = "both attached";
		note("XDP: graysplit and the empty program both attached (native XDP, one veth "
		     "each, private netns): both called directly through the XDP dispatcher");
	} else {
		bpf_xdp_detach((int)if_nametoindex(IF_GS), XDP_FLAGS_DRV_MODE, NULL);
		bpf_xdp_detach((int)if_nametoindex(IF_BASE), XDP_FLAGS_DRV_MODE, NULL);
		note("XDP: could not attach to a veth; both programs measured NOT attached "
		     "(both through the indirect call)");
	}
	note("%u rounds x %u calls per case and program%s", rounds, per_round,
	     quick ? " (quick)" : "");

	gs_maps_init(&m);
	maps_of(skel, &m);
	maps_setup(&m);
	if (variant_path)
		variant_setup();

	if (!strcmp(attach_mode, "both attached"))
		dispatcher_check(empty_xdp);
	forward_cases(xdp_fd, empty_xdp, &m, false);
	forward_cases(xdp_fd, empty_xdp, &m, true);
	workset_case(xdp_fd, empty_xdp, &m, false);
	workset_case(xdp_fd, empty_xdp, &m, true);
	reply_case(skel, empty_tc, &m, false);
	reply_case(skel, empty_tc, &m, true);
	dep_cases(skel, empty_tc, &m, false);
	dep_cases(skel, empty_tc, &m, true);
	emit("flow table bytes per flow, struct sizes (flows key and value)",
	     (double)(sizeof(struct gs_flow_key) + sizeof(struct gs_flow)), "B", NULL, 0, -1, NULL);
	flow_memory(&m, GS_DEFAULT_FLOWS, "1M-entry tables (attach default)");
	/* Free the 1M tables before the 10M ones exist. */
	bpf_xdp_detach((int)if_nametoindex(IF_GS), XDP_FLAGS_DRV_MODE, NULL);
	graysplit_bpf__destroy(skel);
	if (quick)
		note("quick: the 10M-flow part is left out");
	else if (wanted(BIG_FIGURE))
		ten_million(empty_xdp);
	close(empty_xdp);
	close(empty_tc);
	note("done in %.0f s", now_s() - t0);
	return 0;
}
