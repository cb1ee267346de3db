/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Client overrides (ops.h): a CIDR whose new connections go to one group.
 */
#ifndef GS_OVERRIDE_H
#define GS_OVERRIDE_H

#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"
#include "service.h"

/* "10.9.0.0/16" or "fd00::/64" from an address and its 128-bit scale
 * (v4-mapped) prefix length. */
#define GS_CIDR_STRLEN (GS_SERVICE_STRLEN)
void gs_format_cidr(const union gs_addr *addr, uint32_t prefixlen128, char *buf, size_t len);

int gs_override_add(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128, uint8_t group);
int gs_override_del(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128);

#endif
