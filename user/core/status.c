// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "config.h"
#include "error.h"
#include "loader.h"
#include "map_iter.h"
#include "names.h"
#include "ops.h"
#include "output.h"
#include "parse.h"
#include "rollout.h"
#include "stats.h"
#include "status.h"
#include "txports.h"

struct service_entry {
	struct gs_service_key key;
	struct gs_service value;
};

struct service_list {
	struct service_entry items[GS_MAX_SERVICES];
	size_t n;
};

struct override_entry {
	struct gs_override_key key;
	struct gs_override value;
};

struct override_list {
	struct override_entry *items;
	size_t n, cap;
};

struct iface_entry {
	struct gs_iface_key key;
	struct gs_iface value;
};

struct iface_list {
	struct iface_entry items[GS_MAX_IFACES];
	size_t n;
};

/* Per backend id: flows not closing; and the flow table's fill. */
struct flow_census {
	uint32_t *live; /* GS_MAX_BACKENDS */
	uint64_t entries;
};

static int collect_service(const void *key, const void *value, void *ctx)
{
	struct service_list *l = ctx;

	if (l->n < GS_MAX_SERVICES) {
		memcpy(&l->items[l->n].key, key, sizeof(l->items[0].key));
		memcpy(&l->items[l->n].value, value, sizeof(l->items[0].value));
		l->n++;
	}
	return 0;
}

static int collect_override(const void *key, const void *value, void *ctx)
{
	struct override_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *items = realloc(l->items, cap * sizeof(*l->items));

		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	memcpy(&l->items[l->n].key, key, sizeof(l->items[0].key));
	memcpy(&l->items[l->n].value, value, sizeof(l->items[0].value));
	l->n++;
	return 0;
}

static int collect_iface(const void *key, const void *value, void *ctx)
{
	struct iface_list *l = ctx;

	if (l->n < GS_MAX_IFACES) {
		memcpy(&l->items[l->n].key, key, sizeof(l->items[0].key));
		memcpy(&l->items[l->n].value, value, sizeof(l->items[0].value));
		l->n++;
	}
	return 0;
}

static int count_flow(const void *key, const void *value, void *ctx)
{
	const struct gs_flow *flow = value;
	struct flow_census *c = ctx;

	(void)key;
	c->entries++;
	if (flow->state != GS_FLOW_CLOSING && !(flow->flags & GS_FLOW_F_RESET) &&
	    flow->backend_id < GS_MAX_BACKENDS)
		c->live[flow->backend_id]++;
	return 0;
}

static int by_service_id(const void *a, const void *b)
{
	const struct service_entry *x = a, *y = b;

	return (x->value.id > y->value.id) - (x->value.id < y->value.id);
}

static int by_override(const void *a, const void *b)
{
	const struct gs_override_key *x = &((const struct override_entry *)a)->key;
	const struct gs_override_key *y = &((const struct override_entry *)b)->key;
	int c = memcmp(&x->client, &y->client, sizeof(x->client));

	if (x->service_id != y->service_id)
		return x->service_id < y->service_id ? -1 : 1;
	if (c)
		return c;
	return (x->prefixlen > y->prefixlen) - (x->prefixlen < y->prefixlen);
}

static int by_iface(const void *a, const void *b)
{
	const struct gs_iface_key *x = &((const struct iface_entry *)a)->key;
	const struct gs_iface_key *y = &((const struct iface_entry *)b)->key;
	int c = strncmp(x->netns, y->netns, sizeof(x->netns));

	return c ? c : strncmp(x->ifname, y->ifname, sizeof(x->ifname));
}

/* 125000 ppm -> "12.5", 100000 -> "10.0", 1 -> "0.0001". */
static void format_percent(uint32_t ppm, char *buf, size_t len)
{
	uint32_t whole = ppm / 10000, frac = ppm % 10000;
	int digits = 4;

	while (digits > 1 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "%u.%0*u", whole, digits, frac);
}

static void add_string(struct json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

static void add_int(struct json_object *obj, const char *key, int64_t value)
{
	json_object_object_add(obj, key, json_object_new_int64(value));
}

static void add_uint(struct json_object *obj, const char *key, uint64_t value)
{
	json_object_object_add(obj, key, json_object_new_uint64(value));
}

static const char *backend_state_name(uint8_t state)
{
	switch (state) {
	case GS_BACKEND_ACTIVE:
		return "active";
	case GS_BACKEND_DRAINING:
		return "draining";
	default:
		return "free";
	}
}

#define STAT(sums, name) ((sums)[offsetof(struct gs_backend_stats, name) / sizeof(uint64_t)])

/* p95 in ms of one latency histogram of a backend since attach, or null
 * without samples. The per-CPU 32-bit buckets are summed into 64 bits. */
static struct json_object *backend_p95_ms(struct gs_maps *m, uint32_t id, uint32_t kind)
{
	int ncpus = gs_ncpus(), cpu;
	uint32_t key = id * GS_HIST_KINDS + kind, b;
	struct gs_hist *raw;
	struct gs_hist64 *h;
	struct json_object *out = NULL;
	char text[32];
	double p95;

	if (ncpus <= 0)
		return NULL;
	raw = calloc(ncpus, sizeof(*raw));
	h = calloc(1, sizeof(*h));
	if (raw && h && !bpf_map_lookup_elem(m->latency, &key, raw)) {
		for (cpu = 0; cpu < ncpus; cpu++) {
			for (b = 0; b < GS_HIST_BUCKETS; b++) {
				h->bucket[b] += raw[cpu].bucket[b];
				h->count += raw[cpu].bucket[b];
			}
		}
		p95 = gs_hist64_quantile(h, 0.95);
		if (!isnan(p95)) {
			snprintf(text, sizeof(text), "%.3f", p95 / 1000.0);
			out = gs_json_decimal(p95 / 1000.0, text);
		}
	}
	free(raw);
	free(h);
	return out;
}

static struct json_object *describe_backend(struct gs_maps *m, uint32_t id,
					    const struct gs_backend *b,
					    const struct flow_census *census)
{
	struct json_object *obj = json_object_new_object(), *http, *dns;
	char ip[GS_ADDR_STRLEN];
	uint64_t sums[sizeof(struct gs_backend_stats) / sizeof(uint64_t)] = {0};
	uint64_t unanswered = 0;

	gs_percpu_sum(m->backend_stats, id, sums, sizeof(sums) / sizeof(sums[0]));
	/* UDP flows left unanswered: the agent's count (0 without one). */
	bpf_map_lookup_elem(m->unanswered, &id, &unanswered);
	gs_format_addr(&b->addr, ip, sizeof(ip));
	add_string(obj, "ip", ip);
	add_int(obj, "port", ntohs(b->port));
	add_string(obj, "group", gs_group_name(b->group));
	add_int(obj, "weight", b->weight);
	add_string(obj, "state", backend_state_name(b->state));
	add_uint(obj, "active_flows", census->live[id]);
	add_uint(obj, "new_flows", STAT(sums, new_flows));
	add_uint(obj, "errors",
		 STAT(sums, conn_refused) + STAT(sums, conn_timeouts) + STAT(sums, resets) +
			 STAT(sums, http_5xx) + unanswered + STAT(sums, dns_servfail) +
			 STAT(sums, dns_refused));
	add_uint(obj, "connects", STAT(sums, connects));
	add_uint(obj, "refused", STAT(sums, conn_refused));
	add_uint(obj, "timeouts", STAT(sums, conn_timeouts));
	add_uint(obj, "resets", STAT(sums, resets));
	add_uint(obj, "unanswered", unanswered);
	add_uint(obj, "responses", STAT(sums, responses));
	http = json_object_new_object();
	add_uint(http, "1xx", STAT(sums, http_1xx));
	add_uint(http, "2xx", STAT(sums, http_2xx));
	add_uint(http, "3xx", STAT(sums, http_3xx));
	add_uint(http, "4xx", STAT(sums, http_4xx));
	add_uint(http, "5xx", STAT(sums, http_5xx));
	json_object_object_add(obj, "http", http);
	dns = json_object_new_object();
	add_uint(dns, "answers", STAT(sums, dns_answers));
	add_uint(dns, "servfail", STAT(sums, dns_servfail));
	add_uint(dns, "refused", STAT(sums, dns_refused));
	json_object_object_add(obj, "dns", dns);
	json_object_object_add(obj, "p95_connect_ms", backend_p95_ms(m, id, GS_HIST_CONNECT));
	json_object_object_add(obj, "p95_ttfb_ms", backend_p95_ms(m, id, GS_HIST_TTFB));
	return obj;
}

static struct json_object *describe_overrides(const struct override_list *l, uint32_t service_id)
{
	struct json_object *arr = json_object_new_array();
	char cidr[GS_CIDR_STRLEN];
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct override_entry *e = &l->items[i];
		struct json_object *obj;

		if (e->key.service_id != service_id || e->key.prefixlen < 32)
			continue;
		gs_format_cidr(&e->key.client, e->key.prefixlen - 32, cidr, sizeof(cidr));
		obj = json_object_new_object();
		add_string(obj, "cidr", cidr);
		add_string(obj, "group", gs_group_name(e->value.group));
		json_object_array_add(arr, obj);
	}
	return arr;
}

static struct json_object *describe_service(struct gs_maps *m, const struct service_entry *s,
					    const struct gs_backend *all,
					    const struct flow_census *census,
					    const struct override_list *overrides)
{
	struct json_object *obj = json_object_new_object();
	struct json_object *backends = json_object_new_array();
	struct gs_split split = {0};
	struct gs_rollout_view rollout;
	char vip[GS_ADDR_STRLEN], percent[16];
	uint32_t id;

	bpf_map_lookup_elem(m->split, &s->value.id, &split);
	gs_format_addr(&s->key.vip, vip, sizeof(vip));
	format_percent(split.canary_ppm, percent, sizeof(percent));
	add_string(obj, "vip", vip);
	add_int(obj, "port", ntohs(s->key.port));
	add_string(obj, "proto", gs_proto_name(s->key.proto));
	add_string(obj, "hash", gs_hash_mode_name(s->value.hash_mode));
	json_object_object_add(obj, "canary_percent",
			       gs_json_decimal(split.canary_ppm / 10000.0, percent));
	add_string(obj, "state", s->value.state == GS_SVC_ROLLED_BACK ? "rolled_back" : "active");
	if (s->value.state == GS_SVC_ROLLED_BACK) {
		struct gs_svc_status status = {0};
		char when[GS_ISO_TIME_STRLEN];

		bpf_map_lookup_elem(m->svc_status, &s->value.id, &status);
		status.reason[sizeof(status.reason) - 1] = '\0';
		add_string(obj, "reason", status.reason);
		if (status.changed_unix_ns) {
			gs_format_iso_time(status.changed_unix_ns, when, sizeof(when));
			add_string(obj, "rolled_back_at", when);
		} else {
			json_object_object_add(obj, "rolled_back_at", NULL);
		}
	}
	/* null when no rollout was applied; a read error shows as none too. */
	if (gs_rollout_view_read(m, s->value.id, &rollout))
		rollout.present = false;
	json_object_object_add(obj, "rollout",
			       gs_rollout_describe(&rollout, gs_realtime_ns(), false));
	for (id = 0; id < GS_MAX_BACKENDS; id++)
		if (all[id].state != GS_BACKEND_FREE && all[id].service_id == s->value.id)
			json_object_array_add(backends, describe_backend(m, id, &all[id], census));
	json_object_object_add(obj, "backends", backends);
	json_object_object_add(obj, "overrides", describe_overrides(overrides, s->value.id));
	return obj;
}

/* One attached interface: where it is, its XDP mode, and whether the fast
 * path redirects into it, with the reason when not (txports.h). */
static struct json_object *describe_port(const struct gs_port *port, uint32_t xdp_flags)
{
	struct json_object *obj = json_object_new_object();
	char device[160];

	add_string(obj, "ifname", port->ifname);
	add_string(obj, "netns", port->netns);
	add_int(obj, "ifindex", port->ifindex);
	add_string(obj, "xdp_mode", gs_xdp_mode_name(xdp_flags));
	add_string(obj, "fast_path", gs_port_why(port));
	json_object_object_add(obj, "in_tx_ports", json_object_new_boolean(port->in_tx_ports));
	if (port->facts_read) {
		gs_link_facts_describe(&port->facts, device, sizeof(device));
		add_string(obj, "device", device);
	}
	add_uint(obj, "redirect_refused", port->health.refused);
	add_uint(obj, "redirect_dropped", port->health.dropped);
	if (port->health.refused)
		add_int(obj, "redirect_last_errno", port->health.last_err);
	return obj;
}

static uint32_t xdp_flags_of(const struct iface_list *l, const struct gs_port *port)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strncmp(l->items[i].key.ifname, port->ifname,
			     sizeof(l->items[i].key.ifname)) &&
		    !strncmp(l->items[i].key.netns, port->netns, sizeof(l->items[i].key.netns)))
			return l->items[i].value.xdp_flags;
	return 0;
}

static struct json_object *describe_ifaces(struct gs_maps *m, const struct iface_list *l,
					   const char *netns)
{
	struct json_object *arr = json_object_new_array();
	struct gs_ports *ports = calloc(1, sizeof(*ports));
	int i;

	if (ports && !gs_ports_read(m, netns, true, ports))
		for (i = 0; i < ports->n; i++)
			json_object_array_add(arr, describe_port(&ports->port[i],
								 xdp_flags_of(l, &ports->port[i])));
	free(ports);
	return arr;
}

/* The namespace-wide part of the fast path's state: conntrack, and which
 * kernel-side watch programs guard it (their links pinned by attach). */
static struct json_object *describe_fast_path(struct gs_maps *m, const char *pin_dir)
{
	static const char *const watches[] = {"devmap_xmit", "redirect_err", "nf_drop"};
	struct json_object *obj = json_object_new_object(), *w = json_object_new_object();
	struct gs_tx_health h0 = {0};
	uint32_t key = GS_TX_SLOT_NETNS;
	struct gs_config cfg = {0};
	char name[64], path[PATH_MAX];
	size_t i;

	gs_config_read(m, &cfg);
	bpf_map_lookup_elem(m->tx_health, &key, &h0);
	json_object_object_add(obj, "switched_on",
			       json_object_new_boolean(!(cfg.flags & GS_CFG_NO_FAST_PATH)));
	json_object_object_add(obj, "conntrack_in_ruleset",
			       json_object_new_boolean(cfg.flags & GS_CFG_CONNTRACK));
	add_uint(obj, "nf_dropped_replies", h0.nf_dropped - cfg.nf_dropped_ack);
	for (i = 0; i < sizeof(watches) / sizeof(watches[0]); i++) {
		snprintf(name, sizeof(name), GS_PIN_LINK_WATCH_PREFIX "%s", watches[i]);
		json_object_object_add(
			w, watches[i],
			json_object_new_boolean(pin_dir &&
						!gs_pin_path(path, sizeof(path), pin_dir, name) &&
						!access(path, F_OK)));
	}
	json_object_object_add(obj, "watch", w);
	return obj;
}

static struct json_object *describe_counters(struct gs_maps *m)
{
	struct json_object *obj = json_object_new_object();
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), i;
	char fallback[32];

	if (bpf_obj_get_info_by_fd(m->stats, &info, &len))
		return obj;
	for (i = 0; i < info.max_entries; i++) {
		const char *name = gs_counter_name(i);
		uint64_t sum = 0;

		if (!name) {
			snprintf(fallback, sizeof(fallback), "counter_%u", i);
			name = fallback;
		}
		gs_percpu_sum(m->stats, i, &sum, 1);
		add_uint(obj, name, sum);
	}
	return obj;
}

static struct json_object *describe_flow_table(struct gs_maps *m, const struct flow_census *census)
{
	struct json_object *obj = json_object_new_object();
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(m->flows, &info, &len))
		info.max_entries = 0;
	add_uint(obj, "entries", census->entries);
	add_uint(obj, "max_entries", info.max_entries);
	return obj;
}

int gs_status_build(struct gs_maps *m, const char *pin_dir, const char *netns,
		    struct json_object **out)
{
	struct service_list *services = calloc(1, sizeof(*services));
	struct iface_list *ifaces = calloc(1, sizeof(*ifaces));
	struct gs_backend *all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	struct gs_config cfg;
	struct flow_census census = {
		.live = calloc(GS_MAX_BACKENDS, sizeof(uint32_t)),
	};
	struct override_list overrides = {};
	struct json_object *root, *arr;
	size_t i;
	int err;

	if (!services || !ifaces || !all || !census.live) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = gs_map_foreach(m->services, sizeof(struct gs_service_key), sizeof(struct gs_service),
			     collect_service, services);
	if (!err)
		err = gs_map_foreach(m->overrides, sizeof(struct gs_override_key),
				     sizeof(struct gs_override), collect_override, &overrides);
	if (!err)
		err = gs_map_foreach(m->ifaces, sizeof(struct gs_iface_key),
				     sizeof(struct gs_iface), collect_iface, ifaces);
	if (!err)
		err = gs_map_foreach(m->flows, sizeof(struct gs_flow_key), sizeof(struct gs_flow),
				     count_flow, &census);
	if (err) {
		err = gs_fail(-err, "cannot read the maps: %s", strerror(-err));
		goto out;
	}
	err = gs_backends_read(m, all);
	if (!err)
		err = gs_config_read(m, &cfg);
	if (err)
		goto out;
	qsort(services->items, services->n, sizeof(services->items[0]), by_service_id);
	if (overrides.n)
		qsort(overrides.items, overrides.n, sizeof(overrides.items[0]), by_override);
	qsort(ifaces->items, ifaces->n, sizeof(ifaces->items[0]), by_iface);

	root = json_object_new_object();
	arr = json_object_new_array();
	for (i = 0; i < services->n; i++)
		json_object_array_add(
			arr, describe_service(m, &services->items[i], all, &census, &overrides));
	json_object_object_add(root, "services", arr);
	json_object_object_add(root, "interfaces", describe_ifaces(m, ifaces, netns));
	json_object_object_add(root, "fast_path", describe_fast_path(m, pin_dir));
	json_object_object_add(root, "config", gs_config_json(&cfg));
	json_object_object_add(root, "flow_table", describe_flow_table(m, &census));
	json_object_object_add(root, "counters", describe_counters(m));
	*out = root;
out:
	free(services);
	free(ifaces);
	free(all);
	free(census.live);
	free(overrides.items);
	return err;
}
