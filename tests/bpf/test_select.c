// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Group selection: client overrides and the client hash mode. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

static void select_override_canary_wins_over_split_0(void **state)
{
	struct scenario sc;
	struct pkt_spec pkt;
	uint16_t sport;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_override_add(sc.fx, sc.service_id, "192.168.1.0", 24, GS_GROUP_CANARY);
	for (sport = 40000; sport < 40016; sport++) {
		pkt = sc_client_pkt(&sc, sport, PKT_SYN);
		CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_CANARY,
			 "client in the override CIDR gets canary at 0%");
	}
	sc.client = "192.168.2.5";
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_STABLE,
		 "client outside the CIDR follows the split");
}

static void select_override_stable_wins_over_split_100(void **state)
{
	struct scenario sc;
	struct pkt_spec pkt;
	uint16_t sport;

	sc_setup(&sc, *state, true, IPPROTO_TCP, GS_HASH_FLOW);
	fx_split_set(sc.fx, sc.service_id, GS_PPM_MAX);
	fx_override_add(sc.fx, sc.service_id, "fd0c::", 64, GS_GROUP_STABLE);
	for (sport = 40000; sport < 40016; sport++) {
		pkt = sc_client_pkt(&sc, sport, PKT_SYN);
		CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_STABLE,
			 "client in the override CIDR gets stable at 100%");
	}
	sc.client = "fd0d::5";
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_CANARY,
		 "client outside the CIDR follows the split");
}

static void select_longest_override_prefix_wins(void **state)
{
	struct scenario sc;
	struct pkt_spec pkt;

	sc_setup(&sc, *state, false, IPPROTO_UDP, GS_HASH_FLOW);
	fx_override_add(sc.fx, sc.service_id, "192.168.0.0", 16, GS_GROUP_CANARY);
	fx_override_add(sc.fx, sc.service_id, "192.168.1.5", 32, GS_GROUP_STABLE);
	fx_split_set(sc.fx, sc.service_id, GS_PPM_MAX);
	pkt = sc_client_pkt(&sc, 40000, 0);
	CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_STABLE,
		 "the /32 override beats the /16 one");
}

static void select_override_of_other_service_ignored(void **state)
{
	struct scenario sc;
	struct pkt_spec pkt;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_override_add(sc.fx, sc.service_id + 1, "192.168.1.0", 24, GS_GROUP_CANARY);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	CHECK_EQ(fx_backend_get(sc.fx, sc_forward(&sc, &pkt)).group, GS_GROUP_STABLE,
		 "another service's override does not apply");
}

/*
 * Client hash mode at 50%: every port of one client lands in the group the
 * client's address hash predicts; find a client of each group.
 */
static void check_client_mode(struct fx *fx, bool v6)
{
	static const char *const v4_clients[] = {"192.168.1.5",	 "192.168.1.6", "192.168.1.7",
						 "192.168.1.8",	 "192.168.1.9", "192.168.1.10",
						 "192.168.1.11", "192.168.1.12"};
	static const char *const v6_clients[] = {"fd0c::5", "fd0c::6", "fd0c::7", "fd0c::8",
						 "fd0c::9", "fd0c::a", "fd0c::b", "fd0c::c"};
	unsigned int seen[GS_GROUPS] = {0, 0};
	struct scenario sc;
	size_t c;

	sc_setup(&sc, fx, v6, IPPROTO_TCP, GS_HASH_CLIENT);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX / 2);
	for (c = 0; c < 8; c++) {
		struct pkt_spec first;
		uint8_t group;
		uint16_t sport;
		uint32_t id;

		sc.client = v6 ? v6_clients[c] : v4_clients[c];
		first = sc_client_pkt(&sc, 50000, PKT_SYN);
		group = sc_predict_group(&sc, &first, GS_PPM_MAX / 2);
		id = sc_forward(&sc, &first);
		CHECK_EQ(fx_backend_get(fx, id).group, group, "group predicted by the client hash");
		for (sport = 50001; sport < 50017; sport++) {
			struct pkt_spec pkt = sc_client_pkt(&sc, sport, PKT_SYN);

			CHECK_EQ(sc_forward(&sc, &pkt), id,
				 "same client, other port: same group and backend");
		}
		seen[group]++;
	}
	CHECK_TRUE(seen[GS_GROUP_STABLE] > 0, "some clients stable at 50%");
	CHECK_TRUE(seen[GS_GROUP_CANARY] > 0, "some clients canary at 50%");
}

static void select_client_mode_v4_one_client_one_group(void **state)
{
	check_client_mode(*state, false);
}

static void select_client_mode_v6_one_client_one_group(void **state)
{
	check_client_mode(*state, true);
}

/* Whether a map is as a fresh load has it: no key (hash-like, array of
 * maps), all zero (arrays), nothing to read (ring). */
static int discard(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(size_t *)ctx)++;
	return 0;
}

static bool map_is_fresh(const struct bpf_map *map, int ncpus)
{
	int fd = bpf_map__fd(map);
	uint32_t i, n = bpf_map__max_entries(map);
	size_t vsz = bpf_map__value_size(map), bytes = vsz;
	unsigned char key[64], *val;
	struct ring_buffer *rb;
	size_t records = 0;
	bool fresh = true;

	switch (bpf_map__type(map)) {
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		bytes = ((vsz + 7) / 8) * 8 * (size_t)ncpus;
		/* fall through */
	case BPF_MAP_TYPE_ARRAY:
		val = malloc(bytes);
		assert_non_null(val);
		for (i = 0; i < n && fresh; i++) {
			assert_int_equal(bpf_map_lookup_elem(fd, &i, val), 0);
			for (size_t b = 0; b < bytes && fresh; b++)
				fresh = val[b] == 0;
		}
		free(val);
		return fresh;
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
		for (i = 0; i < n && fresh; i++) {
			uint32_t inner;

			fresh = bpf_map_lookup_elem(fd, &i, &inner) != 0;
		}
		return fresh;
	case BPF_MAP_TYPE_RINGBUF:
		rb = ring_buffer__new(fd, discard, &records, NULL);
		assert_non_null(rb);
		assert_true(ring_buffer__consume(rb) >= 0);
		ring_buffer__free(rb);
		return records == 0;
	default:
		return bpf_map_get_next_key(fd, NULL, key) != 0 && errno == ENOENT;
	}
}

/*
 * The fixture hands every test the same loaded object, reset: after a test
 * that filled the tables, counters, histograms, UDP slots, events and an
 * override, every map is as loaded again, and the same packet is a new flow.
 */
static void fixture_reset_leaves_every_map_as_loaded(void **state)
{
	int ncpus = libbpf_num_possible_cpus();
	struct fx *fx = *state;
	struct scenario sc, su;
	struct pkt_spec pkt, reply;
	uint8_t frame[256], out[256];
	size_t len, out_len;
	struct bpf_map *map;
	uint32_t backend;
	int dirty = 0;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_override_add(fx, sc.service_id, "192.168.1.0", 24, GS_GROUP_STABLE);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	backend = sc_forward(&sc, &pkt);
	reply = sc_reply_pkt(&sc, backend, &pkt, PKT_SYN | PKT_ACK);
	len = pkt_build(&reply, frame);
	out_len = sizeof(out);
	CHECK_EQ(fx_run_tc(fx, frame, len, out, &out_len), TC_ACT_OK, "the SYN-ACK's verdict");
	sc_setup_port(&su, fx, true, IPPROTO_UDP, GS_HASH_FLOW, 53);
	pkt = sc_client_pkt(&su, 40001, 0);
	sc_forward(&su, &pkt);
	bpf_object__for_each_map(map, fx->skel->obj) dirty += !map_is_fresh(map, ncpus);
	print_message("# %d maps written by the test\n", dirty);
	CHECK_TRUE(dirty >= 8, "the test wrote to the maps it means to");

	assert_int_equal(fx_reset(fx), 0);
	bpf_object__for_each_map(map, fx->skel->obj) if (!map_is_fresh(map, ncpus))
		fail_msg("map %s is not as loaded after the reset", bpf_map__name(map));

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	sc_forward(&sc, &pkt);
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_NEW), 1, "the same SYN is a new flow again");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(select_override_canary_wins_over_split_0),
		FX_TEST(select_override_stable_wins_over_split_100),
		FX_TEST(select_longest_override_prefix_wins),
		FX_TEST(select_override_of_other_service_ignored),
		FX_TEST(select_client_mode_v4_one_client_one_group),
		FX_TEST(select_client_mode_v6_one_client_one_group),
		FX_TEST(fixture_reset_leaves_every_map_as_loaded),
	};

	return cmocka_run_group_tests_name("bpf_select", tests, NULL, NULL);
}
