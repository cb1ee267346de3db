// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fail-back policy (user/core/policy.c): a decision table over hand-made
 * windows (fail, hard fail, inconclusive, pass, and the floors that keep
 * small effects from failing). The same policy under simulated traffic is
 * test_policy_sim.c.
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
#include "policy.h"
#include "stats.h"
#include "rng.h"

/* ---- decision table ---- */

/* One group's window, by hand: latencies spread evenly over +-10% of a
 * centre so the p95 sits just above it. */
struct spec {
	uint64_t flows, refused, timeouts, resets, responses, http_5xx;
	uint64_t lat_samples;
	double connect_ms, ttfb_ms;
};

static void build(const struct spec *sp, struct gs_group_window *g)
{
	uint64_t i;

	memset(g, 0, sizeof(*g));
	g->new_flows = sp->flows;
	g->connects = sp->flows - sp->refused - sp->timeouts;
	g->conn_refused = sp->refused;
	g->conn_timeouts = sp->timeouts;
	g->resets = sp->resets;
	g->responses = sp->responses;
	g->http_5xx = sp->http_5xx;
	for (i = 0; i < sp->lat_samples; i++) {
		double spread = 0.9 + 0.2 * (double)i / (double)sp->lat_samples;

		gs_hist64_record(&g->connect, (uint64_t)(sp->connect_ms * 1000.0 * spread));
		gs_hist64_record(&g->ttfb, (uint64_t)(sp->ttfb_ms * 1000.0 * spread));
	}
}

struct table_row {
	const char *name;
	struct spec canary, stable;
	uint32_t streak;
	enum gs_verdict verdict;
	enum gs_signal signal;
	/* > 0: the test's Bayes factor must exceed the bound (a floor decides),
	 * < 0: must not */
	int bf_over_bound;
	const char *reason_has[4];
	/* stable's connects ok and failed since the canary's streak began */
	uint32_t span_ok, span_failed;
};

/* A healthy 5 s window at 200 connections/s and a 20% split. */
#define HEALTHY_C                                                                                  \
	{                                                                                          \
		200, 0, 0, 1, 200, 0, 200, 1.0, 5.0                                                \
	}
#define HEALTHY_S                                                                                  \
	{                                                                                          \
		800, 0, 0, 4, 800, 0, 800, 1.0, 5.0                                                \
	}

static const struct table_row table[] = {
	{"few samples: inconclusive",
	 {10, 0, 0, 0, 10, 0, 10, 1.0, 5.0},
	 {40, 0, 0, 0, 40, 0, 40, 1.0, 5.0},
	 0,
	 GS_VERDICT_INCONCLUSIVE,
	 GS_SIGNAL_NONE,
	 0,
	 {"too few samples (need 20)", "canary 10 flows", "stable 40 flows"},
	 0,
	 0},
	{"few samples of a broken canary: inconclusive",
	 {10, 0, 0, 0, 10, 10, 10, 300.0, 300.0},
	 {40, 0, 0, 0, 40, 0, 40, 1.0, 5.0},
	 0,
	 GS_VERDICT_INCONCLUSIVE,
	 GS_SIGNAL_NONE,
	 0,
	 {"too few samples"},
	 0,
	 0},
	{"identical groups: pass",
	 HEALTHY_C,
	 HEALTHY_S,
	 0,
	 GS_VERDICT_PASS,
	 GS_SIGNAL_NONE,
	 -1,
	 {"<= 400"},
	 0,
	 0},
	{"canary 100% 503: fail on 5xx",
	 {200, 0, 0, 0, 200, 200, 200, 1.0, 5.0},
	 {800, 0, 0, 0, 812, 0, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_HTTP_5XX,
	 1,
	 {"http 5xx: canary 100.0% (200/200 responses)", "stable 0.0% (0/812)", "rho 0.198",
	  "> 400"},
	 0,
	 0},
	{"canary refuses half: fail on connect errors",
	 {200, 100, 0, 0, 100, 0, 100, 1.0, 5.0},
	 {800, 1, 0, 0, 799, 0, 799, 1.0, 5.0},
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_CONNECT_ERRORS,
	 1,
	 {"connect errors: canary 50.0% (100/200 flows)", "stable 0.12% (1/800)", "rho 0.200",
	  "> 400"},
	 0,
	 0},
	{"canary 0.1% vs stable 0.0%: under the 1% floor, pass",
	 {10000, 0, 0, 10, 10000, 0, 200, 1.0, 5.0},
	 {40000, 0, 0, 0, 40000, 0, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_PASS,
	 GS_SIGNAL_NONE,
	 1,
	 {"canary 0.10% (10/10000 flows)", "under the floors"},
	 0,
	 0},
	{"canary 3% vs stable 2%: over 1% but under 2x stable, pass",
	 {10000, 0, 0, 300, 10000, 0, 200, 1.0, 5.0},
	 {40000, 0, 0, 800, 40000, 0, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_PASS,
	 GS_SIGNAL_NONE,
	 0,
	 {"<= 400"},
	 0,
	 0},
	{"5 consecutive refused, stable connects: hard fail",
	 {5, 5, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {40, 0, 0, 0, 40, 0, 40, 1.0, 5.0},
	 5,
	 GS_VERDICT_HARD_FAIL,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"connect failures: 5 consecutive canary connects refused or timed out",
	  "stable 20/20 ok over the same span"},
	 20,
	 0},
	{"4 consecutive refused: no hard fail yet",
	 {4, 4, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {40, 0, 0, 0, 40, 0, 40, 1.0, 5.0},
	 4,
	 GS_VERDICT_INCONCLUSIVE,
	 GS_SIGNAL_NONE,
	 0,
	 {"too few samples"},
	 0,
	 0},
	{"5 consecutive timeouts, no stable traffic: hard fail",
	 {5, 0, 5, 0, 0, 0, 0, 1.0, 5.0},
	 {0, 0, 0, 0, 0, 0, 0, 1.0, 5.0},
	 5,
	 GS_VERDICT_HARD_FAIL,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"5 consecutive", "no stable traffic to compare"},
	 0,
	 0},
	{"5 consecutive refused, stable not connecting either: both failing, no hard fail",
	 {5, 5, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {30, 0, 30, 0, 0, 0, 0, 1.0, 5.0},
	 5,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"both_failing: canary 5/5 connects failed, stable 30/30 failed over the same span",
	  "not the canary's fault"},
	 0,
	 30},
	/* The report's outage: the window still holds stable's healthy past
	 * (94% ok), but over the streak's span stable failed 49 of 51. */
	{"platform outage: canary 5/5, stable 49/51 failed over the span: both failing",
	 {40, 0, 5, 0, 35, 0, 35, 1.0, 5.0},
	 {800, 0, 49, 0, 751, 0, 751, 1.0, 5.0},
	 5,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"canary 5/5 connects failed, stable 49/51 failed", "not the canary's fault"},
	 2,
	 49},
	{"streak, stable 9/10 ok over the span (the 90% edge): hard fail",
	 {5, 5, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {40, 1, 0, 0, 39, 0, 39, 1.0, 5.0},
	 5,
	 GS_VERDICT_HARD_FAIL,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"stable 9/10 ok over the same span"},
	 9,
	 1},
	{"streak, stable 17/19 ok over the span (89.5%): both failing",
	 {5, 5, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {40, 2, 0, 0, 38, 0, 38, 1.0, 5.0},
	 5,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"stable 2/19 failed over the same span"},
	 17,
	 2},
	{"streak, stable only 9 attempts over the span (need 10): no verdict from the streak yet",
	 {5, 5, 0, 0, 0, 0, 0, 1.0, 5.0},
	 {40, 0, 0, 0, 40, 0, 40, 1.0, 5.0},
	 5,
	 GS_VERDICT_INCONCLUSIVE,
	 GS_SIGNAL_NONE,
	 0,
	 {"too few samples"},
	 9,
	 0},
	{"stable at exactly 90% of connects ok in the window: canary 503s still fail",
	 {200, 0, 0, 0, 200, 200, 200, 1.0, 5.0},
	 {800, 80, 0, 0, 720, 0, 720, 1.0, 5.0},
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_HTTP_5XX,
	 1,
	 {"http 5xx: canary 100.0% (200/200 responses)"},
	 0,
	 0},
	{"stable at 89.9% of connects ok in the window: canary 503s are both failing",
	 {200, 0, 0, 0, 200, 200, 200, 1.0, 5.0},
	 {800, 81, 0, 0, 719, 0, 719, 1.0, 5.0},
	 0,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_HTTP_5XX,
	 1,
	 {"both_failing: stable 81/800 connects failed", "not the canary's fault",
	  "http 5xx: canary 100.0% (200/200 responses)"},
	 0,
	 0},
	{"stable's own 5xx at 9.9%: canary 100% 503 still fails",
	 {200, 0, 0, 0, 200, 200, 200, 1.0, 5.0},
	 {800, 0, 0, 0, 800, 79, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_HTTP_5XX,
	 1,
	 {"stable 9.9% (79/800)"},
	 0,
	 0},
	{"stable's own 5xx at 10%: both failing",
	 {200, 0, 0, 0, 200, 200, 200, 1.0, 5.0},
	 {800, 0, 0, 0, 800, 80, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_HTTP_5XX,
	 1,
	 {"both_failing: stable's own rate 10.0% >= 10%"},
	 0,
	 0},
	{"ttfb +300 ms but stable made 9 connect attempts: inconclusive",
	 {200, 0, 0, 0, 200, 0, 200, 1.0, 305.0},
	 {9, 0, 0, 0, 9, 0, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_INCONCLUSIVE,
	 GS_SIGNAL_NONE,
	 1,
	 {"stable made 9 connect attempts (need 10)"},
	 0,
	 0},
	{"ttfb +300 ms, stable made 10 connect attempts: fail",
	 {200, 0, 0, 0, 200, 0, 200, 1.0, 305.0},
	 {10, 0, 0, 0, 10, 0, 800, 1.0, 5.0},
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_TTFB,
	 1,
	 {"ttfb p95"},
	 0,
	 0},
	{"both refuse 90%, streak broken: both failing on their own",
	 {200, 180, 0, 0, 20, 0, 20, 1.0, 5.0},
	 {800, 720, 0, 0, 80, 0, 80, 1.0, 5.0},
	 0,
	 GS_VERDICT_BOTH_FAILING,
	 GS_SIGNAL_CONNECT_ERRORS,
	 0,
	 {"both_failing: canary 180/200 connects failed, stable 720/800 failed"},
	 0,
	 0},
	{"streak and 503s: hard fail first",
	 {200, 5, 0, 0, 195, 195, 195, 1.0, 5.0},
	 HEALTHY_S,
	 5,
	 GS_VERDICT_HARD_FAIL,
	 GS_SIGNAL_CONNECT_STREAK,
	 0,
	 {"stable 20/20 ok"},
	 20,
	 0},
	{"ttfb +300 ms: fail on ttfb",
	 {200, 0, 0, 0, 200, 0, 200, 1.0, 305.0},
	 HEALTHY_S,
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_TTFB,
	 1,
	 {"ttfb p95: canary 335.9 ms vs stable 5.5 ms", "200/200 samples above 55.5 ms", "> 400"},
	 0,
	 0},
	{"connect +300 ms: fail on connect latency",
	 {200, 0, 0, 0, 200, 0, 200, 301.0, 5.0},
	 HEALTHY_S,
	 0,
	 GS_VERDICT_FAIL,
	 GS_SIGNAL_CONNECT_LATENCY,
	 1,
	 {"connect latency p95: canary 335.9 ms vs stable 1.1 ms", "(x 299.9, +334.8 ms)",
	  "200/200 samples above 51.1 ms", "> 400"},
	 0,
	 0},
	{"ttfb 21 ms vs 1 ms: over the ratio, under the 50 ms margin, pass",
	 {200, 0, 0, 0, 200, 0, 200, 1.0, 21.0},
	 {800, 0, 0, 0, 800, 0, 800, 1.0, 1.0},
	 0,
	 GS_VERDICT_PASS,
	 GS_SIGNAL_NONE,
	 -1,
	 {"<= 400"},
	 0,
	 0},
	{"ttfb 2.8 s vs 2 s: over the margin, under the 1.5 ratio, pass",
	 {200, 0, 0, 0, 200, 0, 200, 1.0, 2800.0},
	 {800, 0, 0, 0, 800, 0, 800, 1.0, 2000.0},
	 0,
	 GS_VERDICT_PASS,
	 GS_SIGNAL_NONE,
	 -1,
	 {"<= 400"},
	 0,
	 0},
};

static void test_policy_decision_table(void **state)
{
	struct gs_policy_cfg cfg;
	struct gs_policy_input *in = calloc(1, sizeof(*in));
	struct gs_decision d;
	size_t i, j;

	(void)state;
	assert_non_null(in);
	gs_policy_defaults(&cfg);
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct table_row *row = &table[i];

		build(&row->canary, &in->canary);
		build(&row->stable, &in->stable);
		in->canary_fail_streak = row->streak;
		in->stable_span_connects = row->span_ok;
		in->stable_span_failures = row->span_failed;
		gs_policy_decide(&cfg, in, &d);
		print_message("# %s -> %s (%s): %s\n", row->name, gs_verdict_name(d.verdict),
			      gs_signal_name(d.signal), d.reason);
		assert_string_equal(gs_verdict_name(d.verdict), gs_verdict_name(row->verdict));
		assert_string_equal(gs_signal_name(d.signal), gs_signal_name(row->signal));
		if (row->bf_over_bound > 0)
			assert_true(d.log_bf > log(400.0));
		if (row->bf_over_bound < 0)
			assert_true(d.log_bf <= log(400.0));
		for (j = 0; j < 4 && row->reason_has[j]; j++) {
			if (!strstr(d.reason, row->reason_has[j]))
				print_message("# missing \"%s\"\n", row->reason_has[j]);
			assert_non_null(strstr(d.reason, row->reason_has[j]));
		}
	}
	free(in);
}

static void test_policy_decision_figures(void **state)
{
	static const struct spec c503 = {200, 0, 0, 0, 200, 96, 200, 1.0, 5.0};
	static const struct spec s_ok = {800, 0, 0, 0, 800, 8, 800, 1.0, 5.0};
	static const struct spec c_slow = {200, 0, 0, 0, 200, 0, 200, 1.0, 305.0};
	struct gs_policy_cfg cfg;
	struct gs_policy_input *in = calloc(1, sizeof(*in));
	struct gs_decision d;

	(void)state;
	assert_non_null(in);
	gs_policy_defaults(&cfg);
	build(&c503, &in->canary);
	build(&s_ok, &in->stable);
	gs_policy_decide(&cfg, in, &d);
	assert_int_equal(d.verdict, GS_VERDICT_FAIL);
	assert_float_equal(d.canary_error_rate, 0.48, 1e-12);
	assert_float_equal(d.stable_error_rate, 0.01, 1e-12);
	assert_float_equal(d.rho, 0.2, 1e-12);
	assert_int_equal(d.canary_samples, 200);
	assert_int_equal(d.stable_samples, 800);
	assert_true(d.log_bf > log(400.0));

	build(&c_slow, &in->canary);
	gs_policy_decide(&cfg, in, &d);
	assert_int_equal(d.verdict, GS_VERDICT_FAIL);
	assert_int_equal(d.signal, GS_SIGNAL_TTFB);
	assert_true(d.canary_p95_us > 300000.0 && d.canary_p95_us < 350000.0);
	assert_true(d.stable_p95_us > 5000.0 && d.stable_p95_us < 6000.0);
	free(in);
}

/* On the totals since the split, stable's health is judged on stable_now
 * (the agent's window): a past outage in the totals does not hold a fail,
 * and an outage now is both_failing though the totals look healthy. */
static void test_policy_totals_judge_stable_health_now(void **state)
{
	static const struct spec c503 = {2000, 0, 0, 0, 2000, 400, 2000, 1.0, 5.0};
	static const struct spec s_past_outage = {8000, 2000, 0, 0, 6000, 0, 6000, 1.0, 5.0};
	static const struct spec s_ok = {800, 0, 0, 0, 800, 0, 800, 1.0, 5.0};
	static const struct spec s_down = {800, 790, 0, 0, 10, 0, 10, 1.0, 5.0};
	struct gs_group_window now;
	struct gs_policy_cfg cfg;
	struct gs_policy_input *in = calloc(1, sizeof(*in));
	struct gs_decision d;

	(void)state;
	assert_non_null(in);
	gs_policy_defaults(&cfg);
	build(&c503, &in->canary);
	build(&s_past_outage, &in->stable);
	gs_policy_decide(&cfg, in, &d);
	assert_int_equal(d.verdict, GS_VERDICT_BOTH_FAILING);
	build(&s_ok, &now);
	in->stable_now = &now;
	gs_policy_decide(&cfg, in, &d);
	print_message("# totals, stable healthy now: %s: %s\n", gs_verdict_name(d.verdict),
		      d.reason);
	assert_int_equal(d.verdict, GS_VERDICT_FAIL);
	assert_int_equal(d.signal, GS_SIGNAL_HTTP_5XX);

	build(&s_ok, &in->stable);
	build(&s_down, &now);
	gs_policy_decide(&cfg, in, &d);
	print_message("# totals, stable down now: %s: %s\n", gs_verdict_name(d.verdict), d.reason);
	assert_int_equal(d.verdict, GS_VERDICT_BOTH_FAILING);
	assert_non_null(strstr(d.reason, "stable 790/800 connects failed"));
	free(in);
}

/* Huge counts and an enormous Bayes factor still fit one reason line. */
static void test_policy_reason_fits_with_huge_figures(void **state)
{
	static const struct spec c = {4000000000000ull, 0, 0,	0,  4000000000000ull,
				      4000000000000ull, 0, 1.0, 5.0};
	static const struct spec s = {9000000000000ull, 0, 0, 0, 9000000000000ull, 1, 0, 1.0, 5.0};
	struct gs_policy_cfg cfg;
	struct gs_policy_input *in = calloc(1, sizeof(*in));
	struct gs_decision d;

	(void)state;
	assert_non_null(in);
	gs_policy_defaults(&cfg);
	build(&c, &in->canary);
	build(&s, &in->stable);
	gs_policy_decide(&cfg, in, &d);
	print_message("# %s (%zu chars)\n", d.reason, strlen(d.reason));
	assert_int_equal(d.verdict, GS_VERDICT_FAIL);
	assert_true(strlen(d.reason) < GS_REASON_LEN - 1);
	assert_non_null(strstr(d.reason, "> 400"));
	free(in);
}

static void test_policy_defaults_and_names(void **state)
{
	struct gs_policy_cfg cfg;

	(void)state;
	memset(&cfg, 0xff, sizeof(cfg));
	gs_policy_defaults(&cfg);
	assert_float_equal(cfg.alpha, 0.01, 0);
	assert_int_equal(cfg.min_samples, 20);
	assert_float_equal(cfg.max_error_rate, 0.01, 0);
	assert_float_equal(cfg.min_error_ratio, 2.0, 0);
	assert_float_equal(cfg.max_latency_ratio, 1.5, 0);
	assert_int_equal(cfg.latency_margin_us, 50000);
	assert_int_equal(cfg.hard_fail_connects, 5);
	assert_string_equal(gs_verdict_name(GS_VERDICT_HARD_FAIL), "hard_fail");
	assert_string_equal(gs_verdict_name(GS_VERDICT_INCONCLUSIVE), "inconclusive");
	assert_string_equal(gs_verdict_name(GS_VERDICT_BOTH_FAILING), "both_failing");
	/* Numbers are stored in rollout_state: the old ones must not move. */
	assert_int_equal(GS_VERDICT_HARD_FAIL, 3);
	assert_int_equal(GS_VERDICT_BOTH_FAILING, 4);
	assert_float_equal(cfg.min_stable_success, 0.90, 0);
	assert_int_equal(cfg.min_stable_attempts, 10);
	assert_float_equal(cfg.max_stable_error_rate, 0.10, 0);
	assert_string_equal(gs_signal_name(GS_SIGNAL_HTTP_5XX), "http_5xx");
	assert_string_equal(gs_signal_name(GS_SIGNAL_CONNECT_STREAK), "connect_streak");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_decision_table),
		cmocka_unit_test(test_policy_decision_figures),
		cmocka_unit_test(test_policy_reason_fits_with_huge_figures),
		cmocka_unit_test(test_policy_totals_judge_stable_health_now),
		cmocka_unit_test(test_policy_defaults_and_names),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
