/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Services (ops.h): a VIP, port and protocol, and how messages name one.
 */
#ifndef GS_SERVICE_H
#define GS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

/* Fill a services key; port in host order. */
void gs_service_key_init(struct gs_service_key *key, const union gs_addr *vip, uint16_t port_host,
			 uint8_t proto);
/* "10.0.0.10:80/tcp", "[fd00::1]:80/udp": how messages name a service. */
#define GS_SERVICE_STRLEN 64
void gs_format_service(const struct gs_service_key *svc, char *buf, size_t len);

int gs_service_add(struct gs_maps *m, const struct gs_service_key *svc, uint8_t hash_mode);
/* Removes the service, its backends, overrides and tables. */
int gs_service_del(struct gs_maps *m, const struct gs_service_key *svc);
/* Change the hash mode of an existing service. */
int gs_service_set_hash(struct gs_maps *m, const struct gs_service_key *svc, uint8_t hash_mode);
int gs_service_lookup(struct gs_maps *m, const struct gs_service_key *svc, struct gs_service *out);

#endif
