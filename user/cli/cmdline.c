// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "error.h"

const struct gs_cmd *gs_cmd_find(const struct gs_cmd *table, const char *word, const char *where)
{
	const struct gs_cmd *c, *found = NULL;
	char names[256] = "";
	size_t len = strlen(word);
	int matches = 0;

	if (!len) {
		gs_set_error("empty %scommand", where);
		return NULL;
	}
	for (c = table; c->name; c++) {
		if (!strcmp(c->name, word))
			return c;
		if (!strncmp(c->name, word, len)) {
			found = c;
			matches++;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 matches > 1 ? ", " : "", c->name);
		}
	}
	if (matches == 1)
		return found;
	if (matches > 1)
		gs_set_error("ambiguous %scommand '%s': %s", where, word, names);
	else
		gs_set_error("unknown %scommand '%s' (try 'graysplit help')", where, word);
	return NULL;
}

static bool is_option(const char *word)
{
	/* "-1" and "-0.5" are (bad) numbers for a parser to reject with a
	 * proper message, not options. */
	return word[0] == '-' && word[1] && !isdigit((unsigned char)word[1]) && word[1] != '.';
}

static const struct gs_opt *find_opt(const struct gs_opt *opts, const char *word, size_t len)
{
	for (; opts && opts->name; opts++) {
		if (strlen(opts->name) == len && !strncmp(opts->name, word, len))
			return opts;
		if (opts->alias && strlen(opts->alias) == len && !strncmp(opts->alias, word, len))
			return opts;
	}
	return NULL;
}

int gs_args_parse(const char *cmd, int argc, char **argv, const struct gs_opt *opts,
		  const char *const *names, int min, int max, int *npos)
{
	bool options_done = false;
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		const struct gs_opt *opt;
		const char *word = argv[i], *eq;
		size_t len;

		if (options_done || !is_option(word)) {
			argv[n++] = argv[i];
			continue;
		}
		if (!strcmp(word, "--")) {
			options_done = true;
			continue;
		}
		eq = strchr(word, '=');
		len = eq ? (size_t)(eq - word) : strlen(word);
		opt = find_opt(opts, word, len);
		if (!opt)
			return gs_fail(EINVAL, "%s: unknown option '%.*s'", cmd, (int)len, word);
		if (opt->flag) {
			if (eq)
				return gs_fail(EINVAL, "%s: option %s takes no argument", cmd,
					       opt->name);
			*opt->flag = true;
			continue;
		}
		/* Last-one-wins would let "--group canary ... --group stable"
		 * pass unnoticed: an operator who said two things is asked. */
		if (*opt->value)
			return gs_fail(EINVAL, "%s: option %s given twice", cmd, opt->name);
		if (eq) {
			*opt->value = eq + 1;
		} else if (i + 1 < argc) {
			*opt->value = argv[++i];
		} else {
			return gs_fail(EINVAL, "%s: option %s needs an argument", cmd, opt->name);
		}
	}
	if (n < min)
		return gs_fail(EINVAL, "%s: missing %s", cmd, names ? names[n] : "argument");
	if (max >= 0 && n > max)
		return gs_fail(EINVAL, "%s: unexpected argument '%s'", cmd, argv[max]);
	*npos = n;
	return 0;
}
