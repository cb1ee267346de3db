/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The real graysplit object, loaded unpinned with small flow tables, and the
 * few map writes a test needs to set up a service. Maglev tables are filled
 * round-robin here (table[slot] = ids[slot % n]) so a test can predict the
 * backend exactly; the real builder is tested in tests/unit.
 */
#ifndef GS_TEST_FIXTURE_H
#define GS_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "graysplit.skel.h"

#define FX_FLOWS 4096
/* A ring buffer a test can fill: 102 events of 40 bytes (header + event). */
#define FX_RING_SMALL 4096

struct fx {
	struct graysplit_bpf *skel;
	int xdp_fd;
	int tc_fd;
	int dep_out_fd; /* gs_tc_dep_out: tc egress of a backend host (what it sends) */
	int dep_in_fd;	/* gs_tc_dep_in: tc ingress of a backend host (what comes back) */
};

/* cmocka setup/teardown: *state becomes a loaded struct fx with every map
 * as a fresh load has it (the object is loaded once per test program and
 * reset after each test). */
int fx_setup(void **state);
/* The same with the events ring shrunk to FX_RING_SMALL bytes. */
int fx_setup_small_ring(void **state);
int fx_teardown(void **state);
/* Every map back to its state right after loading: hash maps emptied,
 * arrays zeroed, inner maps dropped, the ring drained. */
int fx_reset(struct fx *fx);

/* Services and backends go in as the control plane writes them, and each
 * write brings backend_addrs up to date with the real
 * gs_backend_addrs_sync (user/core/backend_addrs.c), as a command does. */
void fx_service_add(struct fx *fx, uint32_t id, const char *vip, uint16_t port, uint8_t proto,
		    uint8_t hash_mode);
void fx_backend_add(struct fx *fx, uint32_t id, uint32_t service_id, const char *addr,
		    uint16_t port, uint8_t group);
void fx_backend_set_state(struct fx *fx, uint32_t id, uint8_t state);
struct gs_backend fx_backend_get(struct fx *fx, uint32_t id);
/* backend_addrs as the backends and services maps make it now. */
void fx_backend_addrs_sync(struct fx *fx);
/* 0 and *value filled if backend_addrs has addr:port/proto, else -ENOENT. */
int fx_backend_addr_get(struct fx *fx, const char *addr, uint16_t port, uint8_t proto,
			struct gs_backend_addr *value);

/* Publish a new table for (service, group); n == 0 removes the table. */
void fx_table_publish(struct fx *fx, uint32_t service_id, uint8_t group, const uint32_t *ids,
		      size_t n);
/* Which backend the round-robin table of ids gives a backend hash. */
uint32_t fx_table_pick(const uint32_t *ids, size_t n, uint32_t backend_hash);

void fx_split_set(struct fx *fx, uint32_t service_id, uint32_t canary_ppm);
/* prefix_len counts in the address's own family (e.g. 24 for 10.1.2.0/24). */
void fx_override_add(struct fx *fx, uint32_t service_id, const char *prefix, uint32_t prefix_len,
		     uint8_t group);

uint64_t fx_counter(struct fx *fx, enum gs_counter counter);
struct gs_backend_stats fx_backend_stats(struct fx *fx, uint32_t id);
/* The UDP flows started at start_ns's slot on a backend and how many of
 * them were answered, summed over the CPUs whose copy holds that slot. */
struct gs_udp_slot fx_udp_slot(struct fx *fx, uint32_t backend_id, uint64_t start_ns);
/* One backend's histogram of a kind, summed over CPUs, and its sample count. */
struct gs_hist fx_hist(struct fx *fx, uint32_t backend_id, enum gs_hist_kind kind);
uint64_t fx_hist_total(const struct gs_hist *hist);
/* Consume every event waiting in the ring buffer into out (at most max;
 * more fails the test); returns how many. */
size_t fx_events_drain(struct fx *fx, struct gs_event *out, size_t max);
/* 0 and *flow filled if the flow table has key, else -ENOENT. */
int fx_flow_get(struct fx *fx, const struct gs_flow_key *key, struct gs_flow *flow);
void fx_flow_del(struct fx *fx, const struct gs_flow_key *key);

/* The downstream watch's maps. 0 and *slot filled if dep_slots has the
 * (backend, dependency, port) pair, else -ENOENT. */
int fx_dep_slot(struct fx *fx, const char *backend, const char *dep, uint16_t port, uint32_t *slot);
/* A pair's dep_stats, summed over CPUs. */
struct gs_dep_stats fx_dep_stats(struct fx *fx, uint32_t slot);
/* A pair's dep_latency histogram of a kind, summed over CPUs (fx_hist_total
 * counts its samples). */
struct gs_hist fx_dep_hist(struct fx *fx, uint32_t slot, enum gs_dep_hist_kind kind);
/* 0 and *flow filled if dep_flows has key (as the backend sends), else -ENOENT. */
int fx_dep_flow_get(struct fx *fx, const struct gs_flow_key *key, struct gs_dep_flow *flow);
/* A dep_kinds entry, as the CLI writes one; addr NULL: any address. */
void fx_dep_kind_set(struct fx *fx, const char *addr, uint16_t port, uint32_t proto);
/* dep_next: the next slot the programs would hand out. */
uint32_t fx_dep_next(struct fx *fx);

/* Run one frame (repeat = 1: the kernel does not restore a rewritten frame
 * between repetitions). out gets the frame as the program left it. */
uint32_t fx_run_xdp(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);
uint32_t fx_run_tc(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);
/* The downstream watch's programs (bpf/lib/downstream.h), as fx_run_tc. */
uint32_t fx_run_dep_out(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out,
			size_t *out_len);
uint32_t fx_run_dep_in(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);
/* The same on a program fd, returning the syscall's error instead of failing. */
int fx_test_run(int prog_fd, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
		uint32_t *retval);

#endif
