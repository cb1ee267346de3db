// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's view of the kernel counters. Only backends of watched services
 * are read, and those in one batch syscall per map over the range of their
 * ids (ids are handed out low first, so the range is dense): a few services
 * cost a few syscalls per interval, not GS_MAX_BACKENDS * 2 histogram lookups.
 *
 * Histogram buckets are 32-bit per CPU and may wrap. The sum over CPUs is
 * taken modulo 2^32 and differenced modulo 2^32, which is exact as long as
 * one bucket gains fewer than 2^32 samples in one interval.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "collect.h"
#include "error.h"
#include "map_iter.h"

#define STAT_FIELDS (sizeof(struct gs_backend_stats) / sizeof(uint64_t))
/* Index of a counter among a backend's u64 counters. */
#define FIELD(name) (offsetof(struct gs_backend_stats, name) / sizeof(uint64_t))

/* The kernel rounds each CPU's copy of a per-CPU value up to 8 bytes. */
#define ROUND8(x) (((x) + 7) & ~(size_t)7)

/* A backend's counters at its previous reading. */
struct gs_backend_base {
	struct gs_backend who; /* the backend the slot held then */
	uint64_t stats[STAT_FIELDS];
	uint32_t hist[GS_HIST_KINDS][GS_HIST_BUCKETS]; /* sum over CPUs, mod 2^32 */
	uint32_t udp_judged;			       /* UDP start slots judged up to */
	uint64_t unanswered;			       /* the unanswered map then */
};

/* The kernel's "operation not supported" for an unimplemented map op. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

static size_t stats_stride(const struct gs_collect *c)
{
	return ROUND8(sizeof(struct gs_backend_stats)) * (size_t)c->ncpus;
}

static size_t hist_stride(const struct gs_collect *c)
{
	return ROUND8(sizeof(struct gs_hist)) * (size_t)c->ncpus;
}

int gs_collect_init(struct gs_collect *c, struct gs_maps *maps)
{
	memset(c, 0, sizeof(*c));
	c->maps = maps;
	c->ncpus = gs_ncpus();
	if (c->ncpus <= 0)
		return gs_fail(EINVAL, "cannot count the possible CPUs");
	c->backends = calloc(GS_MAX_BACKENDS, sizeof(*c->backends));
	c->base = calloc(GS_MAX_BACKENDS, sizeof(struct gs_backend_base *));
	if (!c->backends || !c->base) {
		gs_collect_free(c);
		return gs_fail(ENOMEM, "out of memory");
	}
	return 0;
}

void gs_collect_free(struct gs_collect *c)
{
	uint32_t id;

	if (c->base)
		for (id = 0; id < GS_MAX_BACKENDS; id++)
			free(c->base[id]);
	free(c->base);
	free(c->backends);
	free(c->stats_raw);
	free(c->hist_raw);
	free(c->slots_raw);
	memset(c, 0, sizeof(*c));
}

/*
 * Entries lo .. lo+n-1 of an array map into out (stride bytes each): one
 * batch syscall, or one lookup per entry where the kernel has no batch.
 */
static int read_range(struct gs_collect *c, int fd, uint32_t lo, uint32_t n, size_t stride,
		      void *out)
{
	uint32_t i, count = n, prev = lo - 1, next;
	uint32_t *keys;
	int ret;

	if (!n)
		return 0;
	if (!c->batch_broken) {
		keys = malloc((size_t)n * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		ret = gs_lookup_batch(fd, lo ? &prev : NULL, &next, keys, sizeof(*keys), out,
				      stride, &count);
		free(keys);
		if ((!ret || errno == ENOENT) && count == n)
			return 0;
		if (ret && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP ||
			    errno == ENOTSUPP))
			c->batch_broken = true;
		else if (ret && errno != ENOENT)
			return -errno;
	}
	for (i = 0; i < n; i++) {
		uint32_t key = lo + i;

		if (bpf_map_lookup_elem(fd, &key, (char *)out + (size_t)i * stride))
			return -errno;
	}
	return 0;
}

static int collect_service(const void *key, const void *value, void *ctx)
{
	struct gs_collect *c = ctx;
	const struct gs_service *svc = value;
	struct gs_collect_service *s;

	if (svc->id >= GS_MAX_SERVICES)
		return 0;
	s = &c->services[svc->id];
	s->present = true;
	memcpy(&s->key, key, sizeof(s->key));
	s->value = *svc;
	return 0;
}

/*
 * Backend ids are handed out lowest free first, so a new backend lands at or
 * just above the highest id in use: read that prefix of the backends map
 * with some room, and the whole map every GS_FULL_READ_EVERY readings.
 * Reading every backend slot each time was most of the agent's CPU time.
 */
#define GS_FULL_READ_EVERY 10
#define GS_BACKEND_ROOM	   64

int gs_collect_topology(struct gs_collect *c)
{
	struct gs_split split[GS_MAX_SERVICES] = {0};
	uint32_t id, services_hi = 0, backends_n = GS_MAX_BACKENDS;
	int err;

	for (id = 0; id < GS_MAX_SERVICES; id++)
		c->services[id].present = false;
	err = gs_map_foreach(c->maps->services, sizeof(struct gs_service_key),
			     sizeof(struct gs_service), collect_service, c);
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (c->services[id].present)
			services_hi = id + 1;
	if (!err)
		err = read_range(c, c->maps->split, 0, services_hi, sizeof(split[0]), split);
	if (c->readings++ % GS_FULL_READ_EVERY && c->backends_hi + GS_BACKEND_ROOM < backends_n)
		backends_n = c->backends_hi + GS_BACKEND_ROOM;
	if (!err)
		err = read_range(c, c->maps->backends, 0, backends_n, sizeof(c->backends[0]),
				 c->backends);
	if (err)
		return gs_fail(-err, "cannot read the maps: %s", strerror(-err));
	for (id = 0; id < GS_MAX_SERVICES; id++)
		c->services[id].canary_ppm = split[id].canary_ppm;
	c->backends_hi = 0;
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (c->backends[id].state != GS_BACKEND_FREE)
			c->backends_hi = id + 1;
		/* A freed slot's baseline would be wrong for whoever gets it next. */
		if (c->base[id] && c->backends[id].state == GS_BACKEND_FREE) {
			free(c->base[id]);
			c->base[id] = NULL;
		}
	}
	return 0;
}

void gs_collect_forget(struct gs_collect *c, uint32_t service_id)
{
	uint32_t id;

	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (c->base[id] && c->base[id]->who.service_id == service_id) {
			free(c->base[id]);
			c->base[id] = NULL;
		}
	}
}

static bool same_backend(const struct gs_backend *a, const struct gs_backend *b)
{
	return a->service_id == b->service_id && a->group == b->group && a->port == b->port &&
	       !memcmp(&a->addr, &b->addr, sizeof(a->addr));
}

void gs_hist_sum_cpus(const void *raw, int ncpus, uint32_t *sum)
{
	size_t stride = ROUND8(sizeof(struct gs_hist));
	uint32_t b;
	int cpu;

	memset(sum, 0, GS_HIST_BUCKETS * sizeof(*sum));
	for (cpu = 0; cpu < ncpus; cpu++) {
		const struct gs_hist *h =
			(const struct gs_hist *)((const char *)raw + (size_t)cpu * stride);

		for (b = 0; b < GS_HIST_BUCKETS; b++)
			sum[b] += h->bucket[b]; /* modulo 2^32 */
	}
}

void gs_hist_add_delta(struct gs_hist64 *h, const uint32_t *now, const uint32_t *before)
{
	uint32_t b, d;

	for (b = 0; b < GS_HIST_BUCKETS; b++) {
		d = now[b] - before[b]; /* modulo 2^32: survives a wrap */
		h->bucket[b] += d;
		h->count += d;
	}
}

/*
 * UDP flows of backend id started in slots judged_from+1 .. due and never
 * answered: per slot, the flows started minus those answered, summed over
 * the CPUs whose copy holds that slot (a copy holding another epoch counted
 * nothing for it).
 */
uint64_t gs_udp_unanswered(const struct gs_udp_slots *per_cpu, int ncpus, uint32_t judged_from,
			   uint32_t due)
{
	uint64_t total = 0;
	uint32_t e;
	int cpu;

	/* Never further back than the ring holds. */
	if ((int32_t)(due - judged_from) > GS_UDP_SLOTS)
		judged_from = due - GS_UDP_SLOTS;
	for (e = judged_from + 1; (int32_t)(due - e) >= 0; e++) {
		uint64_t started = 0, answered = 0;

		for (cpu = 0; cpu < ncpus; cpu++) {
			const struct gs_udp_slot *s = &per_cpu[cpu].slot[e % GS_UDP_SLOTS];

			if (s->epoch != e)
				continue;
			started += s->started;
			answered += s->answered;
		}
		if (started > answered)
			total += started - answered;
	}
	return total;
}

/* The newest start slot whose flows have all had wait_ns to be answered:
 * it ended at or before now - wait_ns. */
static uint32_t udp_due(uint64_t now_ns, uint64_t wait_ns)
{
	return (uint32_t)((now_ns - wait_ns) >> GS_UDP_SLOT_SHIFT) - 1;
}

/*
 * A UDP backend's unanswered flows for this committed reading, into
 * g->conn_timeouts: judged from its slots by the agent (judge_udp), else
 * read as the growth of the agent's count. A backend seen for the first
 * time only sets where judging starts: flows from before the agent looked
 * are not judged.
 */
static int take_udp(struct gs_collect *c, uint32_t id, bool valid, struct gs_backend_base *base,
		    struct gs_group_window *g)
{
	uint64_t now_ns = gs_monotonic_ns(), wait_ns = c->udp_wait_ns[c->backends[id].service_id];
	uint32_t due;
	uint64_t n, total = 0;

	if (!c->judge_udp) {
		if (bpf_map_lookup_elem(c->maps->unanswered, &id, &total))
			return -errno;
		if (valid && total >= base->unanswered)
			g->conn_timeouts += total - base->unanswered;
		base->unanswered = total;
		return 0;
	}
	if (!wait_ns || now_ns <= wait_ns + 2 * GS_UDP_SLOT_NS)
		return 0;
	due = udp_due(now_ns, wait_ns);
	if (!valid) {
		base->udp_judged = due;
		return 0;
	}
	if (base->udp_judged == due)
		return 0;
	if (!c->slots_raw) {
		c->slots_raw = calloc((size_t)c->ncpus, sizeof(struct gs_udp_slots));
		if (!c->slots_raw)
			return -ENOMEM;
	}
	if (bpf_map_lookup_elem(c->maps->udp_slots, &id, c->slots_raw))
		return -errno;
	n = gs_udp_unanswered(c->slots_raw, c->ncpus, base->udp_judged, due);
	base->udp_judged = due;
	if (!n)
		return 0;
	g->conn_timeouts += n;
	if (bpf_map_lookup_elem(c->maps->unanswered, &id, &total))
		return -errno;
	total += n;
	if (bpf_map_update_elem(c->maps->unanswered, &id, &total, BPF_ANY))
		return -errno;
	return 0;
}

static bool is_udp_backend(const struct gs_collect *c, uint32_t id)
{
	uint32_t svc = c->backends[id].service_id;

	return svc < GS_MAX_SERVICES && c->services[svc].present &&
	       c->services[svc].key.proto == IPPROTO_UDP;
}

/* One backend's raw per-CPU reads -> its interval counts added to g. */
static int take_backend(struct gs_collect *c, uint32_t id, const char *stats_raw,
			const char *hist_raw, bool commit, struct gs_group_window *g)
{
	const struct gs_backend *who = &c->backends[id];
	struct gs_backend_base *base = c->base[id];
	size_t sstride = ROUND8(sizeof(struct gs_backend_stats));
	size_t hstride = ROUND8(sizeof(struct gs_hist));
	uint64_t now[STAT_FIELDS] = {0};
	uint32_t hist[GS_HIST_KINDS][GS_HIST_BUCKETS];
	bool valid;
	size_t f;
	int cpu, k;

	for (cpu = 0; cpu < c->ncpus; cpu++) {
		const uint64_t *v = (const uint64_t *)(stats_raw + (size_t)cpu * sstride);

		for (f = 0; f < STAT_FIELDS; f++)
			now[f] += v[f];
	}
	for (k = 0; k < GS_HIST_KINDS; k++)
		gs_hist_sum_cpus(hist_raw + (size_t)k * hstride * (size_t)c->ncpus, c->ncpus,
				 hist[k]);

	valid = base && same_backend(&base->who, who);
	/* Counters going back: the slot was cleared for a new backend. */
	for (f = 0; valid && f < STAT_FIELDS; f++)
		if (now[f] < base->stats[f])
			valid = false;
	if (valid) {
		g->new_flows += now[FIELD(new_flows)] - base->stats[FIELD(new_flows)];
		g->connects += now[FIELD(connects)] - base->stats[FIELD(connects)];
		g->conn_refused += now[FIELD(conn_refused)] - base->stats[FIELD(conn_refused)];
		g->conn_timeouts += now[FIELD(conn_timeouts)] - base->stats[FIELD(conn_timeouts)];
		g->resets += now[FIELD(resets)] - base->stats[FIELD(resets)];
		g->responses += now[FIELD(responses)] - base->stats[FIELD(responses)];
		g->http_5xx += now[FIELD(http_5xx)] - base->stats[FIELD(http_5xx)];
		g->dns_fail += now[FIELD(dns_servfail)] - base->stats[FIELD(dns_servfail)] +
			       now[FIELD(dns_refused)] - base->stats[FIELD(dns_refused)];
		gs_hist_add_delta(&g->connect, hist[GS_HIST_CONNECT], base->hist[GS_HIST_CONNECT]);
		gs_hist_add_delta(&g->ttfb, hist[GS_HIST_TTFB], base->hist[GS_HIST_TTFB]);
	}
	if (!commit)
		return 0;
	if (!base) {
		base = calloc(1, sizeof(*base));
		if (!base)
			return -ENOMEM;
		c->base[id] = base;
	}
	if (is_udp_backend(c, id)) {
		int err = take_udp(c, id, valid, base, g);

		if (err)
			return err;
	}
	base->who = *who;
	memcpy(base->stats, now, sizeof(now));
	memcpy(base->hist, hist, sizeof(hist));
	return 0;
}

static int ensure_raw(struct gs_collect *c, uint32_t n)
{
	void *s, *h;

	if (n <= c->raw_cap)
		return 0;
	s = realloc(c->stats_raw, (size_t)n * stats_stride(c));
	if (s)
		c->stats_raw = s;
	h = realloc(c->hist_raw, (size_t)n * GS_HIST_KINDS * hist_stride(c));
	if (h)
		c->hist_raw = h;
	if (!s || !h)
		return -ENOMEM;
	c->raw_cap = n;
	return 0;
}

/* Read backends lo .. lo+n-1: stats and both histograms of each. */
static int read_backends(struct gs_collect *c, uint32_t lo, uint32_t n)
{
	int err = ensure_raw(c, n);

	if (!err)
		err = read_range(c, c->maps->backend_stats, lo, n, stats_stride(c), c->stats_raw);
	if (!err)
		err = read_range(c, c->maps->latency, lo * GS_HIST_KINDS, n * GS_HIST_KINDS,
				 hist_stride(c), c->hist_raw);
	return err;
}

static bool watched(const struct gs_collect *c, const bool *want, uint32_t id)
{
	const struct gs_backend *b = &c->backends[id];

	return b->state != GS_BACKEND_FREE && b->service_id < GS_MAX_SERVICES &&
	       want[b->service_id] && b->group < GS_GROUPS;
}

static int collect_into(struct gs_collect *c, const bool *want, bool commit,
			struct gs_group_window (*out)[GS_GROUPS],
			struct gs_group_window *per_backend);

int gs_collect_read(struct gs_collect *c, const bool *want, bool commit,
		    struct gs_group_window (*out)[GS_GROUPS])
{
	return collect_into(c, want, commit, out, NULL);
}

int gs_collect_read_backends(struct gs_collect *c, const bool *want, bool commit,
			     struct gs_group_window *per_backend)
{
	return collect_into(c, want, commit, NULL, per_backend);
}

/* Into out[service][group], or with per_backend into per_backend[id]. */
static int collect_into(struct gs_collect *c, const bool *want, bool commit,
			struct gs_group_window (*out)[GS_GROUPS],
			struct gs_group_window *per_backend)
{
	uint32_t id, lo = GS_MAX_BACKENDS, hi = 0, n = 0;
	bool sparse;
	int err = 0;

	for (id = 0; id < GS_MAX_SERVICES && out; id++)
		if (want[id])
			memset(out[id], 0, sizeof(out[id]));
	for (id = 0; id < GS_MAX_BACKENDS && per_backend; id++)
		if (watched(c, want, id))
			memset(&per_backend[id], 0, sizeof(per_backend[id]));
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (!watched(c, want, id))
			continue;
		if (id < lo)
			lo = id;
		hi = id + 1;
		n++;
	}
	if (!n)
		return 0;
	/* One range read, unless the watched ids are few among many others. */
	sparse = hi - lo > 4 * n + 64;
	if (!sparse)
		err = read_backends(c, lo, hi - lo);
	for (id = lo; id < hi && !err; id++) {
		const struct gs_backend *b = &c->backends[id];
		uint32_t slot = id - lo;

		if (!watched(c, want, id))
			continue;
		if (sparse) {
			err = read_backends(c, id, 1);
			slot = 0;
			if (err)
				break;
		}
		err = take_backend(
			c, id, (const char *)c->stats_raw + (size_t)slot * stats_stride(c),
			(const char *)c->hist_raw + (size_t)slot * GS_HIST_KINDS * hist_stride(c),
			commit, per_backend ? &per_backend[id] : &out[b->service_id][b->group]);
	}
	if (err)
		return gs_fail(-err, "cannot read the backend counters: %s", strerror(-err));
	return 0;
}

/*
 * Per-CPU 32-bit buckets are summed into 64 bits, not modulo 2^32: the sum
 * only goes back if one CPU's bucket wraps (2^32 samples), which a scraper
 * takes for a counter reset.
 */
int gs_collect_totals(struct gs_collect *c, uint32_t lo, uint32_t n, struct gs_backend_totals *out)
{
	size_t sstride = ROUND8(sizeof(struct gs_backend_stats));
	size_t hstride = ROUND8(sizeof(struct gs_hist));
	uint32_t i, b;
	size_t f;
	int cpu, k, err;

	err = read_backends(c, lo, n);
	if (err)
		return gs_fail(-err, "cannot read the backend counters: %s", strerror(-err));
	memset(out, 0, (size_t)n * sizeof(*out));
	for (i = 0; i < n; i++) {
		const char *s = (const char *)c->stats_raw + (size_t)i * stats_stride(c);
		const char *h =
			(const char *)c->hist_raw + (size_t)i * GS_HIST_KINDS * hist_stride(c);
		uint64_t *sum = (uint64_t *)&out[i].stats;

		for (cpu = 0; cpu < c->ncpus; cpu++) {
			const uint64_t *v = (const uint64_t *)(s + (size_t)cpu * sstride);

			for (f = 0; f < STAT_FIELDS; f++)
				sum[f] += v[f];
		}
		for (k = 0; k < GS_HIST_KINDS; k++) {
			for (cpu = 0; cpu < c->ncpus; cpu++) {
				const struct gs_hist *one =
					(const struct gs_hist *)(h + ((size_t)k * (size_t)c->ncpus +
								      (size_t)cpu) *
									     hstride);

				for (b = 0; b < GS_HIST_BUCKETS; b++)
					out[i].hist[k][b] += one->bucket[b];
			}
		}
	}
	/* The agent's own count: a plain array, one entry per backend. */
	err = read_range(c, c->maps->unanswered, lo, n, sizeof(uint64_t), c->stats_raw);
	if (err)
		return gs_fail(-err, "cannot read the unanswered counts: %s", strerror(-err));
	for (i = 0; i < n; i++)
		out[i].unanswered = ((const uint64_t *)c->stats_raw)[i];
	return 0;
}
