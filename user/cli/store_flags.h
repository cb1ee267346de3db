/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Fleet mode's store options, the same on every command that takes them
 * (apply, status, agent): entries for a struct gs_opt table and their help.
 */
#ifndef GS_STORE_FLAGS_H
#define GS_STORE_FLAGS_H

#include "store_opts.h"

#define GS_STORE_FLAGS(so)                                                                         \
	{"--store", NULL, &(so).url, NULL}, {"--store-cacert", NULL, &(so).cacert, NULL},          \
		{"--store-cert", NULL, &(so).cert, NULL}, {"--store-key", NULL, &(so).key, NULL},  \
	{                                                                                          \
		"--store-insecure", NULL, NULL, &(so).insecure                                     \
	}

#define GS_STORE_HELP                                                                              \
	"  --store URL            fleet mode: etcd://HOST:PORT[,HOST:PORT...]/PREFIX\n"            \
	"                         (default: $GRAYSPLIT_STORE; none: this node alone)\n"            \
	"  --store-cacert FILE    reach the store over TLS, trusting this CA\n"                    \
	"  --store-cert FILE      ... with this client certificate\n"                              \
	"  --store-key FILE       ... and its key\n"                                               \
	"  --store-insecure       allow plain HTTP to a store that is not on loopback\n"

#endif
