/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The backend_addrs map: (backend address, port, proto) -> the VIP:port of
 * each service that address:port is a backend of, which is how the reply
 * path finds a reply's flow (docs/design.md, The reply path). It says
 * nothing the backends and services maps do not: every writer of backends
 * (backend.c, service.c, journal.c) calls gs_backend_addrs_sync after its
 * change, before a Maglev table can send a flow to a new backend. Apart
 * from backend.h, which needs services and tables, so that service.c and
 * journal.c can use it without a loop.
 */
#ifndef GS_BACKEND_ADDRS_H
#define GS_BACKEND_ADDRS_H

#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

/*
 * Make backend_addrs what the backends and services maps say now: every
 * backend slot that is not free lists its service's VIP:port under its
 * address, port and its service's protocol. Entries that change are
 * rewritten whole (a reader sees the old value or the new), entries no
 * longer made are deleted last.
 */
int gs_backend_addrs_sync(struct gs_maps *m);

/*
 * Before a new backend addr:port of service (svc, service_id) is written:
 * -EMLINK with a one-line message if that address, port and protocol is
 * already a backend of GS_ADDR_SERVICES other services. all is the
 * backends map as read now (GS_MAX_BACKENDS entries). Writes nothing.
 */
int gs_backend_addrs_check(struct gs_maps *m, const struct gs_backend *all,
			   const struct gs_service_key *svc, uint32_t service_id,
			   const union gs_addr *addr, uint16_t port);

#endif
