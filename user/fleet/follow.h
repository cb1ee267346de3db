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

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "etcd.h"
#include "fleet.h"
#include "store_url.h"

/* A node's lease: its report, its stats and, on the leader, the leader key
 * go with it, so a dead leader is replaced within the TTL. */
#define GS_FOLLOW_LEASE_TTL_S  2
#define GS_FOLLOW_KEEPALIVE_NS 500000000ull
#define GS_FOLLOW_RESYNC_NS    5000000000ull
/* The agent's loop waits for the store at most this long a call; after a
 * call that failed it leaves the store alone for a while, from
 * GS_FOLLOW_BACKOFF_MIN_NS doubling to GS_FOLLOW_BACKOFF_MAX_NS while it
 * keeps failing: a node cut off from its store spends at most a fifth of
 * its time waiting for it, and its own guardrails go on between. */
#define GS_FOLLOW_CALL_MS	 500
#define GS_FOLLOW_BACKOFF_MIN_NS 250000000ull
#define GS_FOLLOW_BACKOFF_MAX_NS 2000000000ull
/* A leader stops leading this long before its lease could have run out
 * unrenewed (etcd counts the TTL from when it got the last keepalive,
 * later than this node sent it). */
#define GS_FOLLOW_LEAD_MARGIN_NS 500000000ull
/* How often a node looks for a leader (and campaigns when there is none). */
#define GS_FOLLOW_CAMPAIGN_NS 250000000ull

struct gs_follow;

/* What the node's agent does with what the store says. */
struct gs_follow_hooks {
	/* A line for the agent's log (it takes a reference if it keeps it). */
	void (*log)(void *ctx, struct json_object *line);
	/* Another node's decision state for service k: make the maps hold it. */
	void (*state)(void *ctx, const struct gs_service_key *k, const struct gs_fleet_state *st);
	/* The operator's rollout commands for service k (PREFIX/.../ops);
	 * false while they are for a rollout this node does not run yet
	 * (they are offered again at the next read). */
	bool (*ops)(void *ctx, const struct gs_service_key *k, const struct gs_fleet_ops *ops);
	/* The fleet's hash seed (PREFIX/seed), before any spec is applied. */
	void (*seed)(void *ctx, uint32_t seed);
	void *ctx;
};

/* name NULL: gs_fleet_default_name. Nothing is read or written yet. */
int gs_follow_start(const struct gs_store_url *url, const char *pin_dir, const char *name,
		    const struct gs_follow_hooks *hooks, struct gs_follow **out);
/* Readable when the store changed or its watch went up or down. */
int gs_follow_fd(const struct gs_follow *f);
/* Whatever is due at now_ns (monotonic): the fd's news, a read and the
 * applies it calls for, the lease, the report. */
void gs_follow_run(struct gs_follow *f, uint64_t now_ns);
/* The node's key goes with its lease. */
void gs_follow_stop(struct gs_follow *f);

const char *gs_follow_name(const struct gs_follow *f);

/* Whether the store has a spec for service k that this node applied. */
bool gs_follow_has_spec(const struct gs_follow *f, const struct gs_service_key *k);

/* Whether this node holds the leader key now. */
bool gs_follow_leader(const struct gs_follow *f);

/*
 * The leader's decision for service k into the store: one transaction,
 * conditioned on this node still holding the leader key and on the state
 * being the one it last read (so no decision is taken twice or over
 * another's). -ECANCELED when either changed: the next read mirrors what
 * won. Then its own watch brings it back as already applied.
 */
int gs_follow_publish_state(struct gs_follow *f, const struct gs_service_key *k,
			    struct gs_fleet_state *st);

/* This node's cumulative counts (PREFIX/stats/NAME, under its lease). */
int gs_follow_publish_stats(struct gs_follow *f, struct json_object *stats);
/* Every node's, for the leader to pool. */
int gs_follow_read_stats(struct gs_follow *f, struct gs_etcd_kvs *out);

/* The same for the downstream watch's pairs (PREFIX/downstream/NAME):
 * backend hosts publish them, the leader pools them (dep_pool.h). */
int gs_follow_publish_downstream(struct gs_follow *f, struct json_object *pairs);
int gs_follow_read_downstream(struct gs_follow *f, struct gs_etcd_kvs *out);

#endif
