/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the command line says about fleet mode's store (--store URL and the
 * --store-* options, or GRAYSPLIT_STORE): plain strings, judged by
 * fleet/store_url.c. Here so that the agent's settings can carry them.
 */
#ifndef GS_STORE_OPTS_H
#define GS_STORE_OPTS_H

#include <stdbool.h>

struct gs_store_opts {
	const char *url; /* NULL: GRAYSPLIT_STORE, else no store */
	const char *cacert, *cert, *key;
	bool insecure;
	const char *node_name; /* the agent's --node; NULL: the default */
};

#endif
