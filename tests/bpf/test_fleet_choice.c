// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fleet mode's promise that a 5-tuple goes to the same group and the same
 * backend on every node: three instances of the real object, each set up
 * through the control plane's own code (gs_service_add, gs_backend_add with
 * its real Maglev tables, gs_split_set) but with the backends added in
 * different orders, so that their backend ids and table slots differ, and
 * the fleet's seed in each config. 10,000 new connections (SYNs of random
 * clients) through each node's XDP program must be rewritten to the same
 * backend on all three. A node with another seed must choose differently
 * (the seed is used), and choose alike again once it has the fleet's.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "backend.h"
#include "config.h"
#include "graysplit.skel.h"
#include "maps.h"
#include "packet.h"
#include "service.h"
#include "loader.h"
#include "split.h"

#define NODES	  3
#define TUPLES	  10000
#define NBACKENDS 10
#define SEED	  0x5eed1234u

struct node {
	struct graysplit_bpf *skel;
	struct gs_maps maps;
	int xdp_fd;
};

static struct node nodes[NODES + 1];

static const struct gs_service_key *service(void)
{
	static struct gs_service_key k;

	memset(&k, 0, sizeof(k));
	k.vip = pkt_addr("10.77.0.10");
	k.port = htons(80);
	k.proto = IPPROTO_TCP;
	return &k;
}

static void node_load(struct node *n)
{
	size_t i;

	n->skel = gs_skel_open();
	assert_non_null(n->skel);
	bpf_map__set_max_entries(n->skel->maps.flows, 4096);
	assert_int_equal(graysplit_bpf__load(n->skel), 0);
	n->xdp_fd = bpf_program__fd(n->skel->progs.gs_xdp_fwd);
	gs_maps_init(&n->maps);
	for (i = 0; i < GS_MAP_COUNT; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(n->skel->obj, gs_map_names[i]);

		assert_non_null(m);
		((int *)&n->maps)[i] = bpf_map__fd(m);
	}
}

/* The service with NBACKENDS backends (the last two canary, weights 1..3)
 * added in the order order[] gives, at 20% canary, with seed. */
static void node_setup(struct node *n, const int *order, uint32_t seed)
{
	struct gs_config cfg;
	size_t i;

	assert_int_equal(gs_service_add(&n->maps, service(), GS_HASH_FLOW), 0);
	for (i = 0; i < NBACKENDS; i++) {
		char addr[32];
		int b = order[i];
		union gs_addr a;

		snprintf(addr, sizeof(addr), "10.77.2.%d", 11 + b);
		a = pkt_addr(addr);
		assert_int_equal(
			gs_backend_add(&n->maps, service(), &a, 80,
				       b >= NBACKENDS - 2 ? GS_GROUP_CANARY : GS_GROUP_STABLE,
				       (uint16_t)(1 + b % 3)),
			0);
	}
	assert_int_equal(gs_split_set(&n->maps, service(), 200000), 0);
	assert_int_equal(gs_config_read(&n->maps, &cfg), 0);
	cfg.hash_seed = seed;
	assert_int_equal(gs_config_write(&n->maps, &cfg), 0);
}

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* The backend address a node rewrites a new connection's SYN to. */
static union gs_addr chosen(struct node *n, const struct pkt_spec *spec)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len = pkt_build(spec, in), out_len = sizeof(out);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	struct pkt_view view;

	assert_int_equal(bpf_prog_test_run_opts(n->xdp_fd, &opts), 0);
	out_len = opts.data_size_out;
	assert_true(pkt_parse(out, out_len, &view));
	return view.dst;
}

static int setup(void **state)
{
	static const int orders[NODES + 1][NBACKENDS] = {
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		{4, 9, 0, 7, 2, 8, 5, 1, 6, 3},
		{3, 1, 4, 0, 5, 9, 2, 6, 8, 7},
	};
	int i;

	(void)state;
	for (i = 0; i <= NODES; i++) {
		node_load(&nodes[i]);
		/* The extra node first has a seed of its own. */
		node_setup(&nodes[i], orders[i], i == NODES ? SEED ^ 0xffu : SEED);
	}
	return 0;
}

static int teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i <= NODES; i++)
		graysplit_bpf__destroy(nodes[i].skel);
	return 0;
}

static void spec_for(uint32_t t, struct pkt_spec *spec, char *src)
{
	uint32_t r = rng();

	snprintf(src, 32, "10.%u.%u.%u", 1 + (r >> 24) % 200, (r >> 16) & 0xff, (r >> 8) & 0xff);
	memset(spec, 0, sizeof(*spec));
	spec->src = src;
	spec->dst = "10.77.0.10";
	spec->sport = (uint16_t)(1024 + (rng() % 60000));
	spec->dport = 80;
	spec->proto = IPPROTO_TCP;
	spec->tcp_flags = PKT_SYN;
	(void)t;
}

static void test_same_choice_on_every_node(void **state)
{
	uint32_t t, differ = 0, canary = 0;
	int i;

	(void)state;
	rng_state = 0x12345678u;
	for (t = 0; t < TUPLES; t++) {
		struct pkt_spec spec;
		char src[32];
		union gs_addr first, other;

		spec_for(t, &spec, src);
		first = chosen(&nodes[0], &spec);
		for (i = 1; i < NODES; i++) {
			other = chosen(&nodes[i], &spec);
			if (memcmp(&first, &other, sizeof(first)))
				fail_msg("tuple %u (%s:%u): node 0 and node %d chose differently",
					 t, src, spec.sport, i);
		}
		other = chosen(&nodes[NODES], &spec);
		differ += memcmp(&first, &other, sizeof(first)) != 0;
		/* 10.77.2.19 and .20 are the canaries. */
		canary += first.b[15] >= 11 + NBACKENDS - 2;
	}
	printf("# %u tuples: the same backend on %d nodes; %u to the canary (%.1f%%); "
	       "a node with another seed chose differently for %u\n",
	       TUPLES, NODES, canary, 100.0 * canary / TUPLES, differ);
	/* The share holds, and another seed is another choice. */
	assert_in_range(canary, TUPLES * 17 / 100, TUPLES * 23 / 100);
	assert_true(differ > TUPLES / 4);
}

static void test_the_fleet_seed_makes_the_odd_node_agree(void **state)
{
	struct gs_config cfg;
	uint32_t t;

	(void)state;
	assert_int_equal(gs_config_read(&nodes[NODES].maps, &cfg), 0);
	cfg.hash_seed = SEED;
	assert_int_equal(gs_config_write(&nodes[NODES].maps, &cfg), 0);
	rng_state = 0x9abcdef1u;
	for (t = 0; t < TUPLES / 10; t++) {
		struct pkt_spec spec;
		char src[32];
		union gs_addr a, b;

		spec_for(t, &spec, src);
		a = chosen(&nodes[0], &spec);
		b = chosen(&nodes[NODES], &spec);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_choice_on_every_node),
		cmocka_unit_test(test_the_fleet_seed_makes_the_odd_node_agree),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
