/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The command line: global options, a command from the table by unique
 * prefix, its checks (privileges, bpffs, network namespace), then the
 * command. `graysplit agent` is one of them: the CLI parses the agent's
 * flags (agent_flags.h) and calls the agent's entry point that main.c hands
 * it, so that the CLI includes no header of the agent's.
 */
#ifndef GS_CLI_H
#define GS_CLI_H

#include "agent_opts.h"

/* gs_agent_run's type: runs until SIGINT or SIGTERM (0) or a fatal error. */
typedef int (*gs_agent_entry)(const char *pin_dir, const char *netns,
			      const struct gs_agent_opts *opts);

/* The program: every error is one line "graysplit: ..." on stderr, printed
 * here. Returns the exit status, 0 or 1. */
int gs_cli_main(int argc, char **argv, gs_agent_entry agent);

#endif
