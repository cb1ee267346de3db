/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A small etcd v3 client: the JSON gateway every etcd server serves next
 * to gRPC (/v3/kv/range, /v3/kv/txn, /v3/lease/..., /v3/watch), over
 * libcurl, with json-c for the bodies. Keys and values travel base64 as
 * the gateway wants them; here they are C strings and byte buffers.
 *
 * Calls are blocking with a bound (GS_ETCD_TIMEOUT_MS each, over every
 * endpoint in turn, starting with the one that answered last). A watch runs
 * in a thread of its own and signals an eventfd; its user reads the store
 * again rather than interpreting the events one by one, so a watch that
 * broke and reconnected, or one that was compacted, needs no special case.
 */
#ifndef GS_ETCD_H
#define GS_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_url.h"

#define GS_ETCD_TIMEOUT_MS 2000

struct gs_etcd;

struct gs_etcd_kv {
	char *key;
	char *value; /* NUL-terminated, value_len bytes before the NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct gs_etcd_kvs {
	struct gs_etcd_kv *kv;
	size_t n;
	int64_t revision; /* the store's revision the read saw */
};

/* One comparison of a transaction: the key's mod_revision (0: the key
 * does not exist) equal to mod_revision. */
struct gs_etcd_cmp {
	const char *key;
	int64_t mod_revision;
};

enum gs_etcd_op_kind { GS_ETCD_PUT, GS_ETCD_DELETE };

struct gs_etcd_op {
	enum gs_etcd_op_kind kind;
	const char *key;
	const char *value; /* PUT: value_len bytes */
	size_t value_len;
	int64_t lease; /* PUT: 0 for none */
};

/* Connect nothing yet: the first call does. */
int gs_etcd_open(const struct gs_store_url *url, struct gs_etcd **out);
void gs_etcd_close(struct gs_etcd *e);
/* The bound of each call on each endpoint (default GS_ETCD_TIMEOUT_MS). */
void gs_etcd_set_timeout(struct gs_etcd *e, uint32_t ms);
const struct gs_store_url *gs_etcd_url(const struct gs_etcd *e);

/* The key, or every key under prefix (prefix = true); kvs sorted by key. */
int gs_etcd_get(struct gs_etcd *e, const char *key, bool prefix, struct gs_etcd_kvs *out);
void gs_etcd_kvs_free(struct gs_etcd_kvs *kvs);

int gs_etcd_put(struct gs_etcd *e, const char *key, const char *value, size_t len, int64_t lease);
int gs_etcd_delete(struct gs_etcd *e, const char *key, bool prefix);

/* All cmps hold -> all ops, atomically. *succeeded says which; *revision
 * (may be NULL) the store's revision after it. */
int gs_etcd_txn(struct gs_etcd *e, const struct gs_etcd_cmp *cmps, size_t ncmps,
		const struct gs_etcd_op *ops, size_t nops, bool *succeeded, int64_t *revision);

int gs_etcd_lease_grant(struct gs_etcd *e, int64_t ttl_s, int64_t *id);
/* -ENOENT when the lease is gone (expired or revoked). */
int gs_etcd_lease_keepalive(struct gs_etcd *e, int64_t id);
int gs_etcd_lease_revoke(struct gs_etcd *e, int64_t id);

/* A watch over every key under prefix from start_revision on. */
struct gs_etcd_watch;
int gs_etcd_watch_start(const struct gs_store_url *url, const char *prefix, int64_t start_revision,
			struct gs_etcd_watch **out);
/* Readable when the watch saw events or its stream went up or down. */
int gs_etcd_watch_fd(const struct gs_etcd_watch *w);
/* Clear the fd; the highest revision any event carried and whether the
 * stream is up now. */
void gs_etcd_watch_drain(struct gs_etcd_watch *w, int64_t *revision, bool *up);
void gs_etcd_watch_stop(struct gs_etcd_watch *w);

/* Base64 (RFC 4648, padded), as the gateway carries bytes. encode returns
 * a malloc'd string; decode a malloc'd buffer with a NUL after *len bytes,
 * or NULL on bad input. */
char *gs_b64_encode(const void *data, size_t len);
char *gs_b64_decode(const char *s, size_t *len);

#endif
