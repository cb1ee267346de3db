/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The reply path's hook: a cls_bpf filter on the clsact egress of each
 * attached interface (on a backend host's, the downstream watch's at
 * ingress and egress), through netlink since libbpf 1.1 has no tcx link. The
 * filter outlives the process that made it; its handle and priority
 * (GS_TC_HANDLE, GS_TC_PRIORITY below) say it is ours.
 */
#ifndef GS_TC_H
#define GS_TC_H

#include <stdbool.h>

/* The tc egress filter every attached interface carries: ours is the one
 * with this handle and priority (`tc filter show dev IFACE egress`). */
#define GS_TC_HANDLE   0x4753 /* "GS" */
#define GS_TC_PRIORITY 1

/* Add or replace our egress filter; *created says it was not there. */
int gs_tc_attach(const char *ifname, int ifindex, int prog_fd, bool *created);
/* The same at ingress or egress (a backend host's interface has both). */
int gs_tc_attach_at(const char *ifname, int ifindex, int prog_fd, bool ingress, bool *created);

/* A backend host's interface: our ingress and egress filters, then the
 * qdisc as below. */
void gs_tc_detach_backend(int ifindex);

/* Remove our egress filter, then the clsact qdisc too if no other filter
 * is left on it (ingress or egress): the interface ends as it began. */
void gs_tc_detach(int ifindex);

#endif
