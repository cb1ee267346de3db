// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "conntrack_check.h"
#include "decisions.h"
#include "error.h"
#include "lock.h"
#include "netns.h"
#include "port_guard.h"

/* Decision-log lines about the node, not a service, name this service. */
#define GS_NODE_SERVICE "node"

void gs_port_guard_init(struct gs_port_guard *g, const char *pin_dir, const char *netns)
{
	memset(g, 0, sizeof(*g));
	g->pin_dir = pin_dir;
	g->netns = netns ? netns : "";
}

static void log_line(struct gs_port_guard *g, struct json_object *entry, const char *text)
{
	fprintf(stderr, "graysplit agent: %s\n", text);
	if (gs_decision_append_at(g->pin_dir, gs_realtime_ns(), entry))
		fprintf(stderr, "graysplit agent: %s\n", gs_last_error());
	json_object_put(entry);
	g->changes++;
}

static const struct gs_port *find(const struct gs_ports *p, const struct gs_port *port)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (!strcmp(p->port[i].ifname, port->ifname) &&
		    !strcmp(p->port[i].netns, port->netns))
			return &p->port[i];
	return NULL;
}

/* One line per interface whose state changed since the last look. */
static void report_ports(struct gs_port_guard *g, const struct gs_ports *now)
{
	char text[256], reason[128];
	int i;

	for (i = 0; i < now->n; i++) {
		const struct gs_port *port = &now->port[i];
		const struct gs_port *was = g->have_last ? find(&g->last, port) : NULL;
		const char *from = was ? gs_port_why(was) : "unknown";
		struct json_object *e;

		if (was && was->why == port->why && was->in_tx_ports == port->in_tx_ports)
			continue;
		if (!was && !g->have_last)
			from = "agent start";
		e = gs_decision_new("agent", GS_NODE_SERVICE,
				    port->in_tx_ports ? "fast_path_port_in" : "fast_path_port_out");
		json_object_object_add(e, "interface", json_object_new_string(port->ifname));
		json_object_object_add(e, "from", json_object_new_string(from));
		snprintf(reason, sizeof(reason), "%s: %s", port->ifname, gs_port_why(port));
		json_object_object_add(e, "reason", json_object_new_string(reason));
		json_object_object_add(e, "redirect_refused",
				       json_object_new_uint64(port->refused_seen));
		snprintf(text, sizeof(text), "fast path %s %s: %s (was: %s; refused frames: %llu)",
			 port->in_tx_ports ? "redirects into" : "does not redirect into",
			 port->ifname, gs_port_why(port), from,
			 (unsigned long long)port->refused_seen);
		log_line(g, e, text);
	}
}

static struct gs_port_strikes *strikes_of(struct gs_port_guard *g, const char *ifname)
{
	struct gs_port_strikes *free_slot = NULL;
	int i;

	for (i = 0; i < GS_MAX_IFACES; i++) {
		if (!strcmp(g->strikes[i].ifname, ifname))
			return &g->strikes[i];
		if (!free_slot && !g->strikes[i].ifname[0])
			free_slot = &g->strikes[i];
	}
	if (free_slot)
		snprintf(free_slot->ifname, sizeof(free_slot->ifname), "%s", ifname);
	return free_slot;
}

/* Mark for forgiving the ports whose hold-down is over (GS_PORT_HOLD_*). */
static void hold_down(struct gs_port_guard *g, struct gs_ports *p, uint64_t now_ns)
{
	int i;

	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];
		struct gs_port_strikes *s = strikes_of(g, port->ifname);
		uint64_t hold_ms;

		if (!s)
			continue;
		if (port->why == GS_TX_TARGET && s->strikes &&
		    now_ns - s->refused_ns >= GS_PORT_STRIKES_RESET_MS * 1000000ull)
			s->strikes = 0;
		if (port->device_why != GS_TX_TARGET || !port->health.refused)
			continue;
		if (port->health.refused_ns != s->refused_ns) {
			s->refused_ns = port->health.refused_ns;
			s->strikes++;
		}
		/* Strikes 0 (reset after a quiet spell, the same old refusal
		 * seen again) holds as the first: long over by then. */
		hold_ms = GS_PORT_HOLD_MIN_MS << (s->strikes > 7   ? 6
						  : s->strikes > 1 ? s->strikes - 1
								   : 0);
		if (hold_ms > GS_PORT_HOLD_MAX_MS)
			hold_ms = GS_PORT_HOLD_MAX_MS;
		port->forgive = now_ns - s->refused_ns >= hold_ms * 1000000ull;
	}
}

static void check_ports(struct gs_port_guard *g, const struct gs_maps *m, uint64_t now_ns)
{
	struct gs_ports *now = calloc(1, sizeof(*now));
	int lock;

	if (!now)
		return;
	/* attach and detach apply under the lock too: one writer at a time. */
	lock = gs_lock_try(g->pin_dir);
	if (lock < 0)
		goto out;
	if (!gs_ports_read(m, g->netns, false, now)) {
		hold_down(g, now, now_ns);
		gs_ports_apply(m, now);
		report_ports(g, now);
		g->last = *now;
		g->have_last = true;
	}
	gs_lock_release(lock);
out:
	free(now);
}

static void check_conntrack(struct gs_port_guard *g, const struct gs_maps *m)
{
	struct gs_config cfg, now;
	struct json_object *e;
	char why[160] = "", text[256];
	int ct, lock, err;

	char ns[48];

	/* The ruleset that matters is the one of the interfaces' namespace. */
	if (gs_ports_netns(m, ns, sizeof(ns)))
		return;
	if (strcmp(ns, g->netns) != 0 && gs_netns_enter(ns)) {
		snprintf(why, sizeof(why), "%s", gs_last_error());
		ct = -1;
	} else {
		ct = gs_conntrack_in_use(why, sizeof(why));
		if (strcmp(ns, g->netns) != 0 && gs_netns_enter(g->netns))
			fprintf(stderr, "graysplit agent: %s\n", gs_last_error());
	}
	/* Blind is said, once, not silently lived with: the kernel-side
	 * watch of netfilter drops is then the only line left. */
	if ((ct < 0) != g->conntrack_blind) {
		g->conntrack_blind = ct < 0;
		if (ct < 0)
			fprintf(stderr,
				"graysplit agent: cannot check the nftables ruleset for conntrack "
				"(%s; it needs CAP_NET_ADMIN, and CAP_SYS_ADMIN in another "
				"namespace): netfilter dropping replies still "
				"turns the fast path off\n",
				why);
		else
			fprintf(stderr,
				"graysplit agent: the nftables ruleset can be read again\n");
	}
	if (ct < 0 || gs_config_read(m, &cfg) || !!(cfg.flags & GS_CFG_CONNTRACK) == ct)
		return;
	lock = gs_lock_try(g->pin_dir);
	if (lock < 0)
		return;
	err = gs_config_change(m, ct ? GS_CFG_CONNTRACK : 0, ct ? 0 : GS_CFG_CONNTRACK, &now);
	gs_lock_release(lock);
	if (err) {
		fprintf(stderr, "graysplit agent: %s\n", gs_last_error());
		return;
	}
	e = gs_decision_new("agent", GS_NODE_SERVICE,
			    ct ? "fast_path_conntrack_on" : "fast_path_conntrack_off");
	json_object_object_add(e, "reason",
			       json_object_new_string(ct ? why : "no rule uses conntrack"));
	snprintf(text, sizeof(text), "fast path %s: %s", ct ? "off" : "back on",
		 ct ? why : "the ruleset no longer uses conntrack");
	log_line(g, e, text);
}

void gs_port_guard_tick(struct gs_port_guard *g, const struct gs_maps *m, uint64_t now_ns)
{
	if (now_ns >= g->conntrack_due_ns) {
		g->conntrack_due_ns = now_ns + GS_CONNTRACK_CHECK_MS * 1000000ull;
		check_conntrack(g, m);
	}
	if (now_ns >= g->ports_due_ns) {
		g->ports_due_ns = now_ns + GS_PORT_GUARD_MS * 1000000ull;
		check_ports(g, m, now_ns);
	}
}
