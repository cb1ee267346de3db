// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Weighted Maglev: balance (each backend's slots follow its weight), low
 * disruption when a backend leaves, determinism, and input validation.
 * Figures are printed as TAP comments so a run documents what it measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "error.h"
#include "graysplit.h"
#include "maglev.h"
#include "rng.h"

#define M		  GS_MAGLEV_SIZE
#define MAX_TEST_BACKENDS 100
#define FIRST_ID	  1000
#define UNTOUCHED	  0x5a5a5a5au

/* What the control plane seeds a backend with: its address and port. */
struct backend_key {
	union gs_addr addr;
	uint16_t port;
};

struct backend_set {
	struct backend_key keys[GS_MAX_BACKENDS + 1];
	struct maglev_backend b[GS_MAX_BACKENDS + 1];
	size_t n;
};

static const uint32_t mixed_weights[] = {1, 2, 3, 5};

/* Backend i is 10.1.x.y:8080 with id FIRST_ID + i. */
static void make_backends(struct backend_set *set, size_t n, const uint32_t *weights,
			  size_t n_weights)
{
	size_t i;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < n; i++) {
		struct backend_key *k = &set->keys[i];

		k->addr.b[10] = 0xff;
		k->addr.b[11] = 0xff;
		k->addr.b[12] = 10;
		k->addr.b[13] = 1;
		k->addr.b[14] = (uint8_t)(i >> 8);
		k->addr.b[15] = (uint8_t)i;
		k->port = 8080;
		set->b[i].id = FIRST_ID + (uint32_t)i;
		set->b[i].weight = weights ? weights[i % n_weights] : 1;
		set->b[i].key = k;
		set->b[i].key_len = sizeof(*k);
	}
	set->n = n;
}

static void remove_backend(struct backend_set *set, size_t victim)
{
	memmove(&set->b[victim], &set->b[victim + 1], (set->n - victim - 1) * sizeof(set->b[0]));
	set->n--;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Static, so a failing assertion (a longjmp) leaks nothing for LSan to flag. */
static uint32_t table_a[M], table_b[M];

static void build_ok(const struct backend_set *set, uint32_t *table)
{
	int rc = maglev_build(set->b, set->n, table, M);

	if (rc)
		fail_msg("maglev_build(%zu backends): %d %s", set->n, rc, gs_last_error());
}

/*
 * Largest relative deviation of a backend's realised share from its weight
 * share, max over backends of |slots/M - w/W| / (w/W). Fails if any slot
 * holds something other than one of the backends.
 */
static double worst_share_deviation(const struct backend_set *set, const uint32_t *table)
{
	uint32_t slots[MAX_TEST_BACKENDS] = {0};
	uint64_t total_weight = 0;
	double worst = 0;
	size_t i;

	for (i = 0; i < M; i++) {
		uint32_t idx = table[i] - FIRST_ID;

		if (table[i] < FIRST_ID || idx >= set->n)
			fail_msg("slot %zu holds %#x, not a backend", i, table[i]);
		slots[idx]++;
	}
	for (i = 0; i < set->n; i++)
		total_weight += set->b[i].weight;
	for (i = 0; i < set->n; i++) {
		double want = (double)set->b[i].weight / (double)total_weight;
		double got = (double)slots[i] / M;
		double dev = got > want ? (got - want) / want : (want - got) / want;

		if (dev > worst)
			worst = dev;
	}
	return worst;
}

/*
 * For n = 2..100, each backend's share of slots is within 1% of its weight
 * share, relative: |slots/M - w/W| <= 0.01 * w/W.
 */
static void check_balance(const uint32_t *weights, size_t n_weights, const char *label)
{
	static struct backend_set set;
	uint32_t *table = table_a;
	double worst = 0;
	size_t n, worst_n = 0;

	for (n = 2; n <= MAX_TEST_BACKENDS; n++) {
		double dev;

		make_backends(&set, n, weights, n_weights);
		build_ok(&set, table);
		dev = worst_share_deviation(&set, table);
		if (dev > 0.01)
			fail_msg("%s, n=%zu: a backend's share is %.3f%% off its weight share",
				 label, n, dev * 100);
		if (dev > worst) {
			worst = dev;
			worst_n = n;
		}
	}
	print_message("# maglev %s weights, n=2..100, M=%u: worst relative share error %.3f%% "
		      "(n=%zu), bound 1%%\n",
		      label, M, worst * 100, worst_n);
}

static void test_maglev_equal_weights_share_within_1pct_of_weight_share_n2_to_100(void **state)
{
	(void)state;
	check_balance(NULL, 0, "equal");
}

static void
test_maglev_mixed_weights_1_2_3_5_share_within_1pct_of_weight_share_n2_to_100(void **state)
{
	(void)state;
	check_balance(mixed_weights, 4, "mixed 1,2,3,5");
}

/* A weight of 2 really doubles the slots: the check above could pass with
 * weights ignored only if it were vacuous, so compare two backends directly. */
static void test_maglev_weight_ratio_is_realised(void **state)
{
	static const uint32_t weights[] = {1, 3};
	static struct backend_set set;
	uint32_t *table = table_a;
	uint32_t light = 0, heavy = 0, i;

	(void)state;
	make_backends(&set, 2, weights, 2);
	build_ok(&set, table);
	for (i = 0; i < M; i++) {
		light += table[i] == FIRST_ID;
		heavy += table[i] == FIRST_ID + 1;
	}
	assert_int_equal(light + heavy, M);
	print_message("# maglev weights 1:3 -> %u:%u slots (ratio %.4f)\n", light, heavy,
		      (double)heavy / light);
	assert_true(light >= M / 4 - 2 && light <= M / 4 + 2);
}

/*
 * With weights drawn from 1..65535 every backend's slot count is within 2
 * slots of its ideal M * w / W, also for shares of a few dozen slots where a
 * relative bound says little.
 */
static void test_maglev_random_weights_each_backend_within_2_slots_of_ideal(void **state)
{
	static const size_t sizes[] = {2, 3, 7, 50, 100, 500, 1000, GS_MAX_BACKENDS};
	static uint32_t weights[GS_MAX_BACKENDS], slots[GS_MAX_BACKENDS];
	static struct backend_set set;
	uint32_t *table = table_a;
	double worst = 0;
	uint64_t rng = 7;
	size_t s, i;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		double total = 0;

		for (i = 0; i < n; i++) {
			weights[i] = 1 + (uint32_t)(rng_next(&rng) % 65535);
			total += weights[i];
		}
		make_backends(&set, n, weights, n);
		build_ok(&set, table);
		memset(slots, 0, sizeof(slots));
		for (i = 0; i < M; i++)
			slots[table[i] - FIRST_ID]++;
		for (i = 0; i < n; i++) {
			double ideal = M * weights[i] / total;
			double off = slots[i] > ideal ? slots[i] - ideal : ideal - slots[i];

			if (off > 2.0)
				fail_msg("n=%zu: weight %u has %u slots, ideal %.2f", n, weights[i],
					 slots[i], ideal);
			if (off > worst)
				worst = off;
		}
	}
	print_message("# maglev random weights 1..65535, n=2..%d: worst |slots - M*w/W| = %.2f "
		      "slots, bound 2\n",
		      GS_MAX_BACKENDS, worst);
}

/* The most light backends beside one heavy one that a service may have. */
#define N_LIGHT (GS_MAX_BACKENDS - 1)

/*
 * One backend of weight 65535 among N_LIGHT of weight 1 (ideal just under
 * one slot each): each light one gets its one slot (not zero, not several),
 * the heavy one stays within 1% of its share, and the build stays fast.
 */
static void test_maglev_one_heavy_among_max_light_backends(void **state)
{
	static uint32_t weights[N_LIGHT + 1], slots[N_LIGHT + 1];
	static struct backend_set set;
	uint32_t *table = table_a;
	double ideal, start, took;
	size_t i;

	(void)state;
	weights[0] = 65535;
	for (i = 1; i <= N_LIGHT; i++)
		weights[i] = 1;
	make_backends(&set, N_LIGHT + 1, weights, N_LIGHT + 1);
	start = now_ms();
	build_ok(&set, table);
	took = now_ms() - start;
	for (i = 0; i < M; i++)
		slots[table[i] - FIRST_ID]++;
	ideal = M * 65535.0 / (65535.0 + N_LIGHT);
	print_message("# maglev 1 x weight 65535 + %d x weight 1: heavy %u slots (ideal %.1f, "
		      "%.3f%% off), built in %.2f ms\n",
		      N_LIGHT, slots[0], ideal,
		      100 * (slots[0] > ideal ? slots[0] - ideal : ideal - slots[0]) / ideal, took);
	for (i = 1; i <= N_LIGHT; i++)
		assert_int_equal(slots[i], 1);
	assert_true(slots[0] > 0.99 * ideal && slots[0] < 1.01 * ideal);
	assert_true(took < 50.0);
}

/*
 * Of the slots whose owner is still present after one backend is removed,
 * the fraction that changed owner: the flows Maglev moves needlessly.
 */
static double disruption(const uint32_t *old_table, uint32_t removed_id, const uint32_t *new_table)
{
	uint32_t kept = 0, moved = 0, i;

	for (i = 0; i < M; i++) {
		if (old_table[i] == removed_id)
			continue;
		kept++;
		moved += new_table[i] != old_table[i];
	}
	return (double)moved / kept;
}

/*
 * Removing 1 of N backends moves at most 1/N + 1% of the slots owned by the
 * backends that stay (and every slot of the removed one goes elsewhere).
 */
static void check_disruption(const uint32_t *weights, size_t n_weights, const char *label)
{
	static const size_t sizes[] = {2, 3, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100};
	static struct backend_set full, less;
	uint32_t *old_table = table_a, *table = table_b;
	size_t s;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], victim, step = n <= 20 ? 1 : n / 10;
		double worst = 0, sum = 0;
		unsigned runs = 0;

		make_backends(&full, n, weights, n_weights);
		build_ok(&full, old_table);
		for (victim = 0; victim < n; victim += step) {
			uint32_t removed_id = full.b[victim].id, i;
			double d;

			less = full;
			remove_backend(&less, victim);
			build_ok(&less, table);
			for (i = 0; i < M; i++)
				assert_int_not_equal(table[i], removed_id);
			d = disruption(old_table, removed_id, table);
			if (d > 1.0 / n + 0.01)
				fail_msg("%s, N=%zu, removing #%zu moved %.3f%% of kept slots, "
					 "bound "
					 "%.3f%%",
					 label, n, victim, d * 100, (1.0 / n + 0.01) * 100);
			if (d > worst)
				worst = d;
			sum += d;
			runs++;
		}
		print_message("# maglev %s, remove 1 of N=%zu: kept slots moved mean %.3f%% "
			      "max %.3f%% (bound %.3f%%, %u removals)\n",
			      label, n, sum / runs * 100, worst * 100, (1.0 / n + 0.01) * 100,
			      runs);
	}
}

static void test_maglev_remove_1_of_n_moves_at_most_1_over_n_plus_1pct_of_kept_slots(void **state)
{
	(void)state;
	check_disruption(NULL, 0, "equal");
}

static void test_maglev_mixed_weights_remove_1_of_n_moves_at_most_1_over_n_plus_1pct(void **state)
{
	(void)state;
	check_disruption(mixed_weights, 4, "mixed 1,2,3,5");
}

/* The same backends listed in any order give the same table. */
static void test_maglev_table_independent_of_input_order(void **state)
{
	static struct backend_set set, shuffled;
	uint32_t *want = table_a, *table = table_b;
	uint64_t rng = 42;
	int round;

	(void)state;
	make_backends(&set, 37, mixed_weights, 4);
	build_ok(&set, want);
	for (round = 0; round < 20; round++) {
		size_t i;

		shuffled = set;
		for (i = shuffled.n - 1; i > 0; i--) {
			size_t j = rng_next(&rng) % (i + 1);
			struct maglev_backend tmp = shuffled.b[i];

			shuffled.b[i] = shuffled.b[j];
			shuffled.b[j] = tmp;
		}
		build_ok(&shuffled, table);
		assert_memory_equal(table, want, M * sizeof(*table));
	}
}

/*
 * A backend's place in the table follows its key, not its id: renumbering
 * the ids renames the slots and moves none, while new keys change the table.
 */
static void test_maglev_slots_follow_key_not_id(void **state)
{
	static struct backend_set set, renamed;
	uint32_t *want = table_a, *table = table_b;
	uint32_t i, differing = 0;

	(void)state;
	make_backends(&set, 10, NULL, 0);
	build_ok(&set, want);

	renamed = set;
	for (i = 0; i < renamed.n; i++)
		renamed.b[i].id = 5 + (uint32_t)(renamed.n - 1 - i);
	build_ok(&renamed, table);
	for (i = 0; i < M; i++)
		assert_int_equal(table[i], 5 + (renamed.n - 1 - (want[i] - FIRST_ID)));

	for (i = 0; i < renamed.n; i++)
		set.keys[i].port = 9090;
	build_ok(&set, table);
	for (i = 0; i < M; i++)
		differing += table[i] != want[i];
	assert_true(differing > M / 2);
}

static void test_maglev_no_backends_fills_table_with_none(void **state)
{
	uint32_t *table = table_a;
	uint32_t small[7], i;

	(void)state;
	for (i = 0; i < M; i++)
		table[i] = i;
	assert_int_equal(maglev_build(NULL, 0, table, M), 0);
	for (i = 0; i < M; i++)
		assert_int_equal(table[i], GS_BACKEND_NONE);

	memset(small, 0, sizeof(small));
	assert_int_equal(maglev_build(NULL, 0, small, 7), 0);
	for (i = 0; i < 7; i++)
		assert_int_equal(small[i], GS_BACKEND_NONE);
}

/* Smallest legal table: prime, one slot more than backends; all filled. */
static void test_maglev_small_prime_table_filled_by_every_backend(void **state)
{
	static struct backend_set set;
	uint32_t table[11], seen = 0, i;

	(void)state;
	make_backends(&set, 10, NULL, 0);
	assert_int_equal(maglev_build(set.b, set.n, table, 11), 0);
	for (i = 0; i < 11; i++) {
		assert_true(table[i] >= FIRST_ID && table[i] < FIRST_ID + 10);
		seen |= 1u << (table[i] - FIRST_ID);
	}
	assert_int_equal(seen, (1u << 10) - 1);
}

static void expect_invalid(const struct maglev_backend *b, size_t n, uint32_t *table, uint32_t size,
			   const char *what)
{
	uint32_t i;
	int rc;

	for (i = 0; table && i < size && i < 64; i++)
		table[i] = UNTOUCHED;
	gs_set_error("%s", "no message yet");
	rc = maglev_build(b, n, table, size);
	if (rc != -EINVAL)
		fail_msg("%s: rc %d, want -EINVAL", what, rc);
	assert_string_not_equal(gs_last_error(), "no message yet");
	for (i = 0; table && i < size && i < 64; i++) {
		if (table[i] != UNTOUCHED)
			fail_msg("%s: table written on error", what);
	}
}

static void test_maglev_rejects_invalid_input(void **state)
{
	static struct backend_set set;
	uint32_t *table = table_a;
	struct maglev_backend saved;

	(void)state;
	make_backends(&set, GS_MAX_BACKENDS + 1, NULL, 0);
	expect_invalid(set.b, 3, table, 65536, "size not prime");
	expect_invalid(set.b, 3, table, 65535, "size odd, not prime");
	expect_invalid(set.b, 0, table, 1, "size 1");
	expect_invalid(set.b, 0, table, 0, "size 0");
	expect_invalid(set.b, 7, table, 7, "size == n");
	expect_invalid(set.b, 11, table, 7, "size < n");
	expect_invalid(set.b, GS_MAX_BACKENDS + 1, table, M, "too many backends");
	expect_invalid(NULL, 3, table, M, "no backend list");
	expect_invalid(set.b, 3, NULL, M, "no table");

	saved = set.b[1];
	set.b[1].weight = 0;
	expect_invalid(set.b, 3, table, M, "weight 0");
	set.b[1] = saved;

	set.b[1].id = GS_BACKEND_NONE;
	expect_invalid(set.b, 3, table, M, "id GS_BACKEND_NONE");
	set.b[1] = saved;

	set.b[1].key = set.b[2].key;
	expect_invalid(set.b, 3, table, M, "two backends with one key");
	set.b[1] = saved;

	set.b[1].key = NULL;
	expect_invalid(set.b, 3, table, M, "key length without key");
	set.b[1] = saved;

	/* The same inputs, repaired, are accepted: the rejections were real. */
	assert_int_equal(maglev_build(set.b, 3, table, M), 0);
	assert_int_equal(maglev_build(set.b, GS_MAX_BACKENDS, table, M), 0);
}

/* M = 65537 with 100 backends builds in well under 50 ms (best of 5, even
 * in this sanitizer build). */
static void test_maglev_build_65537_slots_100_backends_under_50ms(void **state)
{
	static struct backend_set set;
	uint32_t *table = table_a;
	double best = 1e9;
	int round;

	(void)state;
	make_backends(&set, 100, mixed_weights, 4);
	for (round = 0; round < 5; round++) {
		double start = now_ms(), took;

		build_ok(&set, table);
		took = now_ms() - start;
		if (took < best)
			best = took;
	}
	print_message("# maglev build M=%u, 100 backends (mixed weights): %.2f ms\n", M, best);
	assert_true(best < 50.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_maglev_equal_weights_share_within_1pct_of_weight_share_n2_to_100),
		cmocka_unit_test(
			test_maglev_mixed_weights_1_2_3_5_share_within_1pct_of_weight_share_n2_to_100),
		cmocka_unit_test(test_maglev_weight_ratio_is_realised),
		cmocka_unit_test(test_maglev_random_weights_each_backend_within_2_slots_of_ideal),
		cmocka_unit_test(test_maglev_one_heavy_among_max_light_backends),
		cmocka_unit_test(
			test_maglev_remove_1_of_n_moves_at_most_1_over_n_plus_1pct_of_kept_slots),
		cmocka_unit_test(
			test_maglev_mixed_weights_remove_1_of_n_moves_at_most_1_over_n_plus_1pct),
		cmocka_unit_test(test_maglev_table_independent_of_input_order),
		cmocka_unit_test(test_maglev_slots_follow_key_not_id),
		cmocka_unit_test(test_maglev_no_backends_fills_table_with_none),
		cmocka_unit_test(test_maglev_small_prime_table_filled_by_every_backend),
		cmocka_unit_test(test_maglev_rejects_invalid_input),
		cmocka_unit_test(test_maglev_build_65537_slots_100_backends_under_50ms),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
