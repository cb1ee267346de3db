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

#include "agent_opts.h"

/* Runs until SIGINT or SIGTERM (0), or a fatal error (negative errno). */
int gs_agent_run(const char *pin_dir, const char *netns, const struct gs_agent_opts *opts);

#endif
