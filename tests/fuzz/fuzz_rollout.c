// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rollout-file loader (gs_rollout_file_parse, what `apply -f` runs on
 * the file's bytes). A refused file gets one line "fuzz.yaml:LINE: ..." and
 * owns no memory; an accepted one satisfies every rule of the format, and
 * written back out as YAML it loads again to exactly the same rollout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"
#include "rollout_file.h"

#define NAME	"fuzz.yaml"
#define WEEK_MS (7u * 24 * 3600 * 1000)

struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!t->s) {
		t->cap = 4096;
		t->s = malloc(t->cap);
		if (!t->s)
			abort();
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			abort();
	}
	t->len += (size_t)n;
}

static void put_percent(struct text *t, const char *key, uint32_t ppm)
{
	put(t, "%s\"%u.%04u\"\n", key, ppm / 10000, ppm % 10000);
}

/* The rollout as a file in the documented format, every value spelled out
 * and quoted (an IPv6 endpoint would otherwise start a YAML list). */
static void write_yaml(const struct gs_rollout_file *rf, struct text *t)
{
	const struct gs_rollout_analysis *a = &rf->spec.analysis;
	char buf[GS_ENDPOINT_STRLEN];
	uint32_t i;

	put(t, "name: \"%s\"\n", rf->spec.name);
	gs_format_endpoint(&rf->service.vip, ntohs(rf->service.port), buf, sizeof(buf));
	put(t, "service: \"%s\"\nproto: %s\nhash: %s\nbackends:\n", buf,
	    gs_proto_name(rf->service.proto), gs_hash_mode_name(rf->hash_mode));
	for (i = 0; i < rf->nbackends; i++) {
		const struct gs_rollout_backend *b = &rf->backends[i];

		gs_format_endpoint(&b->addr, b->port, buf, sizeof(buf));
		put(t, "  - address: \"%s\"\n    group: %s\n    weight: %u\n", buf,
		    gs_group_name(b->group), b->weight);
	}
	if (rf->noverrides)
		put(t, "overrides:\n");
	for (i = 0; i < rf->noverrides; i++) {
		const struct gs_rollout_override *o = &rf->overrides[i];
		bool v4 = gs_addr_is_v4(&o->client);

		gs_format_addr(&o->client, buf, sizeof(buf));
		put(t, "  - cidr: \"%s/%u\"\n    group: %s\n", buf,
		    v4 ? o->prefixlen128 - 96 : o->prefixlen128, gs_group_name(o->group));
	}
	/* An empty "analysis:" is a null, not a mapping: only with a field. */
	if (memcmp(a, &(struct gs_rollout_analysis){0}, sizeof(*a)))
		put(t, "analysis:\n");
	if (a->alpha_ppm)
		put(t, "  alpha: %u.%06u\n", a->alpha_ppm / 1000000, a->alpha_ppm % 1000000);
	if (a->min_samples)
		put(t, "  min_samples: %u\n", a->min_samples);
	if (a->max_error_rate_ppm)
		put_percent(t, "  max_error_rate: ", a->max_error_rate_ppm);
	if (a->min_error_ratio_milli)
		put(t, "  min_error_ratio: %u.%03u\n", a->min_error_ratio_milli / 1000,
		    a->min_error_ratio_milli % 1000);
	if (a->max_latency_ratio_milli)
		put(t, "  max_latency_ratio: %u.%03u\n", a->max_latency_ratio_milli / 1000,
		    a->max_latency_ratio_milli % 1000);
	if (a->latency_margin_us)
		put(t, "  latency_margin: %ums\n", a->latency_margin_us / 1000);
	if (a->hard_fail_connects)
		put(t, "  hard_fail_connects: %u\n", a->hard_fail_connects);
	if (a->max_extension_ms)
		put(t, "  max_extension: %ums\n", a->max_extension_ms);
	put(t, "steps:\n");
	for (i = 0; i < rf->spec.nsteps; i++) {
		put_percent(t, "  - percent: ", rf->spec.steps[i].canary_ppm);
		put(t, "    bake: %ums\n", rf->spec.steps[i].bake_ms);
	}
}

static bool same_net(const union gs_addr *a, uint32_t plen_a, const union gs_addr *b,
		     uint32_t plen_b)
{
	return plen_a == plen_b && !memcmp(a, b, sizeof(*a));
}

/* Every rule the format states, checked on the loaded result. */
static void check_rules(const struct gs_rollout_file *rf)
{
	const struct gs_rollout *sp = &rf->spec;
	const struct gs_rollout_analysis *a = &sp->analysis;
	bool v4 = gs_addr_is_v4(&rf->service.vip), stable = false;
	size_t name_len = strnlen(sp->name, sizeof(sp->name));
	uint32_t i, j, bit;

	FUZZ_CHECK(name_len >= 1 && name_len < sizeof(sp->name), "name length %zu", name_len);
	FUZZ_CHECK(strspn(sp->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789._-") == name_len,
		   "name '%s'", sp->name);
	FUZZ_CHECK(rf->service.port != 0, "service port 0");
	FUZZ_CHECK(rf->service.proto == IPPROTO_TCP || rf->service.proto == IPPROTO_UDP, "proto %u",
		   rf->service.proto);
	FUZZ_CHECK(rf->hash_mode == GS_HASH_FLOW || rf->hash_mode == GS_HASH_CLIENT, "hash %u",
		   rf->hash_mode);

	FUZZ_CHECK(rf->nbackends >= 1 && rf->nbackends <= GS_ROLLOUT_MAX_BACKENDS, "%u backends",
		   rf->nbackends);
	for (i = 0; i < rf->nbackends; i++) {
		const struct gs_rollout_backend *b = &rf->backends[i];

		FUZZ_CHECK(gs_addr_is_v4(&b->addr) == v4, "backend %u of the other family", i);
		FUZZ_CHECK(b->port != 0 && b->weight != 0, "backend %u port %u weight %u", i,
			   b->port, b->weight);
		FUZZ_CHECK(b->group == GS_GROUP_STABLE || b->group == GS_GROUP_CANARY,
			   "backend %u group %u", i, b->group);
		stable = stable || b->group == GS_GROUP_STABLE;
		for (j = 0; j < i; j++)
			FUZZ_CHECK(memcmp(&rf->backends[j].addr, &b->addr, sizeof(b->addr)) ||
					   rf->backends[j].port != b->port,
				   "backends %u and %u are the same", j, i);
	}
	FUZZ_CHECK(stable, "no stable backend");

	FUZZ_CHECK(rf->noverrides <= GS_ROLLOUT_MAX_OVERRIDES, "%u overrides", rf->noverrides);
	for (i = 0; i < rf->noverrides; i++) {
		const struct gs_rollout_override *o = &rf->overrides[i];

		FUZZ_CHECK(gs_addr_is_v4(&o->client) == v4, "override %u of the other family", i);
		FUZZ_CHECK(o->prefixlen128 <= 128 && (!v4 || o->prefixlen128 >= 96),
			   "override %u prefix %u", i, o->prefixlen128);
		for (bit = o->prefixlen128; bit < 128; bit++)
			FUZZ_CHECK(!(o->client.b[bit / 8] & (0x80u >> (bit % 8))),
				   "override %u: host bit %u", i, bit);
		FUZZ_CHECK(o->group == GS_GROUP_STABLE || o->group == GS_GROUP_CANARY,
			   "override %u group %u", i, o->group);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(!same_net(&rf->overrides[j].client,
					     rf->overrides[j].prefixlen128, &o->client,
					     o->prefixlen128),
				   "overrides %u and %u are the same", j, i);
	}

	/* 0 means "the agent's setting"; any other value is within its range. */
	FUZZ_CHECK(a->alpha_ppm <= 500000, "alpha %u ppm", a->alpha_ppm);
	FUZZ_CHECK(a->min_samples <= 1000000000, "min_samples %u", a->min_samples);
	FUZZ_CHECK(a->max_error_rate_ppm <= GS_PPM_MAX, "max_error_rate %u", a->max_error_rate_ppm);
	FUZZ_CHECK(a->min_error_ratio_milli <= 1000000, "min_error_ratio %u",
		   a->min_error_ratio_milli);
	FUZZ_CHECK(!a->max_latency_ratio_milli || (a->max_latency_ratio_milli >= 1000 &&
						   a->max_latency_ratio_milli <= 1000000),
		   "max_latency_ratio %u", a->max_latency_ratio_milli);
	FUZZ_CHECK(a->latency_margin_us <= 600000000 && a->latency_margin_us % 1000 == 0,
		   "latency_margin %u us", a->latency_margin_us);
	FUZZ_CHECK(a->hard_fail_connects <= 1000000, "hard_fail_connects %u",
		   a->hard_fail_connects);
	FUZZ_CHECK(a->max_extension_ms <= WEEK_MS, "max_extension %u", a->max_extension_ms);

	FUZZ_CHECK(sp->nsteps >= 1 && sp->nsteps <= GS_MAX_STEPS, "%u steps", sp->nsteps);
	for (i = 0; i < sp->nsteps; i++) {
		FUZZ_CHECK(sp->steps[i].canary_ppm <= GS_PPM_MAX, "step %u: %u ppm", i,
			   sp->steps[i].canary_ppm);
		FUZZ_CHECK(!i || sp->steps[i].canary_ppm >= sp->steps[i - 1].canary_ppm,
			   "step %u goes down", i);
		FUZZ_CHECK(sp->steps[i].bake_ms <= WEEK_MS, "step %u: bake %u", i,
			   sp->steps[i].bake_ms);
	}
	for (; i < GS_MAX_STEPS; i++)
		FUZZ_CHECK(!sp->steps[i].canary_ppm && !sp->steps[i].bake_ms,
			   "step %u after the last", i);
	FUZZ_CHECK(!sp->generation && !sp->applied_unix_ns && !sp->promote_seq && !sp->promote_to &&
			   !sp->resume_seq && !sp->paused && !sp->aborted,
		   "bookkeeping set by a file");
}

static void check_same(const struct gs_rollout_file *a, const struct gs_rollout_file *b)
{
	uint32_t i;

	FUZZ_CHECK(!memcmp(&a->service, &b->service, sizeof(a->service)), "service differs");
	FUZZ_CHECK(a->hash_mode == b->hash_mode, "hash differs");
	FUZZ_CHECK(!memcmp(&a->spec, &b->spec, sizeof(a->spec)), "spec differs");
	FUZZ_CHECK(a->nbackends == b->nbackends && a->noverrides == b->noverrides, "counts differ");
	for (i = 0; i < a->nbackends; i++) {
		const struct gs_rollout_backend *x = &a->backends[i], *y = &b->backends[i];

		FUZZ_CHECK(!memcmp(&x->addr, &y->addr, sizeof(x->addr)) && x->port == y->port &&
				   x->weight == y->weight && x->group == y->group,
			   "backend %u differs", i);
	}
	for (i = 0; i < a->noverrides; i++) {
		const struct gs_rollout_override *x = &a->overrides[i], *y = &b->overrides[i];

		FUZZ_CHECK(same_net(&x->client, x->prefixlen128, &y->client, y->prefixlen128) &&
				   x->group == y->group,
			   "override %u differs", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gs_rollout_file rf, again;
	struct text t = {0};
	const char *msg;
	int err;

	if (size > GS_ROLLOUT_FILE_MAX)
		return 0;
	fuzz_reset_error();
	err = gs_rollout_file_parse(NAME, (const char *)data, size, &rf);
	if (err) {
		fuzz_check_failure(err, EINVAL, ENOMEM, NAME);
		msg = gs_last_error();
		FUZZ_CHECK(!strncmp(msg, NAME ":", strlen(NAME ":")) &&
				   msg[strlen(NAME ":")] >= '1' && msg[strlen(NAME ":")] <= '9',
			   "message '%s' does not start with the file and line", msg);
		FUZZ_CHECK(!rf.backends && !rf.overrides && !rf.nbackends && !rf.noverrides,
			   "a refused file left memory behind");
		return 0;
	}
	check_rules(&rf);
	write_yaml(&rf, &t);
	fuzz_reset_error();
	err = gs_rollout_file_parse(NAME, t.s, t.len, &again);
	FUZZ_CHECK(!err, "written back, the file does not load: %s\n%s", gs_last_error(), t.s);
	check_same(&rf, &again);
	gs_rollout_file_free(&again);
	gs_rollout_file_free(&rf);
	free(t.s);
	return 0;
}
