// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <bpf/bpf.h>

#include "config.h"
#include "error.h"
#include "map_iter.h"
#include "netns.h"
#include "txports.h"

uint32_t gs_netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (uint32_t)st.st_ino;
}

static int collect_port(const void *key, const void *value, void *ctx)
{
	const struct gs_iface_key *k = key;
	const struct gs_iface *v = value;
	struct gs_ports *p = ctx;
	struct gs_port *port;

	if (p->n >= GS_MAX_IFACES)
		return 0;
	port = &p->port[p->n++];
	memset(port, 0, sizeof(*port));
	snprintf(port->netns, sizeof(port->netns), "%.*s", (int)sizeof(k->netns), k->netns);
	snprintf(port->ifname, sizeof(port->ifname), "%.*s", (int)sizeof(k->ifname), k->ifname);
	port->ifindex = v->ifindex;
	port->egress_only = !v->xdp_flags;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct gs_port *x = a, *y = b;
	int d = strcmp(x->netns, y->netns);

	return d ? d : strcmp(x->ifname, y->ifname);
}

static void judge_device(struct gs_port *port, bool describe)
{
	int err = gs_link_facts_read(port->ifindex, &port->facts, describe);

	if (err == -ENODEV) {
		port->device_why = GS_TX_GONE;
		return;
	}
	if (err) {
		port->device_why = GS_TX_UNKNOWN;
		return;
	}
	port->facts_read = true;
	/* The ifindex now names another device: what was attached is gone
	 * (or renamed, and the record no longer finds it by name). */
	if (strcmp(port->facts.name, port->ifname) != 0) {
		port->device_why = GS_TX_RENAMED;
		return;
	}
	port->facts.egress_only = port->egress_only;
	port->device_why = gs_tx_judge(&port->facts);
}

int gs_ports_read(const struct gs_maps *m, const char *netns, bool describe, struct gs_ports *p)
{
	const char *here = netns ? netns : "";
	struct gs_config cfg = {0};
	struct gs_tx_health h0 = {0};
	uint32_t key = GS_TX_SLOT_NETNS;
	bool entered = false;
	int err, i, j;

	memset(p, 0, sizeof(*p));
	snprintf(p->caller_netns, sizeof(p->caller_netns), "%s", here);
	err = gs_map_foreach(m->ifaces, sizeof(struct gs_iface_key), sizeof(struct gs_iface),
			     collect_port, p);
	if (err < 0)
		return gs_fail(-err, "cannot read the attached interfaces: %s", strerror(-err));
	qsort(p->port, (size_t)p->n, sizeof(p->port[0]), by_name);
	for (i = 1; i < p->n; i++)
		if (strcmp(p->port[i].netns, p->port[0].netns) != 0)
			p->other_ns = true;
	/* The devices are judged in their namespace, wherever the caller is
	 * (an agent started without --netns, say); the maps are the same. */
	if (!p->other_ns && p->n && strcmp(p->port[0].netns, here) != 0) {
		err = gs_netns_enter(p->port[0].netns);
		if (err)
			return err;
		entered = true;
	}
	gs_config_read(m, &cfg);
	bpf_map_lookup_elem(m->tx_health, &key, &h0);
	p->switched_off = cfg.flags & GS_CFG_NO_FAST_PATH;
	p->nf_dropped = h0.nf_dropped - cfg.nf_dropped_ack;
	p->conntrack = cfg.flags & GS_CFG_CONNTRACK;

	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];
		uint32_t in, slot = gs_tx_slot(port->ifindex);

		port->in_tx_ports = !bpf_map_lookup_elem(m->tx_ports, &port->ifindex, &in);
		if (p->other_ns) {
			port->device_why = GS_TX_OTHER_NS;
			port->why = GS_TX_OTHER_NS;
			continue;
		}
		port->here = true;
		bpf_map_lookup_elem(m->tx_health, &slot, &port->health);
		port->refused_seen = port->health.refused;
		judge_device(port, describe);
		port->why = port->device_why;
		if (port->why == GS_TX_TARGET && port->health.refused)
			port->why = GS_TX_REDIRECT_ERRORS;
		/* Two targets on one health slot: the first (by name) only. */
		for (j = 0; j < i && port->why == GS_TX_TARGET; j++)
			if (p->port[j].target && gs_tx_slot(p->port[j].ifindex) == slot)
				port->why = GS_TX_SLOT_SHARED;
		port->target = port->why == GS_TX_TARGET && !p->other_ns;
	}
	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];

		if (p->other_ns)
			port->why = GS_TX_OTHER_NS;
		else if (p->switched_off)
			port->why = GS_TX_SWITCHED_OFF;
		else if (p->conntrack)
			port->why = GS_TX_CONNTRACK;
		else if (p->nf_dropped)
			port->why = GS_TX_NF_DROPS;
	}
	return entered ? gs_netns_enter(here) : 0;
}

int gs_ports_netns(const struct gs_maps *m, char *buf, size_t len)
{
	struct gs_ports *p = calloc(1, sizeof(*p));
	int err, i;

	if (!p)
		return gs_fail(ENOMEM, "out of memory");
	err = gs_map_foreach(m->ifaces, sizeof(struct gs_iface_key), sizeof(struct gs_iface),
			     collect_port, p);
	if (err < 0)
		err = gs_fail(-err, "cannot read the attached interfaces: %s", strerror(-err));
	else if (!p->n)
		err = -ENOENT;
	for (i = 1; !err && i < p->n; i++)
		if (strcmp(p->port[i].netns, p->port[0].netns) != 0)
			err = -EXDEV;
	if (!err)
		snprintf(buf, len, "%s", p->port[0].netns);
	free(p);
	return err;
}

static int zero_slot(const struct gs_maps *m, uint32_t slot)
{
	struct gs_tx_health zero = {0};

	if (bpf_map_update_elem(m->tx_health, &slot, &zero, BPF_ANY))
		return gs_fail(errno, "cannot reset tx_health slot %u: %s", slot, strerror(errno));
	return 0;
}

static bool slot_taken(const struct gs_ports *p, uint32_t slot)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->port[i].target && gs_tx_slot(p->port[i].ifindex) == slot)
			return true;
	return false;
}

/* gs_ports_apply in the interfaces' namespace: a devmap update takes the
 * ifindex in the namespace of the process that writes it. */
static int apply_here(const struct gs_maps *m, struct gs_ports *p)
{
	uint32_t keys[GS_MAX_TX_PORTS], key, none = 0, *prev = &none, slot;
	int i, k, n = 0, err, first = 0;

	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];

		if (!port->here || !port->forgive || port->device_why != GS_TX_TARGET ||
		    p->other_ns)
			continue;
		memset(&port->health, 0, sizeof(port->health));
		err = zero_slot(m, gs_tx_slot(port->ifindex));
		first = first ? first : err;
		if (port->why == GS_TX_REDIRECT_ERRORS) {
			port->why = GS_TX_TARGET;
			port->target = true;
		}
	}
	/* Out first: a port leaving never overlaps one taking its slot. */
	while (n < GS_MAX_TX_PORTS && !bpf_map_get_next_key(m->tx_ports, prev, &key)) {
		keys[n] = key;
		prev = &keys[n++];
	}
	for (k = 0; k < n; k++) {
		bool keep = false;

		for (i = 0; i < p->n; i++)
			if (p->port[i].target && p->port[i].ifindex == keys[k])
				keep = true;
		if (!keep && bpf_map_delete_elem(m->tx_ports, &keys[k]) && errno != ENOENT &&
		    !first)
			first = gs_fail(errno, "cannot remove ifindex %u from tx_ports: %s",
					keys[k], strerror(errno));
	}
	for (i = 0; i < p->n; i++)
		if (!p->port[i].target)
			p->port[i].in_tx_ports = false;
	/* Refusals the facts explain are forgotten, so the port comes back
	 * once it can take frames; unexplained ones stay (and keep it out).
	 * A slot some other target owns is left alone. */
	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];

		if (!port->here || port->device_why == GS_TX_TARGET || !port->health.refused ||
		    slot_taken(p, gs_tx_slot(port->ifindex)))
			continue;
		err = zero_slot(m, gs_tx_slot(port->ifindex));
		first = first ? first : err;
		if (!err)
			memset(&port->health, 0, sizeof(port->health));
	}
	for (i = 0; i < p->n; i++) {
		struct gs_port *port = &p->port[i];

		if (!port->target || port->in_tx_ports)
			continue;
		slot = gs_tx_slot(port->ifindex);
		err = zero_slot(m, slot);
		if (!err &&
		    bpf_map_update_elem(m->tx_ports, &port->ifindex, &port->ifindex, BPF_ANY))
			err = gs_fail(errno, "cannot add %s to tx_ports: %s", port->ifname,
				      strerror(errno));
		if (err) {
			port->target = false;
			port->why = GS_TX_UNKNOWN;
			first = first ? first : err;
			continue;
		}
		memset(&port->health, 0, sizeof(port->health));
		port->in_tx_ports = true;
	}
	return first;
}

int gs_ports_apply(const struct gs_maps *m, struct gs_ports *p)
{
	bool away = !p->other_ns && p->n && strcmp(p->port[0].netns, p->caller_netns) != 0;
	int err = away ? gs_netns_enter(p->port[0].netns) : 0;

	if (err)
		return err;
	err = apply_here(m, p);
	if (away && gs_netns_enter(p->caller_netns) && !err)
		err = -EIO;
	return err;
}

const char *gs_port_why(const struct gs_port *port)
{
	return port->why == GS_TX_TARGET ? "redirect" : gs_tx_why_text(port->why);
}
