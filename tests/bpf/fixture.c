// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "backend_addrs.h"
#include "downstream.h"
#include "loader.h"
#include "packet.h"

/* A setup step that fails makes the test fail, with what failed. */
#define FX_TRY(expr, what)                                                                         \
	do {                                                                                       \
		int err_ = (expr);                                                                 \
		if (err_)                                                                          \
			fail_msg("fixture: %s failed: %d (%s)", what, err_, strerror(errno));      \
	} while (0)

/*
 * Loading the object (the verifier on both programs) is most of a test's
 * time, so each ring size's object is loaded once per test program and
 * handed to every test as new: fx_teardown puts every map back to how a
 * fresh load has it (test_fixture_reset in test_select checks that).
 */
static struct fx *fx_cache[2]; /* [0]: default ring, [1]: FX_RING_SMALL */

static int fx_load(struct fx **out, uint32_t ring_size)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->skel = gs_skel_open();
	if (!fx->skel) {
		free(fx);
		return -1;
	}
	bpf_map__set_max_entries(fx->skel->maps.flows, FX_FLOWS);
	if (ring_size)
		bpf_map__set_max_entries(fx->skel->maps.events, ring_size);
	if (graysplit_bpf__load(fx->skel)) {
		graysplit_bpf__destroy(fx->skel);
		free(fx);
		return -1;
	}
	fx->xdp_fd = bpf_program__fd(fx->skel->progs.gs_xdp_fwd);
	fx->tc_fd = bpf_program__fd(fx->skel->progs.gs_tc_reply);
	fx->dep_out_fd = bpf_program__fd(fx->skel->progs.gs_tc_dep_out);
	fx->dep_in_fd = bpf_program__fd(fx->skel->progs.gs_tc_dep_in);
	*out = fx;
	return 0;
}

static int fx_open(void **state, uint32_t ring_size)
{
	struct fx **slot = &fx_cache[ring_size ? 1 : 0];

	if (!*slot && fx_load(slot, ring_size))
		return -1;
	*state = *slot;
	return 0;
}

static int fx_discard_one(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

/* Every key of a hash-like map deleted (also the inner maps an array of
 * maps holds). */
static int fx_map_empty(int fd, uint32_t key_size)
{
	unsigned char key[64];

	if (key_size > sizeof(key))
		return -1;
	while (!bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			return -1;
	return errno == ENOENT ? 0 : -1;
}

/* Every element of an array zeroed, per CPU for the per-CPU kinds: one
 * batch update, as element by element a reset would cost what the load
 * saved. */
static int fx_array_zero(int fd, uint32_t max_entries, size_t value_bytes)
{
	uint32_t *keys = calloc(max_entries, sizeof(*keys)), i, count = max_entries;
	void *zero = calloc(max_entries, value_bytes);
	int err = -1;

	if (keys && zero) {
		for (i = 0; i < max_entries; i++)
			keys[i] = i;
		err = bpf_map_update_batch(fd, keys, zero, &count, NULL);
		if (!err && count != max_entries)
			err = -1;
	}
	free(keys);
	free(zero);
	return err;
}

int fx_reset(struct fx *fx)
{
	int ncpus = libbpf_num_possible_cpus();
	struct bpf_map *map;

	if (ncpus < 1)
		return -1;
	bpf_object__for_each_map(map, fx->skel->obj)
	{
		int fd = bpf_map__fd(map), err = 0;
		uint32_t n = bpf_map__max_entries(map);
		size_t vsz = bpf_map__value_size(map);
		struct ring_buffer *rb;

		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_ARRAY:
			err = fx_array_zero(fd, n, vsz);
			break;
		case BPF_MAP_TYPE_PERCPU_ARRAY:
			err = fx_array_zero(fd, n, ((vsz + 7) / 8) * 8 * (size_t)ncpus);
			break;
		case BPF_MAP_TYPE_ARRAY_OF_MAPS:
			/* Only the slots that hold a map: each change of a map
			 * of maps waits for an RCU grace period. */
			for (uint32_t i = 0, id; i < n && !err; i++)
				if (!bpf_map_lookup_elem(fd, &i, &id))
					err = bpf_map_delete_elem(fd, &i);
			break;
		case BPF_MAP_TYPE_RINGBUF:
			rb = ring_buffer__new(fd, fx_discard_one, NULL, NULL);
			err = !rb || ring_buffer__consume(rb) < 0;
			ring_buffer__free(rb);
			break;
		default: /* hash, LRU hash, LPM trie, devmap hash */
			err = fx_map_empty(fd, bpf_map__key_size(map));
			break;
		}
		if (err)
			fail_msg("fixture: resetting map %s failed (%s)", bpf_map__name(map),
				 strerror(errno));
	}
	return 0;
}

int fx_setup(void **state)
{
	return fx_open(state, 0);
}

int fx_setup_small_ring(void **state)
{
	return fx_open(state, FX_RING_SMALL);
}

int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx)
		fx_reset(fx);
	return 0;
}

void fx_backend_addrs_sync(struct fx *fx)
{
	struct gs_maps maps;

	gs_maps_init(&maps);
	maps.services = bpf_map__fd(fx->skel->maps.services);
	maps.backends = bpf_map__fd(fx->skel->maps.backends);
	maps.backend_addrs = bpf_map__fd(fx->skel->maps.backend_addrs);
	FX_TRY(gs_backend_addrs_sync(&maps), "backend_addrs sync");
}

int fx_backend_addr_get(struct fx *fx, const char *addr, uint16_t port, uint8_t proto,
			struct gs_backend_addr *value)
{
	struct gs_backend_addr_key key;

	memset(&key, 0, sizeof(key));
	key.addr = pkt_addr(addr);
	key.port = htons(port);
	key.proto = proto;
	if (bpf_map__lookup_elem(fx->skel->maps.backend_addrs, &key, sizeof(key), value,
				 sizeof(*value), 0))
		return -ENOENT;
	return 0;
}

void fx_service_add(struct fx *fx, uint32_t id, const char *vip, uint16_t port, uint8_t proto,
		    uint8_t hash_mode)
{
	struct gs_service_key key;
	struct gs_service svc;

	memset(&key, 0, sizeof(key));
	memset(&svc, 0, sizeof(svc));
	key.vip = pkt_addr(vip);
	key.port = htons(port);
	key.proto = proto;
	svc.id = id;
	svc.hash_mode = hash_mode;
	svc.state = GS_SVC_ACTIVE;
	FX_TRY(bpf_map__update_elem(fx->skel->maps.services, &key, sizeof(key), &svc, sizeof(svc),
				    BPF_ANY),
	       "service add");
	fx_backend_addrs_sync(fx);
}

void fx_backend_add(struct fx *fx, uint32_t id, uint32_t service_id, const char *addr,
		    uint16_t port, uint8_t group)
{
	struct gs_backend backend;

	memset(&backend, 0, sizeof(backend));
	backend.addr = pkt_addr(addr);
	backend.port = htons(port);
	backend.weight = 1;
	backend.service_id = service_id;
	backend.group = group;
	backend.state = GS_BACKEND_ACTIVE;
	FX_TRY(bpf_map__update_elem(fx->skel->maps.backends, &id, sizeof(id), &backend,
				    sizeof(backend), BPF_ANY),
	       "backend add");
	fx_backend_addrs_sync(fx);
}

struct gs_backend fx_backend_get(struct fx *fx, uint32_t id)
{
	struct gs_backend backend;

	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.backends, &id, sizeof(id), &backend,
				    sizeof(backend), 0),
	       "backend lookup");
	return backend;
}

void fx_backend_set_state(struct fx *fx, uint32_t id, uint8_t state)
{
	struct gs_backend backend = fx_backend_get(fx, id);

	backend.state = state;
	FX_TRY(bpf_map__update_elem(fx->skel->maps.backends, &id, sizeof(id), &backend,
				    sizeof(backend), BPF_ANY),
	       "backend state");
	fx_backend_addrs_sync(fx);
}

uint32_t fx_table_pick(const uint32_t *ids, size_t n, uint32_t backend_hash)
{
	return ids[(backend_hash % GS_MAGLEV_SIZE) % n];
}

void fx_table_publish(struct fx *fx, uint32_t service_id, uint8_t group, const uint32_t *ids,
		      size_t n)
{
	uint32_t outer_key = service_id * GS_GROUPS + group;
	uint32_t *slots, slot, *keys;
	LIBBPF_OPTS(bpf_map_batch_opts, batch);
	int table_fd;

	if (n == 0) {
		bpf_map__delete_elem(fx->skel->maps.maglev, &outer_key, sizeof(outer_key), 0);
		return;
	}
	table_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gs_test_maglev", sizeof(uint32_t),
				  sizeof(uint32_t), GS_MAGLEV_SIZE, NULL);
	if (table_fd < 0)
		fail_msg("fixture: maglev table create: %s", strerror(errno));
	slots = calloc(GS_MAGLEV_SIZE, sizeof(*slots));
	keys = calloc(GS_MAGLEV_SIZE, sizeof(*keys));
	if (!slots || !keys)
		fail_msg("fixture: out of memory");
	for (slot = 0; slot < GS_MAGLEV_SIZE; slot++) {
		keys[slot] = slot;
		slots[slot] = ids[slot % n];
	}
	slot = GS_MAGLEV_SIZE;
	FX_TRY(bpf_map_update_batch(table_fd, keys, slots, &slot, &batch), "maglev fill");
	free(slots);
	free(keys);
	/* One update swaps the whole table in; the outer map keeps it alive. */
	FX_TRY(bpf_map__update_elem(fx->skel->maps.maglev, &outer_key, sizeof(outer_key), &table_fd,
				    sizeof(table_fd), BPF_ANY),
	       "maglev publish");
	close(table_fd);
}

void fx_split_set(struct fx *fx, uint32_t service_id, uint32_t canary_ppm)
{
	struct gs_split split = {.canary_ppm = canary_ppm};

	FX_TRY(bpf_map__update_elem(fx->skel->maps.split, &service_id, sizeof(service_id), &split,
				    sizeof(split), BPF_ANY),
	       "split set");
}

void fx_override_add(struct fx *fx, uint32_t service_id, const char *prefix, uint32_t prefix_len,
		     uint8_t group)
{
	struct gs_override_key key;
	struct gs_override value;

	memset(&key, 0, sizeof(key));
	memset(&value, 0, sizeof(value));
	key.client = pkt_addr(prefix);
	key.service_id = service_id;
	key.prefixlen = 32 + (gs_addr_is_v4(&key.client) ? 96 : 0) + prefix_len;
	value.group = group;
	FX_TRY(bpf_map__update_elem(fx->skel->maps.overrides, &key, sizeof(key), &value,
				    sizeof(value), BPF_ANY),
	       "override add");
}

uint64_t fx_counter(struct fx *fx, enum gs_counter counter)
{
	int ncpus = libbpf_num_possible_cpus();
	uint32_t key = counter;
	uint64_t *values, sum = 0;
	int cpu;

	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		fail_msg("fixture: out of memory");
	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.stats, &key, sizeof(key), values,
				    sizeof(*values) * (size_t)ncpus, 0),
	       "stats lookup");
	for (cpu = 0; cpu < ncpus; cpu++)
		sum += values[cpu];
	free(values);
	return sum;
}

struct gs_backend_stats fx_backend_stats(struct fx *fx, uint32_t id)
{
	int ncpus = libbpf_num_possible_cpus();
	struct gs_backend_stats *values, sum;
	int cpu;

	memset(&sum, 0, sizeof(sum));
	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		fail_msg("fixture: out of memory");
	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.backend_stats, &id, sizeof(id), values,
				    sizeof(*values) * (size_t)ncpus, 0),
	       "backend_stats lookup");
	for (cpu = 0; cpu < ncpus; cpu++) {
		sum.new_flows += values[cpu].new_flows;
		sum.packets += values[cpu].packets;
		sum.bytes += values[cpu].bytes;
		sum.rx_packets += values[cpu].rx_packets;
		sum.rx_bytes += values[cpu].rx_bytes;
		sum.connects += values[cpu].connects;
		sum.conn_refused += values[cpu].conn_refused;
		sum.conn_timeouts += values[cpu].conn_timeouts;
		sum.resets += values[cpu].resets;
		sum.responses += values[cpu].responses;
		sum.http_1xx += values[cpu].http_1xx;
		sum.http_2xx += values[cpu].http_2xx;
		sum.http_3xx += values[cpu].http_3xx;
		sum.http_4xx += values[cpu].http_4xx;
		sum.http_5xx += values[cpu].http_5xx;
		sum.dns_answers += values[cpu].dns_answers;
		sum.dns_servfail += values[cpu].dns_servfail;
		sum.dns_refused += values[cpu].dns_refused;
	}
	free(values);
	return sum;
}

struct gs_udp_slot fx_udp_slot(struct fx *fx, uint32_t backend_id, uint64_t start_ns)
{
	int ncpus = libbpf_num_possible_cpus();
	uint32_t epoch = (uint32_t)(start_ns >> GS_UDP_SLOT_SHIFT);
	struct gs_udp_slots *values;
	struct gs_udp_slot sum = {.epoch = epoch};
	int cpu;

	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		fail_msg("fixture: out of memory");
	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.udp_slots, &backend_id, sizeof(backend_id),
				    values, sizeof(*values) * (size_t)ncpus, 0),
	       "udp_slots lookup");
	for (cpu = 0; cpu < ncpus; cpu++) {
		const struct gs_udp_slot *s = &values[cpu].slot[epoch % GS_UDP_SLOTS];

		if (s->epoch != epoch)
			continue;
		sum.started += s->started;
		sum.answered += s->answered;
	}
	free(values);
	return sum;
}

/* One per-CPU histogram of map at key, summed over the CPUs. */
static struct gs_hist hist_sum(struct bpf_map *map, uint32_t key, const char *what)
{
	int ncpus = libbpf_num_possible_cpus();
	struct gs_hist *values, sum;
	uint32_t b;
	int cpu;

	memset(&sum, 0, sizeof(sum));
	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		fail_msg("fixture: out of memory");
	FX_TRY(bpf_map__lookup_elem(map, &key, sizeof(key), values, sizeof(*values) * (size_t)ncpus,
				    0),
	       what);
	for (cpu = 0; cpu < ncpus; cpu++)
		for (b = 0; b < GS_HIST_BUCKETS; b++)
			sum.bucket[b] += values[cpu].bucket[b];
	free(values);
	return sum;
}

struct gs_hist fx_hist(struct fx *fx, uint32_t backend_id, enum gs_hist_kind kind)
{
	return hist_sum(fx->skel->maps.latency, backend_id * GS_HIST_KINDS + kind,
			"latency lookup");
}

uint64_t fx_hist_total(const struct gs_hist *hist)
{
	uint64_t total = 0;
	uint32_t b;

	for (b = 0; b < GS_HIST_BUCKETS; b++)
		total += hist->bucket[b];
	return total;
}

struct fx_drain {
	struct gs_event *out;
	size_t max;
	size_t n;
};

static int fx_drain_one(void *ctx, void *data, size_t size)
{
	struct fx_drain *drain = ctx;

	if (size != sizeof(struct gs_event))
		fail_msg("ring buffer record of %zu bytes, want %zu", size,
			 sizeof(struct gs_event));
	if (drain->n >= drain->max)
		fail_msg("more than %zu events in the ring buffer", drain->max);
	memcpy(&drain->out[drain->n++], data, size);
	return 0;
}

size_t fx_events_drain(struct fx *fx, struct gs_event *out, size_t max)
{
	struct fx_drain drain = {.out = out, .max = max};
	struct ring_buffer *rb;
	int n;

	rb = ring_buffer__new(bpf_map__fd(fx->skel->maps.events), fx_drain_one, &drain, NULL);
	if (!rb)
		fail_msg("fixture: ring_buffer__new: %s", strerror(errno));
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	if (n < 0)
		fail_msg("fixture: ring_buffer__consume: %d", n);
	return drain.n;
}

int fx_flow_get(struct fx *fx, const struct gs_flow_key *key, struct gs_flow *flow)
{
	if (bpf_map__lookup_elem(fx->skel->maps.flows, key, sizeof(*key), flow, sizeof(*flow), 0))
		return -ENOENT;
	return 0;
}

void fx_flow_del(struct fx *fx, const struct gs_flow_key *key)
{
	FX_TRY(bpf_map__delete_elem(fx->skel->maps.flows, key, sizeof(*key), 0), "flow delete");
}

int fx_dep_slot(struct fx *fx, const char *backend, const char *dep, uint16_t port, uint32_t *slot)
{
	struct gs_dep_key key;

	memset(&key, 0, sizeof(key));
	key.backend = pkt_addr(backend);
	key.dep = pkt_addr(dep);
	key.dport = htons(port);
	if (bpf_map__lookup_elem(fx->skel->maps.dep_slots, &key, sizeof(key), slot, sizeof(*slot),
				 0))
		return -ENOENT;
	return 0;
}

struct gs_dep_stats fx_dep_stats(struct fx *fx, uint32_t slot)
{
	int ncpus = libbpf_num_possible_cpus();
	struct gs_dep_stats *values, sum;
	int cpu;

	memset(&sum, 0, sizeof(sum));
	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		fail_msg("fixture: out of memory");
	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.dep_stats, &slot, sizeof(slot), values,
				    sizeof(*values) * (size_t)ncpus, 0),
	       "dep_stats lookup");
	for (cpu = 0; cpu < ncpus; cpu++)
		gs_dep_stats_add(&sum, &values[cpu], 1);
	free(values);
	return sum;
}

struct gs_hist fx_dep_hist(struct fx *fx, uint32_t slot, enum gs_dep_hist_kind kind)
{
	return hist_sum(fx->skel->maps.dep_latency, slot * GS_DEP_HIST_KINDS + kind,
			"dep_latency lookup");
}

int fx_dep_flow_get(struct fx *fx, const struct gs_flow_key *key, struct gs_dep_flow *flow)
{
	if (bpf_map__lookup_elem(fx->skel->maps.dep_flows, key, sizeof(*key), flow, sizeof(*flow),
				 0))
		return -ENOENT;
	return 0;
}

void fx_dep_kind_set(struct fx *fx, const char *addr, uint16_t port, uint32_t proto)
{
	struct gs_dep_kind_key key;
	struct gs_dep_kind kind = {.proto = proto};

	memset(&key, 0, sizeof(key));
	if (addr)
		key.addr = pkt_addr(addr);
	key.port = htons(port);
	FX_TRY(bpf_map__update_elem(fx->skel->maps.dep_kinds, &key, sizeof(key), &kind,
				    sizeof(kind), BPF_ANY),
	       "dep_kinds update");
}

uint32_t fx_dep_next(struct fx *fx)
{
	struct gs_dep_next next;
	uint32_t zero = 0;

	memset(&next, 0, sizeof(next));
	FX_TRY(bpf_map__lookup_elem(fx->skel->maps.dep_next, &zero, sizeof(zero), &next,
				    sizeof(next), 0),
	       "dep_next lookup");
	return next.next;
}

int fx_test_run(int prog_fd, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
		uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = PKT_MAX, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err)
		return err;
	*out_len = opts.data_size_out;
	*retval = opts.retval;
	return 0;
}

static uint32_t fx_run(int prog_fd, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	uint32_t retval = 0;

	FX_TRY(fx_test_run(prog_fd, in, len, out, out_len, &retval), "BPF_PROG_TEST_RUN");
	return retval;
}

uint32_t fx_run_xdp(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	return fx_run(fx->xdp_fd, in, len, out, out_len);
}

uint32_t fx_run_tc(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	return fx_run(fx->tc_fd, in, len, out, out_len);
}

uint32_t fx_run_dep_out(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	return fx_run(fx->dep_out_fd, in, len, out, out_len);
}

uint32_t fx_run_dep_in(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	return fx_run(fx->dep_in_fd, in, len, out, out_len);
}
