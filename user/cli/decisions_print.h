/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit events`: the decision log (decisions.h) on stdout, each entry
 * as its readable line or as the JSON line it was written as, and with
 * follow the entries appended after, across a rotation.
 */
#ifndef GS_DECISIONS_PRINT_H
#define GS_DECISIONS_PRINT_H

#include <stdbool.h>

struct gs_decisions_query {
	const char *service; /* "10.77.0.10:80/tcp" or NULL: all */
	long last;	     /* the last N entries (before following); < 0: all */
	bool follow;	     /* then wait for new ones until SIGINT/SIGTERM */
	bool json;	     /* the JSON lines as written, not the readable form */
};

/* `graysplit events`: the log (rotated part first) to stdout. */
int gs_decisions_print(const char *pin_dir, const struct gs_decisions_query *q);

#endif
