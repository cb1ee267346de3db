// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rollout-file loader: what a good file becomes, and for each kind of
 * mistake the exact one-line message, with the line and the field to fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "error.h"
#include "parse.h"
#include "rollout_file.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *text, struct gs_rollout_file *rf)
{
	gs_set_error("no message yet");
	return gs_rollout_file_parse("r.yaml", text, strlen(text), rf);
}

static const char full_v4[] = "# a comment\n"
			      "name: web-v2\n"
			      "service: 10.77.0.10:80\n"
			      "proto: udp\n"
			      "hash: client\n"
			      "backends:\n"
			      "  - address: 10.77.2.11\n"
			      "    group: stable\n"
			      "    weight: 3\n"
			      "  - address: 10.77.2.12:8080\n"
			      "    group: stable\n"
			      "  - address: 10.77.2.13\n"
			      "    group: canary\n"
			      "overrides:\n"
			      "  - cidr: 10.77.9.0/24\n"
			      "    group: canary\n"
			      "analysis:\n"
			      "  alpha: 0.01\n"
			      "  min_samples: 50\n"
			      "  max_error_rate: 1%\n"
			      "  min_error_ratio: 2\n"
			      "  max_latency_ratio: 1.5\n"
			      "  latency_margin: 5ms\n"
			      "  hard_fail_connects: 5\n"
			      "  max_extension: 2m\n"
			      "  udp_answer_timeout: 750ms\n"
			      "steps:\n"
			      "  - percent: 1\n"
			      "    bake: 30s\n"
			      "  - percent: '12.5%'\n"
			      "    bake: 1h\n"
			      "  - percent: 100\n";

static void test_full_file(void **state)
{
	struct gs_rollout_file rf;
	union gs_addr a;
	uint16_t port;

	(void)state;
	assert_int_equal(parse(full_v4, &rf), 0);
	assert_string_equal(rf.spec.name, "web-v2");
	assert_int_equal(gs_parse_endpoint("10.77.0.10", true, &a, &port), 0);
	assert_memory_equal(&rf.service.vip, &a, sizeof(a));
	assert_int_equal(ntohs(rf.service.port), 80);
	assert_int_equal(rf.service.proto, IPPROTO_UDP);
	assert_int_equal(rf.hash_mode, GS_HASH_CLIENT);

	assert_int_equal(rf.nbackends, 3);
	assert_int_equal(rf.backends[0].port, 80); /* the service's */
	assert_int_equal(rf.backends[0].weight, 3);
	assert_int_equal(rf.backends[0].group, GS_GROUP_STABLE);
	assert_int_equal(rf.backends[1].port, 8080);
	assert_int_equal(rf.backends[1].weight, 1);
	assert_int_equal(rf.backends[2].group, GS_GROUP_CANARY);
	assert_int_equal(gs_parse_endpoint("10.77.2.13", true, &a, &port), 0);
	assert_memory_equal(&rf.backends[2].addr, &a, sizeof(a));

	assert_int_equal(rf.noverrides, 1);
	assert_int_equal(rf.overrides[0].prefixlen128, 96 + 24);
	assert_int_equal(rf.overrides[0].group, GS_GROUP_CANARY);

	assert_int_equal(rf.spec.analysis.alpha_ppm, 10000);
	assert_int_equal(rf.spec.analysis.min_samples, 50);
	assert_int_equal(rf.spec.analysis.max_error_rate_ppm, 10000);
	assert_int_equal(rf.spec.analysis.min_error_ratio_milli, 2000);
	assert_int_equal(rf.spec.analysis.max_latency_ratio_milli, 1500);
	assert_int_equal(rf.spec.analysis.latency_margin_us, 5000);
	assert_int_equal(rf.spec.analysis.hard_fail_connects, 5);
	assert_int_equal(rf.spec.analysis.max_extension_ms, 120000);
	assert_int_equal(rf.spec.analysis.udp_answer_ms, 750);

	assert_int_equal(rf.spec.nsteps, 3);
	assert_int_equal(rf.spec.steps[0].canary_ppm, 10000);
	assert_int_equal(rf.spec.steps[0].bake_ms, 30000);
	assert_int_equal(rf.spec.steps[1].canary_ppm, 125000);
	assert_int_equal(rf.spec.steps[1].bake_ms, 3600000);
	assert_int_equal(rf.spec.steps[2].canary_ppm, 1000000);
	assert_int_equal(rf.spec.steps[2].bake_ms, 0);
	assert_int_equal(rf.spec.generation, 0);
	gs_rollout_file_free(&rf);
}

static void test_minimal_ipv6_defaults(void **state)
{
	static const char text[] = "name: v6\n"
				   "service: '[fd77::10]:80'\n"
				   "backends:\n"
				   "  - {address: 'fd77:2::11', group: stable}\n"
				   "  - {address: '[fd77:2::13]:81', group: canary}\n"
				   "steps:\n"
				   "  - percent: 0.5\n";
	struct gs_rollout_file rf;
	struct gs_rollout_analysis zero = {0};

	(void)state;
	assert_int_equal(parse(text, &rf), 0);
	assert_int_equal(rf.service.proto, IPPROTO_TCP);
	assert_int_equal(rf.hash_mode, GS_HASH_FLOW);
	assert_false(gs_addr_is_v4(&rf.service.vip));
	assert_int_equal(rf.backends[0].port, 80);
	assert_int_equal(rf.backends[1].port, 81);
	assert_int_equal(rf.noverrides, 0);
	assert_memory_equal(&rf.spec.analysis, &zero, sizeof(zero));
	assert_int_equal(rf.spec.nsteps, 1);
	assert_int_equal(rf.spec.steps[0].canary_ppm, 5000);
	gs_rollout_file_free(&rf);
}

/* A valid file to break one part at a time: the case's head (default: the
 * first two lines), the backends, then the case's tail (default: steps). */
static const char head_default[] = "name: web\n"	       /* 1 */
				   "service: 10.77.0.10:80\n"; /* 2 */
static const char base[] = "%s"
			   "backends:\n"	       /* 3 */
			   "  - address: 10.77.2.11\n" /* 4 */
			   "    group: stable\n"       /* 5 */
			   "  - address: 10.77.2.13\n" /* 6 */
			   "    group: canary\n"       /* 7 */
			   "    weight: 2\n"	       /* 8 */
			   "%s";
static const char base_steps[] = "steps:\n"	       /* 9 */
				 "  - percent: 5\n"    /* 10 */
				 "    bake: 10s\n"     /* 11 */
				 "  - percent: 50\n"   /* 12 */
				 "  - percent: 100\n"; /* 13 */

/* Steps to end a case whose mistake is elsewhere. */
#define S "steps:\n  - percent: 5\n"

struct bad_case {
	const char *head; /* NULL: head_default */
	const char *tail; /* NULL: base_steps */
	const char *message;
};

static const struct bad_case bad_cases[] = {
	/* structure: libcyaml's complaints, placed by line */
	{NULL, "steps:\n  - percent: 5\n    colour: red\n",
	 "r.yaml:11: steps[0].colour: unknown field"},
	{NULL, "colour: red\nsteps:\n  - percent: 5\n", "r.yaml:9: colour: unknown field"},
	{NULL, "steps:\n  - percent: 5\n  - bake: 10s\n",
	 "r.yaml:11: steps[1].percent: missing (required)"},
	{"service: 10.77.0.10:80\n", NULL, "r.yaml:1: name: missing (required)"},
	{NULL, "steps:\n  - percent: 5\n    percent: 6\n",
	 "r.yaml:11: steps[0].percent: given twice"},
	{NULL, "steps: 5\n", "r.yaml:9: steps: expected a list, not a single value"},
	{NULL, "steps:\n  - percent: [5]\n",
	 "r.yaml:10: steps[0].percent: expected a single value, not a list"},
	{NULL, "steps:\n  - 5\n",
	 "r.yaml:10: steps[0]: expected a mapping (key: value lines), not a single value"},

	/* YAML itself */
	{NULL, "steps:\n  - percent: 5\n   bake: 2s\n",
	 "r.yaml:11: steps: YAML syntax: did not find expected '-' indicator while parsing a "
	 "block collection"},
	{NULL, "steps: &s\n  - percent: 5\nx: *s\n",
	 "r.yaml:11: x: aliases (*name) are not supported"},
	{NULL, "steps:\n  - percent: 5\n---\nname: b\n",
	 "r.yaml:11: (document): only one YAML document per file"},
	/* values */
	{"name: 'web v2'\nservice: 10.77.0.10:80\n", NULL,
	 "r.yaml:1: name: only letters, digits, '.', '_' and '-' are allowed"},
	{"name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	 "service: 10.77.0.10:80\n",
	 NULL, "r.yaml:1: name: must be 1..63 characters"},
	{"name: w\nservice: 10.77.0.10\n", NULL,
	 "r.yaml:2: service: invalid address '10.77.0.10': missing port, expected IP:PORT or "
	 "[IPv6]:PORT"},
	{"name: w\nservice: 10.77.0.10:80\nproto: sctp\n", NULL,
	 "r.yaml:3: proto: invalid protocol 'sctp': expected tcp or udp"},
	{"name: w\nservice: 10.77.0.10:80\nhash: random\n", NULL,
	 "r.yaml:3: hash: invalid hash mode 'random': expected flow or client"},
	{NULL, "  - address: 10.77.2.11:80\n    group: canary\n" S,
	 "r.yaml:9: backends[2].address: '10.77.2.11:80' is listed twice (also backends[0])"},
	{NULL, "  - address: 'fd77:2::11'\n    group: canary\n" S,
	 "r.yaml:9: backends[2].address: 'fd77:2::11' is IPv6 but the service is IPv4"},
	{NULL, "  - address: 10.77.2.14\n    group: blue\n" S,
	 "r.yaml:10: backends[2].group: invalid group 'blue': expected stable or canary"},
	{NULL, "  - address: 10.77.2.14\n    group: canary\n    weight: 0\n" S,
	 "r.yaml:11: backends[2].weight: invalid weight '0': expected an integer 1..65535"},
	/* fleet mode's selectors */
	{NULL, "  - address: 10.77.2.14\n    selector: version=v2\n    group: canary\n" S,
	 "r.yaml:9: backends[2]: an address or a selector, not both"},
	{NULL, "  - group: canary\n" S, "r.yaml:9: backends[2].address: missing (required)"},
	{NULL, "  - selector: version\n    group: canary\n" S,
	 "r.yaml:9: backends[2].selector: invalid selector 'version': expected "
	 "KEY=VALUE[,KEY=VALUE...]"},
	{NULL, "  - selector: 'version=v2,'\n    group: canary\n" S,
	 "r.yaml:9: backends[2].selector: invalid selector 'version=v2,': a trailing ','"},
	{NULL, "  - selector: 'version=v 2'\n    group: canary\n" S,
	 "r.yaml:9: backends[2].selector: invalid selector 'version=v 2': expected "
	 "KEY=VALUE[,KEY=VALUE...]"},

	{NULL, "overrides:\n  - cidr: 10.77.9.1/24\n    group: canary\n" S,
	 "r.yaml:10: overrides[0].cidr: 10.77.9.1/24: host bits set"},
	{NULL,
	 "overrides:\n  - cidr: 10.77.9.0/24\n    group: canary\n"
	 "  - cidr: 10.77.9.0/24\n    group: stable\n" S,
	 "r.yaml:12: overrides[1].cidr: '10.77.9.0/24' is listed twice (also overrides[0])"},
	{NULL, "analysis:\n  alpha: 0.9\n" S,
	 "r.yaml:10: analysis.alpha: invalid alpha '0.9': expected a number 1e-06..0.5"},
	{NULL, "analysis:\n  max_error_rate: 0\n" S,
	 "r.yaml:10: analysis.max_error_rate: must be above 0 (leave the field out for the "
	 "agent's setting)"},
	{NULL, "analysis:\n  udp_answer_timeout: 4s\n" S,
	 "r.yaml:10: analysis.udp_answer_timeout: invalid duration '4s': at most 3000 ms"},
	{NULL, "analysis:\n  latency_margin: 5\n" S,
	 "r.yaml:10: analysis.latency_margin: invalid duration '5': expected a whole number and "
	 "a unit: 500ms, 30s, 2m, 1h (or 0)"},
	{NULL, "analysis:\n  max_latency_ratio: 1.2345\n" S,
	 "r.yaml:10: analysis.max_latency_ratio: invalid max_latency_ratio '1.2345': at most 3 "
	 "decimals"},
	{NULL, "steps: []\n", "r.yaml:9: steps: 0 steps: expected 1..16"},
	{NULL, "steps:\n  - percent: 5\n  - percent: 120\n",
	 "r.yaml:11: steps[1].percent: invalid percent '120': must be between 0 and 100"},
	{NULL, "steps:\n  - percent: 50\n  - percent: 10\n",
	 "r.yaml:11: steps[1].percent: 10% is below the step before (50%): steps only go up"},
	{NULL, "steps:\n  - percent: 5\n    bake: 10 minutes\n",
	 "r.yaml:11: steps[0].bake: invalid duration '10 minutes': expected a whole number and "
	 "a unit: 500ms, 30s, 2m, 1h (or 0)"},
	{NULL, "steps:\n  - percent: 5\n    \"ba\\tke\": 1s\n",
	 "r.yaml:11: steps[0].ba?ke: unknown field"},
};

static void test_bad_files(void **state)
{
	char text[2048];
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct gs_rollout_file rf;
		int rc;

		snprintf(text, sizeof(text), base, bc->head ? bc->head : head_default,
			 bc->tail ? bc->tail : base_steps);
		rc = parse(text, &rf);
		if (rc != -EINVAL || strcmp(gs_last_error(), bc->message)) {
			print_error("case %zu: rc %d\n  got  '%s'\n  want '%s'\n", i, rc,
				    gs_last_error(), bc->message);
			failed++;
		}
		assert_null(rf.backends);
	}
	assert_int_equal(failed, 0);
}

/* Files that are not the base with a part changed. */
static const struct {
	const char *text, *message;
} whole_cases[] = {
	{"", "r.yaml:1: (document): empty file"},
	{"# only a comment\n", "r.yaml:1: (document): empty file"},
	{"- name: x\n", "r.yaml:1: (document): expected a mapping (key: value lines), not a list"},
	{"name: w\nservice: 10.77.0.10:80\nbackends:\n  - address: 10.77.2.13\n"
	 "    group: canary\nsteps:\n  - percent: 5\n",
	 "r.yaml:3: backends: no stable backend: at least one is needed"},
};

static void test_bad_whole_files(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(whole_cases); i++) {
		struct gs_rollout_file rf;

		assert_int_equal(parse(whole_cases[i].text, &rf), -EINVAL);
		assert_string_equal(gs_last_error(), whole_cases[i].message);
	}
}

static void test_base_is_valid(void **state)
{
	struct gs_rollout_file rf;
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), base, head_default, base_steps);
	assert_int_equal(parse(text, &rf), 0);
	assert_int_equal(rf.nbackends, 2);
	assert_int_equal(rf.backends[1].weight, 2);
	assert_int_equal(rf.spec.nsteps, 3);
	gs_rollout_file_free(&rf);
}

static void test_seventeen_steps(void **state)
{
	struct gs_rollout_file rf;
	char text[2048], steps[1024] = "steps:\n";
	int i;

	(void)state;
	for (i = 0; i < GS_MAX_STEPS + 1; i++)
		snprintf(steps + strlen(steps), sizeof(steps) - strlen(steps), "  - percent: %d\n",
			 i);
	snprintf(text, sizeof(text), base, head_default, steps);
	assert_int_equal(parse(text, &rf), -EINVAL);
	assert_string_equal(gs_last_error(), "r.yaml:9: steps: 17 steps: expected 1..16");
}

static void test_load_missing_file(void **state)
{
	struct gs_rollout_file rf;

	(void)state;
	assert_int_equal(gs_rollout_file_load("/nonexistent/r.yaml", &rf), -ENOENT);
	assert_string_equal(gs_last_error(),
			    "cannot open /nonexistent/r.yaml: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_minimal_ipv6_defaults),
		cmocka_unit_test(test_base_is_valid),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_bad_whole_files),
		cmocka_unit_test(test_seventeen_steps),
		cmocka_unit_test(test_load_missing_file),
	};

	return cmocka_run_group_tests_name("rollout_file", tests, NULL, NULL);
}
