/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Fleet mode's shared state in etcd, under the store URL's PREFIX:
 *
 *   PREFIX/services/PROTO/VIP:PORT/spec   a rollout file's text (YAML), as
 *                                         `apply --store` checked and wrote it
 *   PREFIX/nodes/NAME                     a node's report (JSON), under the
 *                                         node's lease: gone when it stops
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
#include "rollout_file.h"

#define GS_FLEET_KEY_MAX  512
#define GS_FLEET_NAME_MAX 128

/* PREFIX/services/ and PREFIX/nodes/, with the slash at the end. */
void gs_fleet_services_dir(const char *prefix, char *out, size_t len);
void gs_fleet_nodes_dir(const char *prefix, char *out, size_t len);
/* PREFIX/services/PROTO/VIP:PORT/spec */
void gs_fleet_spec_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len);

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

/* `status --store`: the store's revision, its services with their spec
 * revisions, and every node's report with its lag behind the specs. */
int gs_fleet_status(struct gs_etcd *e, struct json_object **out);

#endif
