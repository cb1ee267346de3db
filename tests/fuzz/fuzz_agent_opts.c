// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's flags (gs_agent_parse), argv split from the input: at NUL
 * bytes if it has any, else at newlines (so seeds are readable files, one
 * word a line). Accepted options are within their documented ranges and,
 * spelled out again as flags, parse to the same options; refused ones leave
 * opts untouched with a one-line message.
 */
#include <math.h>
#include <stdio.h>

#include "agent_flags.h"
#include "fuzz.h"
#include "parse.h"

#define MAX_ARGS 64

static int split_args(char *s, size_t size, char **argv)
{
	char sep = memchr(s, '\0', size) ? '\0' : '\n';
	int argc = 0;
	size_t i, start = 0;

	for (i = 0; i <= size && argc < MAX_ARGS; i++) {
		if (i == size || s[i] == sep) {
			s[i] = '\0';
			argv[argc++] = s + start;
			start = i + 1;
		}
	}
	return argc;
}

static int parse(int argc, char **argv, struct gs_agent_opts *o)
{
	struct gs_agent_opts before;
	int err;

	memset(o, 0xa5, sizeof(*o));
	before = *o;
	fuzz_reset_error();
	err = gs_agent_parse("agent", argc, argv, o);
	if (err) {
		fuzz_check_failure(err, EINVAL, ERANGE, "(argv)");
		FUZZ_CHECK(!memcmp(o, &before, sizeof(*o)), "refused but opts changed");
	}
	return err;
}

static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static void check_ranges(const struct gs_agent_opts *o)
{
	const struct gs_policy_cfg *p = &o->policy;

	FUZZ_CHECK(o->interval_ms >= 10 && o->interval_ms <= 60000, "interval %u", o->interval_ms);
	FUZZ_CHECK(o->window_ms >= o->interval_ms && o->window_ms <= 3600000, "window %u",
		   o->window_ms);
	FUZZ_CHECK((o->window_ms + o->interval_ms - 1) / o->interval_ms <= 1000,
		   "%u / %u intervals", o->window_ms, o->interval_ms);
	FUZZ_CHECK(p->alpha > 0 && p->alpha <= 0.5, "alpha %g", p->alpha);
	FUZZ_CHECK(p->min_samples >= 1 && p->min_samples <= 1000000000, "min_samples %u",
		   p->min_samples);
	FUZZ_CHECK(p->max_error_rate >= 0 && p->max_error_rate <= 1, "max_error_rate %g",
		   p->max_error_rate);
	FUZZ_CHECK(p->min_error_ratio >= 0 && p->min_error_ratio <= 1000, "min_error_ratio %g",
		   p->min_error_ratio);
	FUZZ_CHECK(p->max_latency_ratio >= 1 && p->max_latency_ratio <= 1000,
		   "max_latency_ratio %g", p->max_latency_ratio);
	FUZZ_CHECK(p->latency_margin_us <= 600000000ull, "latency_margin %llu us",
		   (unsigned long long)p->latency_margin_us);
	FUZZ_CHECK(p->hard_fail_connects <= 1000000, "hard_fail %u", p->hard_fail_connects);
	FUZZ_CHECK(o->on_fail == GS_ON_FAIL_FINISH || o->on_fail == GS_ON_FAIL_RESET, "on_fail %d",
		   (int)o->on_fail);
	FUZZ_CHECK(!o->log_path || o->log_path[0], "empty log path");
	FUZZ_CHECK(!o->metrics || o->metrics_port, "metrics on port 0");
}

/* The options as flags again; words[] holds their text. */
static int spell_out(const struct gs_agent_opts *o, char words[][64], char **argv)
{
	const struct gs_policy_cfg *p = &o->policy;
	uint32_t rate_ppm = (uint32_t)lround(p->max_error_rate * 1e6);
	int n = 0;

#define FLAG(name, ...)                                                                            \
	do {                                                                                       \
		argv[n] = words[n];                                                                \
		snprintf(words[n++], 64, "%s", name);                                              \
		argv[n] = words[n];                                                                \
		snprintf(words[n++], 64, __VA_ARGS__);                                             \
	} while (0)
	FLAG("--interval-ms", "%u", o->interval_ms);
	FLAG("--window-ms", "%u", o->window_ms);
	FLAG("--alpha", "%.20f", p->alpha);
	FLAG("--min-samples", "%u", p->min_samples);
	FLAG("--max-error-rate", "%u.%04u", rate_ppm / 10000, rate_ppm % 10000);
	FLAG("--min-error-ratio", "%.20f", p->min_error_ratio);
	FLAG("--max-latency-ratio", "%.20f", p->max_latency_ratio);
	FLAG("--latency-margin-ms", "%llu.%03llu", (unsigned long long)p->latency_margin_us / 1000,
	     (unsigned long long)p->latency_margin_us % 1000);
	FLAG("--hard-fail-connects", "%u", p->hard_fail_connects);
	FLAG("--on-fail", "%s", o->on_fail == GS_ON_FAIL_RESET ? "reset" : "finish");
	if (o->log_path) {
		argv[n++] = (char *)"--log";
		argv[n++] = (char *)o->log_path;
	}
	if (o->metrics) {
		char ep[GS_ENDPOINT_STRLEN];

		gs_format_endpoint(&o->metrics_addr, o->metrics_port, ep, sizeof(ep));
		FLAG("--metrics", "%s", ep);
	}
	if (o->once) {
		argv[n] = words[n];
		snprintf(words[n++], 64, "--once");
	}
#undef FLAG
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *argv[MAX_ARGS], *argv2[32], words[32][64];
	struct gs_agent_opts o, o2;
	int argc, argc2;

	argc = split_args(s, size, argv);
	if (!parse(argc, argv, &o)) {
		check_ranges(&o);
		argc2 = spell_out(&o, words, argv2);
		FUZZ_CHECK(!parse(argc2, argv2, &o2), "spelled out, refused: %s", gs_last_error());
		FUZZ_CHECK(o2.interval_ms == o.interval_ms && o2.window_ms == o.window_ms &&
				   o2.on_fail == o.on_fail && o2.once == o.once &&
				   o2.metrics == o.metrics,
			   "flags differ after a round trip");
		FUZZ_CHECK(!memcmp(&o2.metrics_addr, &o.metrics_addr, sizeof(o.metrics_addr)) &&
				   o2.metrics_port == o.metrics_port,
			   "metrics endpoint differs after a round trip");
		FUZZ_CHECK(
			close_to(o2.policy.alpha, o.policy.alpha) &&
				o2.policy.min_samples == o.policy.min_samples &&
				close_to(o2.policy.max_error_rate, o.policy.max_error_rate) &&
				close_to(o2.policy.min_error_ratio, o.policy.min_error_ratio) &&
				close_to(o2.policy.max_latency_ratio, o.policy.max_latency_ratio) &&
				o2.policy.latency_margin_us == o.policy.latency_margin_us &&
				o2.policy.hard_fail_connects == o.policy.hard_fail_connects,
			"policy differs after a round trip");
	}
	free(s);
	return 0;
}
