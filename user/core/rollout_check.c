// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Judging each value of a rollout file with the parsers the CLI uses for
 * its arguments, so a file and a command line say the same things about
 * the same mistakes, prefixed with where: "FILE:LINE: FIELD: ...".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "parse.h"
#include "policy.h"
#include "rollout_doc.h"
#include "rollout_file.h"

struct check {
	const char *name;
	const struct gs_yaml_lines *lines;
	char field[96];
};

/* Name the field for the next message. */
static const char *at(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *at(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* clang-analyzer does not see va_start through the format attribute. */
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
	vsnprintf(c->field, sizeof(c->field), fmt, ap);
	va_end(ap);
	return c->field;
}

static int fail_at(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail_at(struct check *c, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return gs_fail(EINVAL, "%s:%u: %s: %s", c->name, gs_yaml_line_of(c->lines, c->field, 0),
		       c->field, what);
}

/* A parser's message, placed at the current field. */
static int reword(struct check *c, int err)
{
	char what[384];

	if (!err)
		return 0;
	snprintf(what, sizeof(what), "%s", gs_last_error());
	return fail_at(c, "%s", what);
}

static int check_name(struct check *c, const char *name, struct gs_rollout *spec)
{
	size_t len = strlen(name),
	       ok = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._-");

	at(c, "name");
	if (!len || len >= GS_ROLLOUT_NAMELEN)
		return fail_at(c, "must be 1..%d characters", GS_ROLLOUT_NAMELEN - 1);
	if (ok != len)
		return fail_at(c, "only letters, digits, '.', '_' and '-' are allowed");
	memcpy(spec->name, name, len);
	return 0;
}

static bool same_family(const union gs_addr *a, const union gs_addr *b)
{
	return gs_addr_is_v4(a) == gs_addr_is_v4(b);
}

static int check_backends(struct check *c, const struct doc *d, struct gs_rollout_file *rf)
{
	uint16_t svc_port = ntohs(rf->service.port);
	/* Each address entry's place in the file, for the messages. */
	unsigned int where[GS_ROLLOUT_MAX_BACKENDS] = {0};
	bool stable = false;
	unsigned int i, j;
	int err;

	at(c, "backends");
	if (d->backends_count > GS_ROLLOUT_MAX_BACKENDS)
		return fail_at(c, "%u backends: at most %u", d->backends_count,
			       GS_ROLLOUT_MAX_BACKENDS);
	rf->backends = calloc(d->backends_count ? d->backends_count : 1, sizeof(*rf->backends));
	rf->selectors = calloc(d->backends_count ? d->backends_count : 1, sizeof(*rf->selectors));
	if (!rf->backends || !rf->selectors)
		return gs_fail(ENOMEM, "out of memory");
	for (i = 0; i < d->backends_count; i++) {
		const struct doc_backend *db = &d->backends[i];
		struct gs_rollout_backend *b = &rf->backends[rf->nbackends];
		struct gs_rollout_selector *sel = &rf->selectors[rf->nselectors];
		uint32_t weight = 1;
		uint8_t group;

		if (!db->address && !db->selector) {
			at(c, "backends[%u].address", i);
			return fail_at(c, "missing (required)");
		}
		if (db->address && db->selector) {
			at(c, "backends[%u]", i);
			return fail_at(c, "an address or a selector, not both");
		}
		at(c, "backends[%u].group", i);
		err = reword(c, gs_parse_group(db->group, &group));
		if (!err && db->weight) {
			at(c, "backends[%u].weight", i);
			err = reword(c, gs_parse_u32(db->weight, 1, 65535, "weight", &weight));
		}
		if (err)
			return err;
		stable = stable || group == GS_GROUP_STABLE;
		if (db->selector) {
			at(c, "backends[%u].selector", i);
			err = reword(c, gs_selector_check(db->selector));
			if (err)
				return err;
			snprintf(sel->text, sizeof(sel->text), "%s", db->selector);
			sel->group = group;
			sel->weight = (uint16_t)weight;
			rf->nselectors++;
			continue;
		}
		at(c, "backends[%u].address", i);
		err = reword(c, gs_parse_endpoint(db->address, true, &b->addr, &b->port));
		if (err)
			return err;
		if (!same_family(&b->addr, &rf->service.vip))
			return fail_at(c, "'%s' is %s but the service is %s", db->address,
				       gs_addr_is_v4(&b->addr) ? "IPv4" : "IPv6",
				       gs_addr_is_v4(&b->addr) ? "IPv6" : "IPv4");
		if (!b->port)
			b->port = svc_port;
		for (j = 0; j < rf->nbackends; j++)
			if (!memcmp(&rf->backends[j].addr, &b->addr, sizeof(b->addr)) &&
			    rf->backends[j].port == b->port)
				return fail_at(c, "'%s' is listed twice (also backends[%u])",
					       db->address, where[j]);
		b->group = group;
		b->weight = (uint16_t)weight;
		where[rf->nbackends++] = i;
	}
	if (!stable) {
		at(c, "backends");
		return fail_at(c, "no stable backend: at least one is needed");
	}
	return 0;
}

static int check_overrides(struct check *c, const struct doc *d, struct gs_rollout_file *rf)
{
	unsigned int i, j;
	int err;

	at(c, "overrides");
	if (d->overrides_count > GS_ROLLOUT_MAX_OVERRIDES)
		return fail_at(c, "%u overrides: at most %u", d->overrides_count,
			       GS_ROLLOUT_MAX_OVERRIDES);
	rf->overrides = calloc(d->overrides_count ? d->overrides_count : 1, sizeof(*rf->overrides));
	if (!rf->overrides)
		return gs_fail(ENOMEM, "out of memory");
	for (i = 0; i < d->overrides_count; i++) {
		struct gs_rollout_override *o = &rf->overrides[i];

		at(c, "overrides[%u].cidr", i);
		err = reword(c, gs_parse_cidr(d->overrides[i].cidr, &o->client, &o->prefixlen128));
		if (err)
			return err;
		if (!same_family(&o->client, &rf->service.vip))
			return fail_at(c, "'%s' is %s but the service is %s", d->overrides[i].cidr,
				       gs_addr_is_v4(&o->client) ? "IPv4" : "IPv6",
				       gs_addr_is_v4(&o->client) ? "IPv6" : "IPv4");
		for (j = 0; j < i; j++)
			if (!memcmp(&rf->overrides[j].client, &o->client, sizeof(o->client)) &&
			    rf->overrides[j].prefixlen128 == o->prefixlen128)
				return fail_at(c, "'%s' is listed twice (also overrides[%u])",
					       d->overrides[i].cidr, j);
		at(c, "overrides[%u].group", i);
		err = reword(c, gs_parse_group(d->overrides[i].group, &o->group));
		if (err)
			return err;
	}
	rf->noverrides = d->overrides_count;
	return 0;
}

/* 0 in the map means "the agent's own setting", so a file cannot ask for
 * 0 itself: it leaves the field out instead. */
static int nonzero(struct check *c, int err, uint32_t v)
{
	if (!err && !v)
		return fail_at(c, "must be above 0 (leave the field out for the agent's setting)");
	return err;
}

#define WEEK_MS (7u * 24 * 3600 * 1000)

static int check_analysis(struct check *c, const struct doc_analysis *a,
			  struct gs_rollout_analysis *out)
{
	uint32_t ms = 0;
	int err = 0;

	if (!a)
		return 0;
	if (a->alpha) {
		at(c, "analysis.alpha");
		err = reword(c, gs_parse_fixed(a->alpha, 6, 1, 500000, "alpha", &out->alpha_ppm));
	}
	if (!err && a->min_samples) {
		at(c, "analysis.min_samples");
		err = reword(c, gs_parse_u32(a->min_samples, 1, 1000000000, "min_samples",
					     &out->min_samples));
	}
	if (!err && a->max_error_rate) {
		at(c, "analysis.max_error_rate");
		err = reword(c, gs_parse_percent(a->max_error_rate, &out->max_error_rate_ppm));
		err = nonzero(c, err, out->max_error_rate_ppm);
	}
	if (!err && a->min_error_ratio) {
		at(c, "analysis.min_error_ratio");
		err = reword(c, gs_parse_fixed(a->min_error_ratio, 3, 1, 1000000, "min_error_ratio",
					       &out->min_error_ratio_milli));
	}
	if (!err && a->max_latency_ratio) {
		at(c, "analysis.max_latency_ratio");
		err = reword(c, gs_parse_fixed(a->max_latency_ratio, 3, 1000, 1000000,
					       "max_latency_ratio", &out->max_latency_ratio_milli));
	}
	if (!err && a->latency_margin) {
		at(c, "analysis.latency_margin");
		err = reword(c, gs_parse_duration_ms(a->latency_margin, 600000, &ms));
		err = nonzero(c, err, ms);
		out->latency_margin_us = ms * 1000;
	}
	if (!err && a->hard_fail_connects) {
		at(c, "analysis.hard_fail_connects");
		err = reword(c, gs_parse_u32(a->hard_fail_connects, 1, 1000000,
					     "hard_fail_connects", &out->hard_fail_connects));
	}
	if (!err && a->max_extension) {
		at(c, "analysis.max_extension");
		err = reword(
			c, gs_parse_duration_ms(a->max_extension, WEEK_MS, &out->max_extension_ms));
		err = nonzero(c, err, out->max_extension_ms);
	}
	if (!err && a->udp_answer_timeout) {
		at(c, "analysis.udp_answer_timeout");
		err = reword(c, gs_parse_duration_ms(a->udp_answer_timeout, GS_UDP_ANSWER_MS_MAX,
						     &out->udp_answer_ms));
		err = nonzero(c, err, out->udp_answer_ms);
	}
	return err;
}

/* A latency margin in microseconds: "300us", or a duration ("2ms", "1s"). */
static int parse_margin_us(const char *s, uint32_t *us)
{
	size_t n = strlen(s);
	uint32_t ms;
	char num[16];
	int err;

	if (n > 2 && n - 2 < sizeof(num) && !strcmp(s + n - 2, "us")) {
		memcpy(num, s, n - 2);
		num[n - 2] = '\0';
		return gs_parse_u32(num, 1, 600000000, "latency margin (us)", us);
	}
	err = gs_parse_duration_ms(s, 600000, &ms);
	if (!err)
		*us = ms * 1000;
	return err;
}

/* analysis.downstream: the dependencies to guard, each at most once. */
static int check_downstream(struct check *c, const struct doc_analysis *a, struct gs_rollout *spec)
{
	unsigned int i, j;
	int err = 0;

	if (!a->downstream_count)
		return 0;
	at(c, "analysis.downstream");
	if (a->downstream_count > GS_MAX_DOWNSTREAM)
		return fail_at(c, "%u dependencies: at most %u", a->downstream_count,
			       GS_MAX_DOWNSTREAM);
	for (i = 0; i < a->downstream_count && !err; i++) {
		const struct doc_downstream *dd = &a->downstream[i];
		struct gs_rollout_downstream *ds = &spec->downstream[i];
		uint16_t port = 0;
		uint8_t proto;

		at(c, "analysis.downstream[%u].target", i);
		err = reword(c, gs_parse_endpoint(dd->target, false, &ds->addr, &port));
		if (err)
			return err;
		ds->port = htons(port);
		for (j = 0; j < i; j++)
			if (!memcmp(&spec->downstream[j].addr, &ds->addr, sizeof(ds->addr)) &&
			    spec->downstream[j].port == ds->port)
				return fail_at(c, "'%s' is listed twice", dd->target);
		if (dd->protocol) {
			at(c, "analysis.downstream[%u].protocol", i);
			err = reword(c, gs_parse_dep_proto(dd->protocol, &proto));
			ds->proto = proto + 1;
		}
		if (!err && dd->max_latency_ratio) {
			at(c, "analysis.downstream[%u].max_latency_ratio", i);
			err = reword(c, gs_parse_fixed(dd->max_latency_ratio, 3, 1000, 1000000,
						       "max_latency_ratio",
						       &ds->max_latency_ratio_milli));
		}
		if (!err && dd->latency_margin) {
			at(c, "analysis.downstream[%u].latency_margin", i);
			err = reword(c,
				     parse_margin_us(dd->latency_margin, &ds->latency_margin_us));
			err = nonzero(c, err, ds->latency_margin_us);
		}
		if (!err && dd->max_error_rate) {
			at(c, "analysis.downstream[%u].max_error_rate", i);
			err = reword(c,
				     gs_parse_percent(dd->max_error_rate, &ds->max_error_rate_ppm));
			err = nonzero(c, err, ds->max_error_rate_ppm);
		}
		if (!err && dd->max_calls_ratio) {
			at(c, "analysis.downstream[%u].max_calls_ratio", i);
			err = reword(c,
				     gs_parse_fixed(dd->max_calls_ratio, 3, 1000, 1000000,
						    "max_calls_ratio", &ds->max_calls_ratio_milli));
		}
		if (!err && dd->max_churn_ratio) {
			at(c, "analysis.downstream[%u].max_churn_ratio", i);
			err = reword(c,
				     gs_parse_fixed(dd->max_churn_ratio, 3, 1000, 1000000,
						    "max_churn_ratio", &ds->max_churn_ratio_milli));
		}
	}
	spec->analysis.ndownstream = a->downstream_count;
	return err;
}

static int check_steps(struct check *c, const struct doc *d, struct gs_rollout *spec)
{
	unsigned int i;
	int err;

	at(c, "steps");
	if (!d->steps_count || d->steps_count > GS_MAX_STEPS)
		return fail_at(c, "%u steps: expected 1..%d", d->steps_count, GS_MAX_STEPS);
	for (i = 0; i < d->steps_count; i++) {
		struct gs_rollout_step *s = &spec->steps[i];

		at(c, "steps[%u].percent", i);
		err = reword(c, gs_parse_percent(d->steps[i].percent, &s->canary_ppm));
		if (err)
			return err;
		if (i && s->canary_ppm < spec->steps[i - 1].canary_ppm)
			return fail_at(c, "%s%% is below the step before (%g%%): steps only go up",
				       d->steps[i].percent,
				       gs_ppm_to_percent(spec->steps[i - 1].canary_ppm));
		if (d->steps[i].bake) {
			at(c, "steps[%u].bake", i);
			err = reword(c,
				     gs_parse_duration_ms(d->steps[i].bake, WEEK_MS, &s->bake_ms));
			if (err)
				return err;
		}
	}
	spec->nsteps = d->steps_count;
	return 0;
}

int gs_rollout_doc_check(const char *name, const struct gs_yaml_lines *lines, const struct doc *d,
			 struct gs_rollout_file *rf)
{
	struct check check = {.name = name, .lines = lines}, *c = &check;
	uint8_t proto = IPPROTO_TCP;
	union gs_addr vip;
	uint16_t port;
	int err;

	err = check_name(c, d->name, &rf->spec);
	if (err)
		return err;
	at(c, "service");
	err = reword(c, gs_parse_endpoint(d->service, false, &vip, &port));
	if (!err && d->proto) {
		at(c, "proto");
		err = reword(c, gs_parse_proto(d->proto, &proto));
	}
	if (!err && d->hash) {
		at(c, "hash");
		err = reword(c, gs_parse_hash_mode(d->hash, &rf->hash_mode));
	}
	if (err)
		return err;
	gs_service_key_init(&rf->service, &vip, port, proto);
	err = check_backends(c, d, rf);
	if (!err)
		err = check_overrides(c, d, rf);
	if (!err)
		err = check_analysis(c, d->analysis, &rf->spec.analysis);
	if (!err && d->analysis)
		err = check_downstream(c, d->analysis, &rf->spec);
	if (!err)
		err = check_steps(c, d, &rf->spec);
	return err;
}

static bool selector_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-' || ch == '/';
}

int gs_selector_check(const char *text)
{
	size_t n = strlen(text), pairs = 0, i = 0;

	if (n == 0 || n >= GS_SELECTOR_LEN)
		return gs_fail(EINVAL, "invalid selector: 1 to %d characters", GS_SELECTOR_LEN - 1);
	while (i < n) {
		size_t k = i, v;

		while (i < n && selector_char(text[i]))
			i++;
		if (i == k || i >= n || text[i] != '=')
			return gs_fail(EINVAL,
				       "invalid selector '%s': expected KEY=VALUE[,KEY=VALUE...]",
				       text);
		v = ++i;
		while (i < n && selector_char(text[i]))
			i++;
		if (i == v || (i < n && text[i] != ','))
			return gs_fail(EINVAL,
				       "invalid selector '%s': expected KEY=VALUE[,KEY=VALUE...]",
				       text);
		if (++pairs > GS_SELECTOR_LABELS)
			return gs_fail(EINVAL, "invalid selector '%s': at most %d labels", text,
				       GS_SELECTOR_LABELS);
		if (i < n && ++i == n)
			return gs_fail(EINVAL, "invalid selector '%s': a trailing ','", text);
	}
	return 0;
}
