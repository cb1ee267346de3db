// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's flags: defaults from the policy, every value checked before the
 * agent touches anything, one-line errors naming the flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_flags.h"
#include "cmdline.h"
#include "error.h"
#include "fleet.h"
#include "parse.h"
#include "store_flags.h"
#include "store_url.h"

#define GS_INTERVAL_MS_MIN 10u
#define GS_INTERVAL_MS_MAX 60000u
#define GS_WINDOW_MS_MAX   3600000u
/* Each interval of a window holds two latency histograms (~6 KB). */
#define GS_WINDOW_SLOTS_MAX 1000u

void gs_agent_defaults(struct gs_agent_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	gs_policy_defaults(&opts->policy);
	opts->interval_ms = 100;
	opts->window_ms = 2000;
	opts->on_fail = GS_ON_FAIL_FINISH;
}

/* A plain decimal: digits, optionally a point and more digits; no sign, no
 * exponent, no spaces, nothing after it. */
static int parse_decimal(const char *flag, const char *s, double min, double max, double *out)
{
	size_t len = s ? strlen(s) : 0, int_digits, frac_digits = 0;
	double v;

	int_digits = s ? strspn(s, "0123456789") : 0;
	if (int_digits && int_digits < len && s[int_digits] == '.')
		frac_digits = strspn(s + int_digits + 1, "0123456789");
	if (!int_digits || len > 32 ||
	    (int_digits != len && (!frac_digits || int_digits + 1 + frac_digits != len)))
		return gs_fail(EINVAL, "invalid %s '%.32s': expected a number %g..%g", flag,
			       s ? s : "", min, max);
	v = strtod(s, NULL);
	if (v < min || v > max)
		return gs_fail(ERANGE, "invalid %s '%s': expected a number %g..%g", flag, s, min,
			       max);
	*out = v;
	return 0;
}

static int parse_u32_flag(const char *flag, const char *s, uint32_t min, uint32_t max,
			  uint32_t *out)
{
	return gs_parse_u32(s, min, max, flag, out);
}

/* Percent as the CLI writes shares ("1", "0.5%"), as a fraction. */
static int parse_rate(const char *flag, const char *s, double *out)
{
	uint32_t ppm;
	int err = gs_parse_percent(s, &ppm);

	if (err)
		return gs_fail(-err, "invalid %s '%.32s': expected a percent 0..100, e.g. 1 or 0.5",
			       flag, s);
	*out = (double)ppm / 1e6;
	return 0;
}

int gs_agent_parse(const char *cmd, int argc, char **argv, struct gs_agent_opts *opts)
{
	const char *interval = NULL, *window = NULL, *alpha = NULL, *min_samples = NULL;
	const char *max_error_rate = NULL, *min_error_ratio = NULL, *max_latency_ratio = NULL;
	const char *latency_margin = NULL, *hard_fail = NULL, *on_fail = NULL, *log = NULL;
	const char *metrics = NULL, *udp_answer = NULL;
	bool once = false;
	struct gs_agent_opts o;
	const struct gs_opt flags[] = {
		{"--interval-ms", NULL, &interval, NULL},
		{"--window-ms", NULL, &window, NULL},
		{"--alpha", NULL, &alpha, NULL},
		{"--min-samples", NULL, &min_samples, NULL},
		{"--max-error-rate", NULL, &max_error_rate, NULL},
		{"--min-error-ratio", NULL, &min_error_ratio, NULL},
		{"--max-latency-ratio", NULL, &max_latency_ratio, NULL},
		{"--latency-margin-ms", NULL, &latency_margin, NULL},
		{"--hard-fail-connects", NULL, &hard_fail, NULL},
		{"--udp-answer-ms", NULL, &udp_answer, NULL},
		{"--on-fail", NULL, &on_fail, NULL},
		{"--log", NULL, &log, NULL},
		{"--metrics", NULL, &metrics, NULL},
		{"--once", NULL, NULL, &once},
		{"--node", NULL, &o.store.node_name, NULL},
		{"--downstream", NULL, &o.downstream, NULL},
		GS_STORE_FLAGS(o.store),
		{0},
	};
	struct gs_store_url store;
	double margin_ms;
	int err, n;

	gs_agent_defaults(&o);
	err = gs_args_parse(cmd, argc, argv, flags, NULL, 0, 0, &n);
	if (!err && interval)
		err = parse_u32_flag("--interval-ms", interval, GS_INTERVAL_MS_MIN,
				     GS_INTERVAL_MS_MAX, &o.interval_ms);
	if (!err && window)
		err = parse_u32_flag("--window-ms", window, GS_INTERVAL_MS_MIN, GS_WINDOW_MS_MAX,
				     &o.window_ms);
	if (!err && o.window_ms < o.interval_ms)
		err = gs_fail(EINVAL, "--window-ms %u is shorter than --interval-ms %u",
			      o.window_ms, o.interval_ms);
	if (!err && (o.window_ms + o.interval_ms - 1) / o.interval_ms > GS_WINDOW_SLOTS_MAX)
		err = gs_fail(ERANGE,
			      "--window-ms %u / --interval-ms %u is more than %u intervals: "
			      "lengthen the interval",
			      o.window_ms, o.interval_ms, GS_WINDOW_SLOTS_MAX);
	if (!err && alpha)
		err = parse_decimal("--alpha", alpha, 1e-9, 0.5, &o.policy.alpha);
	if (!err && !(o.policy.alpha > 0))
		err = gs_fail(ERANGE, "--alpha must be above 0");
	if (!err && min_samples)
		err = parse_u32_flag("--min-samples", min_samples, 1, 1000000000u,
				     &o.policy.min_samples);
	if (!err && max_error_rate)
		err = parse_rate("--max-error-rate", max_error_rate, &o.policy.max_error_rate);
	if (!err && min_error_ratio)
		err = parse_decimal("--min-error-ratio", min_error_ratio, 0, 1000,
				    &o.policy.min_error_ratio);
	if (!err && max_latency_ratio)
		err = parse_decimal("--max-latency-ratio", max_latency_ratio, 1, 1000,
				    &o.policy.max_latency_ratio);
	if (!err && latency_margin) {
		err = parse_decimal("--latency-margin-ms", latency_margin, 0, 600000, &margin_ms);
		if (!err)
			o.policy.latency_margin_us = (uint64_t)(margin_ms * 1000.0 + 0.5);
	}
	if (!err && hard_fail)
		err = parse_u32_flag("--hard-fail-connects", hard_fail, 0, 1000000,
				     &o.policy.hard_fail_connects);
	if (!err && udp_answer)
		err = parse_u32_flag("--udp-answer-ms", udp_answer, 1, GS_UDP_ANSWER_MS_MAX,
				     &o.policy.udp_answer_ms);
	if (!err && on_fail) {
		if (!strcmp(on_fail, "finish"))
			o.on_fail = GS_ON_FAIL_FINISH;
		else if (!strcmp(on_fail, "reset"))
			o.on_fail = GS_ON_FAIL_RESET;
		else
			err = gs_fail(EINVAL, "invalid --on-fail '%.32s': expected finish or reset",
				      on_fail);
	}
	if (!err && log && !log[0])
		err = gs_fail(EINVAL, "--log: empty file name");
	/* An explicit address, never a default one: where to listen is the
	 * operator's choice (the help says loopback). */
	if (!err && metrics) {
		err = gs_parse_endpoint(metrics, false, &o.metrics_addr, &o.metrics_port);
		if (err)
			err = gs_fail(-err,
				      "invalid --metrics '%.64s': expected ADDR:PORT, e.g. "
				      "127.0.0.1:9464 or [::1]:9464",
				      metrics);
		o.metrics = !err;
	}
	if (!err)
		err = gs_store_url_parse(&o.store, &store);
	if (err == 0 && o.store.node_name)
		err = gs_fail(EINVAL,
			      "--node: only in fleet mode (--store URL or GRAYSPLIT_STORE)");
	if (err == 1 && o.store.node_name)
		err = gs_fleet_name_check(o.store.node_name);
	if (err == 1)
		err = 0;
	if (err)
		return err;
	o.log_path = log;
	o.once = once;
	*opts = o;
	return 0;
}

void gs_agent_help(FILE *out)
{
	struct gs_agent_opts d;

	gs_agent_defaults(&d);
	fprintf(out,
		"\n"
		"Watches every service with a canary share above 0, canary against the\n"
		"concurrent stable baseline, and on a failure sets the canary share to 0,\n"
		"marks the service rolled_back with the reason (see 'graysplit status') and\n"
		"leaves it so until a person runs 'graysplit split' again.\n"
		"\n"
		"  --interval-ms N          read the counters every N ms (default %u)\n"
		"  --window-ms N            decide on the last N ms of counts (default %u)\n"
		"  --alpha X                false fail-back bound of the sequential tests\n"
		"                           (default %g)\n"
		"  --min-samples N          flows / responses / latency samples the canary\n"
		"                           needs before it may fail (default %u)\n"
		"  --max-error-rate PCT     a canary error rate at or below PCT percent never\n"
		"                           fails (default %g)\n"
		"  --min-error-ratio X      ... nor one below X times stable's (default %g)\n"
		"  --max-latency-ratio X    canary p95 must exceed stable p95 times X ...\n"
		"                           (default %g)\n"
		"  --latency-margin-ms X    ... and stable p95 plus X ms (default %g)\n"
		"  --hard-fail-connects N   fail at once after N consecutive refused or timed\n"
		"                           out canary connects while stable connects; 0: off\n"
		"                           (default %u)\n"
		"  --udp-answer-ms N        UDP services: a flow whose first datagram has no\n"
		"                           answer after N ms (1..%u) is unanswered, a failed\n"
		"                           connect (default %u; a rollout's\n"
		"                           analysis.udp_answer_timeout sets it per service)\n"
		"  --on-fail finish|reset   canary connections open at the cut-off: finish on\n"
		"                           the canary (default), or reset: their flow entries\n"
		"                           are removed, so the next packet the client sends on\n"
		"                           each reaches a stable backend, which answers RST:\n"
		"                           at once for a busy connection (the canary's data\n"
		"                           draws ACKs), at its next packet for an idle one\n"
		"  --log FILE               append the decision lines to FILE too\n"
		"  --metrics ADDR:PORT      serve GET /metrics (Prometheus text format) on\n"
		"                           ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464; off\n"
		"                           by default. No authentication: keep it on\n"
		"                           loopback (or a private address a scraper alone\n"
		"                           reaches)\n"
		"  --once                   watch one window, print a line per service, exit\n"
		"  --downstream PIN_DIR     also read the downstream watch of the backend\n"
		"                           hosts (an instance attached --role backend): their\n"
		"                           calls to each dependency per service and group, in\n"
		"                           /metrics, and judged for the dependencies a rollout\n"
		"                           names (analysis.downstream): a canary that harms one\n"
		"                           is failed back, the dependency named in the reason\n"
		"\n"
		"Fleet mode (--store or GRAYSPLIT_STORE): the agent makes the maps match every\n"
		"service the store holds (written by 'graysplit apply --store'), through the\n"
		"same plan as 'apply -f', at start and within a watch's notice of each change,\n"
		"and keeps PREFIX/nodes/NAME, under a lease, saying which store revision its\n"
		"maps match. A store that does not answer leaves the maps as they are.\n"
		"  --node NAME              this node's name in the store (default\n"
		"                           HOST.PIN_DIR, unique per instance)\n" GS_STORE_HELP "\n"
		"Output: one JSON line per decision on stdout, printed when a service's verdict\n"
		"changes (inconclusive, pass, fail, hard_fail, both_failing) and always for\n"
		"fail and hard_fail; not every interval's unchanged pass. both_failing: the\n"
		"canary fails but stable fails too (under 90%% of >= 10 connects succeed, or\n"
		"its error rate of the failing kind is 10%% or more): the share is left alone.\n"
		"The agent reads the events ring buffer: one agent per instance (a second one,\n"
		"or 'graysplit trace', refuses to start). It may be killed at any moment,\n"
		"even with kill -9: traffic keeps the last shares, and a new agent starts\n"
		"from the pinned maps with fresh windows. SIGINT or SIGTERM: exit 0.\n",
		d.interval_ms, d.window_ms, d.policy.alpha, d.policy.min_samples,
		d.policy.max_error_rate * 100.0, d.policy.min_error_ratio,
		d.policy.max_latency_ratio, (double)d.policy.latency_margin_us / 1000.0,
		d.policy.hard_fail_connects, (unsigned int)GS_UDP_ANSWER_MS_MAX,
		d.policy.udp_answer_ms);
}
