// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's /metrics endpoint. libmicrohttpd runs in external-event mode
 * with its own epoll fd (MHD_USE_EPOLL), which the agent adds to its epoll:
 * sockets are non-blocking and MHD_run() only does what is ready, so a slow
 * or stuck client costs the agent nothing but a connection slot, and a
 * scrape costs it the time to read the maps and format the text.
 *
 * The listening socket is made here rather than by MHD, so a bind failure
 * is reported with its errno in the agent's one-line error.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "error.h"
#include "map_iter.h"
#include "metrics.h"
#include "names.h"
#include "ops.h"
#include "parse.h"
#include "rollout.h"

/* Scrapers are few; more connections than this wait in the backlog. */
#define GS_METRICS_MAX_CONNS 16
/* A connection idle this long is closed (checked on the agent's tick). */
#define GS_METRICS_TIMEOUT_S 10u

/* ---- rendering ---- */

/* One backend's labels, formatted once per scrape. */
struct backend_row {
	uint32_t id;
	char labels[2 * GS_SERVICE_STRLEN + 64 + GS_ENDPOINT_STRLEN];
};

#define OFF(field) offsetof(struct gs_backend_stats, field)

static const struct {
	const char *name;
	size_t off;
	const char *help;
} backend_counters[] = {
	{"graysplit_backend_new_flows_total", OFF(new_flows),
	 "Connections opened to the backend (SYN, or a UDP flow's first datagram)."},
	{"graysplit_backend_packets_total", OFF(packets), "Packets forwarded to the backend."},
	{"graysplit_backend_bytes_total", OFF(bytes),
	 "Bytes forwarded to the backend (IP total length)."},
	{"graysplit_backend_reply_packets_total", OFF(rx_packets),
	 "Reply packets from the backend."},
	{"graysplit_backend_reply_bytes_total", OFF(rx_bytes),
	 "Reply bytes from the backend (IP total length)."},
	{"graysplit_backend_connects_total", OFF(connects),
	 "Handshakes the backend accepted (SYN-ACKs seen)."},
	{"graysplit_backend_refused_total", OFF(conn_refused),
	 "Connections the backend refused (RST answering a SYN; UDP: ICMP unreachable)."},
	{"graysplit_backend_timeouts_total", OFF(conn_timeouts),
	 "Connects the client retried without a SYN-ACK (each counted once)."},
	{"graysplit_backend_resets_total", OFF(resets),
	 "RSTs from the backend on accepted connections."},
	{"graysplit_backend_responses_total", OFF(responses),
	 "First response payloads seen (one per connection; UDP: a flow's first answer)."},
	{"graysplit_backend_dns_answers_total", OFF(dns_answers),
	 "DNS answers read (services on port 53, UDP or TCP)."},
	{"graysplit_backend_dns_servfail_total", OFF(dns_servfail),
	 "DNS answers with RCODE SERVFAIL."},
	{"graysplit_backend_dns_refused_total", OFF(dns_refused),
	 "DNS answers with RCODE REFUSED."},
};

static const struct {
	const char *cls;
	size_t off;
} http_classes[] = {
	{"1xx", OFF(http_1xx)}, {"2xx", OFF(http_2xx)}, {"3xx", OFF(http_3xx)},
	{"4xx", OFF(http_4xx)}, {"5xx", OFF(http_5xx)},
};

static const char *const datapath_help[GS_CNT_MAX] = {
	[GS_CNT_PKTS] = "Packets the forward (XDP) path looked at.",
	[GS_CNT_PASS_NOT_IP] = "Packets passed on untouched: neither IPv4 nor IPv6.",
	[GS_CNT_PASS_VLAN] = "Packets passed on untouched: VLAN-tagged.",
	[GS_CNT_PASS_FRAGMENT] = "Packets passed on untouched: IP fragments.",
	[GS_CNT_PASS_NOT_L4] = "Packets passed on untouched: not TCP or UDP, or IPv6 ext headers.",
	[GS_CNT_PASS_NO_SERVICE] = "Packets passed on untouched: not addressed to a service.",
	[GS_CNT_BAD_HEADER] = "Truncated or malformed packets, passed on untouched.",
	[GS_CNT_NO_BACKEND] = "Packets for a service without a backend, passed on untouched.",
	[GS_CNT_FLOW_NEW] = "Flows that selected a backend for the first time.",
	[GS_CNT_FLOW_RESELECT] = "SYNs on a closing flow that selected a backend anew.",
	[GS_CNT_FLOW_MISSING] = "Mid-connection packets without a flow entry (evicted).",
	[GS_CNT_FLOW_INSERT_FAIL] = "Flow table updates that failed.",
	[GS_CNT_FWD_REWRITTEN] = "Packets rewritten to a backend by the forward path.",
	[GS_CNT_REV_REWRITTEN] = "Replies rewritten back to the VIP by the reply path.",
	[GS_CNT_REV_BAD_HEADER] = "Replies the reply path could not parse or rewrite.",
	[GS_CNT_EVENTS] = "Events written to the ring buffer.",
	[GS_CNT_EVENTS_DROPPED] = "Events lost: the ring buffer was full.",
	[GS_CNT_FAST_REDIRECT] = "DNATed packets the XDP fast path sent straight to the next hop.",
	[GS_CNT_FAST_NO_NEIGH] = "DNATed packets passed on: next hop's MAC not known yet.",
	[GS_CNT_FAST_NO_TXPORT] = "DNATed packets passed on: egress interface not in tx_ports.",
	[GS_CNT_FAST_PARTIAL] = "DNATed packets passed on: L4 checksum left to offload.",
	[GS_CNT_FAST_KERNEL] = "DNATed packets passed on: no route, local, TTL, MTU, IP options.",
	[GS_CNT_FAST_OFF] = "DNATed packets passed on: fast path switched off.",
	[GS_CNT_FAST_CONNTRACK] =
		"DNATed packets passed on: the namespace's netfilter tracks connections.",
	[GS_CNT_FAST_PORT_FAILING] =
		"DNATed packets passed on: the egress port refused redirected frames.",
	[GS_CNT_FAST_CACHED] =
		"Of the fast path's redirects: next hop from the flow's cache, no FIB lookup.",
	[GS_CNT_ICMP_TRANSLATED] =
		"ICMP errors to a client about a DNATed packet, put back to the VIP.",
	[GS_CNT_ICMP_NOT_OURS] =
		"ICMP errors (either path) quoting no flow they may be sent on for, untouched.",
	[GS_CNT_ICMP_BAD_QUOTE] =
		"ICMP errors (either path) with a short, malformed or fragment quote: untouched.",
	[GS_CNT_ICMP_TO_BACKEND] =
		"ICMP errors to a VIP about an SNATed reply, sent on to the flow's backend.",
	[GS_CNT_DEP_PAIRS_FULL] = "Downstream watch: new pairs left unfollowed, every slot taken.",
	[GS_CNT_DEP_FLOW_INSERT] = "Downstream watch: connections its table refused to follow.",
};

static uint64_t stat_at(const struct gs_backend_stats *s, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)s + off, sizeof(v));
	return v;
}

static void service_labels(const struct gs_collect_service *s, char *buf, size_t len)
{
	struct gs_prom_buf b = {0};
	char name[GS_SERVICE_STRLEN];

	gs_format_service(&s->key, name, sizeof(name));
	gs_prom_labels(&b, (const char *const[]){"service", name}, 1);
	snprintf(buf, len, "%s", b.p ? b.p : "");
	gs_prom_buf_free(&b);
}

static void backend_labels(const struct gs_collect *c, uint32_t id, char *buf, size_t len)
{
	const struct gs_backend *be = &c->backends[id];
	char svc[GS_SERVICE_STRLEN] = "", ep[GS_ENDPOINT_STRLEN];
	struct gs_prom_buf b = {0};

	if (be->service_id < GS_MAX_SERVICES && c->services[be->service_id].present)
		gs_format_service(&c->services[be->service_id].key, svc, sizeof(svc));
	gs_format_endpoint(&be->addr, ntohs(be->port), ep, sizeof(ep));
	gs_prom_labels(&b,
		       (const char *const[]){"service", svc, "backend", ep, "group",
					     gs_group_name(be->group)},
		       3);
	snprintf(buf, len, "%s", b.p ? b.p : "");
	gs_prom_buf_free(&b);
}

static void render_backends(struct gs_prom_buf *out, const struct backend_row *rows, size_t n,
			    const struct gs_backend_totals *t)
{
	size_t i, k, h;

	for (k = 0; k < sizeof(backend_counters) / sizeof(backend_counters[0]); k++) {
		gs_prom_header(out, backend_counters[k].name, "counter", backend_counters[k].help);
		for (i = 0; i < n; i++)
			gs_prom_printf(out, "%s{%s} %" PRIu64 "\n", backend_counters[k].name,
				       rows[i].labels,
				       stat_at(&t[rows[i].id].stats, backend_counters[k].off));
	}
	gs_prom_header(out, "graysplit_backend_udp_unanswered_total", "counter",
		       "UDP flows whose first datagram got no answer within the service's "
		       "answer bound, as the agent judged them.");
	for (i = 0; i < n; i++)
		gs_prom_printf(out, "graysplit_backend_udp_unanswered_total{%s} %" PRIu64 "\n",
			       rows[i].labels, t[rows[i].id].unanswered);
	gs_prom_header(out, "graysplit_backend_http_responses_total", "counter",
		       "First responses that began with an HTTP/1.x status line, by status class.");
	for (i = 0; i < n; i++)
		for (h = 0; h < sizeof(http_classes) / sizeof(http_classes[0]); h++)
			gs_prom_printf(out,
				       "graysplit_backend_http_responses_total{%s,class=\"%s\"} "
				       "%" PRIu64 "\n",
				       rows[i].labels, http_classes[h].cls,
				       stat_at(&t[rows[i].id].stats, http_classes[h].off));
	gs_prom_header(out, "graysplit_backend_connect_seconds", "histogram",
		       "Connect latency, SYN forwarded to SYN-ACK back. Bucket counts are exact "
		       "(bounds are edges of the kernel's buckets); _sum is estimated from "
		       "bucket midpoints (within 3.1%).");
	for (i = 0; i < n; i++)
		gs_prom_histogram(out, "graysplit_backend_connect_seconds", rows[i].labels,
				  t[rows[i].id].hist[GS_HIST_CONNECT]);
	gs_prom_header(out, "graysplit_backend_first_byte_seconds", "histogram",
		       "Time to first byte, first request payload to first response payload. "
		       "Bucket counts are exact (bounds are edges of the kernel's buckets); _sum "
		       "is estimated from bucket midpoints (within 3.1%).");
	for (i = 0; i < n; i++)
		gs_prom_histogram(out, "graysplit_backend_first_byte_seconds", rows[i].labels,
				  t[rows[i].id].hist[GS_HIST_TTFB]);
}

/* Per service id, for one scrape. */
struct service_row {
	struct gs_rollout_view view;
	char labels[2 * GS_SERVICE_STRLEN + 16];
};

static int render_services(struct gs_collect *c, struct gs_prom_buf *out)
{
	struct service_row *rows = calloc(GS_MAX_SERVICES, sizeof(*rows));
	uint32_t id;
	int err = 0, p;

	if (!rows)
		return gs_fail(ENOMEM, "out of memory");
	for (id = 0; id < GS_MAX_SERVICES && !err; id++) {
		if (!c->services[id].present)
			continue;
		service_labels(&c->services[id], rows[id].labels, sizeof(rows[id].labels));
		err = gs_rollout_view_read(c->maps, id, &rows[id].view);
	}
	if (err) {
		free(rows);
		return err;
	}
	gs_prom_header(out, "graysplit_service_canary_share_ratio", "gauge",
		       "Share of new flows the canary gets, 0..1.");
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (c->services[id].present)
			gs_prom_printf(out, "graysplit_service_canary_share_ratio{%s} %.6f\n",
				       rows[id].labels,
				       (double)c->services[id].canary_ppm / GS_PPM_MAX);
	gs_prom_header(out, "graysplit_service_rolled_back", "gauge",
		       "1 while the agent has the service rolled back (canary cut to 0).");
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (c->services[id].present)
			gs_prom_printf(out, "graysplit_service_rolled_back{%s} %d\n",
				       rows[id].labels,
				       c->services[id].value.state == GS_SVC_ROLLED_BACK);
	gs_prom_header(out, "graysplit_rollout_step", "gauge",
		       "Index (from 0) of the rollout step a service is at; services with a "
		       "rollout only.");
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (c->services[id].present && rows[id].view.present)
			gs_prom_printf(out, "graysplit_rollout_step{%s} %u\n", rows[id].labels,
				       rows[id].view.step);
	gs_prom_header(out, "graysplit_rollout_phase", "gauge",
		       "1 for the phase a service's rollout is in, 0 for the others; "
		       "phase=\"none\" when no rollout was applied.");
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		if (!c->services[id].present)
			continue;
		for (p = GS_RO_NONE; p <= GS_RO_ABORTED; p++)
			gs_prom_printf(out, "graysplit_rollout_phase{%s,phase=\"%s\"} %d\n",
				       rows[id].labels, gs_rollout_phase_name(p),
				       rows[id].view.present
					       ? rows[id].view.phase == (enum gs_rollout_phase)p
					       : p == GS_RO_NONE);
	}
	free(rows);
	return 0;
}

static void render_agent(const struct gs_metrics_agent *ag, struct gs_prom_buf *out)
{
	int v;

	gs_prom_header(out, "graysplit_agent_decisions_total", "counter",
		       "Analyses of a canary against stable by this agent, by verdict.");
	for (v = GS_VERDICT_INCONCLUSIVE; v <= GS_VERDICT_LAST; v++)
		gs_prom_printf(out, "graysplit_agent_decisions_total{verdict=\"%s\"} %" PRIu64 "\n",
			       gs_verdict_name(v), ag->decisions[v]);
	gs_prom_header(out, "graysplit_agent_fail_backs_total", "counter",
		       "Canary shares this agent cut to 0.");
	gs_prom_printf(out, "graysplit_agent_fail_backs_total %" PRIu64 "\n", ag->fail_backs);
}

static int render_datapath(struct gs_collect *c, struct gs_prom_buf *out)
{
	char name[96];
	uint64_t sum;
	unsigned int i;
	int err;

	for (i = 0; i < GS_CNT_MAX; i++) {
		err = gs_percpu_sum(c->maps->stats, i, &sum, 1);
		if (err)
			return gs_fail(-err, "cannot read the stats map: %s", strerror(-err));
		if (i == GS_CNT_EVENTS)
			snprintf(name, sizeof(name), "graysplit_ringbuf_events_total");
		else if (i == GS_CNT_EVENTS_DROPPED)
			snprintf(name, sizeof(name), "graysplit_ringbuf_events_dropped_total");
		else
			snprintf(name, sizeof(name), "graysplit_datapath_%s_total",
				 gs_counter_name(i));
		gs_prom_header(out, name, "counter", datapath_help[i]);
		gs_prom_printf(out, "%s %" PRIu64 "\n", name, sum);
	}
	return 0;
}

const char *gs_metrics_datapath_help(unsigned int counter)
{
	return counter < GS_CNT_MAX ? datapath_help[counter] : NULL;
}

int gs_metrics_render(struct gs_collect *c, const struct gs_metrics_agent *ag,
		      struct gs_prom_buf *out)
{
	struct gs_backend_totals *totals = NULL;
	struct backend_row *rows = NULL;
	uint32_t id, hi;
	size_t n = 0;
	int err;

	err = gs_collect_topology(c);
	if (err)
		return err;
	hi = c->backends_hi;
	if (hi) {
		totals = malloc((size_t)hi * sizeof(*totals));
		rows = malloc((size_t)hi * sizeof(*rows));
		if (!totals || !rows) {
			err = gs_fail(ENOMEM, "out of memory");
			goto out;
		}
		err = gs_collect_totals(c, 0, hi, totals);
		if (err)
			goto out;
	}
	for (id = 0; id < hi; id++) {
		if (c->backends[id].state == GS_BACKEND_FREE)
			continue;
		rows[n].id = id;
		backend_labels(c, id, rows[n].labels, sizeof(rows[n].labels));
		n++;
	}
	render_backends(out, rows, n, totals);
	err = render_services(c, out);
	if (err)
		goto out;
	render_agent(ag, out);
	err = render_datapath(c, out);
	if (!err && out->oom)
		err = gs_fail(ENOMEM, "out of memory");
out:
	free(totals);
	free(rows);
	return err;
}

/* ---- serving ---- */

struct gs_metrics {
	struct MHD_Daemon *d;
	int fd;
	gs_metrics_render_fn render;
	void *ctx;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, const char *text,
			     const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct gs_metrics *m = cls;
	struct gs_prom_buf buf = {0};
	struct MHD_Response *r;
	enum MHD_Result ret;
	char msg[GS_REASON_LEN + 64];
	int err;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found: only /metrics is served\n",
			     NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET only\n",
			     MHD_HTTP_METHOD_GET);
	err = m->render(m->ctx, &buf);
	if (err || !buf.p) {
		snprintf(msg, sizeof(msg), "%s\n", err ? gs_last_error() : "no metrics");
		gs_prom_buf_free(&buf);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, msg, NULL);
	}
	/* MHD frees the text with free() once it is sent. */
	r = MHD_create_response_from_buffer(buf.len, buf.p, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		gs_prom_buf_free(&buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static int listen_on(const union gs_addr *addr, uint16_t port, char *where, size_t len)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int fd, one = 1, v4 = gs_addr_is_v4(addr);

	gs_format_endpoint(addr, port, where, len);
	if (v4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, &addr->b[12], 4);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->b, 16);
		sl = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return gs_fail(errno, "--metrics %s: cannot make a socket: %s", where,
			       strerror(errno));
	/* A restarted agent must not wait for the old one's TIME_WAIT sockets. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (!v4 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
		int err = errno;

		close(fd);
		return gs_fail(err, "--metrics %s: cannot listen: %s", where, strerror(err));
	}
	return fd;
}

int gs_metrics_start(const union gs_addr *addr, uint16_t port, gs_metrics_render_fn render,
		     void *ctx, struct gs_metrics **out)
{
	struct gs_metrics *m = calloc(1, sizeof(*m));
	const union MHD_DaemonInfo *info;
	char where[GS_ENDPOINT_STRLEN];
	int fd;

	if (!m)
		return gs_fail(ENOMEM, "out of memory");
	fd = listen_on(addr, port, where, sizeof(where));
	if (fd < 0) {
		free(m);
		return fd;
	}
	m->render = render;
	m->ctx = ctx;
	m->d = MHD_start_daemon(MHD_USE_EPOLL | (gs_addr_is_v4(addr) ? 0 : MHD_USE_IPv6), 0, NULL,
				NULL, answer, m, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)GS_METRICS_MAX_CONNS,
				MHD_OPTION_CONNECTION_TIMEOUT, GS_METRICS_TIMEOUT_S,
				MHD_OPTION_END);
	info = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info) {
		if (m->d)
			MHD_stop_daemon(m->d);
		else
			close(fd);
		free(m);
		return gs_fail(EIO, "--metrics %s: cannot start the HTTP server", where);
	}
	m->fd = info->epoll_fd;
	*out = m;
	return 0;
}

int gs_metrics_fd(const struct gs_metrics *m)
{
	return m->fd;
}

/* Rounds of MHD_run per wake-up while MHD says it has more to do at once. */
#define GS_METRICS_MAX_ROUNDS 4

void gs_metrics_run(struct gs_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;
	int i;

	/* A timeout of 0: connections MHD knows are ready (its epoll is
	 * edge-triggered) and that no new event will announce. */
	MHD_run(m->d);
	for (i = 1; i < GS_METRICS_MAX_ROUNDS && MHD_get_timeout(m->d, &ms) == MHD_YES && !ms; i++)
		MHD_run(m->d);
}

void gs_metrics_tick(struct gs_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	/* MHD_YES: some connection has a deadline; MHD_run closes those past it. */
	if (MHD_get_timeout(m->d, &ms) == MHD_YES)
		MHD_run(m->d);
}

void gs_metrics_stop(struct gs_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d); /* closes the listening socket too */
	free(m);
}
