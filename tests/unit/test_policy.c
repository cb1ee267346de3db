// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fail-back policy (user/core/policy.c): a decision table over hand-made
 * windows (fail, hard fail, inconclusive, pass, and the floors that keep
 * small effects from failing), then simulated traffic checked every 100 ms:
 * identical canaries (A/A) must almost never fail, and a canary that breaks
 * after two healthy minutes must be cut off fast. The simulations compare
 * a cumulative window (since the split was set) with sliding ones; their
 * figures are what the agent's window is chosen from.
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

/* ---- simulated traffic ---- */

#define INTERVAL_US	 100000
#define FLOWS_PER_INTERV 20 /* 200 connections/s */
#define CANARY_SHARE	 0.2
#define PENDING		 32 /* intervals a late answer may arrive in (3.2 s) */

struct profile {
	double refuse, reset, http_5xx;
	double connect_median_us, connect_sigma;
	double ttfb_median_us, ttfb_sigma, ttfb_extra_us;
};

/*
 * How the agent would window the counts: a sliding window of `slots`
 * intervals and/or the cumulative counts since the split was set, each
 * decided on with its share of the family alpha; a fail on either fails.
 */
struct scheme {
	const char *name;
	uint32_t slots; /* 0: no sliding window */
	double alpha_sliding;
	double alpha_cumulative; /* 0: no cumulative window */
	uint32_t hard_fail_connects;
};

/* The recommendation: 2 s sliding for fast cut-offs, cumulative for small
 * lasting regressions, alpha 0.01 split in halves. */
static const struct scheme recommended = {"2 s sliding + cumulative", 20, 0.005, 0.005, 5};
static const struct scheme cumulative_only = {"cumulative only", 0, 0, 0.01, 5};
static const struct scheme sliding_only = {"2 s sliding only", 20, 0.01, 0, 5};

struct sim_window {
	uint32_t slots, next, filled; /* slots == 0: cumulative */
	struct gs_group_window *ring; /* [slots][2] */
	struct gs_policy_input sum;   /* the window's sums, decided on in place */
};

struct sim {
	uint64_t rng;
	uint64_t t; /* intervals so far */
	uint32_t streak;
	uint32_t span_ok, span_failed; /* stable's connects since the streak began */
	/* per group, counts landing in each coming interval (answers come late) */
	struct gs_group_window pending[PENDING][2];
	struct sim_window sliding, cumulative;
};

static void group_add(struct gs_group_window *a, const struct gs_group_window *d, int sign)
{
	uint64_t s = sign < 0 ? (uint64_t)-1 : 1;

	a->new_flows += s * d->new_flows;
	a->connects += s * d->connects;
	a->conn_refused += s * d->conn_refused;
	a->conn_timeouts += s * d->conn_timeouts;
	a->resets += s * d->resets;
	a->responses += s * d->responses;
	a->http_5xx += s * d->http_5xx;
	gs_hist64_merge(&a->connect, &d->connect, sign);
	gs_hist64_merge(&a->ttfb, &d->ttfb, sign);
}

/* One simulation's state, reused run after run (it is ~0.5 MB). */
static struct sim *sim_new(uint32_t slots)
{
	struct sim *s = malloc(sizeof(*s));

	assert_non_null(s);
	s->sliding.slots = slots;
	s->sliding.ring = slots ? malloc((size_t)slots * 2 * sizeof(*s->sliding.ring)) : NULL;
	assert_true(!slots || s->sliding.ring);
	return s;
}

static void sim_start(struct sim *s, uint64_t seed)
{
	struct gs_group_window *ring = s->sliding.ring;
	uint32_t slots = s->sliding.slots;

	memset(s, 0, sizeof(*s));
	s->rng = seed;
	s->sliding.slots = slots;
	s->sliding.ring = ring;
}

static void sim_free(struct sim *s)
{
	free(s->sliding.ring);
	free(s);
}

static uint64_t lognormal_us(uint64_t *rng, double median, double sigma)
{
	return (uint64_t)(median * exp(sigma * rng_normal(rng)));
}

static struct gs_group_window *late(struct sim *s, int group, uint64_t delay_us)
{
	uint64_t k = delay_us / INTERVAL_US;

	if (k >= PENDING)
		k = PENDING - 1;
	return &s->pending[(s->t + k) % PENDING][group];
}

static void window_push(struct sim_window *w, int g, const struct gs_group_window *now)
{
	if (w->slots) {
		struct gs_group_window *slot = &w->ring[w->next * 2 + g];

		if (w->filled == w->slots)
			group_add(g ? &w->sum.stable : &w->sum.canary, slot, -1);
		*slot = *now;
	}
	group_add(g ? &w->sum.stable : &w->sum.canary, now, 1);
}

/*
 * One 100 ms interval of traffic; group 0 is canary, 1 stable. Counts land
 * when the kernel would see them: a connect after its latency, a response
 * after connect + time to first byte.
 */
static void sim_interval(struct sim *s, const struct profile *canary, const struct profile *stable)
{
	struct gs_group_window *now;
	int f, g;

	for (f = 0; f < FLOWS_PER_INTERV; f++) {
		int grp = rng_unit(&s->rng) < CANARY_SHARE ? 0 : 1;
		const struct profile *p = grp ? stable : canary;
		uint64_t conn, ttfb;

		now = &s->pending[s->t % PENDING][grp];
		now->new_flows++;
		if (rng_unit(&s->rng) < p->refuse) {
			now->conn_refused++;
			if (grp == 0 && s->streak++ == 0)
				s->span_ok = s->span_failed = 0;
			else if (grp == 1 && s->streak)
				s->span_failed++;
			continue;
		}
		if (grp == 0)
			s->streak = 0;
		else if (s->streak)
			s->span_ok++;
		conn = lognormal_us(&s->rng, p->connect_median_us, p->connect_sigma);
		late(s, grp, conn)->connects++;
		gs_hist64_record(&late(s, grp, conn)->connect, conn);
		if (rng_unit(&s->rng) < p->reset) {
			late(s, grp, conn)->resets++;
			continue;
		}
		ttfb = lognormal_us(&s->rng, p->ttfb_median_us, p->ttfb_sigma) +
		       (uint64_t)p->ttfb_extra_us;
		late(s, grp, conn + ttfb)->responses++;
		late(s, grp, conn + ttfb)->http_5xx += rng_unit(&s->rng) < p->http_5xx;
		gs_hist64_record(&late(s, grp, conn + ttfb)->ttfb, ttfb);
	}
	/* The interval is over: what landed in it enters the windows. */
	for (g = 0; g < 2; g++) {
		now = &s->pending[s->t % PENDING][g];
		window_push(&s->sliding, g, now);
		window_push(&s->cumulative, g, now);
		memset(now, 0, sizeof(*now));
	}
	if (s->sliding.slots) {
		s->sliding.next = (s->sliding.next + 1) % s->sliding.slots;
		if (s->sliding.filled < s->sliding.slots)
			s->sliding.filled++;
	}
	s->t++;
}

static bool failed(enum gs_verdict v)
{
	return v == GS_VERDICT_FAIL || v == GS_VERDICT_HARD_FAIL;
}

static void sim_span(struct sim *s, struct gs_policy_input *in)
{
	in->canary_fail_streak = s->streak;
	in->stable_span_connects = s->streak ? s->span_ok : 0;
	in->stable_span_failures = s->streak ? s->span_failed : 0;
}

/* The decision the agent would take now: true on a fail (d says which).
 * As in the agent, the window's both_failing is not overruled. */
static bool sim_decide(struct sim *s, const struct scheme *sc, struct gs_decision *d)
{
	struct gs_policy_cfg cfg;

	gs_policy_defaults(&cfg);
	cfg.hard_fail_connects = sc->hard_fail_connects;
	if (sc->slots) {
		cfg.alpha = sc->alpha_sliding;
		sim_span(s, &s->sliding.sum);
		gs_policy_decide(&cfg, &s->sliding.sum, d);
		if (failed(d->verdict))
			return true;
		if (d->verdict == GS_VERDICT_BOTH_FAILING)
			return false;
	}
	if (sc->alpha_cumulative > 0) {
		cfg.alpha = sc->alpha_cumulative;
		sim_span(s, &s->cumulative.sum);
		s->cumulative.sum.stable_now = sc->slots ? &s->sliding.sum.stable : NULL;
		gs_policy_decide(&cfg, &s->cumulative.sum, d);
		if (failed(d->verdict))
			return true;
	}
	return false;
}

/* A healthy service: errors of every kind at the 1% floor, fast answers. */
static const struct profile healthy = {
	.refuse = 0.005,
	.reset = 0.005,
	.http_5xx = 0.01,
	.connect_median_us = 1000,
	.connect_sigma = 0.5,
	.ttfb_median_us = 5000,
	.ttfb_sigma = 0.5,
};

/* Slow and heavy-tailed, so the 1.5 ratio (not the 50 ms margin) is what
 * guards the latency tests: ttfb p95 ~518 ms. */
static const struct profile heavy_tail = {
	.connect_median_us = 20000,
	.connect_sigma = 1.0,
	.ttfb_median_us = 100000,
	.ttfb_sigma = 1.0,
};

#define AA_RUNS	     1000
#define AA_INTERVALS 600 /* 60 s */

/* Identical groups, checked every interval for 60 s: how many runs ever
 * fail, by signal. */
static void check_aa(const char *what, const struct profile *p, const struct scheme *sc,
		     uint64_t seed)
{
	int by_signal[GS_SIGNAL_CONNECT_STREAK + 1] = {0};
	struct sim *s = sim_new(sc->slots);
	struct gs_decision d;
	int run, i, fails = 0;
	double share;

	for (run = 0; run < AA_RUNS; run++) {
		sim_start(s, seed * 1000003 + run);

		for (i = 0; i < AA_INTERVALS; i++) {
			sim_interval(s, p, p);
			if (sim_decide(s, sc, &d)) {
				fails++;
				by_signal[d.signal]++;
				break;
			}
		}
	}
	sim_free(s);
	share = (double)fails / AA_RUNS;
	print_message("# A/A %s, %s, %d runs x %d checks: false fails %.2f%% "
		      "(errors %d, 5xx %d, connect %d, ttfb %d, streak %d)\n",
		      what, sc->name, AA_RUNS, AA_INTERVALS, 100.0 * share,
		      by_signal[GS_SIGNAL_CONNECT_ERRORS], by_signal[GS_SIGNAL_HTTP_5XX],
		      by_signal[GS_SIGNAL_CONNECT_LATENCY], by_signal[GS_SIGNAL_TTFB],
		      by_signal[GS_SIGNAL_CONNECT_STREAK]);
	assert_true(share <= 0.01);
}

static void test_policy_aa_latency_lognormal_false_fails_at_most_1pct(void **state)
{
	(void)state;
	check_aa("heavy-tailed lognormal latency", &heavy_tail, &recommended, 11);
}

static void test_policy_aa_errors_and_latency_false_fails_at_most_1pct(void **state)
{
	(void)state;
	check_aa("1% 5xx, 0.5% refused, 0.5% resets", &healthy, &recommended, 13);
}

#define BREAK_RUNS	100
#define HEALTHY_FIRST	1200 /* 120 s healthy before the fault */
#define AFTER_BREAK_MAX 600  /* give up 60 s after it */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static double ms_or_inf(int ms)
{
	return ms == INT32_MAX ? INFINITY : ms / 1000.0;
}

/*
 * A canary healthy for `healthy_intervals`, then broken: prints the times
 * from the break to the first fail and returns the p99 (ms, INT32_MAX when
 * more than 1% of runs never fail). Decisions are only taken from the break
 * on (the A/A tests cover the time before).
 */
static int time_to_fail(const char *what, const struct profile *fault, const struct profile *stable,
			const struct scheme *sc, int healthy_intervals)
{
	static int times[BREAK_RUNS];
	struct sim *s = sim_new(sc->slots);
	enum gs_signal signal = GS_SIGNAL_NONE;
	struct gs_decision d;
	int run, i, caught = 0;

	for (run = 0; run < BREAK_RUNS; run++) {
		sim_start(s, 777 + run);

		times[run] = INT32_MAX;
		for (i = 0; i < healthy_intervals; i++)
			sim_interval(s, stable, stable);
		for (i = 1; i <= AFTER_BREAK_MAX; i++) {
			sim_interval(s, fault, stable);
			if (sim_decide(s, sc, &d)) {
				times[run] = i * INTERVAL_US / 1000;
				signal = d.signal;
				caught++;
				break;
			}
		}
	}
	sim_free(s);
	qsort(times, BREAK_RUNS, sizeof(times[0]), cmp_int);
	print_message("# %s after %d s healthy, %s: caught in %d/%d runs, after median %.1f s, "
		      "p99 %.1f s, max %.1f s (last by %s)\n",
		      what, healthy_intervals / 10, sc->name, caught, BREAK_RUNS,
		      ms_or_inf(times[BREAK_RUNS / 2]), ms_or_inf(times[BREAK_RUNS * 99 / 100]),
		      ms_or_inf(times[BREAK_RUNS - 1]), gs_signal_name(signal));
	return times[BREAK_RUNS * 99 / 100];
}

/* The targets (1 s for 503 and refused, 3 s for +300 ms), met by the
 * recommended windows on a canary healthy for two minutes first. */
static void test_policy_canary_breaking_after_healthy_cut_off_fast(void **state)
{
	struct profile all_503 = healthy, refused = healthy, slow = healthy;
	struct scheme no_streak = recommended;

	(void)state;
	all_503.http_5xx = 1.0;
	refused.refuse = 1.0;
	slow.ttfb_extra_us = 300000;
	no_streak.hard_fail_connects = 0;
	no_streak.name = "2 s sliding + cumulative, no streak rule";

	assert_true(time_to_fail("100% 503", &all_503, &healthy, &recommended, HEALTHY_FIRST) <=
		    1000);
	assert_true(time_to_fail("refused", &refused, &healthy, &recommended, HEALTHY_FIRST) <=
		    1000);
	assert_true(time_to_fail("refused", &refused, &healthy, &no_streak, HEALTHY_FIRST) <= 1000);
	assert_true(time_to_fail("ttfb +300 ms", &slow, &healthy, &recommended, HEALTHY_FIRST) <=
		    3000);
}

/* Why not the cumulative counts alone: two healthy minutes dilute the
 * canary's rate and p95, and the targets are missed. */
static void test_policy_cumulative_window_alone_too_slow_after_healthy(void **state)
{
	struct profile all_503 = healthy, slow = healthy;

	(void)state;
	all_503.http_5xx = 1.0;
	slow.ttfb_extra_us = 300000;
	assert_true(time_to_fail("100% 503", &all_503, &healthy, &cumulative_only, HEALTHY_FIRST) >
		    1000);
	assert_true(time_to_fail("ttfb +300 ms", &slow, &healthy, &cumulative_only, HEALTHY_FIRST) >
		    3000);
}

/* Why the cumulative window too: a lasting 10x regression at low rates (5%
 * vs 0.5% errors) never piles up enough evidence in 2 s, but does since the
 * split was set. */
static void test_policy_5pct_vs_0_5pct_caught_by_cumulative_window(void **state)
{
	struct profile bad = healthy, good = healthy;
	struct scheme sliding_no_streak = sliding_only;
	int p99;

	(void)state;
	bad.refuse = 0.05;
	bad.reset = 0;
	bad.http_5xx = 0;
	good.refuse = 0.005;
	good.reset = 0;
	good.http_5xx = 0;
	sliding_no_streak.hard_fail_connects = 0;
	p99 = time_to_fail("5% vs 0.5% refused", &bad, &good, &recommended, 0);
	assert_true(p99 <= 60000);
	p99 = time_to_fail("5% vs 0.5% refused", &bad, &good, &sliding_no_streak, 0);
	assert_true(p99 == INT32_MAX);
}

/*
 * A platform outage after two healthy minutes: every connect of both groups
 * refused (a node dropping everything, all backends down). The canary must
 * never be failed back, and the agent must say both_failing within a second;
 * the same fault on the canary alone is cut off as before.
 */
static void test_policy_platform_outage_is_both_failing_never_fail(void **state)
{
	struct profile down = healthy;
	struct sim *s = sim_new(recommended.slots);
	struct gs_decision d;
	int run, i, fails = 0, both_late = 0;

	(void)state;
	down.refuse = 1.0;
	for (run = 0; run < BREAK_RUNS; run++) {
		int first_both = -1;

		sim_start(s, 4242 + run);
		for (i = 0; i < HEALTHY_FIRST; i++)
			sim_interval(s, &healthy, &healthy);
		for (i = 1; i <= 100; i++) {
			sim_interval(s, &down, &down);
			if (sim_decide(s, &recommended, &d)) {
				print_message("# outage run %d failed back at +%d ms: %s\n", run,
					      i * INTERVAL_US / 1000, d.reason);
				fails++;
				break;
			}
			if (first_both < 0 && d.verdict == GS_VERDICT_BOTH_FAILING)
				first_both = i;
		}
		if (first_both < 0 || first_both * INTERVAL_US > 1000000)
			both_late++;
	}
	sim_free(s);
	print_message("# platform outage after %d s healthy: %d/%d runs failed back, %d without "
		      "both_failing within 1 s\n",
		      HEALTHY_FIRST / 10, fails, BREAK_RUNS, both_late);
	assert_int_equal(fails, 0);
	assert_int_equal(both_late, 0);
	assert_true(time_to_fail("refused, stable healthy", &down, &healthy, &recommended,
				 HEALTHY_FIRST) <= 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_decision_table),
		cmocka_unit_test(test_policy_decision_figures),
		cmocka_unit_test(test_policy_reason_fits_with_huge_figures),
		cmocka_unit_test(test_policy_totals_judge_stable_health_now),
		cmocka_unit_test(test_policy_defaults_and_names),
		cmocka_unit_test(test_policy_aa_latency_lognormal_false_fails_at_most_1pct),
		cmocka_unit_test(test_policy_aa_errors_and_latency_false_fails_at_most_1pct),
		cmocka_unit_test(test_policy_canary_breaking_after_healthy_cut_off_fast),
		cmocka_unit_test(test_policy_cumulative_window_alone_too_slow_after_healthy),
		cmocka_unit_test(test_policy_5pct_vs_0_5pct_caught_by_cumulative_window),
		cmocka_unit_test(test_policy_platform_outage_is_both_failing_never_fail),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
