/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Control-plane operations on an instance's maps, independent of argv: the
 * CLI calls them, and so do the BPF tests to set up the data path exactly as
 * an operator would. Each validates everything first and changes the maps
 * only once it is sure to succeed (or undoes what it did), so a failed call
 * leaves them as they were. Returns 0 or a negative errno with gs_set_error().
 */
#ifndef GS_OPS_H
#define GS_OPS_H

#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

int gs_service_add(struct gs_maps *m, const struct gs_service_key *svc,
		   uint8_t hash_mode);
/* Removes the service, its backends, overrides and tables. */
int gs_service_del(struct gs_maps *m, const struct gs_service_key *svc);
int gs_service_lookup(struct gs_maps *m, const struct gs_service_key *svc,
		      struct gs_service *out);

/* port 0 = same port as the service. -EEXIST for a duplicate. */
int gs_backend_add(struct gs_maps *m, const struct gs_service_key *svc,
		   const union gs_addr *addr, uint16_t port_host, uint8_t group,
		   uint16_t weight);
/* Drain: out of the tables at once; the slot is freed once no flow uses it. */
int gs_backend_del(struct gs_maps *m, const struct gs_service_key *svc,
		   const union gs_addr *addr, uint16_t port_host);

/* One 4-byte store. Also returns a rolled-back service to active. */
int gs_split_set(struct gs_maps *m, const struct gs_service_key *svc,
		 uint32_t canary_ppm);

int gs_override_add(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128,
		    uint8_t group);
int gs_override_del(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128);

/* Rebuild the Maglev table of (service, group) from the backends map and
 * publish it with one map-in-map slot update. */
int gs_table_publish(struct gs_maps *m, uint32_t service_id, uint8_t group);

#endif
