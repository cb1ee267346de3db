// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Loading a rollout file: libcyaml maps the YAML onto the plain structs of
 * rollout_doc.h, every scalar as a string, so that each value is then
 * judged by the same parsers as the CLI's arguments (rollout_check.c) and
 * every message reads alike. The lines come from a separate pass
 * (yaml_lines.h); libcyaml's own complaints (unknown key, missing field,
 * wrong kind of node) arrive through its log callback and are turned into
 * the same "FILE:LINE: FIELD: ..." form here.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>

#include "error.h"
#include "rollout_doc.h"
#include "rollout_file.h"
#include "yaml_lines.h"
#define REQ CYAML_FLAG_POINTER
#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR(key, flags, type, member)                                                              \
	CYAML_FIELD_STRING_PTR(key, flags, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t backend_fields[] = {
	STR("address", OPT, struct doc_backend, address),
	STR("selector", OPT, struct doc_backend, selector),
	STR("group", REQ, struct doc_backend, group),
	STR("weight", OPT, struct doc_backend, weight),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t override_fields[] = {
	STR("cidr", REQ, struct doc_override, cidr),
	STR("group", REQ, struct doc_override, group),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t downstream_fields[] = {
	STR("target", REQ, struct doc_downstream, target),
	STR("protocol", OPT, struct doc_downstream, protocol),
	STR("max_latency_ratio", OPT, struct doc_downstream, max_latency_ratio),
	STR("latency_margin", OPT, struct doc_downstream, latency_margin),
	STR("max_error_rate", OPT, struct doc_downstream, max_error_rate),
	STR("max_calls_ratio", OPT, struct doc_downstream, max_calls_ratio),
	STR("max_churn_ratio", OPT, struct doc_downstream, max_churn_ratio),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t downstream_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct doc_downstream, downstream_fields),
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
	STR("udp_answer_timeout", OPT, struct doc_analysis, udp_answer_timeout),
	CYAML_FIELD_SEQUENCE("downstream", OPT, struct doc_analysis, downstream, &downstream_schema,
			     0, CYAML_UNLIMITED),
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
	struct doc *d = NULL;
	cyaml_err_t cerr;
	int err;

	memset(out, 0, sizeof(*out));
	err = gs_yaml_lines_scan(name, data, len, &lines);
	if (err)
		return err;
	cerr = cyaml_load_data((const uint8_t *)data, len, &config, &doc_schema, (void **)&d, NULL);
	if (cerr != CYAML_OK)
		err = cyaml_failure(name, &lines, &report, cerr);
	else if (!d)
		err = gs_fail(EINVAL, "%s:1: (document): empty file", name);
	else
		err = gs_rollout_doc_check(name, &lines, d, out);
	if (d)
		cyaml_free(&config, &doc_schema, d, 0);
	gs_yaml_lines_free(&lines);
	/* gs_set_error() keeps a hostile key or value to one printable line. */
	if (err)
		gs_rollout_file_free(out);
	return err;
}

int gs_rollout_file_read(const char *path, char **data, size_t *len)
{
	struct stat st;
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
	*data = malloc((size_t)st.st_size + 1);
	if (!*data) {
		close(fd);
		return gs_fail(ENOMEM, "out of memory");
	}
	n = read(fd, *data, (size_t)st.st_size + 1);
	err = errno;
	close(fd);
	if (n < 0 || n > st.st_size) {
		free(*data);
		*data = NULL;
		return gs_fail(n < 0 ? err : EINVAL, "cannot read %s: %s", path,
			       n < 0 ? strerror(err) : "it changed while being read");
	}
	(*data)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

int gs_rollout_file_load(const char *path, struct gs_rollout_file *out)
{
	size_t len = 0;
	char *data = NULL;
	int err;

	err = gs_rollout_file_read(path, &data, &len);
	if (err)
		return err;
	err = gs_rollout_file_parse(path, data, len, out);
	free(data);
	return err;
}

void gs_rollout_file_free(struct gs_rollout_file *rf)
{
	free(rf->selectors);
	rf->selectors = NULL;
	free(rf->backends);
	free(rf->overrides);
	rf->backends = NULL;
	rf->overrides = NULL;
	rf->nbackends = rf->noverrides = 0;
}
