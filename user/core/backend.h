/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A service's backends (ops.h): each change republishes the Maglev table
 * of the group it touches (table.h).
 */
#ifndef GS_BACKEND_H
#define GS_BACKEND_H

#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

/* port 0 = same port as the service. -EEXIST for a duplicate. */
int gs_backend_add(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		   uint16_t port_host, uint8_t group, uint16_t weight);
/* Drain: out of the tables at once; the slot is freed once no flow uses it. */
int gs_backend_del(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		   uint16_t port_host);
/* The drain alone, slot kept: gs_backend_add puts it back as it was. */
int gs_backend_drain(struct gs_maps *m, const struct gs_service_key *svc, const union gs_addr *addr,
		     uint16_t port_host);
/* New group and weight for an active backend; both groups' tables follow. */
int gs_backend_update(struct gs_maps *m, const struct gs_service_key *svc,
		      const union gs_addr *addr, uint16_t port_host, uint8_t group,
		      uint16_t weight);

/* Free the slots of draining backends that no live flow uses any more
 * (flows in CLOSING state, or reset by the agent, do not count). Returns how
 * many were freed. */
int gs_backend_reap(struct gs_maps *m);

#endif
