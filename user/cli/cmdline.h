/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Command-line machinery in the style of bpftool and ip: a table of
 * {name, handler} per level matched by unique prefix, and per-command
 * options that may come before, between or after the positional words.
 */
#ifndef GS_CMDLINE_H
#define GS_CMDLINE_H

#include <stdbool.h>

struct gs_ctx;

struct gs_cmd {
	const char *name;
	/* argv[0] is the first word after the command's name. */
	int (*run)(struct gs_ctx *ctx, int argc, char **argv);
	const struct gs_cmd *sub; /* subcommands; NULL-name terminated */
	const char *usage;	  /* "VIP:PORT [--proto tcp|udp] ..." */
	/* What `CMD --help` prints after the usage line: one paragraph on what
	 * the command does, then its options with their defaults. */
	const char *help;
};

/* Exact name, else the one command name starts with; NULL (with message)
 * for no match or an ambiguous prefix. where: "" or "service " etc. */
const struct gs_cmd *gs_cmd_find(const struct gs_cmd *table, const char *word, const char *where);

struct gs_opt {
	const char *name;   /* "--group" */
	const char *alias;  /* "-j" or NULL */
	const char **value; /* options with an argument */
	bool *flag;	    /* options without one */
};

/*
 * Take the options in opts (NULL-name terminated) out of argv and compact
 * the positional words to argv[0..*npos). "--name value" and "--name=value"
 * both work; "--" ends the options; a word like "-1" is positional (a
 * number, to be judged by its parser). cmd names the command in messages;
 * names[] are the positional words it expects (for "missing X"); max < 0
 * means any number of the last.
 */
int gs_args_parse(const char *cmd, int argc, char **argv, const struct gs_opt *opts,
		  const char *const *names, int min, int max, int *npos);

#endif
