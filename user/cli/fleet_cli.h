/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The operator's commands in fleet mode (--store): `split` writes the
 * service's decision state and `rollout pause|resume|promote|abort` its
 * rollout commands, each in one transaction conditioned on what it read,
 * for every node to mirror and the leader's walk to act on.
 */
#ifndef GS_FLEET_CLI_H
#define GS_FLEET_CLI_H

#include <stdint.h>

#include <json-c/json.h>

#include "graysplit.h"
#include "rollout.h"
#include "rollout_cli.h"
#include "store_url.h"

int gs_fleet_split_cmd(const struct gs_store_url *url, const struct gs_service_key *k, uint32_t ppm,
		       struct json_object **report);
/* `rollout status --store`: the rollout as the fleet runs it. */
int gs_fleet_rollout_status(const struct gs_store_url *url, const struct gs_service_key *k,
			    struct gs_rollout_view *v);

/* `service del --store`: the service's spec, state and commands leave the
 * store in one transaction; every node removes the service. */
int gs_fleet_service_del_cmd(const struct gs_store_url *url, const struct gs_service_key *k,
			     struct json_object **report);
int gs_fleet_rollout_cmd(const struct gs_store_url *url, const struct gs_service_key *k,
			 enum gs_rollout_op op, struct json_object **report);

/*
 * `graysplit register`: this backend (addr:port, proto) with its labels
 * ("KEY=VALUE[,...]") under PREFIX/backends/, kept alive under a lease of
 * ttl_s seconds until SIGINT or SIGTERM, which revoke it (every node drains
 * it); a lease lost while the store was away is taken anew. Prints one line
 * when registered.
 */
int gs_fleet_register_run(const struct gs_store_url *url, uint8_t proto, const union gs_addr *addr,
			  uint16_t port, const char *labels, uint32_t ttl_s);

#endif
