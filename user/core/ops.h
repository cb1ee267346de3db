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
 * (flows in CLOSING state do not count). Returns how many were freed. */
int gs_backend_reap(struct gs_maps *m);

/* The whole backends map, GS_MAX_BACKENDS entries, into all. */
int gs_backends_read(struct gs_maps *m, struct gs_backend *all);

/* One 4-byte store. Also returns a rolled-back service to active. */
int gs_split_set(struct gs_maps *m, const struct gs_service_key *svc, uint32_t canary_ppm);

/* "10.9.0.0/16" or "fd00::/64" from an address and its 128-bit scale
 * (v4-mapped) prefix length. */
#define GS_CIDR_STRLEN (GS_SERVICE_STRLEN)
void gs_format_cidr(const union gs_addr *addr, uint32_t prefixlen128, char *buf, size_t len);

int gs_override_add(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128, uint8_t group);
int gs_override_del(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128);

/* Rebuild the Maglev table of (service, group) from the backends map and
 * publish it with one map-in-map slot update. */
int gs_table_publish(struct gs_maps *m, uint32_t service_id, uint8_t group);
/* The same, as if backend skip_id were not active (about to be drained). */
int gs_table_publish_without(struct gs_maps *m, uint32_t service_id, uint8_t group,
			     uint32_t skip_id);

#endif
