/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A node of a fleet: the agent's side of fleet mode. It reads every spec
 * under PREFIX/services/ (a full read at start and whenever the watch says
 * something changed, and every GS_FOLLOW_RESYNC_NS as a net), applies the
 * ones whose revision it has not applied yet through core's session and
 * gs_apply (the code `apply -f` runs), and keeps PREFIX/nodes/NAME, under
 * a lease, saying which store revision its maps match.
 *
 * A store that does not answer is never the node's failure: the maps keep
 * the last state applied, the agent goes on judging on its own, and the
 * node reads everything again when the store is back.
 */
#ifndef GS_FOLLOW_H
#define GS_FOLLOW_H

#include <stdint.h>

#include <json-c/json.h>

#include "store_url.h"

#define GS_FOLLOW_LEASE_TTL_S  5
#define GS_FOLLOW_KEEPALIVE_NS 1000000000ull
#define GS_FOLLOW_RESYNC_NS    5000000000ull

struct gs_follow;

/* A line for the agent's log (it takes a reference if it keeps it). */
typedef void (*gs_follow_log_fn)(void *ctx, struct json_object *line);

/* name NULL: gs_fleet_default_name. Nothing is read or written yet. */
int gs_follow_start(const struct gs_store_url *url, const char *pin_dir, const char *name,
		    gs_follow_log_fn log, void *log_ctx, struct gs_follow **out);
/* Readable when the store changed or its watch went up or down. */
int gs_follow_fd(const struct gs_follow *f);
/* Whatever is due at now_ns (monotonic): the fd's news, a read and the
 * applies it calls for, the lease, the report. */
void gs_follow_run(struct gs_follow *f, uint64_t now_ns);
/* The node's key goes with its lease. */
void gs_follow_stop(struct gs_follow *f);

const char *gs_follow_name(const struct gs_follow *f);

#endif
