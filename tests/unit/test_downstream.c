// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The downstream decision (user/core/downstream.c): a table over hand-made
 * windows of a canary's and stable's calls to one dependency, one row per
 * fault of the test bed's backend app (an extra query, a connection per
 * request, refused connections, a heavier query), the same fault on both,
 * and A/A; and a simulated A/A over many windows that must never fail.
 * Also analysis.downstream in a rollout file.
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

#include <arpa/inet.h>

#include "downstream.h"
#include "error.h"
#include "rollout_file.h"
#include "rng.h"
#include "stats.h"

/* One group's window: per request `calls` calls of call_ms each (spread
 * over +-10%), `connects` new connections per request, `err` of the calls
 * answered with an error. */
struct spec {
	uint64_t requests;
	double calls, connects, err; /* connects: each also ended (churn) */
	double call_ms;
};

static void build(const struct spec *sp, struct gs_dep_window *w)
{
	uint64_t i, calls = (uint64_t)(sp->requests * sp->calls + 0.5);

	memset(w, 0, sizeof(*w));
	w->requests = sp->requests;
	w->connects = (uint64_t)(sp->requests * sp->connects + 0.5);
	w->established = w->connects;
	w->closes = w->connects;
	w->calls = calls;
	w->error_replies = (uint64_t)(calls * sp->err + 0.5);
	for (i = 0; i < calls; i++)
		gs_hist64_record(&w->call, (uint64_t)(sp->call_ms * 1000.0 *
						      (0.9 + 0.2 * (double)i / (double)calls)));
}

static void decide(const struct spec *c, const struct spec *s, double base_ms,
		   struct gs_dep_decision *d)
{
	struct gs_dep_input *in = calloc(1, sizeof(*in));
	struct gs_dep_cfg cfg;

	assert_non_null(in);
	gs_dep_defaults(&cfg);
	build(c, &in->canary);
	build(s, &in->stable);
	in->stable_base_p95_us = base_ms > 0 ? base_ms * 1000.0 : NAN;
	gs_dep_decide(&cfg, in, "10.77.3.5:5432 (postgres)", d);
	free(in);
}

/* 2 s at 200 requests/s, split 20: 80 canary requests, 320 stable. */
static const struct spec healthy_c = {80, 1.0, 0.0, 0.0, 0.5};
static const struct spec healthy_s = {320, 1.0, 0.0, 0.0, 0.5};

static void test_dep_aa_passes(void **state)
{
	struct gs_dep_decision d;

	(void)state;
	decide(&healthy_c, &healthy_s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_PASS);
	assert_non_null(strstr(d.reason, "10.77.3.5:5432"));
}

static void test_dep_extra_query_fails_on_calls_per_request(void **state)
{
	struct spec c = healthy_c;
	struct gs_dep_decision d;

	(void)state;
	c.calls = 2.0;
	decide(&c, &healthy_s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_FAIL);
	assert_int_equal(d.signal, GS_DEP_SIG_CALLS);
	assert_non_null(
		strstr(d.reason, "downstream 10.77.3.5:5432 (postgres): calls per request"));
	assert_true(fabs(d.canary_calls_per_req - 2.0) < 1e-9);
}

static void test_dep_connection_per_request_fails_on_connects(void **state)
{
	struct spec c = healthy_c;
	struct gs_dep_decision d;

	(void)state;
	/* One connection per request, and its start-up exchange a call. */
	c.connects = 1.0;
	c.calls = 2.0;
	decide(&c, &healthy_s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_FAIL);
	assert_true(d.signal == GS_DEP_SIG_CHURN || d.signal == GS_DEP_SIG_CALLS);
}

/* A canary whose pool fills up as it starts taking traffic opens a
 * connection for each of its first requests and keeps them all: no churn. */
static void test_dep_pool_filling_up_passes(void **state)
{
	struct gs_dep_input *in = calloc(1, sizeof(*in));
	struct spec c = healthy_c;
	struct gs_dep_decision d;
	struct gs_dep_cfg cfg;

	(void)state;
	assert_non_null(in);
	c.requests = 24;
	c.connects = 8.0 / 24.0;
	build(&c, &in->canary);
	build(&healthy_s, &in->stable);
	in->canary.closes = 0;
	in->stable_base_p95_us = NAN;
	gs_dep_defaults(&cfg);
	gs_dep_decide(&cfg, in, "x", &d);
	free(in);
	assert_int_not_equal(d.verdict, GS_DEP_FAIL);
}

static void test_dep_refused_fails_on_errors(void **state)
{
	struct spec c = healthy_c;
	struct gs_dep_decision d;

	(void)state;
	/* Connecting is refused at start-up: an error reply, then close. */
	c.connects = 1.0;
	c.calls = 1.0;
	c.err = 1.0;
	decide(&c, &healthy_s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_FAIL);
	assert_true(d.signal == GS_DEP_SIG_ERRORS || d.signal == GS_DEP_SIG_CHURN);
	assert_true(d.canary_error_rate > 0.99);
}

static void test_dep_heavier_query_fails_on_latency(void **state)
{
	struct spec c = healthy_c;
	struct gs_dep_decision d;

	(void)state;
	c.call_ms = 1.0; /* twice stable's */
	decide(&c, &healthy_s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_FAIL);
	assert_int_equal(d.signal, GS_DEP_SIG_LATENCY);
	assert_non_null(strstr(d.reason, "call latency p95"));
}

static void test_dep_small_latency_change_under_margin_passes(void **state)
{
	struct spec c = healthy_c, s = healthy_s;
	struct gs_dep_decision d;

	(void)state;
	/* 0.1 ms against 0.06 ms: x1.7, but +40 us is under the margin. */
	c.call_ms = 0.1;
	s.call_ms = 0.06;
	decide(&c, &s, 0.06, &d);
	assert_int_equal(d.verdict, GS_DEP_PASS);
}

static void test_dep_slower_for_both_is_both_degraded(void **state)
{
	struct spec c = healthy_c, s = healthy_s;
	struct gs_dep_decision d;

	(void)state;
	c.call_ms = 5.0;
	s.call_ms = 5.0;
	decide(&c, &s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_BOTH_DEGRADED);
	assert_non_null(strstr(d.reason, "degraded for both versions"));
	assert_non_null(strstr(d.reason, "not the canary's"));
}

static void test_dep_errors_for_both_is_both_degraded(void **state)
{
	struct spec c = healthy_c, s = healthy_s;
	struct gs_dep_decision d;

	(void)state;
	c.err = 0.3;
	s.err = 0.3;
	decide(&c, &s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_BOTH_DEGRADED);
}

static void test_dep_few_samples_inconclusive(void **state)
{
	struct spec c = healthy_c, s = healthy_s;
	struct gs_dep_decision d;

	(void)state;
	c.requests = 5;
	c.calls = 3.0;
	s.requests = 20;
	decide(&c, &s, 0.5, &d);
	assert_int_equal(d.verdict, GS_DEP_INCONCLUSIVE);
}

/*
 * A/A under noise: 1,000 windows of Poisson-ish traffic, both versions
 * with the same calls per request (1 or 2 at random), latencies drawn from
 * the same exponential-tailed distribution, occasional new connections and
 * rare errors. The decision at alpha/2 must never fail.
 */
static void test_dep_aa_simulated_never_fails(void **state)
{
	struct gs_dep_input *in = calloc(1, sizeof(*in));
	struct gs_dep_decision d;
	struct gs_dep_cfg cfg;
	uint64_t rng = 42;
	int round, g, fails = 0;

	(void)state;
	assert_non_null(in);
	gs_dep_defaults(&cfg);
	cfg.alpha /= 2;
	for (round = 0; round < 1000; round++) {
		memset(in, 0, sizeof(*in));
		in->stable_base_p95_us = NAN;
		for (g = 0; g < 2; g++) {
			struct gs_dep_window *w = g ? &in->stable : &in->canary;
			uint64_t n = g ? 320 : 80, i;

			w->requests = n;
			for (i = 0; i < n; i++) {
				uint64_t k, calls = 1 + (rng_next(&rng) % 4 == 0);

				for (k = 0; k < calls; k++) {
					double u = (double)(rng_next(&rng) % 1000000 + 1) / 1e6;

					w->calls++;
					gs_hist64_record(&w->call,
							 (uint64_t)(300.0 - 150.0 * log(u)));
					if (rng_next(&rng) % 1000 == 0)
						w->error_replies++;
				}
				if (rng_next(&rng) % 100 == 0)
					w->connects++;
			}
		}
		gs_dep_decide(&cfg, in, "x", &d);
		fails += d.verdict == GS_DEP_FAIL;
	}
	free(in);
	assert_int_equal(fails, 0);
}

static const char rollout_ok[] = "name: r\n"
				 "service: 10.77.0.10:80\n"
				 "backends:\n"
				 "  - {address: 10.77.2.11, group: stable}\n"
				 "  - {address: 10.77.2.13, group: canary}\n"
				 "analysis:\n"
				 "  downstream:\n"
				 "    - target: 10.77.3.5:5432\n"
				 "      protocol: postgres\n"
				 "      max_latency_ratio: 1.5\n"
				 "      latency_margin: 300us\n"
				 "      max_error_rate: 1%\n"
				 "      max_calls_ratio: 1.5\n"
				 "      max_churn_ratio: 3\n"
				 "    - target: 10.77.3.6:6379\n"
				 "steps:\n"
				 "  - percent: 20\n";

static void test_dep_rollout_file_downstream(void **state)
{
	struct gs_rollout_file rf;
	const struct gs_rollout_downstream *ds;

	(void)state;
	memset(&rf, 0, sizeof(rf));
	assert_int_equal(gs_rollout_file_parse("r.yaml", rollout_ok, strlen(rollout_ok), &rf), 0);
	assert_int_equal(rf.spec.analysis.ndownstream, 2);
	ds = &rf.spec.downstream[0];
	assert_int_equal(ntohs(ds->port), 5432);
	assert_int_equal(ds->addr.w[3], inet_addr("10.77.3.5"));
	assert_int_equal(ds->proto, GS_DEP_PROTO_POSTGRES + 1);
	assert_int_equal(ds->max_latency_ratio_milli, 1500);
	assert_int_equal(ds->latency_margin_us, 300);
	assert_int_equal(ds->max_error_rate_ppm, 10000);
	assert_int_equal(ds->max_calls_ratio_milli, 1500);
	assert_int_equal(ds->max_churn_ratio_milli, 3000);
	assert_int_equal(rf.spec.downstream[1].proto, 0);
	gs_rollout_file_free(&rf);
}

/* Each bad entry: one message naming the file, line and field. */
static void test_dep_rollout_file_bad_downstream(void **state)
{
	static const struct {
		const char *entry, *want;
	} bad[] = {
		{"    - target: 10.77.3.5\n", "analysis.downstream[0].target"},
		{"    - target: 10.77.3.5:5432\n      protocol: mysql\n",
		 "analysis.downstream[0].protocol"},
		{"    - target: 10.77.3.5:5432\n      max_calls_ratio: 0.5\n",
		 "analysis.downstream[0].max_calls_ratio"},
		{"    - target: 10.77.3.5:5432\n    - target: 10.77.3.5:5432\n", "listed twice"},
		{"    - protocol: redis\n", "target"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[1024];
		struct gs_rollout_file rf;

		memset(&rf, 0, sizeof(rf));
		snprintf(doc, sizeof(doc),
			 "name: r\nservice: 10.77.0.10:80\nbackends:\n"
			 "  - {address: 10.77.2.11, group: stable}\n"
			 "analysis:\n  downstream:\n%ssteps:\n  - percent: 20\n",
			 bad[i].entry);
		assert_int_not_equal(gs_rollout_file_parse("r.yaml", doc, strlen(doc), &rf), 0);
		if (!strstr(gs_last_error(), bad[i].want))
			fail_msg("entry %zu: '%s' does not name %s", i, gs_last_error(),
				 bad[i].want);
		gs_rollout_file_free(&rf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dep_aa_passes),
		cmocka_unit_test(test_dep_extra_query_fails_on_calls_per_request),
		cmocka_unit_test(test_dep_connection_per_request_fails_on_connects),
		cmocka_unit_test(test_dep_pool_filling_up_passes),
		cmocka_unit_test(test_dep_refused_fails_on_errors),
		cmocka_unit_test(test_dep_heavier_query_fails_on_latency),
		cmocka_unit_test(test_dep_small_latency_change_under_margin_passes),
		cmocka_unit_test(test_dep_slower_for_both_is_both_degraded),
		cmocka_unit_test(test_dep_errors_for_both_is_both_degraded),
		cmocka_unit_test(test_dep_few_samples_inconclusive),
		cmocka_unit_test(test_dep_aa_simulated_never_fails),
		cmocka_unit_test(test_dep_rollout_file_downstream),
		cmocka_unit_test(test_dep_rollout_file_bad_downstream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
