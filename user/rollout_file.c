// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Loading a rollout file: libcyaml maps the YAML onto the plain structs
 * below, every scalar as a string, so that each value is then judged by the
 * same parsers as the CLI's arguments and every message reads alike. The
 * lines come from a separate pass (yaml_lines.h); libcyaml's own complaints
 * (unknown key, missing field, wrong kind of node) arrive through its log
 * callback and are turned into the same "FILE:LINE: FIELD: ..." form.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>

#include "error.h"
#include "ops.h"
#include "parse.h"
#include "rollout_file.h"
#include "yaml_lines.h"

struct doc_backend {
	char *address, *group, *weight;
};

struct doc_override {
	char *cidr, *group;
};

struct doc_analysis {
	char *alpha, *min_samples, *max_error_rate, *min_error_ratio, *max_latency_ratio;
	char *latency_margin, *hard_fail_connects, *max_extension;
};

struct doc_step {
	char *percent, *bake;
};

struct doc {
	char *name, *service, *proto, *hash;
	struct doc_backend *backends;
	unsigned int backends_count;
	struct doc_override *overrides;
	unsigned int overrides_count;
	struct doc_analysis *analysis;
	struct doc_step *steps;
	unsigned int steps_count;
};

#define REQ CYAML_FLAG_POINTER
#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR(key, flags, type, member)                                                              \
	CYAML_FIELD_STRING_PTR(key, flags, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t backend_fields[] = {
	STR("address", REQ, struct doc_backend, address),
	STR("group", REQ, struct doc_backend, group),
	STR("weight", OPT, struct doc_backend, weight),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t override_fields[] = {
	STR("cidr", REQ, struct doc_override, cidr),
	STR("group", REQ, struct doc_override, group),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t analysis_fields[] = {
	STR("alpha", OPT, struct doc_analysis, alpha),
	STR("min_samples", OPT, struct doc_analysis, min_samples),
	STR("max_error_rate", OPT, struct doc_analysis, max_error_rate),
	STR("min_error_ratio", OPT, struct doc_analysis, min_error_ratio),
	STR("max_latency_ratio", OPT, struct doc_analysis, max_latency_ratio),
	STR("latency_margin", OPT, struct doc_analysis, latency_margin),
	STR("hard_fail_connects", OPT, struct doc_analysis, hard_fail_connects),
	STR("max_extension", OPT, struct doc_analysis, max_extension),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t step_fields[] = {
	STR("percent", REQ, struct doc_step, percent),
	STR("bake", OPT, struct doc_step, bake),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t backend_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct doc_backend, backend_fields),
};
static const cyaml_schema_value_t override_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct doc_override, override_fields),
};
static const cyaml_schema_value_t step_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct doc_step, step_fields),
};

static const cyaml_schema_field_t doc_fields[] = {
	STR("name", REQ, struct doc, name),
	STR("service", REQ, struct doc, service),
	STR("proto", OPT, struct doc, proto),
	STR("hash", OPT, struct doc, hash),
	CYAML_FIELD_SEQUENCE("backends", REQ, struct doc, backends, &backend_schema, 0,
			     CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("overrides", OPT, struct doc, overrides, &override_schema, 0,
			     CYAML_UNLIMITED),
	CYAML_FIELD_MAPPING_PTR("analysis", OPT, struct doc, analysis, analysis_fields),
	CYAML_FIELD_SEQUENCE("steps", REQ, struct doc, steps, &step_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t doc_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct doc, doc_fields),
};

/* ---- libcyaml's complaints -------------------------------------------- */

#define BT_MAX 16

/* What libcyaml logged: its first error line and the backtrace, innermost
 * entry first, each a mapping field (key), a mapping (no key) or a
 * sequence entry (index, 1-based in its text). */
struct cyaml_report {
	char first[256];
	struct bt_entry {
		char key[64];
		bool is_entry;
		unsigned int index;
	} bt[BT_MAX];
	int nbt;
};

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cyaml_report *r = ctx;
	struct bt_entry *e;
	char line[256];
	unsigned int idx;
	size_t len;

	if (level < CYAML_LOG_ERROR)
		return;
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): libcyaml's own */
	vsnprintf(line, sizeof(line), fmt, args);
	len = strcspn(line, "\n");
	line[len] = '\0';
	if (!strncmp(line, "Load: Backtrace", 15))
		return;
	if (!strncmp(line, "  in ", 5)) {
		if (r->nbt == BT_MAX)
			return;
		e = &r->bt[r->nbt++];
		memset(e, 0, sizeof(*e));
		if (sscanf(line, "  in sequence entry '%u'", &idx) == 1 ||
		    sscanf(line, "  in sequence entry: %u", &idx) == 1) {
			e->is_entry = true;
			e->index = idx ? idx - 1 : 0;
		} else if (sscanf(line, "  in mapping field '%63[^']'", e->key) != 1 &&
			   sscanf(line, "  in mapping field: %63s", e->key) != 1) {
			e->key[0] = '\0'; /* "in mapping": the container itself */
		}
		return;
	}
	if (!r->first[0])
		snprintf(r->first, sizeof(r->first), "%s",
			 strncmp(line, "Load: ", 6) ? line : line + 6);
}

/* The backtrace as a path, outermost first, skipping `skip` innermost entries. */
static void report_path(const struct cyaml_report *r, int skip, char *path, size_t len)
{
	size_t used = 0;
	int i;

	path[0] = '\0';
	for (i = r->nbt - 1; i >= skip && used < len; i--) {
		int n = 0;

		if (r->bt[i].is_entry)
			n = snprintf(path + used, len - used, "[%u]", r->bt[i].index);
		else if (r->bt[i].key[0])
			n = snprintf(path + used, len - used, "%s%s", used ? "." : "",
				     r->bt[i].key);
		used += n > 0 ? (size_t)n : 0;
	}
}

/* "SEQUENCE_START" -> "a list", as an operator thinks of YAML nodes. */
static const char *node_kind(const char *word)
{
	if (!strncmp(word, "SEQUENCE", 8))
		return "a list";
	if (!strncmp(word, "MAPPING", 7))
		return "a mapping (key: value lines)";
	if (!strncmp(word, "STRING", 6) || !strncmp(word, "SCALAR", 6))
		return "a single value";
	return word;
}

static bool innermost_is_field(const struct cyaml_report *r)
{
	return r->nbt && !r->bt[0].is_entry && r->bt[0].key[0];
}

static int cyaml_failure(const char *name, const struct gs_yaml_lines *lines,
			 const struct cyaml_report *r, cyaml_err_t cerr)
{
	char path[256], field[320], want[32], got[32], key[64];
	unsigned int nth = 0;
	const char *what;

	if (sscanf(r->first, "Unexpected key: %63[^\n]", key) == 1 ||
	    sscanf(r->first, "Missing required mapping field: %63[^\n]", key) == 1) {
		bool unknown = r->first[0] == 'U';

		report_path(r, innermost_is_field(r) ? 1 : 0, path, sizeof(path));
		snprintf(field, sizeof(field), "%s%s%s", path, path[0] ? "." : "", key);
		what = unknown ? "unknown field" : "missing (required)";
		return gs_fail(EINVAL, "%s:%u: %s: %s", name,
			       gs_yaml_line_of(lines, unknown ? field : path, 0), field, what);
	}
	report_path(r, 0, path, sizeof(path));
	snprintf(field, sizeof(field), "%s", path[0] ? path : "(document)");
	if (sscanf(r->first, "Mapping field already seen: %63[^\n]", key) == 1) {
		what = "given twice";
		nth = 1;
	} else if (sscanf(r->first, "Expecting %31s got event: %31s", want, got) == 2) {
		want[strcspn(want, ",")] = '\0';
		return gs_fail(EINVAL, "%s:%u: %s: expected %s, not %s", name,
			       gs_yaml_line_of(lines, path, 0), field, node_kind(want),
			       node_kind(got));
	} else {
		what = r->first[0] ? r->first : cyaml_strerror(cerr);
	}
	return gs_fail(EINVAL, "%s:%u: %s: %s", name, gs_yaml_line_of(lines, path, nth), field,
		       what);
}

/* ---- checking the values ---------------------------------------------- */

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
	bool stable = false;
	unsigned int i, j;
	int err;

	at(c, "backends");
	if (d->backends_count > GS_ROLLOUT_MAX_BACKENDS)
		return fail_at(c, "%u backends: at most %u", d->backends_count,
			       GS_ROLLOUT_MAX_BACKENDS);
	rf->backends = calloc(d->backends_count ? d->backends_count : 1, sizeof(*rf->backends));
	if (!rf->backends)
		return gs_fail(ENOMEM, "out of memory");
	for (i = 0; i < d->backends_count; i++) {
		const struct doc_backend *db = &d->backends[i];
		struct gs_rollout_backend *b = &rf->backends[i];
		uint32_t weight = 1;

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
		for (j = 0; j < i; j++)
			if (!memcmp(&rf->backends[j].addr, &b->addr, sizeof(b->addr)) &&
			    rf->backends[j].port == b->port)
				return fail_at(c, "'%s' is listed twice (also backends[%u])",
					       db->address, j);
		at(c, "backends[%u].group", i);
		err = reword(c, gs_parse_group(db->group, &b->group));
		if (!err && db->weight) {
			at(c, "backends[%u].weight", i);
			err = reword(c, gs_parse_u32(db->weight, 1, 65535, "weight", &weight));
		}
		if (err)
			return err;
		b->weight = (uint16_t)weight;
		stable = stable || b->group == GS_GROUP_STABLE;
	}
	rf->nbackends = d->backends_count;
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

static int check_doc(struct check *c, const struct doc *d, struct gs_rollout_file *rf)
{
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
	if (!err)
		err = check_steps(c, d, &rf->spec);
	return err;
}

/* Whatever a hostile file put in a key or value, the message stays one
 * printable line. */
static void flatten_error(void)
{
	char msg[512];
	size_t i;

	snprintf(msg, sizeof(msg), "%s", gs_last_error());
	for (i = 0; msg[i]; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	gs_set_error("%s", msg);
}

int gs_rollout_file_parse(const char *name, const char *data, size_t len,
			  struct gs_rollout_file *out)
{
	struct cyaml_report report = {0};
	const cyaml_config_t config = {
		.log_fn = cyaml_log_capture,
		.log_ctx = &report,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	struct gs_yaml_lines lines;
	struct check c = {.name = name, .lines = &lines};
	struct doc *d = NULL;
	cyaml_err_t cerr;
	int err;

	memset(out, 0, sizeof(*out));
	err = gs_yaml_lines_scan(name, data, len, &lines);
	if (err) {
		flatten_error();
		return err;
	}
	cerr = cyaml_load_data((const uint8_t *)data, len, &config, &doc_schema, (void **)&d, NULL);
	if (cerr != CYAML_OK)
		err = cyaml_failure(name, &lines, &report, cerr);
	else if (!d)
		err = gs_fail(EINVAL, "%s:1: (document): empty file", name);
	else
		err = check_doc(&c, d, out);
	if (d)
		cyaml_free(&config, &doc_schema, d, 0);
	gs_yaml_lines_free(&lines);
	if (err) {
		flatten_error();
		gs_rollout_file_free(out);
	}
	return err;
}

int gs_rollout_file_load(const char *path, struct gs_rollout_file *out)
{
	struct stat st;
	char *data;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gs_fail(errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > GS_ROLLOUT_FILE_MAX) {
		close(fd);
		return gs_fail(EINVAL, "%s: not a regular file of at most %u bytes", path,
			       GS_ROLLOUT_FILE_MAX);
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return gs_fail(ENOMEM, "out of memory");
	}
	n = read(fd, data, (size_t)st.st_size + 1);
	err = errno;
	close(fd);
	if (n < 0 || n > st.st_size) {
		free(data);
		return gs_fail(n < 0 ? err : EINVAL, "cannot read %s: %s", path,
			       n < 0 ? strerror(err) : "it changed while being read");
	}
	err = gs_rollout_file_parse(path, data, (size_t)n, out);
	free(data);
	return err;
}

void gs_rollout_file_free(struct gs_rollout_file *rf)
{
	free(rf->backends);
	free(rf->overrides);
	rf->backends = NULL;
	rf->overrides = NULL;
	rf->nbackends = rf->noverrides = 0;
}
