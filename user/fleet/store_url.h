/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Where fleet mode keeps its shared state: `--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX`
 * (or GRAYSPLIT_STORE), with the TLS files and the one opt-out of the
 * plain-HTTP rule. Parsed and judged here, before anything connects.
 */
#ifndef GS_STORE_URL_H
#define GS_STORE_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "store_opts.h"

#define GS_STORE_MAX_HOSTS  8
#define GS_STORE_PREFIX_MAX 200
#define GS_STORE_HOST_MAX   256

struct gs_store_url {
	char hosts[GS_STORE_MAX_HOSTS][GS_STORE_HOST_MAX]; /* "HOST:PORT", "[v6]:PORT" */
	size_t nhosts;
	char prefix[GS_STORE_PREFIX_MAX]; /* "/graysplit/prod": leading slash, none at the end */
	bool tls;			  /* https: a CA file was given */
	const char *cacert, *cert, *key;  /* borrowed from the options */
};

/*
 * The URL the options name (opts->url, else GRAYSPLIT_STORE), judged:
 * etcd:// scheme, 1..GS_STORE_MAX_HOSTS endpoints each with a port, a
 * prefix of [A-Za-z0-9._-] segments, a client certificate only with its
 * key and a CA, and plain HTTP only to loopback unless opts->insecure.
 * Returns 1 when a store is configured (out filled), 0 when none is, or a
 * negative errno with the message set.
 */
int gs_store_url_parse(const struct gs_store_opts *opts, struct gs_store_url *out);

/* Whether HOST:PORT names this machine's loopback (127/8, ::1, localhost). */
bool gs_store_host_is_loopback(const char *hostport);

#endif
