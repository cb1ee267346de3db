/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit top`: a live view of an instance, redrawn every interval from
 * the pinned maps (read only): per service its share, rollout, state and
 * last decision; per backend its rates, errors and p95 latencies over the
 * last interval.
 */
#ifndef GS_TOP_H
#define GS_TOP_H

#include <stdint.h>

struct gs_top_opts {
	uint32_t interval_ms;	/* between frames */
	uint32_t count;		/* frames to draw, 0: until q, SIGINT or SIGTERM */
	const char *downstream; /* the backend hosts' watch (attach --role backend), or NULL */
};

#define GS_TOP_INTERVAL_MS_DEFAULT 1000u

/* --interval S (seconds, e.g. 1 or 0.5) and --count N; errors name the flag. */
int gs_top_parse(const char *cmd, int argc, char **argv, struct gs_top_opts *opts);

/*
 * Draw frames until told to stop. On a terminal: the alternate screen,
 * redrawn in place, sized to the window, q quits (stdin a terminal); the
 * terminal is restored on every way out. Otherwise frames follow each
 * other as plain text.
 */
int gs_top_run(const char *pin_dir, const struct gs_top_opts *opts);

#endif
