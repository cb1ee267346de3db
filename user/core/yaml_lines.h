/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where things are in a YAML text. libcyaml maps a document onto structs but
 * keeps no positions (and the line numbers in its own backtraces are those
 * of the parser's read position, not of the node at fault), so one pass
 * over libyaml's events records the line of every mapping key and sequence
 * entry by its path: "name", "steps[2].percent". Messages about a value
 * then point at the line the operator has to fix.
 */
#ifndef GS_YAML_LINES_H
#define GS_YAML_LINES_H

#include <stddef.h>

struct gs_yaml_line {
	char *path;
	unsigned int line; /* 1-based */
};

struct gs_yaml_lines {
	struct gs_yaml_line *v;
	size_t n, cap;
};

/*
 * Scan data. A YAML syntax error, or what a rollout file never needs
 * (aliases, several documents, keys that are not plain scalars, nesting
 * deeper than a few levels), is -EINVAL with "name:LINE: PATH: ..." set.
 */
int gs_yaml_lines_scan(const char *name, const char *data, size_t len, struct gs_yaml_lines *out);

/* Line of the nth (0: first) occurrence of path, else of its nearest
 * recorded ancestor ("steps[2].percent", "steps[2]", "steps"); 1 if none. */
unsigned int gs_yaml_line_of(const struct gs_yaml_lines *t, const char *path, unsigned int nth);

void gs_yaml_lines_free(struct gs_yaml_lines *t);

#endif
