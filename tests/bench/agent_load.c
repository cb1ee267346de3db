// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's cost at a given ring-buffer event rate (issue 6: <= 5% of one
 * core at 100k events/s, memory flat).
 *
 * Real TCP cannot open 50k connections a second on a 2-core machine, so the
 * events come from graysplit's own programs, the pinned ones of a live
 * instance, run with BPF_PROG_TEST_RUN on crafted frames: per connection a
 * SYN (XDP: selection, flow entry, DNAT), the backend's SYN-ACK (tc: SNAT,
 * connect sample, GS_EV_CONNECT), a request (XDP: starts the TTFB clock) and
 * an HTTP 200 (tc: GS_EV_RESPONSE), or, for --error-ppm of them, a backend
 * RST instead of the request and response (GS_EV_RESET, which wakes the
 * reader at once). So every event is a real one, written by the kernel into
 * the instance's ring buffer, paced to --rate events a second, while the
 * real agent (--agent-pid) reads them as deployed.
 *
 * Measured over --seconds after a warm-up: the agent's utime + stime from
 * /proc/PID/stat, its VmRSS at the start, every second and at the end, the
 * events the kernel wrote and dropped (the stats map) and the events the
 * agent consumed: the growth of the ring's consumer position (every record
 * here is one struct gs_event, 40 bytes with its header), which only the
 * reader advances. JSON lines on stdout, progress on stderr.
 *
 * Usage: agent_load --pin-dir DIR --vip ADDR --port N --agent-pid PID
 *                   [--rate EV_PER_S] [--seconds S] [--warmup S] [--error-ppm N]
 *                   [--offset N] [--threads N (default 2)]
 * --offset is the first connection's number: each connection's events come
 * once, so a second run on the same instance must use fresh 5-tuples.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "graysplit.h"
#include "map_iter.h"
#include "maps.h"
#include "packet.h"

/* A ring-buffer record: 8-byte header, the event, rounded up to 8. */
#define RECORD_BYTES (8 + ((sizeof(struct gs_event) + 7) & ~7ul))
/* Connections between two looks at the clock. */
#define BATCH 32
/* How long the agent is watched idle before the load. */
#define IDLE_S 2.0

struct opts {
	const char *pin_dir;
	const char *vip;
	uint16_t port;
	int agent_pid;
	double rate;
	double seconds;
	double warmup;
	uint32_t error_ppm;
	uint64_t offset;
	int threads;
};

struct load {
	struct opts o;
	int xdp_fd, tc_fd, stats_fd, events_fd;
	volatile const uint64_t *consumer_pos;
	double t_start, t_end; /* the generators' whole run, warm-up included */
};

/* One generator thread: its own connections (every threads-th number), its
 * share of the rate. The counters are read by the main thread meanwhile. */
struct gen {
	struct load *l;
	pthread_t tid;
	int index;
	uint64_t conns, events, errors, run_failures;
	uint32_t rng;
};

static const char request[] = "GET / HTTP/1.1\r\nHost: vip\r\n\r\n";
static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t,
			      .tv_nsec = (long)((t - (double)(time_t)t) * 1e9)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void die(const char *what)
{
	fprintf(stderr, "agent_load: %s\n", what);
	exit(1);
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* utime + stime of pid, in seconds. */
static double proc_cpu_s(int pid)
{
	unsigned long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		die("the agent is gone (no /proc/PID/stat)");
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* comm may hold spaces: the fields after it start past the last ')'. */
	p = p ? strrchr(buf, ')') : NULL;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		die("cannot parse /proc/PID/stat");
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Time on CPU of pid's main thread in seconds, to the nanosecond
 * (/proc/PID/schedstat): finer than the clock ticks of /proc/PID/stat. */
static double proc_sched_s(int pid)
{
	unsigned long long ns = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	if (f)
		fclose(f);
	return (double)ns / 1e9;
}

static long proc_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		die("the agent is gone (no /proc/PID/status)");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static uint64_t counter(struct load *l, enum gs_counter c)
{
	uint64_t sum = 0;

	if (gs_percpu_sum(l->stats_fd, c, &sum, 1))
		die("cannot read the stats map");
	return sum;
}

/* One frame through a program; out (may be NULL) gets what it left. */
static void run(struct gen *g, int fd, const struct pkt_spec *spec, uint8_t *out, size_t *out_len)
{
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(spec, in);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = out ? PKT_MAX : 0, .repeat = 1);

	if (bpf_prog_test_run_opts(fd, &opts))
		g->run_failures++;
	if (out_len)
		*out_len = opts.data_size_out;
}

/* One connection: 2 events (connect, response) or 2 (connect, reset). */
static void connection(struct gen *g)
{
	const struct load *l = g->l;
	uint8_t out[PKT_MAX];
	char client[INET_ADDRSTRLEN], backend[INET_ADDRSTRLEN];
	uint64_t n = l->o.offset + g->conns * (uint64_t)l->o.threads + (uint64_t)g->index;
	struct pkt_spec c = {0}, b = {0};
	struct pkt_view view;
	size_t out_len = 0;
	struct in_addr a;

	/* A fresh 5-tuple each time: 10.128.0.0/9, ports 10000-59999. */
	a.s_addr = htonl(0x0a800000u + (uint32_t)(n / 50000));
	inet_ntop(AF_INET, &a, client, sizeof(client));
	c.src = client;
	c.dst = l->o.vip;
	c.sport = (uint16_t)(10000 + n % 50000);
	c.dport = l->o.port;
	c.proto = IPPROTO_TCP;
	c.tcp_flags = PKT_SYN;
	run(g, l->xdp_fd, &c, out, &out_len);
	if (!pkt_parse(out, out_len, &view) || !view.is_v4)
		die("the SYN did not come back as an IPv4 frame: is the VIP a service?");
	memcpy(&a.s_addr, &view.dst.w[3], 4);
	inet_ntop(AF_INET, &a, backend, sizeof(backend));

	b.src = backend;
	b.dst = client;
	b.sport = view.dport;
	b.dport = c.sport;
	b.proto = IPPROTO_TCP;
	b.tcp_flags = PKT_SYN | PKT_ACK;
	run(g, l->tc_fd, &b, NULL, NULL);

	if (l->o.error_ppm && xorshift(&g->rng) % 1000000 < l->o.error_ppm) {
		b.tcp_flags = PKT_RST | PKT_ACK;
		run(g, l->tc_fd, &b, NULL, NULL);
		g->errors++;
	} else {
		c.tcp_flags = PKT_PSH | PKT_ACK;
		c.payload = request;
		c.payload_len = sizeof(request) - 1;
		run(g, l->xdp_fd, &c, NULL, NULL);
		b.tcp_flags = PKT_PSH | PKT_ACK;
		b.payload = response;
		b.payload_len = sizeof(response) - 1;
		run(g, l->tc_fd, &b, NULL, NULL);
	}
	g->conns++;
	__atomic_store_n(&g->events, g->events + 2, __ATOMIC_RELAXED);
}

/* A generator: paced load over the whole run. Behind schedule it does not
 * try to catch up in a burst beyond one batch at a time. */
static void *generate(void *arg)
{
	struct gen *g = arg;
	const struct load *l = g->l;
	double rate = l->o.rate / l->o.threads;

	for (;;) {
		double t = now_s(), due;
		int i;

		if (t >= l->t_end)
			return NULL;
		/* Where the event count should be now; ahead: sleep it off. */
		due = l->t_start + (double)g->events / rate;
		if (due > t)
			sleep_until(due < l->t_end ? due : l->t_end);
		for (i = 0; i < BATCH; i++)
			connection(g);
	}
}

static uint64_t gens_sum(const struct gen *gens, int n, size_t field)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += __atomic_load_n((const uint64_t *)((const char *)&gens[i] + field),
				       __ATOMIC_RELAXED);
	return sum;
}

static int open_pinned(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "agent_load: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "Usage: agent_load --pin-dir DIR --vip ADDR --port N --agent-pid PID\n"
			"                  [--rate EV_PER_S] [--seconds S] [--warmup S] "
			"[--error-ppm N] [--offset N] [--threads N]\n");
	exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"pin-dir", required_argument, NULL, 'd'},
		{"vip", required_argument, NULL, 'v'},
		{"port", required_argument, NULL, 'p'},
		{"agent-pid", required_argument, NULL, 'a'},
		{"rate", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"error-ppm", required_argument, NULL, 'e'},
		{"offset", required_argument, NULL, 'o'},
		{"threads", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.rate = 100000, .seconds = 10, .warmup = 1, .threads = 2};
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->pin_dir = optarg;
			break;
		case 'v':
			o->vip = optarg;
			break;
		case 'p':
			o->port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'a':
			o->agent_pid = (int)strtol(optarg, NULL, 10);
			break;
		case 'r':
			o->rate = strtod(optarg, NULL);
			break;
		case 's':
			o->seconds = strtod(optarg, NULL);
			break;
		case 'w':
			o->warmup = strtod(optarg, NULL);
			break;
		case 'e':
			o->error_ppm = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			o->offset = strtoull(optarg, NULL, 10);
			break;
		case 't':
			o->threads = (int)strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!o->pin_dir || !o->vip || !o->port || o->agent_pid <= 0 || o->rate <= 0 ||
	    o->seconds <= 0 || o->warmup < 0 || o->error_ppm > 1000000 || o->threads < 1 ||
	    o->threads > 64)
		usage();
}

static void print_figure(const char *figure, double value, const char *unit, const char *baseline,
			 double baseline_value, const char *target, int pass)
{
	printf("{\"figure\": \"%s\", \"value\": %.3f, \"unit\": \"%s\", ", figure, value, unit);
	if (baseline && baseline_value != 0)
		printf("\"baseline\": \"%s\", \"baseline_value\": %.3f, \"ratio\": %.3f, ",
		       baseline, baseline_value, value / baseline_value);
	else if (baseline) /* a zero baseline has no ratio */
		printf("\"baseline\": \"%s\", \"baseline_value\": 0, \"ratio\": null, ", baseline);
	else
		printf("\"baseline\": null, \"baseline_value\": null, \"ratio\": null, ");
	if (target)
		printf("\"target\": \"%s\", ", target);
	else
		printf("\"target\": null, ");
	printf("\"pass\": %s}\n", pass < 0 ? "null" : pass ? "true" : "false");
}

/* This process's own CPU time (the generators), in seconds. */
static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void sleep_to(double t)
{
	if (t > now_s())
		sleep_until(t);
}

int main(int argc, char **argv)
{
	uint64_t ev0, wr0, dr0, cons0, wr1, dr1, cons1, cons2, wr_all, dr_all, cons_all;
	double idle_c0, idle_t0, idle_pct, ns_per_event;
	double t0, t1, cpu0, cpu1, sch0, sch1, self0, self1, elapsed, rate, cpu_pct;
	const size_t f_events = offsetof(struct gen, events);
	long rss0, rss1, rss_max, rss_min;
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t conns = 0, errors = 0, failures = 0;
	struct load l = {0};
	struct gen *gens;
	char fig[256];
	void *cp;
	int s, i;

	parse_opts(argc, argv, &l.o);
	l.xdp_fd = open_pinned(l.o.pin_dir, GS_PIN_PROG_XDP);
	l.tc_fd = open_pinned(l.o.pin_dir, GS_PIN_PROG_TC);
	l.stats_fd = open_pinned(l.o.pin_dir, GS_MAP_STATS);
	l.events_fd = open_pinned(l.o.pin_dir, GS_MAP_EVENTS);
	/* The consumer page: only the reader (the agent) writes it. */
	cp = mmap(NULL, (size_t)psz, PROT_READ, MAP_SHARED, l.events_fd, 0);
	if (cp == MAP_FAILED)
		die("cannot map the ring buffer's consumer page");
	l.consumer_pos = cp;
	gens = calloc((size_t)l.o.threads, sizeof(*gens));
	if (!gens)
		die("out of memory");

	fprintf(stderr,
		"agent_load: warm-up %.1f s, then %.1f s at %.0f events/s (error %u ppm), "
		"%d generator threads\n",
		l.o.warmup, l.o.seconds, l.o.rate, l.o.error_ppm, l.o.threads);
	/* The agent idle first (its ticks, no events): the CPU figure's baseline. */
	idle_c0 = proc_cpu_s(l.o.agent_pid);
	idle_t0 = now_s();
	sleep_to(idle_t0 + (l.o.seconds < IDLE_S ? l.o.seconds : IDLE_S));
	idle_pct = 100 * (proc_cpu_s(l.o.agent_pid) - idle_c0) / (now_s() - idle_t0);

	/* Totals from here, at rest: every event written from now on is one
	 * of ours, and the agent has read everything before. */
	wr_all = counter(&l, GS_CNT_EVENTS);
	dr_all = counter(&l, GS_CNT_EVENTS_DROPPED);
	cons_all = *l.consumer_pos;
	l.t_start = now_s();
	l.t_end = l.t_start + l.o.warmup + l.o.seconds;
	for (i = 0; i < l.o.threads; i++) {
		gens[i] = (struct gen){.l = &l, .index = i, .rng = 0x9e3779b9u * (uint32_t)(i + 1)};
		if (pthread_create(&gens[i].tid, NULL, generate, &gens[i]))
			die("cannot start a generator thread");
	}
	sleep_to(l.t_start + l.o.warmup);

	/* The measured interval. */
	ev0 = gens_sum(gens, l.o.threads, f_events);
	wr0 = counter(&l, GS_CNT_EVENTS);
	dr0 = counter(&l, GS_CNT_EVENTS_DROPPED);
	cons0 = *l.consumer_pos;
	cpu0 = proc_cpu_s(l.o.agent_pid);
	sch0 = proc_sched_s(l.o.agent_pid);
	rss0 = rss_min = rss_max = proc_rss_kib(l.o.agent_pid);
	self0 = self_cpu_s();
	t0 = now_s();
	for (s = 1; t0 + s < l.t_end; s++) {
		long rss;

		sleep_to(t0 + s);
		rss = proc_rss_kib(l.o.agent_pid);
		rss_max = rss > rss_max ? rss : rss_max;
		rss_min = rss < rss_min ? rss : rss_min;
		fprintf(stderr,
			"agent_load:   %4.1f s  %8.0f events/s  agent CPU %5.2f%%  RSS %ld KiB\n",
			now_s() - t0,
			(double)(gens_sum(gens, l.o.threads, f_events) - ev0) / (now_s() - t0),
			100 * (proc_cpu_s(l.o.agent_pid) - cpu0) / (now_s() - t0), rss);
	}
	for (i = 0; i < l.o.threads; i++) {
		pthread_join(gens[i].tid, NULL);
		conns += gens[i].conns;
		errors += gens[i].errors;
		failures += gens[i].run_failures;
	}
	t1 = now_s();
	self1 = self_cpu_s();
	cpu1 = proc_cpu_s(l.o.agent_pid);
	sch1 = proc_sched_s(l.o.agent_pid);
	rss1 = proc_rss_kib(l.o.agent_pid);
	wr1 = counter(&l, GS_CNT_EVENTS);
	dr1 = counter(&l, GS_CNT_EVENTS_DROPPED);
	cons1 = *l.consumer_pos;
	/* The agent reads on its interval: give it a few to catch up. */
	usleep(500000);
	cons2 = *l.consumer_pos;

	elapsed = t1 - t0;
	rate = (double)(wr1 - wr0 + dr1 - dr0) / elapsed;
	cpu_pct = 100 * (cpu1 - cpu0) / elapsed;
	if (failures)
		fprintf(stderr, "agent_load: %lu BPF_PROG_TEST_RUN calls failed\n",
			(unsigned long)failures);

	snprintf(fig, sizeof(fig),
		 "agent CPU at %.0fk ring-buffer events/s (%.1f%% errors; schedstat %.2f%%)",
		 rate / 1000, 100.0 * (double)errors / (double)(conns ? conns : 1),
		 100 * (sch1 - sch0) / elapsed);
	/* Judged only when the generator kept up with the rate asked for. */
	print_figure(fig, cpu_pct, "% of one core", "agent idle (no events)", idle_pct,
		     "<= 5% of one core at 100k events/s",
		     rate >= 0.95 * 100000 ? cpu_pct <= 5.0 : -1);
	/*
	 * The same per event, to the nanosecond (schedstat): the target is
	 * 500 ns an event (5% of a core at 100k/s). At a lower rate the agent's
	 * fixed per-tick work is spread over fewer events, so this can only
	 * overstate the cost at 100k/s: a pass here holds there too.
	 */
	ns_per_event = 1e9 * (sch1 - sch0) / (double)(wr1 - wr0 ? wr1 - wr0 : 1);
	snprintf(fig, sizeof(fig), "agent CPU time per event at %.0fk events/s (%.1f%% errors)",
		 rate / 1000, 100.0 * (double)errors / (double)(conns ? conns : 1));
	print_figure(fig, ns_per_event, "ns", NULL, 0, "<= 500 ns (5% of a core at 100k events/s)",
		     wr1 > wr0 ? ns_per_event <= 500 : -1);
	snprintf(fig, sizeof(fig),
		 "agent RSS growth over %.0f s (start %ld KiB, end %ld, min %ld, max %ld)", elapsed,
		 rss0, rss1, rss_min, rss_max);
	print_figure(fig, (double)(rss1 - rss0), "KiB", NULL, 0, "flat: <= 256 KiB growth",
		     rss1 - rss0 <= 256);
	print_figure("ring-buffer events emitted per second (kernel's counts)", rate, "events/s",
		     "rate asked for", l.o.rate, NULL, -1);
	/* Over the whole run, warm-up included: what the agent read against
	 * what the programs emitted (written + dropped). */
	snprintf(fig, sizeof(fig), "ring-buffer events the agent read (%lu dropped by the kernel)",
		 (unsigned long)(dr1 - dr_all));
	print_figure(fig, (double)(cons2 - cons_all) / RECORD_BYTES, "events",
		     "events the programs emitted", (double)(wr1 - wr_all + dr1 - dr_all),
		     "all read, none dropped",
		     dr1 == dr_all && (cons2 - cons_all) / RECORD_BYTES == wr1 - wr_all);
	fprintf(stderr,
		"agent_load: interval: %lu events written, %lu dropped; the agent had read %lu "
		"at its end, %lu 0.5 s later; the generators used %.2f CPU s, %.2f us an event\n",
		(unsigned long)(wr1 - wr0), (unsigned long)(dr1 - dr0),
		(unsigned long)((cons1 - cons0) / RECORD_BYTES),
		(unsigned long)((cons2 - cons0) / RECORD_BYTES), self1 - self0,
		1e6 * (self1 - self0) /
			(double)(wr1 - wr0 + dr1 - dr0 ? wr1 - wr0 + dr1 - dr0 : 1));
	munmap(cp, (size_t)psz);
	free(gens);
	return 0;
}
