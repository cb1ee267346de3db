// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The split as the data path computes it (include/gs_hash.h, mirrored from
 * bpf/lib/select.h) over synthetic flows: monotone when the share moves,
 * realised shares on target, client mode keeping a client in one place, and
 * the group and backend hashes independent of each other.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>

#include "error.h"
#include "graysplit.h"
#include "gs_hash.h"
#include "maglev.h"
#include "rng.h"

#define N_FLOWS		 200000
#define N_CLIENTS	 20000
#define FLOWS_PER_CLIENT 10
#define PPM_PER_PERCENT	 10000u

static struct gs_flow_key flows[N_FLOWS];
static uint32_t maglev_table[GS_MAGLEV_SIZE];

/* A random client address, IPv4 (v4-mapped) or IPv6, as the data path keys it. */
static void random_client(union gs_addr *a, uint64_t *rng, bool v6)
{
	uint64_t r = rng_next(rng);

	memset(a, 0, sizeof(*a));
	if (v6) {
		uint64_t r2 = rng_next(rng);

		a->b[0] = 0xfd;
		a->b[1] = 0x10;
		memcpy(&a->b[8], &r, 8);
		memcpy(&a->b[2], &r2, 6);
	} else {
		a->b[10] = 0xff;
		a->b[11] = 0xff;
		memcpy(&a->b[12], &r, 4);
	}
}

static void make_flow(struct gs_flow_key *k, const union gs_addr *client, uint16_t sport)
{
	memset(k, 0, sizeof(*k));
	k->src = *client;
	if (gs_addr_is_v4(client)) {
		k->dst.b[10] = 0xff;
		k->dst.b[11] = 0xff;
		k->dst.b[12] = 10;
		k->dst.b[15] = 10;
	} else {
		k->dst.b[0] = 0xfd;
		k->dst.b[15] = 0x10;
	}
	k->sport = htons(sport);
	k->dport = htons(80);
	k->proto = IPPROTO_TCP;
}

/* 200k flows, half IPv4 and half IPv6, random client and source port. */
static int make_flows(void **state)
{
	uint64_t rng = 0x5eed;
	size_t i;

	(void)state;
	for (i = 0; i < N_FLOWS; i++) {
		union gs_addr client;

		random_client(&client, &rng, i & 1);
		make_flow(&flows[i], &client, (uint16_t)(1024 + rng_next(&rng) % 64512));
	}
	return 0;
}

/* The two hashes of one flow, exactly as bpf/lib/select.h derives them. */
static uint32_t group_hash(const struct gs_flow_key *k, uint8_t mode)
{
	return mode == GS_HASH_CLIENT ? gs_hash_addr(&k->src, GS_SEED_GROUP)
				      : gs_hash_flow(k, GS_SEED_GROUP);
}

static uint32_t backend_hash(const struct gs_flow_key *k, uint8_t mode)
{
	return mode == GS_HASH_CLIENT ? gs_hash_addr(&k->src, GS_SEED_BACKEND)
				      : gs_hash_flow(k, GS_SEED_BACKEND);
}

static bool canary(const struct gs_flow_key *k, uint32_t ppm)
{
	return gs_is_canary(group_hash(k, GS_HASH_FLOW), ppm);
}

static double points(size_t count, size_t total)
{
	return 100.0 * (double)count / (double)total;
}

/*
 * Raising the share from 5% to 10% moves no key canary -> stable, and moves
 * 5 +- 0.3 points of all keys stable -> canary.
 */
/*
 * One key on the stack, its source port stepped as a client's ephemeral
 * ports are, hashed after each store: every hash must differ. (The case
 * that prompted it, gcc -O2 reading the key before the stores when the
 * words were plain __u32, does not show in this sanitized build; the
 * may_alias type in gs_hash.h is the fix, this checks the property.)
 */
static void test_split_flow_hash_sees_each_store_to_the_key(void **state)
{
	struct gs_flow_key k;
	uint32_t h[64];
	int i, j;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.proto = 6;
	k.dport = htons(80);
	for (i = 0; i < 64; i++) {
		k.sport = htons((uint16_t)(40000 + 2 * i));
		h[i] = gs_hash_flow(&k, GS_SEED_GROUP);
	}
	for (i = 0; i < 64; i++)
		for (j = 0; j < i; j++)
			assert_int_not_equal(h[i], h[j]);
}

static void test_split_raise_5_to_10pct_moves_only_stable_to_canary_5_pct_of_keys(void **state)
{
	size_t i, up = 0, down = 0;
	double moved;

	(void)state;
	for (i = 0; i < N_FLOWS; i++) {
		bool before = canary(&flows[i], 5 * PPM_PER_PERCENT);
		bool after = canary(&flows[i], 10 * PPM_PER_PERCENT);

		up += !before && after;
		down += before && !after;
	}
	moved = points(up, N_FLOWS);
	print_message("# split 5%% -> 10%%: %zu of %d flows moved stable->canary (%.3f points), "
		      "%zu canary->stable\n",
		      up, N_FLOWS, moved, down);
	assert_int_equal(down, 0);
	assert_true(moved >= 4.7 && moved <= 5.3);
}

/*
 * Lowering 10% -> 5% is the exact reverse of raising 5% -> 10%: the keys
 * that go canary -> stable are exactly, key by key, those the raise moved,
 * and none goes stable -> canary.
 */
static void test_split_lower_10_to_5pct_is_exact_reverse(void **state)
{
	static bool moved_up[N_FLOWS];
	size_t i, n_up = 0, n_back = 0;

	(void)state;
	for (i = 0; i < N_FLOWS; i++) {
		moved_up[i] = !canary(&flows[i], 5 * PPM_PER_PERCENT) &&
			      canary(&flows[i], 10 * PPM_PER_PERCENT);
		n_up += moved_up[i];
	}
	for (i = 0; i < N_FLOWS; i++) {
		bool at10 = canary(&flows[i], 10 * PPM_PER_PERCENT);
		bool at5 = canary(&flows[i], 5 * PPM_PER_PERCENT);

		if (!at10 && at5)
			fail_msg("flow %zu went stable -> canary on lowering", i);
		if ((at10 && !at5) != moved_up[i])
			fail_msg("flow %zu: moved back %d, moved up %d", i, at10 && !at5,
				 moved_up[i]);
		n_back += at10 && !at5;
	}
	print_message("# split 10%% -> 5%%: %zu flows moved canary->stable (raise moved %zu), "
		      "none the other way\n",
		      n_back, n_up);
	assert_int_equal(n_back, n_up);
	assert_true(n_back > 0);
}

/* Along a ladder of shares, the canary set only grows: each is a subset of
 * the next, and the keys added are those whose hash lies between the two. */
static void test_split_canary_sets_nested_along_share_ladder(void **state)
{
	static const uint32_t ladder[] = {0,	  1,	  100,	  5000,	  50000,  100000,
					  122500, 333333, 500000, 999999, 1000000};
	size_t i, s;

	(void)state;
	for (i = 0; i < N_FLOWS; i++) {
		uint32_t h = group_hash(&flows[i], GS_HASH_FLOW) % GS_PPM_MAX;

		for (s = 0; s + 1 < sizeof(ladder) / sizeof(ladder[0]); s++) {
			bool lo = canary(&flows[i], ladder[s]);
			bool hi = canary(&flows[i], ladder[s + 1]);

			if (lo && !hi)
				fail_msg("flow %zu canary at %u ppm, stable at %u ppm", i,
					 ladder[s], ladder[s + 1]);
			assert_int_equal(hi && !lo, h >= ladder[s] && h < ladder[s + 1]);
		}
	}
}

static void test_split_0ppm_none_canary_1e6ppm_all_canary(void **state)
{
	static const uint32_t edge_hashes[] = {0,	1,	    999999,	    1000000,
					       1999999, 0x7fffffff, UINT32_MAX - 1, UINT32_MAX};
	size_t i;

	(void)state;
	for (i = 0; i < N_FLOWS; i++) {
		assert_false(canary(&flows[i], 0));
		assert_true(canary(&flows[i], GS_PPM_MAX));
	}
	for (i = 0; i < sizeof(edge_hashes) / sizeof(edge_hashes[0]); i++) {
		assert_false(gs_is_canary(edge_hashes[i], 0));
		assert_true(gs_is_canary(edge_hashes[i], GS_PPM_MAX));
	}
	/* 1 ppm is exactly the hashes that reduce to 0. */
	assert_true(gs_is_canary(0, 1));
	assert_true(gs_is_canary(1000000, 1));
	assert_false(gs_is_canary(1, 1));
}

/* Realised canary share within +-0.3 points of the target, several targets. */
static void test_split_realised_share_within_0_3_points_of_target(void **state)
{
	static const uint32_t targets[] = {5000,   10000,  50000,  100000, 122500, 200000,
					   333333, 500000, 750000, 900000, 990000};
	double worst = 0;
	size_t t, i;

	(void)state;
	for (t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		double target = targets[t] / (double)PPM_PER_PERCENT, got, off;
		size_t n_canary = 0;

		for (i = 0; i < N_FLOWS; i++)
			n_canary += canary(&flows[i], targets[t]);
		got = points(n_canary, N_FLOWS);
		off = got > target ? got - target : target - got;
		print_message("# split target %.4f%%: realised %.3f%% (off %.3f points)\n", target,
			      got, off);
		if (off > 0.3)
			fail_msg("target %.4f%%: realised %.3f%%", target, got);
		if (off > worst)
			worst = off;
	}
	print_message("# split: worst deviation %.3f points over %d flows, bound 0.3\n", worst,
		      N_FLOWS);
}

/*
 * Client mode: every flow of one client is in the same group (and on the
 * same backend slot), while flow mode spreads one client's flows, which is
 * what makes the first check mean something.
 */
static void test_split_client_mode_puts_all_flows_of_a_client_in_one_group(void **state)
{
	const uint32_t ppm = 20 * PPM_PER_PERCENT;
	size_t c, f, canary_clients = 0, mixed_in_flow_mode = 0;
	uint64_t rng = 0xc11e;
	double share;

	(void)state;
	for (c = 0; c < N_CLIENTS; c++) {
		bool first_group = false, flow_mode_first = false, flow_mode_mixed = false;
		uint32_t first_slot = 0;
		union gs_addr client;

		random_client(&client, &rng, c & 1);
		for (f = 0; f < FLOWS_PER_CLIENT; f++) {
			struct gs_flow_key k;
			bool group, flow_mode_group;
			uint32_t slot;

			make_flow(&k, &client, (uint16_t)(1024 + rng_next(&rng) % 64512));
			group = gs_is_canary(group_hash(&k, GS_HASH_CLIENT), ppm);
			slot = backend_hash(&k, GS_HASH_CLIENT) % GS_MAGLEV_SIZE;
			flow_mode_group = gs_is_canary(group_hash(&k, GS_HASH_FLOW), ppm);
			if (f == 0) {
				first_group = group;
				first_slot = slot;
				flow_mode_first = flow_mode_group;
				continue;
			}
			if (group != first_group || slot != first_slot)
				fail_msg("client %zu: flow %zu in group %d slot %u, first in %d/%u",
					 c, f, group, slot, first_group, first_slot);
			flow_mode_mixed |= flow_mode_group != flow_mode_first;
		}
		canary_clients += first_group;
		mixed_in_flow_mode += flow_mode_mixed;
	}
	share = points(canary_clients, N_CLIENTS);
	print_message("# split client mode at 20%%: %.2f%% of %d clients canary, each client in "
		      "one group; flow mode splits %.1f%% of clients\n",
		      share, N_CLIENTS, points(mixed_in_flow_mode, N_CLIENTS));
	assert_true(share >= 19.0 && share <= 21.0);
	assert_true(points(mixed_in_flow_mode, N_CLIENTS) > 80.0);
}

/*
 * Pearson chi-square of observed counts against expected counts; with k
 * cells it has k - 1 degrees of freedom when the hypothesis holds.
 */
static double chi_square(const uint32_t *observed, const double *expected, size_t k)
{
	double chi2 = 0;
	size_t i;

	for (i = 0; i < k; i++) {
		double d = observed[i] - expected[i];

		chi2 += d * d / expected[i];
	}
	return chi2;
}

#define N_BINS 100
/* chi-square quantiles at p = 0.001: 99 df (slot bins), 9 df (backends). */
#define CHI2_99DF_P001 148.23
#define CHI2_9DF_P001  27.88
/* 10 x 10 contingency table: (10 - 1) * (10 - 1) = 81 df. */
#define CHI2_81DF_P001 126.08

/*
 * Among canary flows, which backend slot the second hash picks is uniform:
 * the group decision leaves no trace in the backend decision. Slots are put
 * into 100 bins and backends of a 10-backend Maglev table are counted; both
 * chi-square statistics stay under the p = 0.001 quantile, and so does the
 * one of a contingency table of where in the canary range the group hash
 * fell against the backend picked. As a control, a
 * slot scaled from the group's reduced hash (h1 % 1e6 -> 0..M), a backend
 * pick that does depend on the group, must give an enormous statistic, so
 * the check is known to see a dependence.
 */
static void check_backend_uniform_among_canary(uint8_t mode)
{
	const uint32_t ppm = 10 * PPM_PER_PERCENT;
	struct maglev_backend backends[10];
	uint32_t backend_addr[10], slots_of[10] = {0};
	uint32_t bins[N_BINS] = {0}, control[N_BINS] = {0}, per_backend[10] = {0};
	double expected_bins[N_BINS], expected_backend[10];
	uint32_t joint[10][10] = {{0}}, row_total[10] = {0};
	double chi2_bins, chi2_backend, chi2_control, chi2_joint = 0;
	size_t i, j, n_canary = 0, equal_hashes = 0;

	for (i = 0; i < 10; i++) {
		backend_addr[i] = htonl(0x0a010000u + (uint32_t)i);
		backends[i] = (struct maglev_backend){
			.id = (uint32_t)i, .weight = 1, .key = &backend_addr[i], .key_len = 4};
	}
	assert_int_equal(maglev_build(backends, 10, maglev_table, GS_MAGLEV_SIZE), 0);
	for (i = 0; i < GS_MAGLEV_SIZE; i++)
		slots_of[maglev_table[i]]++;

	for (i = 0; i < N_FLOWS; i++) {
		uint32_t h1 = group_hash(&flows[i], mode), slot;

		if (!gs_is_canary(h1, ppm))
			continue;
		n_canary++;
		equal_hashes += h1 == backend_hash(&flows[i], mode);
		slot = backend_hash(&flows[i], mode) % GS_MAGLEV_SIZE;
		/* Where in the canary range the group hash fell, against backend. */
		joint[(uint64_t)(h1 % GS_PPM_MAX) * 10 / ppm][maglev_table[slot]]++;
		row_total[(uint64_t)(h1 % GS_PPM_MAX) * 10 / ppm]++;
		bins[(uint64_t)slot * N_BINS / GS_MAGLEV_SIZE]++;
		per_backend[maglev_table[slot]]++;
		control[(uint64_t)((uint64_t)(h1 % GS_PPM_MAX) * GS_MAGLEV_SIZE / GS_PPM_MAX) *
			N_BINS / GS_MAGLEV_SIZE]++;
	}
	for (i = 0; i < N_BINS; i++) {
		/* Bin i holds slots [ceil(i*M/100), ceil((i+1)*M/100)). */
		uint64_t lo = ((uint64_t)i * GS_MAGLEV_SIZE + N_BINS - 1) / N_BINS;
		uint64_t hi = ((uint64_t)(i + 1) * GS_MAGLEV_SIZE + N_BINS - 1) / N_BINS;

		expected_bins[i] = (double)n_canary * (double)(hi - lo) / GS_MAGLEV_SIZE;
	}
	for (i = 0; i < 10; i++)
		expected_backend[i] = (double)n_canary * slots_of[i] / GS_MAGLEV_SIZE;

	chi2_bins = chi_square(bins, expected_bins, N_BINS);
	chi2_backend = chi_square(per_backend, expected_backend, 10);
	chi2_control = chi_square(control, expected_bins, N_BINS);
	for (i = 0; i < 10; i++) {
		for (j = 0; j < 10; j++) {
			double want = (double)row_total[i] * per_backend[j] / n_canary;
			double d = joint[i][j] - want;

			chi2_joint += d * d / want;
		}
	}
	print_message("# split %s mode, %zu canary flows at 10%%: backend-slot chi2 %.1f (99 df, "
		      "limit %.1f), per-backend chi2 %.1f (9 df, limit %.1f), group-position x "
		      "backend chi2 %.1f (81 df, limit %.1f); dependent control %.0f\n",
		      mode == GS_HASH_CLIENT ? "client" : "flow", n_canary, chi2_bins,
		      CHI2_99DF_P001, chi2_backend, CHI2_9DF_P001, chi2_joint, CHI2_81DF_P001,
		      chi2_control);
	assert_true(n_canary > N_FLOWS / 20);
	/* Distinct seeds: the two hashes of a flow (almost) never coincide. */
	assert_true(equal_hashes <= 1);
	assert_true(chi2_bins < CHI2_99DF_P001);
	assert_true(chi2_backend < CHI2_9DF_P001);
	assert_true(chi2_joint < CHI2_81DF_P001);
	assert_true(chi2_control > 100 * CHI2_99DF_P001);
}

static void test_split_flow_mode_backend_uniform_among_canary_chi2(void **state)
{
	(void)state;
	check_backend_uniform_among_canary(GS_HASH_FLOW);
}

static void test_split_client_mode_backend_uniform_among_canary_chi2(void **state)
{
	(void)state;
	check_backend_uniform_among_canary(GS_HASH_CLIENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_split_raise_5_to_10pct_moves_only_stable_to_canary_5_pct_of_keys),
		cmocka_unit_test(test_split_flow_hash_sees_each_store_to_the_key),
		cmocka_unit_test(test_split_lower_10_to_5pct_is_exact_reverse),
		cmocka_unit_test(test_split_canary_sets_nested_along_share_ladder),
		cmocka_unit_test(test_split_0ppm_none_canary_1e6ppm_all_canary),
		cmocka_unit_test(test_split_realised_share_within_0_3_points_of_target),
		cmocka_unit_test(test_split_client_mode_puts_all_flows_of_a_client_in_one_group),
		cmocka_unit_test(test_split_flow_mode_backend_uniform_among_canary_chi2),
		cmocka_unit_test(test_split_client_mode_backend_uniform_among_canary_chi2),
	};

	return cmocka_run_group_tests_name("split", tests, make_flows, NULL);
}
