// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "error.h"
#include "yaml_lines.h"

#define GS_YAML_DEPTH_MAX 8
#define GS_YAML_PATH_MAX  256

struct frame {
	bool is_map;
	bool want_key;	  /* mapping: the next scalar is a key */
	unsigned int idx; /* sequence: index of the next entry */
	size_t path_len;  /* length of this container's own path */
};

struct scan {
	const char *name;
	struct gs_yaml_lines *out;
	struct frame stack[GS_YAML_DEPTH_MAX];
	int depth;
	char path[GS_YAML_PATH_MAX];
	int documents;
};

static const char *shown_path(const struct scan *s)
{
	return s->path[0] ? s->path : "(document)";
}

static int scan_fail(const struct scan *s, size_t line0, const char *what)
{
	return gs_fail(EINVAL, "%s:%zu: %s: %s", s->name, line0 + 1, shown_path(s), what);
}

static int record(struct scan *s, size_t line0)
{
	struct gs_yaml_lines *t = s->out;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct gs_yaml_line *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return gs_fail(ENOMEM, "out of memory");
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].path = strdup(s->path);
	if (!t->v[t->n].path)
		return gs_fail(ENOMEM, "out of memory");
	t->v[t->n++].line = (unsigned int)line0 + 1;
	return 0;
}

/* Extend the path to name this node; false if it does not fit. */
static bool path_push(struct scan *s, size_t base, const char *fmt, const char *key,
		      unsigned int idx)
{
	int n;

	s->path[base] = '\0';
	if (key)
		n = snprintf(s->path + base, sizeof(s->path) - base, fmt, key);
	else
		n = snprintf(s->path + base, sizeof(s->path) - base, fmt, idx);
	return n >= 0 && (size_t)n < sizeof(s->path) - base;
}

/* A value is complete: back to its container's path. */
static void value_done(struct scan *s)
{
	struct frame *top;

	if (!s->depth)
		return;
	top = &s->stack[s->depth - 1];
	s->path[top->path_len] = '\0';
	if (top->is_map)
		top->want_key = true;
}

/* A scalar, sequence or mapping starts at line0. */
static int node(struct scan *s, const yaml_event_t *ev, size_t line0)
{
	struct frame *top = s->depth ? &s->stack[s->depth - 1] : NULL;
	int err;

	if (ev->type == YAML_ALIAS_EVENT)
		return scan_fail(s, line0, "aliases (*name) are not supported");
	if (top && top->is_map && top->want_key) {
		if (ev->type != YAML_SCALAR_EVENT)
			return scan_fail(s, line0, "keys must be plain names");
		if (!path_push(s, top->path_len, top->path_len ? ".%s" : "%s",
			       (const char *)ev->data.scalar.value, 0))
			return scan_fail(s, line0, "key too long");
		top->want_key = false;
		return record(s, line0);
	}
	if (top && !top->is_map) {
		if (!path_push(s, top->path_len, "[%u]", NULL, top->idx++))
			return scan_fail(s, line0, "nested too deeply");
		err = record(s, line0);
		if (err)
			return err;
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		value_done(s);
		return 0;
	}
	if (s->depth == GS_YAML_DEPTH_MAX)
		return scan_fail(s, line0, "nested too deeply");
	s->stack[s->depth++] = (struct frame){
		.is_map = ev->type == YAML_MAPPING_START_EVENT,
		.want_key = true,
		.path_len = strlen(s->path),
	};
	return 0;
}

static int event(struct scan *s, const yaml_event_t *ev)
{
	size_t line0 = ev->start_mark.line;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++s->documents > 1)
			return scan_fail(s, line0, "only one YAML document per file");
		return 0;
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
	case YAML_ALIAS_EVENT:
		return node(s, ev, line0);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		s->depth--;
		value_done(s);
		return 0;
	default:
		return 0;
	}
}

int gs_yaml_lines_scan(const char *name, const char *data, size_t len, struct gs_yaml_lines *out)
{
	struct scan s = {.name = name, .out = out};
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!yaml_parser_initialize(&parser))
		return gs_fail(ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && !err) {
		if (!yaml_parser_parse(&parser, &ev)) {
			char what[256];

			snprintf(what, sizeof(what), "YAML syntax: %s%s%s",
				 parser.problem ? parser.problem : "error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			err = scan_fail(&s, parser.problem_mark.line, what);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		err = event(&s, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	if (err)
		gs_yaml_lines_free(out);
	return err;
}

static const struct gs_yaml_line *find(const struct gs_yaml_lines *t, const char *path, size_t len,
				       unsigned int nth)
{
	const struct gs_yaml_line *found = NULL;
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (strlen(t->v[i].path) != len || strncmp(t->v[i].path, path, len) != 0)
			continue;
		found = &t->v[i];
		if (!nth--)
			break;
	}
	return found;
}

unsigned int gs_yaml_line_of(const struct gs_yaml_lines *t, const char *path, unsigned int nth)
{
	size_t len = strlen(path);

	while (len) {
		const struct gs_yaml_line *l = find(t, path, len, nth);

		if (l)
			return l->line;
		/* Up one level: drop ".key" or "[i]". */
		while (len && path[len - 1] != '.' && path[len - 1] != '[')
			len--;
		if (len)
			len--;
		nth = 0;
	}
	return 1;
}

void gs_yaml_lines_free(struct gs_yaml_lines *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	memset(t, 0, sizeof(*t));
}
