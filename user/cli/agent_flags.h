/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit agent`'s flags: defaults from the policy, every value checked
 * before the agent touches anything, and the help that lists them.
 */
#ifndef GS_AGENT_FLAGS_H
#define GS_AGENT_FLAGS_H

#include <stdio.h>

#include "agent_opts.h"

void gs_agent_defaults(struct gs_agent_opts *opts);

/* The agent's options (argv as for a command: after its name); one-line
 * error and a negative errno on bad input, opts untouched then. */
int gs_agent_parse(const char *cmd, int argc, char **argv, struct gs_agent_opts *opts);

/* What --help prints below the usage line: flags with their defaults. */
void gs_agent_help(FILE *out);

#endif
