/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit agent`: the fail-back loop. Every interval it turns the kernel's
 * per-backend counters into per-group windows, asks the policy whether the
 * canary is worse than the concurrent stable baseline, and on a failure cuts
 * the canary's share to 0 with one map write. All its state is rebuilt from
 * the pinned maps at start, so it may be killed at any moment.
 */
#ifndef GS_AGENT_H
#define GS_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "graysplit.h"
#include "policy.h"

enum gs_on_fail {
	GS_ON_FAIL_FINISH = 0, /* open canary flows finish on the canary */
	GS_ON_FAIL_RESET = 1,  /* their flow entries go: stable answers them with RST */
};

struct gs_agent_opts {
	struct gs_policy_cfg policy;
	uint32_t interval_ms;
	uint32_t window_ms;
	enum gs_on_fail on_fail;
	const char *log_path; /* NULL: stdout only */
	bool once;	      /* one full window, a line per service, exit */
	bool metrics;	      /* serve GET /metrics on metrics_addr:metrics_port */
	union gs_addr metrics_addr;
	uint16_t metrics_port; /* host order */
};

void gs_agent_defaults(struct gs_agent_opts *opts);

/* The agent's options (argv as for a command: after its name); one-line
 * error and a negative errno on bad input, opts untouched then. */
int gs_agent_parse(const char *cmd, int argc, char **argv, struct gs_agent_opts *opts);

/* What --help prints below the usage line: flags with their defaults. */
void gs_agent_help(FILE *out);

/* Runs until SIGINT or SIGTERM (0), or a fatal error (negative errno). */
int gs_agent_run(const char *pin_dir, const char *netns, const struct gs_agent_opts *opts);

#endif
