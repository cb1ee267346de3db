// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's flags (user/cli/agent_flags.c): defaults from the policy, every
 * flag reaching its field in the right unit, and every bad value refused
 * with a one-line message naming the flag, the options left untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent_flags.h"
#include "error.h"

#define MAX_ARGS 32

/* gs_agent_parse compacts argv in place: give it a writable copy. */
static int parse(struct gs_agent_opts *opts, const char *line)
{
	static char buf[512];
	char *argv[MAX_ARGS];
	int argc = 0;
	char *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", line);
	for (tok = strtok_r(buf, " ", &save); tok && argc < MAX_ARGS;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	return gs_agent_parse("agent", argc, argv, opts);
}

static void test_agent_opts_defaults_are_the_policy_defaults(void **state)
{
	struct gs_policy_cfg policy;
	struct gs_agent_opts opts;

	(void)state;
	memset(&policy, 0, sizeof(policy)); /* padding, for the byte compare */
	gs_policy_defaults(&policy);
	assert_int_equal(parse(&opts, ""), 0);
	assert_memory_equal(&opts.policy, &policy, sizeof(policy));
	assert_int_equal(opts.interval_ms, 100);
	assert_int_equal(opts.window_ms, 2000);
	assert_int_equal(opts.on_fail, GS_ON_FAIL_FINISH);
	assert_null(opts.log_path);
	assert_false(opts.once);
	assert_false(opts.metrics);
}

static void test_agent_opts_metrics_address_either_family(void **state)
{
	static const uint8_t v4[16] = {[10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1};
	static const uint8_t v6[16] = {[15] = 1};
	struct gs_agent_opts opts;

	(void)state;
	assert_int_equal(parse(&opts, "--metrics 127.0.0.1:9464"), 0);
	assert_true(opts.metrics);
	assert_int_equal(opts.metrics_port, 9464);
	assert_memory_equal(opts.metrics_addr.b, v4, 16);
	assert_int_equal(parse(&opts, "--metrics=[::1]:1"), 0);
	assert_true(opts.metrics);
	assert_int_equal(opts.metrics_port, 1);
	assert_memory_equal(opts.metrics_addr.b, v6, 16);
}

static void test_agent_opts_every_flag_reaches_its_field_in_its_unit(void **state)
{
	struct gs_agent_opts opts;

	(void)state;
	assert_int_equal(parse(&opts,
			       "--interval-ms 50 --window-ms 2000 --alpha 0.001 "
			       "--min-samples 40 --max-error-rate 2.5 --min-error-ratio 3 "
			       "--max-latency-ratio 1.25 --latency-margin-ms 0.5 "
			       "--hard-fail-connects 0 --on-fail reset --log /tmp/x.log --once"),
			 0);
	assert_int_equal(opts.interval_ms, 50);
	assert_int_equal(opts.window_ms, 2000);
	assert_true(opts.policy.alpha == 0.001);
	assert_int_equal(opts.policy.min_samples, 40);
	/* Percent on the command line, a fraction in the policy. */
	assert_true(opts.policy.max_error_rate == 0.025);
	assert_true(opts.policy.min_error_ratio == 3.0);
	assert_true(opts.policy.max_latency_ratio == 1.25);
	assert_int_equal(opts.policy.latency_margin_us, 500);
	assert_int_equal(opts.policy.hard_fail_connects, 0);
	assert_int_equal(opts.on_fail, GS_ON_FAIL_RESET);
	assert_string_equal(opts.log_path, "/tmp/x.log");
	assert_true(opts.once);

	assert_int_equal(parse(&opts, "--max-error-rate=0.5% --on-fail=finish"), 0);
	assert_true(opts.policy.max_error_rate == 0.005);
	assert_int_equal(opts.on_fail, GS_ON_FAIL_FINISH);
}

static void test_agent_opts_bad_values_refused_naming_the_flag(void **state)
{
	static const struct {
		const char *line, *message_has;
	} rows[] = {
		{"--interval-ms 0", "--interval-ms"},
		{"--interval-ms 1e3", "--interval-ms"},
		{"--window-ms 50", "shorter than --interval-ms"},
		{"--window-ms 3600000 --interval-ms 10", "intervals"},
		{"--alpha 0", "--alpha"},
		{"--alpha 0.9", "--alpha"},
		{"--alpha 1e-3", "--alpha"},
		{"--alpha -0.01", "--alpha"},
		{"--alpha .5", "--alpha"},
		{"--alpha 0.", "--alpha"},
		{"--min-samples 0", "--min-samples"},
		{"--max-error-rate 101", "--max-error-rate"},
		{"--max-error-rate abc", "--max-error-rate"},
		{"--min-error-ratio 2x", "--min-error-ratio"},
		{"--max-latency-ratio 0.5", "--max-latency-ratio"},
		{"--latency-margin-ms -1", "--latency-margin-ms"},
		{"--hard-fail-connects many", "--hard-fail-connects"},
		{"--on-fail kill", "--on-fail"},
		{"--log=", "--log"},
		{"--metrics 127.0.0.1", "--metrics"},
		{"--metrics localhost:9464", "--metrics"},
		{"--metrics 127.0.0.1:0", "--metrics"},
		{"--metrics 127.0.0.1:65536", "--metrics"},
		{"--metrics [::1]", "--metrics"},
		{"--metrics ::1:9464", "--metrics"},
		{"--metrics=", "--metrics"},
		{"--metrics", "--metrics"},
		{"--interval-ms", "--interval-ms"},
		{"--bogus", "--bogus"},
		{"extra", "extra"},
		/* What the user typed is quoted with its control bytes shown as '?'. */
		{"--bo\ngus", "unknown option '--bo?gus'"},
		{"extra\x1b[2J", "unexpected argument 'extra?[2J'"},
	};
	struct gs_agent_opts opts, before;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&opts, 0xa5, sizeof(opts));
		before = opts;
		if (parse(&opts, rows[i].line) >= 0 ||
		    !strstr(gs_last_error(), rows[i].message_has) ||
		    strchr(gs_last_error(), '\n')) {
			print_error("'%s': got '%s'\n", rows[i].line, gs_last_error());
			fail();
		}
		assert_memory_equal(&opts, &before, sizeof(opts));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_opts_defaults_are_the_policy_defaults),
		cmocka_unit_test(test_agent_opts_every_flag_reaches_its_field_in_its_unit),
		cmocka_unit_test(test_agent_opts_bad_values_refused_naming_the_flag),
		cmocka_unit_test(test_agent_opts_metrics_address_either_family),
	};

	return cmocka_run_group_tests_name("agent_opts", tests, NULL, NULL);
}
