/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Fleet mode's shared state in etcd, under the store URL's PREFIX:
 *
 *   PREFIX/services/PROTO/VIP:PORT/spec   a rollout file's text (YAML), as
 *                                         `apply --store` checked and wrote it
 *   PREFIX/services/PROTO/VIP:PORT/state  the fleet's decision state (JSON):
 *                                         share, rolled back and why, the
 *                                         rollout's walk; written by the
 *                                         leader, mirrored by every node
 *   PREFIX/services/PROTO/VIP:PORT/ops    the operator's rollout commands (JSON:
 *                                         paused, aborted, the promote and
 *                                         resume counters), mirrored into
 *                                         every node's rollouts entry
 *   PREFIX/nodes/NAME                     a node's report (JSON), under the
 *                                         node's lease: gone when it stops
 *   PREFIX/stats/NAME                     a node's cumulative counts per
 *                                         service and group (JSON), under
 *                                         its lease, for the leader to pool
 *   PREFIX/leader                         the leader's name, under its lease
 *   PREFIX/backends/PROTO/ADDR:PORT       a backend that registered itself
 *                                         (`graysplit register`): {"labels":
 *                                         {...}} under its lease, gone (and
 *                                         drained on every node) when it dies
 *   PREFIX/seed                           the fleet's hash seed (decimal), made
 *                                         once by whoever finds it missing
 *
 * The operator writes specs; each node's agent makes its pinned maps match
 * them through the same plan/apply code `apply` uses (follow.c) and says in
 * its report which revision of the store its maps match.
 */
#ifndef GS_FLEET_H
#define GS_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "etcd.h"
#include "graysplit.h"
#include "rollout.h"
#include "rollout_file.h"

#define GS_FLEET_KEY_MAX  512
#define GS_FLEET_NAME_MAX 128

/* PREFIX/services/ and PREFIX/nodes/, with the slash at the end. */
void gs_fleet_services_dir(const char *prefix, char *out, size_t len);
void gs_fleet_nodes_dir(const char *prefix, char *out, size_t len);
/* PREFIX/services/PROTO/VIP:PORT/spec, .../state */
void gs_fleet_spec_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len);
void gs_fleet_state_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len);
void gs_fleet_ops_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len);
/* The service a spec or state key names; 0, or -EINVAL for another key. */
int gs_fleet_key_service(const char *prefix, const char *key, struct gs_service_key *k,
			 const char **leaf);

/*
 * The fleet's decision state of one service: what every node's maps hold
 * for it besides the spec (split, the service's state and reason in
 * svc_status, rollout_state). The leader's agent writes it after acting on
 * pooled evidence; the others mirror it.
 */
struct gs_fleet_state {
	uint32_t share_ppm;
	bool rolled_back;
	char reason[GS_REASON_LEN];
	bool has_rollout;
	struct gs_rollout_state rollout;
	char by[GS_FLEET_NAME_MAX]; /* the node that wrote it */
	int64_t mod_revision;	    /* as read; 0: not in the store */
};

struct json_object *gs_fleet_state_json(const struct gs_fleet_state *st);
int gs_fleet_state_parse(const char *text, struct gs_fleet_state *st);
/* Read service k's state (*mod_revision 0 and st zeroed when there is none). */
int gs_fleet_state_get(struct gs_etcd *e, const struct gs_service_key *k, struct gs_fleet_state *st,
		       int64_t *mod_revision);
/* Write it if it is still at mod_revision: -ECANCELED otherwise. */
int gs_fleet_state_put_if(struct gs_etcd *e, const struct gs_service_key *k,
			  const struct gs_fleet_state *st, int64_t mod_revision, int64_t *revision);

/* The operator's fields of a rollout (struct gs_rollout's), fleet-wide. */
struct gs_fleet_ops {
	uint64_t generation; /* the rollout they are for (the leader's number) */
	uint8_t paused, aborted;
	uint32_t promote_seq, promote_to, resume_seq;
	int64_t mod_revision; /* as read; 0: not in the store */
};

struct json_object *gs_fleet_ops_json(const struct gs_fleet_ops *ops);
int gs_fleet_ops_parse(const char *text, struct gs_fleet_ops *ops);

/* Same decision (share, state, reason, walk), whoever wrote it. */
bool gs_fleet_state_same(const struct gs_fleet_state *a, const struct gs_fleet_state *b);

/* A node name: 1..GS_FLEET_NAME_MAX-1 of [A-Za-z0-9._-]. */
int gs_fleet_name_check(const char *name);
/* The default: HOST.PIN_DIR with '/' as '_' ("node1.sys_fs_bpf_graysplit"),
 * unique per instance on a machine, kept to the name's characters. */
void gs_fleet_default_name(const char *pin_dir, char *out, size_t len);

/*
 * `apply --store`: write rf's file text (text, len; already checked into
 * rf) as the service's spec, in one transaction conditioned on the spec's
 * revision: the one read just before (expect_revision < 0) or the one the
 * operator names (0: the service must not be in the store yet). Another
 * write in between: -ECANCELED, nothing written, the message says so. The
 * same text again writes nothing; dry_run writes nothing at all. *report:
 * service, key, result (published, unchanged, would_publish), revision.
 */
int gs_fleet_publish(struct gs_etcd *e, const struct gs_rollout_file *rf, const char *text,
		     size_t len, int64_t expect_revision, bool dry_run,
		     struct json_object **report);

void gs_fleet_backends_dir(const char *prefix, char *out, size_t len);
/* PREFIX/backends/PROTO/ADDR:PORT (port in host order). */
void gs_fleet_backend_key(const char *prefix, uint8_t proto, const union gs_addr *addr,
			  uint16_t port, char *out, size_t len);

/*
 * Fleet mode's selectors: every registered backend (registered: a read of
 * PREFIX/backends/) of rf's protocol and address family whose labels hold
 * all the pairs of one of rf's selectors joins rf->backends with that
 * selector's group and weight (an address the file lists itself stays as
 * listed). rf->nselectors becomes 0. *signature (may be NULL) names the
 * result, for a node to see when it changes.
 */
int gs_fleet_resolve(const char *prefix, const struct gs_etcd_kvs *registered,
		     struct gs_rollout_file *rf, char *signature, size_t len);

/*
 * The fleet's hash seed: read, or made (a random nonzero 32-bit number, in
 * a transaction that only creates it) when missing, so the first writer
 * wins and everyone reads the same.
 */
int gs_fleet_seed(struct gs_etcd *e, uint32_t *seed);

/* `status --store`: the store's revision, its services with their spec
 * revisions, and every node's report with its lag behind the specs. */
int gs_fleet_status(struct gs_etcd *e, struct json_object **out);

#endif
