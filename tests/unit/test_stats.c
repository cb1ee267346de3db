// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Latency histograms (user/core/stats.c on include/gs_hist.h): percentiles read
 * back from the buckets against the exact percentiles of the same samples,
 * merging and un-merging windows, the conservative count above a threshold,
 * and the bucket function against its own bucket bounds.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "graysplit.h"
#include "gs_hist.h"
#include "stats.h"
#include "rng.h"

#define N_SAMPLES 100000

static double samples[N_SAMPLES];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum dist { UNIFORM, LOGNORMAL, BIMODAL };

static const char *const dist_name[] = {"uniform 0.1-100 ms", "lognormal median 5 ms sigma 1",
					"bimodal 90% ~1 ms, 10% ~200 ms"};

/* Latencies in microseconds, real-valued (the kernel's nanoseconds). */
static double draw(enum dist d, uint64_t *rng)
{
	switch (d) {
	case UNIFORM:
		return 100.0 + rng_unit(rng) * 99900.0;
	case LOGNORMAL:
		return 5000.0 * exp(rng_normal(rng));
	case BIMODAL:
		if (rng_unit(rng) < 0.9)
			return 1000.0 * exp(0.3 * rng_normal(rng));
		return 200000.0 * exp(0.2 * rng_normal(rng));
	}
	return 0.0;
}

/*
 * Both sides use the nearest rank ceil(q * n), so the exact sample at that
 * rank lies in the very bucket whose midpoint is returned: the only error is
 * half a bucket width, at most 1/(2 * GS_HIST_SUB) = 3.125% of the value from
 * GS_HIST_SUB us up (0.5 us below), and no allowance for rank discreteness
 * is needed beyond 1e-9 for floating point.
 */
static void check_quantiles(enum dist d)
{
	static const double qs[] = {0.5, 0.95, 0.99};
	struct gs_hist64 *h = calloc(1, sizeof(*h));
	uint64_t rng = 0x5eed0000u + (uint64_t)d;
	double bound = 1.0 / (2.0 * GS_HIST_SUB);
	size_t i;

	assert_non_null(h);
	for (i = 0; i < N_SAMPLES; i++) {
		samples[i] = draw(d, &rng);
		gs_hist64_record(h, (uint64_t)samples[i]);
	}
	qsort(samples, N_SAMPLES, sizeof(samples[0]), cmp_double);
	assert_int_equal(h->count, N_SAMPLES);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t rank = (size_t)ceil(qs[i] * N_SAMPLES);
		double exact = samples[rank - 1];
		double est = gs_hist64_quantile(h, qs[i]);
		double err = fabs(est - exact);
		double allowed = fmax(exact * bound, 0.5) + 1e-9;

		print_message("# %s: p%g exact %.1f us, histogram %.1f us, error %.2f%% "
			      "(bound %.3f%%)\n",
			      dist_name[d], 100.0 * qs[i], exact, est, 100.0 * err / exact,
			      100.0 * bound);
		assert_true(err <= allowed);
	}
	free(h);
}

static void test_stats_quantile_uniform_within_half_bucket(void **state)
{
	(void)state;
	check_quantiles(UNIFORM);
}

static void test_stats_quantile_lognormal_within_half_bucket(void **state)
{
	(void)state;
	check_quantiles(LOGNORMAL);
}

static void test_stats_quantile_bimodal_within_half_bucket(void **state)
{
	(void)state;
	check_quantiles(BIMODAL);
}

/* A small case worked by hand: ranks 1..4 of {3, 20, 20, 1000}. */
static void test_stats_quantile_nearest_rank_by_hand(void **state)
{
	struct gs_hist64 h;

	(void)state;
	gs_hist64_clear(&h);
	gs_hist64_record(&h, 3);
	gs_hist64_record(&h, 20);
	gs_hist64_record(&h, 20);
	gs_hist64_record(&h, 1000);
	/* 3 is exact (bucket [3, 4)): midpoint 3.5; 20 in [20, 21): 20.5;
	 * 1000 in [992, 1024): 1008. */
	assert_float_equal(gs_hist64_quantile(&h, 0.25), 3.5, 1e-12);
	assert_float_equal(gs_hist64_quantile(&h, 0.26), 20.5, 1e-12);
	assert_float_equal(gs_hist64_quantile(&h, 0.75), 20.5, 1e-12);
	assert_float_equal(gs_hist64_quantile(&h, 0.76), 1008.0, 1e-12);
	assert_float_equal(gs_hist64_quantile(&h, 0.99), 1008.0, 1e-12);
}

static void test_stats_empty_histogram_quantile_is_nan(void **state)
{
	struct gs_hist64 h;

	(void)state;
	gs_hist64_clear(&h);
	assert_true(isnan(gs_hist64_quantile(&h, 0.5)));
	assert_true(isnan(gs_hist64_quantile(&h, 0.95)));
	assert_int_equal(gs_hist64_count_above(&h, 0.0), 0);
	gs_hist64_record(&h, 100);
	assert_true(isnan(gs_hist64_quantile(&h, 0.0)));
	assert_true(isnan(gs_hist64_quantile(&h, 1.0)));
	assert_false(isnan(gs_hist64_quantile(&h, 0.5)));
}

/* Past 2^GS_HIST_MAX_LOG us everything shares the last bucket; its quantile
 * stays finite and near 67 s. */
static void test_stats_last_bucket_quantile_finite(void **state)
{
	struct gs_hist64 h;
	double q;

	(void)state;
	gs_hist64_clear(&h);
	gs_hist64_record(&h, 100000000ull); /* 100 s */
	q = gs_hist64_quantile(&h, 0.5);
	print_message("# 100 s sample reads as %.1f s\n", q / 1e6);
	assert_true(isfinite(q));
	assert_true(q >= (double)gs_hist_bucket_low(GS_HIST_BUCKETS - 1));
	assert_true(q <= (double)(1ull << GS_HIST_MAX_LOG) * 1.05);
}

static void test_stats_merge_then_unmerge_restores_window(void **state)
{
	struct gs_hist64 *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct gs_hist64 *sum = calloc(1, sizeof(*sum)), *both = calloc(1, sizeof(*both));
	uint64_t rng = 42;
	int i;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(sum);
	assert_non_null(both);
	for (i = 0; i < 5000; i++) {
		uint64_t va = (uint64_t)draw(LOGNORMAL, &rng), vb = (uint64_t)draw(BIMODAL, &rng);

		gs_hist64_record(a, va);
		gs_hist64_record(b, vb);
		gs_hist64_record(both, va);
		gs_hist64_record(both, vb);
	}
	*sum = *a;
	gs_hist64_merge(sum, b, 1);
	assert_memory_equal(sum, both, sizeof(*sum));
	assert_int_equal(sum->count, 10000);
	assert_float_equal(gs_hist64_quantile(sum, 0.95), gs_hist64_quantile(both, 0.95), 0.0);
	gs_hist64_merge(sum, b, -1);
	assert_memory_equal(sum, a, sizeof(*sum));
	gs_hist64_merge(sum, a, -1);
	assert_int_equal(sum->count, 0);
	assert_true(isnan(gs_hist64_quantile(sum, 0.5)));
	free(a);
	free(b);
	free(sum);
	free(both);
}

/*
 * count_above never counts a sample below the threshold, and misses at most
 * the one bucket straddling it: everything from threshold * (1 + 1/SUB) up
 * (one bucket width above) is counted.
 */
static void test_stats_count_above_is_conservative(void **state)
{
	static const double thresholds[] = {0.5,    7.0,    15.5,   16.0,    100.0,
					    1000.0, 1007.3, 5000.0, 50000.0, 250000.0};
	struct gs_hist64 *h = calloc(1, sizeof(*h));
	uint64_t *values = calloc(N_SAMPLES, sizeof(*values));
	uint64_t rng = 7;
	size_t i, t;

	(void)state;
	assert_non_null(h);
	assert_non_null(values);
	for (i = 0; i < N_SAMPLES; i++) {
		values[i] = (uint64_t)draw(i % 2 ? BIMODAL : LOGNORMAL, &rng);
		if (i % 97 == 0)
			values[i] = i % 20; /* some exact small values */
		gs_hist64_record(h, values[i]);
	}
	for (t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
		double thr = thresholds[t];
		uint64_t at_or_above = 0, well_above = 0, got = gs_hist64_count_above(h, thr);

		for (i = 0; i < N_SAMPLES; i++) {
			at_or_above += (double)values[i] >= thr;
			well_above += (double)values[i] >= thr * (1.0 + 1.0 / GS_HIST_SUB) + 1.0;
		}
		print_message("# count_above(%.1f us): %llu; exact at or above %llu, "
			      "one bucket above %llu\n",
			      thr, (unsigned long long)got, (unsigned long long)at_or_above,
			      (unsigned long long)well_above);
		assert_true(got <= at_or_above);
		assert_true(got >= well_above);
	}
	assert_int_equal(gs_hist64_count_above(h, 0.0), N_SAMPLES);
	assert_int_equal(gs_hist64_count_above(h, 1e12), 0);
	assert_int_equal(gs_hist64_count_above(h, NAN), 0);
	free(h);
	free(values);
}

static void check_value_in_its_bucket(uint64_t v)
{
	uint32_t b = gs_hist_bucket(v);

	assert_true(b < GS_HIST_BUCKETS);
	assert_true(gs_hist_bucket_low(b) <= v);
	if (b + 1 < GS_HIST_BUCKETS)
		assert_true(v < gs_hist_bucket_low(b + 1));
	else
		assert_true(v >= gs_hist_bucket_low(GS_HIST_BUCKETS - 1));
}

/* The kernel's bucket function and the bounds the percentiles use agree
 * everywhere: every value lies in [low(b), low(b + 1)). */
static void test_stats_bucket_function_matches_bucket_bounds(void **state)
{
	uint64_t v, rng = 99;
	uint32_t b;
	int i, shift;

	(void)state;
	for (b = 0; b < GS_HIST_BUCKETS; b++) {
		assert_int_equal(gs_hist_bucket(gs_hist_bucket_low(b)), b);
		if (b > 0) {
			assert_true(gs_hist_bucket_low(b) > gs_hist_bucket_low(b - 1));
			assert_int_equal(gs_hist_bucket(gs_hist_bucket_low(b) - 1), b - 1);
		}
	}
	for (v = 0; v < (1u << 22); v++)
		check_value_in_its_bucket(v);
	for (shift = 0; shift < 64; shift++) {
		check_value_in_its_bucket(1ull << shift);
		check_value_in_its_bucket((1ull << shift) - 1);
		check_value_in_its_bucket((1ull << shift) + 1);
	}
	for (i = 0; i < 1000000; i++)
		check_value_in_its_bucket(rng_next(&rng) >> (rng_next(&rng) % 64));
	assert_int_equal(gs_hist_bucket(UINT64_MAX), GS_HIST_BUCKETS - 1);
	assert_int_equal(gs_hist_bucket(1ull << GS_HIST_MAX_LOG), GS_HIST_BUCKETS - 1);
	assert_int_equal(gs_hist_bucket((1ull << GS_HIST_MAX_LOG) - 1), GS_HIST_BUCKETS - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_quantile_uniform_within_half_bucket),
		cmocka_unit_test(test_stats_quantile_lognormal_within_half_bucket),
		cmocka_unit_test(test_stats_quantile_bimodal_within_half_bucket),
		cmocka_unit_test(test_stats_quantile_nearest_rank_by_hand),
		cmocka_unit_test(test_stats_empty_histogram_quantile_is_nan),
		cmocka_unit_test(test_stats_last_bucket_quantile_finite),
		cmocka_unit_test(test_stats_merge_then_unmerge_restores_window),
		cmocka_unit_test(test_stats_count_above_is_conservative),
		cmocka_unit_test(test_stats_bucket_function_matches_bucket_bounds),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
