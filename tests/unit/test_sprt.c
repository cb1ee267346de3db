// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The mixture sequential test (user/core/sprt.c): the incomplete beta function
 * against binomial tails summed term by term, the Bayes factor against
 * direct numerical integration, its shape (monotone, 0 without data, finite
 * at 1e7), and simulated canaries checked every 100 ms for 60 s: identical
 * ones (A/A) must almost never fail, a 10x worse one must be caught.
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

#include "sprt.h"
#include "rng.h"

#define RUNS		 2000
#define FLOWS_PER_SEC	 200
#define CANARY_SHARE	 0.2
#define INTERVAL_MS	 100
#define RUN_SECONDS	 60
#define INTERVALS	 (RUN_SECONDS * 1000 / INTERVAL_MS)
#define FLOWS_PER_INTERV (FLOWS_PER_SEC * INTERVAL_MS / 1000)
#define ALPHA		 0.01

static double log_add(double a, double b)
{
	double m = fmax(a, b);

	return m == -INFINITY ? m : m + log(exp(a - m) + exp(b - m));
}

/* log P(Bin(n, p) >= k), summed over the terms. */
static double log_binom_tail(int n, int k, double p)
{
	double acc = -INFINITY;
	int j;

	for (j = k; j <= n; j++)
		acc = log_add(acc, lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) +
					   j * log(p) + (n - j) * log1p(-p));
	return acc;
}

/* I_p(k, n - k + 1) = P(Bin(n, p) >= k): from the center to deep in both
 * tails (1e-200 and 1 - 1e-40). */
static void test_sprt_ibeta_matches_binomial_tails(void **state)
{
	static const struct {
		int n, k;
		double p;
	} cases[] = {
		{10, 3, 0.2},	      {100, 30, 0.2},	 {1000, 900, 0.5},
		{1000, 100, 0.5},     {5000, 1000, 0.2}, {5000, 1100, 0.2},
		{100000, 20500, 0.2}, {20, 1, 0.001},	 {200, 199, 0.999},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double want = log_binom_tail(cases[i].n, cases[i].k, cases[i].p);
		double got = gs_log_ibeta(cases[i].p, cases[i].k, cases[i].n - cases[i].k + 1);

		print_message("# log I_%g(%d, %d): %.12g, binomial tail %.12g\n", cases[i].p,
			      cases[i].k, cases[i].n - cases[i].k + 1, got, want);
		assert_true(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want)));
	}
}

static void test_sprt_ibeta_closed_forms(void **state)
{
	(void)state;
	assert_float_equal(exp(gs_log_ibeta(0.3, 1, 1)), 0.3, 1e-14);
	assert_float_equal(exp(gs_log_ibeta(0.3, 2, 3)), 0.3483, 1e-12);
	assert_float_equal(gs_log_ibeta(0.9, 4, 1), 4 * log(0.9), 1e-12);	  /* x^a */
	assert_float_equal(exp(gs_log_ibeta(0.1, 1, 7)), 1 - pow(0.9, 7), 1e-12); /* 1-(1-x)^b */
	assert_float_equal(gs_log_ibeta(0.5, 1e6, 1e6), log(0.5), 1e-9);
	assert_float_equal(gs_log_ibeta(0.5, 3.5, 3.5), log(0.5), 1e-12);
	assert_float_equal(gs_log_ibeta(0.0, 2, 2), -INFINITY, 0);
	assert_float_equal(gs_log_ibeta(1.0, 2, 2), 0.0, 0);
}

/*
 * The Bayes factor by Simpson's rule over p in [p0, 1] on 2e6 intervals, with
 * the integrands scaled by their maximum so nothing underflows; the prior's
 * Beta function cancels between numerator and prior mass.
 */
static double log_integral(double p0, double e1, double e0)
{
	const int steps = 2000000;
	double mode = e1 + e0 > 0 ? e1 / (e1 + e0) : p0;
	double top, h = (1.0 - p0) / steps, sum = 0.0;
	int i;

	if (mode < p0)
		mode = p0;
	top = e1 * log(mode) + (e0 > 0 ? e0 * log1p(-mode) : 0.0);
	for (i = 0; i <= steps; i++) {
		double p = p0 + i * h;
		double lf = e1 * log(p) + (e0 > 0 ? e0 * log1p(-p) : 0.0);
		double w = i == 0 || i == steps ? 1.0 : (i % 2 ? 4.0 : 2.0);

		if (p >= 1.0 && e0 > 0)
			continue;
		sum += w * exp(lf - top);
	}
	return log(sum * h / 3.0) + top;
}

static double log_bf_by_integration(uint64_t x, uint64_t n, double p0, double a, double b)
{
	double s = (double)x, f = (double)(n - x);

	return log_integral(p0, a + s - 1, b + f - 1) - log_integral(p0, a - 1, b - 1) -
	       (s * log(p0) + f * log1p(-p0));
}

static void test_sprt_log_bf_matches_numerical_integration(void **state)
{
	static const struct {
		uint64_t x, n;
		double p0, a, b;
	} cases[] = {
		{3, 10, 0.2, 1, 1},	  {30, 100, 0.2, 1, 1},	  {0, 50, 0.2, 1, 1},
		{12, 100, 0.05, 1, 1},	  {50, 1000, 0.05, 2, 5}, {250, 1000, 0.2, 1.5, 3},
		{5000, 20000, 0.2, 1, 1}, {100, 100, 0.3, 1, 1},  {7, 40, 0.1, 1, 9},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = gs_msprt_log_bf(cases[i].x, cases[i].n, cases[i].p0, cases[i].a,
					     cases[i].b);
		double want = log_bf_by_integration(cases[i].x, cases[i].n, cases[i].p0, cases[i].a,
						    cases[i].b);

		print_message("# log BF(x %llu, n %llu, p0 %g, Beta(%g, %g)): %.9f, "
			      "integrated %.9f\n",
			      (unsigned long long)cases[i].x, (unsigned long long)cases[i].n,
			      cases[i].p0, cases[i].a, cases[i].b, got, want);
		assert_true(fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)));
	}
}

static void test_sprt_log_bf_increases_with_x(void **state)
{
	static const double p0s[] = {0.05, 0.2, 0.5};
	size_t i;
	uint64_t x;

	(void)state;
	for (i = 0; i < 3; i++) {
		double prev = gs_msprt_log_bf(0, 500, p0s[i], 1, 1);

		for (x = 1; x <= 500; x++) {
			double cur = gs_msprt_log_bf(x, 500, p0s[i], 1, 1);

			assert_true(cur > prev);
			prev = cur;
		}
	}
}

static void test_sprt_log_bf_zero_without_data(void **state)
{
	(void)state;
	assert_float_equal(gs_msprt_log_bf(0, 0, 0.2, 1, 1), 0.0, 0);
	assert_float_equal(gs_msprt_log_bf(0, 0, 0.05, 2, 5), 0.0, 0);
	assert_float_equal(gs_msprt_log_bf(0, 0, 0.999, 0.5, 0.5), 0.0, 0);
}

/*
 * At n = 1e7 every value is finite, and with a uniform prior two closed
 * forms hold: x = 0 gives -log(n + 1); x = n gives
 * log(1 - p0^(n+1)) - log(n + 1) - log(1 - p0) - n log p0.
 */
static void test_sprt_log_bf_finite_at_1e7(void **state)
{
	static const double p0s[] = {0.001, 0.05, 0.2, 0.5, 0.9};
	const uint64_t n = 10000000;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(p0s) / sizeof(p0s[0]); i++) {
		double p0 = p0s[i], sd = sqrt(n * p0 * (1 - p0));
		uint64_t xs[] = {0,
				 1,
				 (uint64_t)(n * p0),
				 (uint64_t)(n * p0 + 3 * sd),
				 (uint64_t)(n * p0 + 10 * sd),
				 n / 2,
				 n - 1,
				 n};
		double top = -log(n + 1.0) - log1p(-p0) - n * log(p0);
		size_t j;

		for (j = 0; j < sizeof(xs) / sizeof(xs[0]); j++) {
			double v = gs_msprt_log_bf(xs[j], n, p0, 1, 1);

			assert_true(isfinite(v));
			assert_true(isfinite(gs_msprt_log_bf(xs[j], n, p0, 2, 5)));
		}
		print_message("# n 1e7, p0 %g: log BF at x = n p0: %.3f, + 3 sd: %.3f, "
			      "+ 10 sd: %.3f, x = n: %.6g\n",
			      p0, gs_msprt_log_bf(xs[2], n, p0, 1, 1),
			      gs_msprt_log_bf(xs[3], n, p0, 1, 1),
			      gs_msprt_log_bf(xs[4], n, p0, 1, 1), gs_msprt_log_bf(n, n, p0, 1, 1));
		assert_float_equal(gs_msprt_log_bf(0, n, p0, 1, 1), -log(n + 1.0), 1e-6);
		assert_true(fabs(gs_msprt_log_bf(n, n, p0, 1, 1) - top) <= 1e-9 * fabs(top));
	}
}

/*
 * One simulated canary: 200 new connections/s, each to the canary with
 * probability 0.2, each failing with its group's error rate; the test runs
 * on the cumulative counts every 100 ms for 60 s, with rho the measured
 * canary share. Returns the time of the first fail in ms, or -1.
 */
static int run_canary(uint64_t *rng, double canary_rate, double stable_rate, double log_bound)
{
	uint64_t flows_c = 0, flows_s = 0, err_c = 0, err_s = 0;
	int t, f;

	for (t = 1; t <= INTERVALS; t++) {
		for (f = 0; f < FLOWS_PER_INTERV; f++) {
			bool canary = rng_unit(rng) < CANARY_SHARE;
			bool err = rng_unit(rng) < (canary ? canary_rate : stable_rate);

			flows_c += canary;
			flows_s += !canary;
			err_c += canary && err;
			err_s += !canary && err;
		}
		if (flows_c == 0 || flows_s == 0)
			continue;
		if (gs_msprt_log_bf(err_c, err_c + err_s,
				    (double)flows_c / (double)(flows_c + flows_s), 1,
				    1) > log_bound)
			return t * INTERVAL_MS;
	}
	return -1;
}

static void check_aa(double rate, uint64_t seed)
{
	uint64_t rng = seed;
	int run, fails = 0;
	double share;

	for (run = 0; run < RUNS; run++)
		fails += run_canary(&rng, rate, rate, log(1.0 / ALPHA)) >= 0;
	share = (double)fails / RUNS;
	print_message("# A/A at %.1f%% errors both, %d runs, %d checks each (cumulative "
		      "counts, BF > %.0f): %d false fails = %.2f%% (bound %.0f%%)\n",
		      100.0 * rate, RUNS, INTERVALS, 1.0 / ALPHA, fails, 100.0 * share,
		      100.0 * ALPHA);
	assert_true(share <= ALPHA);
}

static void test_sprt_aa_1pct_false_fails_at_most_1pct(void **state)
{
	(void)state;
	check_aa(0.01, 1);
}

static void test_sprt_aa_0_1pct_false_fails_at_most_1pct(void **state)
{
	(void)state;
	check_aa(0.001, 2);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* 5% vs 0.5%: caught in >= 99% of runs, at the plain and at the policy's
 * Bonferroni bound (4 tests: BF > 400). */
static void check_detection(double log_bound, const char *what)
{
	static int times[RUNS];
	uint64_t rng = 3;
	int run, caught = 0;

	for (run = 0; run < RUNS; run++) {
		int t = run_canary(&rng, 0.05, 0.005, log_bound);

		times[run] = t < 0 ? INT32_MAX : t;
		caught += t >= 0;
	}
	qsort(times, RUNS, sizeof(times[0]), cmp_int);
	print_message("# 5%% vs 0.5%% errors, %s: caught in %d of %d runs; time to fail "
		      "median %.1f s, p90 %.1f s, p99 %.1f s\n",
		      what, caught, RUNS, times[RUNS / 2] / 1000.0, times[RUNS * 9 / 10] / 1000.0,
		      times[RUNS * 99 / 100] == INT32_MAX ? INFINITY
							  : times[RUNS * 99 / 100] / 1000.0);
	assert_true(caught >= RUNS * 99 / 100);
}

static void test_sprt_5pct_vs_0_5pct_detected_in_99pct(void **state)
{
	(void)state;
	check_detection(log(1.0 / ALPHA), "BF > 100");
	check_detection(log(4.0 / ALPHA), "BF > 400");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sprt_ibeta_matches_binomial_tails),
		cmocka_unit_test(test_sprt_ibeta_closed_forms),
		cmocka_unit_test(test_sprt_log_bf_matches_numerical_integration),
		cmocka_unit_test(test_sprt_log_bf_increases_with_x),
		cmocka_unit_test(test_sprt_log_bf_zero_without_data),
		cmocka_unit_test(test_sprt_log_bf_finite_at_1e7),
		cmocka_unit_test(test_sprt_aa_1pct_false_fails_at_most_1pct),
		cmocka_unit_test(test_sprt_aa_0_1pct_false_fails_at_most_1pct),
		cmocka_unit_test(test_sprt_5pct_vs_0_5pct_detected_in_99pct),
	};

	return cmocka_run_group_tests_name("sprt", tests, NULL, NULL);
}
