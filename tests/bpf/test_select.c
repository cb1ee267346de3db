// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Group selection: client overrides and the client hash mode. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <netinet/in.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(select_override_canary_wins_over_split_0),
		FX_TEST(select_override_stable_wins_over_split_100),
		FX_TEST(select_longest_override_prefix_wins),
		FX_TEST(select_override_of_other_service_ignored),
		FX_TEST(select_client_mode_v4_one_client_one_group),
		FX_TEST(select_client_mode_v6_one_client_one_group),
	};

	return cmocka_run_group_tests_name("bpf_select", tests, NULL, NULL);
}
