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

/*
 * A socket in the namespace the process started in, whatever namespace the
 * calling thread is in now: fleet mode reaches its store from the host's
 * network while the agent works in --netns. -1 with errno on failure.
 */
int gs_netns_origin_socket(int domain, int type, int protocol);

/* Whether /run/netns/NAME exists (name checked for length and '/'). */
int gs_netns_check(const char *name);

#endif
