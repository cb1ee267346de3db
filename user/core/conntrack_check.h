/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Does netfilter in this network namespace track connections? The XDP fast
 * path sends a connection's forward packets past the kernel's stack, so
 * conntrack sees only its replies, takes them for invalid, and a rule such
 * as "ct state invalid drop" drops them all: where conntrack is in use, the
 * fast path must stay off.
 */
#ifndef GS_CONNTRACK_CHECK_H
#define GS_CONNTRACK_CHECK_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * 1 if a rule of the nftables ruleset (iptables-nft rules included) matches
 * or sets conntrack state, does NAT or offloads flows, with where in why
 * ("table inet fw chain forward"); 0 if none does; < 0 if the ruleset could
 * not be read (why says so). Rules of the legacy iptables backend are not
 * seen.
 */
int gs_conntrack_in_use(char *why, size_t len);

/* The same judgement of a ruleset already in `nft -j list ruleset` form. */
int gs_conntrack_in_ruleset(struct json_object *ruleset, char *why, size_t len);

#endif
