/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Network namespaces by name, as `ip netns` makes them (/run/netns/NAME).
 * Only the network namespace changes: the mount namespace stays the
 * caller's, so the pins in the caller's bpffs stay visible.
 */
#ifndef GS_NETNS_H
#define GS_NETNS_H

#include <stdbool.h>

/* The length a name may have: it is stored in struct gs_iface_key. */
#define GS_NETNS_NAME_MAX 47

/* Remember the caller's namespace; call before the first gs_netns_enter(). */
int gs_netns_init(void);

/* Enter /run/netns/NAME; NULL or "" returns to the caller's namespace. */
int gs_netns_enter(const char *name);

/* Whether /run/netns/NAME exists (name checked for length and '/'). */
int gs_netns_check(const char *name);

#endif
