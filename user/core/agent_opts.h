/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The settings the agent runs with: what the command line's agent flags
 * (cli/agent_flags.c) fill in and the agent (agent/agent.c) reads, so that
 * neither of the two needs the other's headers.
 */
#ifndef GS_AGENT_OPTS_H
#define GS_AGENT_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"
#include "policy.h"
#include "store_opts.h"

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
	uint16_t metrics_port;	    /* host order */
	struct gs_store_opts store; /* fleet mode: no url and no GRAYSPLIT_STORE, none */
	/* The pin directory of the backend hosts' downstream watch (attach
	 * --role backend), or NULL. */
	const char *downstream;
};

#endif
