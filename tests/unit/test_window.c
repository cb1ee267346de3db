// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's sliding windows (user/core/window.c): after every push the running
 * sum equals the sum of the last N intervals recomputed from scratch, field
 * by field and bucket by bucket; reset forgets everything; bad sizes fail.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "window.h"
#include "rng.h"

#define N_INTERVALS 60

static struct gs_group_window intervals[N_INTERVALS];

static void random_hist(struct gs_hist64 *h, uint64_t *rng)
{
	int i, n = (int)(rng_next(rng) % 40);

	memset(h, 0, sizeof(*h));
	for (i = 0; i < n; i++) {
		uint32_t b = (uint32_t)(rng_next(rng) % GS_HIST_BUCKETS);
		uint64_t c = 1 + rng_next(rng) % 1000;

		h->bucket[b] += c;
		h->count += c;
	}
}

/* Counts up to 2^40 per interval: sums far from the 64-bit limit, and large
 * enough that any lost or doubled interval shows. */
static int make_intervals(void **state)
{
	uint64_t rng = 42;
	int i;

	(void)state;
	for (i = 0; i < N_INTERVALS; i++) {
		struct gs_group_window *g = &intervals[i];

		g->new_flows = rng_next(&rng) >> 24;
		g->connects = rng_next(&rng) >> 24;
		g->conn_refused = rng_next(&rng) >> 24;
		g->conn_timeouts = rng_next(&rng) >> 24;
		g->resets = rng_next(&rng) >> 24;
		g->responses = rng_next(&rng) >> 24;
		g->http_5xx = rng_next(&rng) >> 24;
		random_hist(&g->connect, &rng);
		random_hist(&g->ttfb, &rng);
	}
	return 0;
}

static void add_hist(struct gs_hist64 *dst, const struct gs_hist64 *src)
{
	uint32_t b;

	for (b = 0; b < GS_HIST_BUCKETS; b++)
		dst->bucket[b] += src->bucket[b];
	dst->count += src->count;
}

/* Sum of intervals[first..last] recomputed from scratch. */
static void expected_sum(int first, int last, struct gs_group_window *want)
{
	int i;

	memset(want, 0, sizeof(*want));
	for (i = first; i <= last; i++) {
		const struct gs_group_window *g = &intervals[i];

		want->new_flows += g->new_flows;
		want->connects += g->connects;
		want->conn_refused += g->conn_refused;
		want->conn_timeouts += g->conn_timeouts;
		want->resets += g->resets;
		want->responses += g->responses;
		want->http_5xx += g->http_5xx;
		add_hist(&want->connect, &g->connect);
		add_hist(&want->ttfb, &g->ttfb);
	}
}

static void assert_hist_equal(const struct gs_hist64 *got, const struct gs_hist64 *want)
{
	uint32_t b;

	assert_int_equal(got->count, want->count);
	for (b = 0; b < GS_HIST_BUCKETS; b++)
		assert_int_equal(got->bucket[b], want->bucket[b]);
}

static void assert_group_equal(const struct gs_group_window *got,
			       const struct gs_group_window *want)
{
	assert_int_equal(got->new_flows, want->new_flows);
	assert_int_equal(got->connects, want->connects);
	assert_int_equal(got->conn_refused, want->conn_refused);
	assert_int_equal(got->conn_timeouts, want->conn_timeouts);
	assert_int_equal(got->resets, want->resets);
	assert_int_equal(got->responses, want->responses);
	assert_int_equal(got->http_5xx, want->http_5xx);
	assert_hist_equal(&got->connect, &want->connect);
	assert_hist_equal(&got->ttfb, &want->ttfb);
}

/* Every window size from 1 to past the number of intervals pushed. */
static void test_window_sum_equals_last_n_intervals_after_every_push(void **state)
{
	static struct gs_group_window want;
	static const uint32_t sizes[] = {1, 2, 5, 7, 50, N_INTERVALS + 3};
	struct gs_window w;
	size_t s;
	int i;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint32_t slots = sizes[s];

		assert_int_equal(gs_window_init(&w, slots), 0);
		assert_int_equal(w.filled, 0);
		for (i = 0; i < N_INTERVALS; i++) {
			int first = i + 1 >= (int)slots ? i + 1 - (int)slots : 0;

			gs_window_push(&w, &intervals[i]);
			expected_sum(first, i, &want);
			assert_group_equal(&w.sum, &want);
			assert_int_equal(w.filled, (uint32_t)(i - first + 1));
		}
		gs_window_free(&w);
		assert_null(w.ring);
	}
}

static void test_window_reset_forgets_every_interval(void **state)
{
	static struct gs_group_window want;
	struct gs_window w;
	int i;

	(void)state;
	assert_int_equal(gs_window_init(&w, 5), 0);
	for (i = 0; i < 8; i++)
		gs_window_push(&w, &intervals[i]);
	gs_window_reset(&w);
	memset(&want, 0, sizeof(want));
	assert_group_equal(&w.sum, &want);
	assert_int_equal(w.filled, 0);
	assert_int_equal(w.slots, 5);

	/* Intervals before the reset never come back, not even on eviction. */
	for (i = 10; i < 17; i++) {
		int first = i - 4 > 10 ? i - 4 : 10;

		gs_window_push(&w, &intervals[i]);
		expected_sum(first, i, &want);
		assert_group_equal(&w.sum, &want);
	}
	gs_window_free(&w);
}

/* The agent skips deciding when the sum did not move: push must say so
 * exactly, and an empty interval must still evict the oldest. */
static void test_window_push_reports_whether_the_sum_changed(void **state)
{
	static struct gs_group_window empty, want;
	struct gs_window w;
	int i;

	(void)state;
	memset(&empty, 0, sizeof(empty));
	assert_int_equal(gs_window_init(&w, 3), 0);
	assert_false(gs_window_push(&w, &empty));
	assert_true(gs_window_push(&w, &intervals[0]));
	assert_false(gs_window_push(&w, &empty));
	/* Full: the empty first slot goes out, an empty one comes in. */
	assert_false(gs_window_push(&w, &empty));
	expected_sum(0, 0, &want);
	assert_group_equal(&w.sum, &want);
	/* intervals[0] goes out: changed, and the sum is empty again. */
	assert_true(gs_window_push(&w, &empty));
	memset(&want, 0, sizeof(want));
	assert_group_equal(&w.sum, &want);
	for (i = 0; i < 3; i++)
		assert_false(gs_window_push(&w, &empty));
	/* One count of one kind is a change. */
	want.connect.bucket[7] = 1;
	want.connect.count = 1;
	assert_true(gs_window_push(&w, &want));
	assert_group_equal(&w.sum, &want);
	gs_window_free(&w);
}

static void test_window_of_zero_intervals_is_refused(void **state)
{
	struct gs_window w;

	(void)state;
	assert_int_equal(gs_window_init(&w, 0), -EINVAL);
	assert_null(w.ring);
	assert_int_equal(w.slots, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_sum_equals_last_n_intervals_after_every_push),
		cmocka_unit_test(test_window_reset_forgets_every_interval),
		cmocka_unit_test(test_window_push_reports_whether_the_sum_changed),
		cmocka_unit_test(test_window_of_zero_intervals_is_refused),
	};

	return cmocka_run_group_tests_name("window", tests, make_intervals, NULL);
}
