// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ICMP errors about graysplit's flows (issue 11), both directions, each
 * compared byte for byte with the frame it must become, built from scratch
 * here with checksums this file computes, not the data path's arithmetic.
 *
 * Towards the client: an error about a packet the forward path DNATed
 * quotes client:cport -> backend:bport; gs_tc_reply must put VIP:port back
 * in the quote: the same error as if it were about the client's packet as
 * the client sent it (to the VIP).
 *
 * Towards the backend: an error a router sends to the VIP about a reply the
 * reply path SNATed quotes VIP:vport -> client:cport; gs_xdp_fwd must send
 * it on to the flow's backend: the same error as if the router had sent it
 * to the backend about the backend's reply as the backend sent it.
 */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <arpa/inet.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <string.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#define ETH_LEN 14

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* The ICMPv6 pseudo-header sum of an outer IPv6 header at ip. */
static uint32_t icmp6_pseudo(const uint8_t *ip, size_t icmp_len)
{
	uint8_t pseudo[40] = {0};

	memcpy(pseudo, ip + 8, 32);
	put16(pseudo + 34, (uint16_t)icmp_len);
	pseudo[39] = 58;
	return pkt_sum_words(pseudo, 40, 0);
}

/*
 * An ICMP(v6) error from router to client quoting the first qlen bytes of
 * the IP packet in frame (built by pkt_build). Returns the frame length.
 */
static size_t icmp_build(uint8_t *out, bool v4, uint8_t type, uint8_t code, uint16_t mtu,
			 const char *router, const char *client, const uint8_t *frame, size_t qlen)
{
	union gs_addr src = pkt_addr(router), dst = pkt_addr(client);
	size_t l3 = v4 ? 20 : 40, icmp = ETH_LEN + l3, len = icmp + 8 + qlen;
	uint8_t *ip = out + ETH_LEN;

	memset(out, 0, len);
	memcpy(out, frame, 12);
	put16(out + 12, v4 ? 0x0800 : 0x86dd);
	if (v4) {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(len - ETH_LEN));
		ip[8] = 64;
		ip[9] = IPPROTO_ICMP;
		memcpy(ip + 12, &src.w[3], 4);
		memcpy(ip + 16, &dst.w[3], 4);
		put16(ip + 10, (uint16_t)~pkt_fold(pkt_sum_words(ip, 20, 0)));
	} else {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(len - icmp));
		ip[6] = 58;
		ip[7] = 64;
		memcpy(ip + 8, src.b, 16);
		memcpy(ip + 24, dst.b, 16);
	}
	out[icmp] = type;
	out[icmp + 1] = code;
	put16(out + icmp + 6, mtu);
	memcpy(out + icmp + 8, frame + ETH_LEN, qlen);
	put16(out + icmp + 2,
	      (uint16_t)~pkt_fold(pkt_sum_words(out + icmp, len - icmp,
						v4 ? 0 : icmp6_pseudo(ip, len - icmp))));
	return len;
}

/* The error's checksums, recomputed from scratch: outer IPv4 header, ICMP
 * (with the ICMPv6 pseudo-header), the quoted IPv4 header, and with a
 * whole packet quoted its L4 checksum too. */
static void check_icmp_csums(const uint8_t *f, size_t len, bool v4, bool whole, const char *what)
{
	size_t icmp = ETH_LEN + (v4 ? 20 : 40), quote = icmp + 8;
	char msg[160];

	if (v4) {
		snprintf(msg, sizeof(msg), "%s: outer IPv4 header checksum", what);
		CHECK_EQ(pkt_fold(pkt_sum_words(f + ETH_LEN, 20, 0)), 0xffff, msg);
		snprintf(msg, sizeof(msg), "%s: quoted IPv4 header checksum", what);
		CHECK_EQ(pkt_fold(pkt_sum_words(f + quote, (size_t)(f[quote] & 15) * 4, 0)), 0xffff,
			 msg);
	}
	snprintf(msg, sizeof(msg), "%s: ICMP checksum", what);
	CHECK_EQ(pkt_fold(pkt_sum_words(f + icmp, len - icmp,
					v4 ? 0 : icmp6_pseudo(f + ETH_LEN, len - icmp))),
		 0xffff, msg);
	if (whole) {
		uint8_t inner[PKT_MAX];
		const char *error;

		/* The quote is a whole packet: give it an Ethernet header and
		 * let packet.c verify it like any frame. */
		memcpy(inner, f, 12);
		put16(inner + 12, v4 ? 0x0800 : 0x86dd);
		memcpy(inner + ETH_LEN, f + quote, len - quote);
		error = pkt_csum_error(inner, ETH_LEN + len - quote);
		snprintf(msg, sizeof(msg), "%s: quoted packet: %s", what, error ? error : "");
		CHECK_TRUE(!error, msg);
	}
}

/* The client's packet as the forward path sent it on: to the backend. */
static struct pkt_spec dnated(const struct scenario *sc, uint32_t id, const struct pkt_spec *c)
{
	struct pkt_spec reply = sc_reply_pkt(sc, id, c, 0), spec = *c;

	spec.dst = reply.src; /* the backend's address */
	spec.dport = reply.sport;
	return spec;
}

struct icmp_case {
	bool v6;
	uint8_t proto;
	uint8_t type, code;
	uint16_t mtu;
	size_t l4_quoted; /* bytes of L4 quoted; 0: the whole packet */
	bool udp_no_csum;
	uint8_t ip_opt_len;
};

/*
 * A destination unreachable about a UDP flow (not "fragmentation needed")
 * is the flow's refusal: conn_refused once, an unreach event, the flow
 * resolved in its start slot. Any other translated error signals nothing.
 */
static void check_unreach_signal(struct fx *fx, const struct icmp_case *t, uint32_t id,
				 const struct pkt_spec *client, const char *what)
{
	bool unreach =
		t->proto == IPPROTO_UDP && (t->v6 ? t->type == 1 : t->type == 3 && t->code != 4);
	struct gs_event ev[4];
	struct gs_flow_key key;
	struct gs_flow flow;
	char msg[160];
	size_t n;

	snprintf(msg, sizeof(msg), "%s: conn_refused", what);
	CHECK_EQ(fx_backend_stats(fx, id).conn_refused, unreach ? 1 : 0, msg);
	n = fx_events_drain(fx, ev, 4);
	snprintf(msg, sizeof(msg), "%s: one unreach event", what);
	CHECK_EQ(n, unreach ? 1 : 0, msg);
	if (!unreach)
		return;
	CHECK_EQ(ev[0].type, GS_EV_UNREACH, "event type");
	CHECK_EQ(ev[0].backend_id, id, "event backend");
	key = sc_flow_key(client);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry");
	CHECK_TRUE(flow.rev_flags & GS_REV_F_UNREACH, "flow marked unreachable");
	CHECK_EQ(fx_udp_slot(fx, id, flow.created_ns).answered, 1, "flow resolved in its slot");
}

static void check_translated(struct fx *fx, const struct icmp_case *t, const char *what)
{
	uint8_t orig[PKT_MAX], nat[PKT_MAX], in[PKT_MAX], want[PKT_MAX], out[PKT_MAX];
	struct pkt_spec syn, pkt, fwd;
	struct scenario sc;
	size_t olen, nlen, qlen, len, wlen, out_len;
	uint32_t id;
	char msg[160];

	sc_setup(&sc, fx, t->v6, t->proto, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	/* A full-sized data segment of the flow, as PMTU errors quote. */
	pkt = sc_client_pkt(&sc, 40000, PKT_ACK | PKT_PSH);
	pkt.udp_no_csum = t->udp_no_csum;
	pkt.ip_opt_len = t->ip_opt_len;
	fwd = dnated(&sc, id, &pkt);
	olen = pkt_build(&pkt, orig);
	nlen = pkt_build(&fwd, nat);
	CHECK_EQ(olen, nlen, "same length before and after DNAT");
	qlen = t->l4_quoted ? (size_t)(t->v6 ? 40 : 20 + t->ip_opt_len) + t->l4_quoted
			    : olen - ETH_LEN;
	len = icmp_build(in, !t->v6, t->type, t->code, t->mtu, t->v6 ? "fd09::1" : "10.9.0.1",
			 sc.client, nat, qlen);
	wlen = icmp_build(want, !t->v6, t->type, t->code, t->mtu, t->v6 ? "fd09::1" : "10.9.0.1",
			  sc.client, orig, qlen);

	/* Half a TCP checksum quoted is no checksum: it stays as it was. */
	if (t->proto == IPPROTO_TCP && t->l4_quoted == 17) {
		size_t icmp = ETH_LEN + (t->v6 ? 40 : 20), half = len - 1;

		want[half] = in[half];
		put16(want + icmp + 2, 0);
		put16(want + icmp + 2,
		      (uint16_t)~pkt_fold(pkt_sum_words(
			      want + icmp, wlen - icmp,
			      t->v6 ? icmp6_pseudo(want + ETH_LEN, wlen - icmp) : 0)));
	}
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict TC_ACT_OK");
	CHECK_EQ(out_len, len, "length unchanged");
	check_icmp_csums(in, len, !t->v6, !t->l4_quoted, "input (test's own)");
	check_icmp_csums(out, out_len, !t->v6, !t->l4_quoted, what);
	snprintf(msg, sizeof(msg), "%s: the error as if about the client's packet to the VIP",
		 what);
	CHECK_EQ(wlen, out_len, msg);
	if (memcmp(out, want, wlen)) {
		size_t i;

		for (i = 0; i < wlen && out[i] == want[i]; i++)
			;
		fail_msg("%s: byte %zu is 0x%02x, want 0x%02x (input 0x%02x)", msg, i, out[i],
			 want[i], in[i]);
	}
	CHECK_EQ(fx_counter(fx, GS_CNT_ICMP_TRANSLATED), 1, "GS_CNT_ICMP_TRANSLATED");
	CHECK_EQ(fx_counter(fx, GS_CNT_ICMP_NOT_OURS), 0, "GS_CNT_ICMP_NOT_OURS");
	CHECK_EQ(fx_counter(fx, GS_CNT_ICMP_BAD_QUOTE), 0, "GS_CNT_ICMP_BAD_QUOTE");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 0, "no reply counted");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_BAD_HEADER), 0, "no bad header counted");
	check_unreach_signal(fx, t, id, &syn, what);
}

static void v4_tcp_frag_needed_translated(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 3, 4, 1400, 0, false, 0};

	check_translated(*state, &t, "v4 TCP frag needed");
}

static void v4_tcp_frag_needed_quote_with_ip_options(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 3, 4, 1400, 0, false, 8};

	check_translated(*state, &t, "v4 TCP frag needed, quote with IP options");
}

static void v6_tcp_packet_too_big_translated(void **state)
{
	struct icmp_case t = {true, IPPROTO_TCP, 2, 0, 1280, 0, false, 0};

	check_translated(*state, &t, "v6 TCP packet too big");
}

static void v4_tcp_time_exceeded_translated(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 11, 0, 0, 0, false, 0};

	check_translated(*state, &t, "v4 TCP time exceeded");
}

static void v6_tcp_time_exceeded_translated(void **state)
{
	struct icmp_case t = {true, IPPROTO_TCP, 3, 0, 0, 0, false, 0};

	check_translated(*state, &t, "v6 TCP time exceeded");
}

static void v4_udp_port_unreachable_translated(void **state)
{
	struct icmp_case t = {false, IPPROTO_UDP, 3, 3, 0, 0, false, 0};

	check_translated(*state, &t, "v4 UDP port unreachable");
}

static void v6_udp_port_unreachable_translated(void **state)
{
	struct icmp_case t = {true, IPPROTO_UDP, 1, 4, 0, 0, false, 0};

	check_translated(*state, &t, "v6 UDP port unreachable");
}

static void v4_udp_zero_checksum_stays_zero(void **state)
{
	struct icmp_case t = {false, IPPROTO_UDP, 3, 4, 1400, 0, true, 0};

	/* Compared byte for byte with a quote whose checksum is 0. */
	check_translated(*state, &t, "v4 UDP checksum 0");
}

static void v6_udp_packet_too_big_translated(void **state)
{
	struct icmp_case t = {true, IPPROTO_UDP, 2, 0, 1280, 0, false, 0};

	check_translated(*state, &t, "v6 UDP packet too big");
}

static void v4_tcp_truncated_quote_ports_only(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 3, 4, 1400, 8, false, 0};

	check_translated(*state, &t, "v4 TCP quote of 8 L4 bytes");
}

static void v6_tcp_truncated_quote_ports_only(void **state)
{
	struct icmp_case t = {true, IPPROTO_TCP, 2, 0, 1280, 8, false, 0};

	check_translated(*state, &t, "v6 TCP quote of 8 L4 bytes");
}

/* The quote ends in the middle of the TCP checksum field (an odd-length
 * ICMP message too): the half is left alone. */
static void v4_tcp_quote_ends_before_checksum(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 3, 4, 1400, 17, false, 0};

	check_translated(*state, &t, "v4 TCP quote of 17 L4 bytes");
}

/* ... and just past it: then the L4 checksum is updated. */
static void v4_tcp_quote_ends_after_checksum(void **state)
{
	struct icmp_case t = {false, IPPROTO_TCP, 3, 4, 1400, 18, false, 0};

	check_translated(*state, &t, "v4 TCP quote of 18 L4 bytes");
}

enum untouched_how {
	U_NO_FLOW,	/* the quoted flow has no entry */
	U_OTHER_CPORT,	/* forged: another client port */
	U_OTHER_CLIENT, /* forged: another client address */
	U_SHORT,	/* only 4 bytes of L4 quoted */
	U_FRAGMENT,	/* the quoted packet is a fragment (v4) */
	U_V6_EXT,	/* the quoted packet has a fragment header (v6) */
	U_ECHO_REPLY,	/* not an error type */
	U_ABOUT_REPLY,	/* about the backend's reply, on its way to the backend */
};

static void check_untouched(struct fx *fx, bool v6, enum untouched_how how, enum gs_counter counter)
{
	uint8_t nat[PKT_MAX], in[PKT_MAX], out[PKT_MAX];
	struct pkt_spec syn, pkt, fwd;
	struct scenario sc;
	size_t nlen, qlen, len, out_len;
	size_t ihl = v6 ? 40 : 20;
	uint32_t id;
	int c;

	sc_setup(&sc, fx, v6, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	/* No flow: the client never sent anything through the VIP. */
	id = how == U_NO_FLOW ? sc.stable[0] : sc_forward(&sc, &syn);
	pkt = sc_client_pkt(&sc, 40000, PKT_ACK | PKT_PSH);
	fwd = dnated(&sc, id, &pkt);
	if (how == U_ABOUT_REPLY) /* as the forward path sends it to the backend */
		fwd = sc_reply_pkt(&sc, id, &pkt, PKT_ACK | PKT_PSH);
	if (how == U_OTHER_CPORT)
		fwd.sport = 40000 + 1;
	if (how == U_OTHER_CLIENT)
		fwd.src = v6 ? "fd0c::6" : "192.168.1.6";
	nlen = pkt_build(&fwd, nat);
	qlen = nlen - ETH_LEN;
	if (how == U_SHORT)
		qlen = ihl + 4;
	if (how == U_FRAGMENT) {
		put16(nat + ETH_LEN + 6, 0x2000); /* MF, offset 0: the first */
		put16(nat + ETH_LEN + 10, 0);
		put16(nat + ETH_LEN + 10, (uint16_t)~pkt_fold(pkt_sum_words(nat + ETH_LEN, 20, 0)));
	}
	if (how == U_V6_EXT)
		nat[ETH_LEN + 6] = 44;
	len = icmp_build(in, !v6, how == U_ECHO_REPLY ? (v6 ? 129 : 0) : (v6 ? 2 : 3), v6 ? 0 : 4,
			 1400, v6 ? "fd09::1" : "10.9.0.1", sc.client, nat, qlen);
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict TC_ACT_OK");
	check_unchanged(in, len, out, out_len, "error passed untouched");
	for (c = GS_CNT_ICMP_TRANSLATED; c <= GS_CNT_ICMP_BAD_QUOTE; c++)
		CHECK_EQ(fx_counter(fx, (enum gs_counter)c), c == (int)counter,
			 c == GS_CNT_ICMP_TRANSLATED ? "icmp_translated"
			 : c == GS_CNT_ICMP_NOT_OURS ? "icmp_not_ours"
						     : "icmp_bad_quote");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_BAD_HEADER), 0, "no bad header counted");
}

static void v4_quote_of_no_flow_untouched(void **state)
{
	check_untouched(*state, false, U_NO_FLOW, GS_CNT_ICMP_NOT_OURS);
}

static void v6_quote_of_no_flow_untouched(void **state)
{
	check_untouched(*state, true, U_NO_FLOW, GS_CNT_ICMP_NOT_OURS);
}

static void v4_forged_client_port_untouched(void **state)
{
	check_untouched(*state, false, U_OTHER_CPORT, GS_CNT_ICMP_NOT_OURS);
}

static void v6_forged_client_address_untouched(void **state)
{
	check_untouched(*state, true, U_OTHER_CLIENT, GS_CNT_ICMP_NOT_OURS);
}

static void v4_quote_shorter_than_8_l4_bytes_untouched(void **state)
{
	check_untouched(*state, false, U_SHORT, GS_CNT_ICMP_BAD_QUOTE);
}

static void v6_quote_shorter_than_8_l4_bytes_untouched(void **state)
{
	check_untouched(*state, true, U_SHORT, GS_CNT_ICMP_BAD_QUOTE);
}

static void v4_quoted_fragment_untouched(void **state)
{
	check_untouched(*state, false, U_FRAGMENT, GS_CNT_ICMP_BAD_QUOTE);
}

static void v6_quote_with_extension_header_untouched(void **state)
{
	check_untouched(*state, true, U_V6_EXT, GS_CNT_ICMP_NOT_OURS);
}

static void v4_echo_reply_untouched_not_counted(void **state)
{
	check_untouched(*state, false, U_ECHO_REPLY, GS_CNT_MAX);
}

static void v6_echo_reply_untouched_not_counted(void **state)
{
	check_untouched(*state, true, U_ECHO_REPLY, GS_CNT_MAX);
}

/* Where graysplit is also on the backend side, an error the forward path
 * sent on to a backend leaves through tc there: the forward path's,
 * counted there (icmp_to_backend), not here again. */
static void v4_error_on_its_way_to_the_backend_untouched_not_counted(void **state)
{
	check_untouched(*state, false, U_ABOUT_REPLY, GS_CNT_MAX);
}

static void v6_error_on_its_way_to_the_backend_untouched_not_counted(void **state)
{
	check_untouched(*state, true, U_ABOUT_REPLY, GS_CNT_MAX);
}

/* ---- Towards the backend: gs_xdp_fwd ---- */

/* The test's counters of the forward path's ICMP outcomes. */
static const enum gs_counter fwd_counters[] = {
	GS_CNT_ICMP_TO_BACKEND, GS_CNT_ICMP_NOT_OURS, GS_CNT_ICMP_BAD_QUOTE, GS_CNT_ICMP_TRANSLATED,
	GS_CNT_PASS_NOT_L4,	GS_CNT_FWD_REWRITTEN, GS_CNT_BAD_HEADER,
};
#define FWD_COUNTERS (sizeof(fwd_counters) / sizeof(fwd_counters[0]))

static const char *fwd_counter_name(enum gs_counter c)
{
	switch (c) {
	case GS_CNT_ICMP_TO_BACKEND:
		return "icmp_to_backend";
	case GS_CNT_ICMP_NOT_OURS:
		return "icmp_not_ours";
	case GS_CNT_ICMP_BAD_QUOTE:
		return "icmp_bad_quote";
	case GS_CNT_ICMP_TRANSLATED:
		return "icmp_translated";
	case GS_CNT_PASS_NOT_L4:
		return "pass_not_l4";
	case GS_CNT_FWD_REWRITTEN:
		return "fwd_rewritten";
	default:
		return "bad_header";
	}
}

static void fwd_counters_read(struct fx *fx, uint64_t *v)
{
	size_t i;

	for (i = 0; i < FWD_COUNTERS; i++)
		v[i] = fx_counter(fx, fwd_counters[i]);
}

/* Exactly one of the counters moved, by one: counter (GS_CNT_MAX: none). */
static void fwd_counters_check(struct fx *fx, const uint64_t *before, enum gs_counter counter)
{
	uint64_t now[FWD_COUNTERS];
	size_t i;

	fwd_counters_read(fx, now);
	for (i = 0; i < FWD_COUNTERS; i++)
		CHECK_EQ(now[i] - before[i], fwd_counters[i] == counter,
			 fwd_counter_name(fwd_counters[i]));
}

struct to_backend_case {
	bool v6;
	uint8_t proto;
	uint8_t type, code;
	uint16_t info;	  /* the low half of the type's 4 bytes: MTU, pointer */
	size_t l4_quoted; /* bytes of L4 quoted; 0: the whole packet */
	bool udp_no_csum;
	uint8_t ip_opt_len;
	bool draining; /* the flow's backend drains (it keeps its flows) */
	bool udp_ffff; /* the backend's UDP checksum sums to 0: sent as 0xffff */
};

#define ROUTER(v6) ((v6) ? "fd09::1" : "10.9.0.1")

/*
 * A flow through the VIP, its backend's reply, and a router's error about
 * that reply as the reply path sent it on (VIP:vport -> client:cport), to
 * the VIP: out comes the error the router would have sent the backend
 * about its reply as the backend sent it, to the backend.
 */
static void check_to_backend(struct fx *fx, const struct to_backend_case *t, const char *what)
{
	uint8_t orig[PKT_MAX], snat[PKT_MAX], in[PKT_MAX], want[PKT_MAX], out[PKT_MAX];
	uint8_t payload[128];
	uint64_t before[FWD_COUNTERS];
	struct pkt_spec syn, reply, sent;
	char backend[64], msg[160];
	struct scenario sc;
	size_t olen, slen, qlen, len, wlen, out_len;
	uint32_t id;

	sc_setup(&sc, fx, t->v6, t->proto, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	if (t->draining)
		fx_backend_set_state(fx, id, GS_BACKEND_DRAINING);
	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK | PKT_PSH);
	snprintf(backend, sizeof(backend), "%s", reply.src);
	reply.src = backend;
	reply.udp_no_csum = t->udp_no_csum;
	reply.ip_opt_len = t->ip_opt_len;
	if (t->udp_ffff) {
		/* Two more payload bytes (at an even offset) that take the
		 * checksum's sum to 0, which UDP sends as 0xffff (0: none). */
		size_t n = reply.payload_len, check = ETH_LEN + 20 + 6;

		memcpy(payload, reply.payload, n);
		payload[n] = payload[n + 1] = 0;
		reply.payload = payload;
		reply.payload_len = n + 2;
		pkt_build(&reply, orig);
		memcpy(payload + n, orig + check, 2);
		pkt_build(&reply, orig);
		CHECK_EQ(orig[check] << 8 | orig[check + 1], 0xffff,
			 "the backend's UDP checksum is 0xffff");
	}
	sent = reply; /* as the reply path SNATed it */
	sent.src = sc.vip;
	sent.sport = sc.vport;
	olen = pkt_build(&reply, orig);
	slen = pkt_build(&sent, snat);
	CHECK_EQ(olen, slen, "same length before and after SNAT");
	qlen = t->l4_quoted ? (size_t)(t->v6 ? 40 : 20 + t->ip_opt_len) + t->l4_quoted
			    : olen - ETH_LEN;
	len = icmp_build(in, !t->v6, t->type, t->code, t->info, ROUTER(t->v6), sc.vip, snat, qlen);
	wlen = icmp_build(want, !t->v6, t->type, t->code, t->info, ROUTER(t->v6), backend, orig,
			  qlen);

	/* Half a TCP checksum quoted is no checksum: it stays as it was. */
	if (t->proto == IPPROTO_TCP && t->l4_quoted == 17) {
		size_t icmp = ETH_LEN + (t->v6 ? 40 : 20), half = len - 1;

		want[half] = in[half];
		put16(want + icmp + 2, 0);
		put16(want + icmp + 2,
		      (uint16_t)~pkt_fold(pkt_sum_words(
			      want + icmp, wlen - icmp,
			      t->v6 ? icmp6_pseudo(want + ETH_LEN, wlen - icmp) : 0)));
	}
	fwd_counters_read(fx, before);
	CHECK_EQ(fx_run_xdp(fx, in, len, out, &out_len), XDP_PASS, "verdict XDP_PASS");
	CHECK_EQ(out_len, len, "length unchanged");
	check_icmp_csums(in, len, !t->v6, !t->l4_quoted, "input (test's own)");
	check_icmp_csums(out, out_len, !t->v6, !t->l4_quoted, what);
	snprintf(msg, sizeof(msg), "%s: the error as if sent to the backend about its own reply",
		 what);
	CHECK_EQ(wlen, out_len, msg);
	if (memcmp(out, want, wlen)) {
		size_t i;

		for (i = 0; i < wlen && out[i] == want[i]; i++)
			;
		fail_msg("%s: byte %zu is 0x%02x, want 0x%02x (input 0x%02x)", msg, i, out[i],
			 want[i], in[i]);
	}
	fwd_counters_check(fx, before, GS_CNT_ICMP_TO_BACKEND);
}

static void v4_tcp_frag_needed_to_backend(void **state)
{
	struct to_backend_case t = {.proto = IPPROTO_TCP, .type = 3, .code = 4, .info = 1400};

	check_to_backend(*state, &t, "v4 TCP frag needed to the backend");
}

static void v4_tcp_frag_needed_to_backend_quote_with_ip_options(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_TCP, .type = 3, .code = 4, .info = 1400, .ip_opt_len = 8};

	check_to_backend(*state, &t, "v4 TCP frag needed to the backend, IP options quoted");
}

static void v6_tcp_packet_too_big_to_backend(void **state)
{
	struct to_backend_case t = {
		.v6 = true, .proto = IPPROTO_TCP, .type = 2, .code = 0, .info = 1400};

	check_to_backend(*state, &t, "v6 TCP packet too big to the backend");
}

static void v4_tcp_time_exceeded_to_backend(void **state)
{
	struct to_backend_case t = {.proto = IPPROTO_TCP, .type = 11, .code = 0};

	check_to_backend(*state, &t, "v4 TCP time exceeded to the backend");
}

static void v6_tcp_time_exceeded_to_backend(void **state)
{
	struct to_backend_case t = {.v6 = true, .proto = IPPROTO_TCP, .type = 3, .code = 0};

	check_to_backend(*state, &t, "v6 TCP time exceeded to the backend");
}

static void v4_tcp_parameter_problem_to_backend(void **state)
{
	struct to_backend_case t = {.proto = IPPROTO_TCP, .type = 12, .code = 0};

	check_to_backend(*state, &t, "v4 TCP parameter problem to the backend");
}

static void v6_tcp_parameter_problem_to_backend(void **state)
{
	struct to_backend_case t = {
		.v6 = true, .proto = IPPROTO_TCP, .type = 4, .code = 0, .info = 6};

	check_to_backend(*state, &t, "v6 TCP parameter problem to the backend");
}

static void v4_udp_port_unreachable_to_backend(void **state)
{
	struct to_backend_case t = {.proto = IPPROTO_UDP, .type = 3, .code = 3};

	check_to_backend(*state, &t, "v4 UDP port unreachable (the client's) to the backend");
}

static void v4_udp_frag_needed_checksum_zero_to_backend(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_UDP, .type = 3, .code = 4, .info = 1400, .udp_no_csum = true};

	/* Compared byte for byte with a quote whose checksum is 0. */
	check_to_backend(*state, &t, "v4 UDP checksum 0 to the backend");
}

/* The backend's checksum is 0xffff: the update must not make it 0. */
static void v4_udp_checksum_ffff_to_backend(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_UDP, .type = 3, .code = 4, .info = 1400, .udp_ffff = true};

	check_to_backend(*state, &t, "v4 UDP checksum 0xffff to the backend");
}

static void v6_udp_packet_too_big_to_backend(void **state)
{
	struct to_backend_case t = {
		.v6 = true, .proto = IPPROTO_UDP, .type = 2, .code = 0, .info = 1400};

	check_to_backend(*state, &t, "v6 UDP packet too big to the backend");
}

static void v6_udp_port_unreachable_to_backend(void **state)
{
	struct to_backend_case t = {.v6 = true, .proto = IPPROTO_UDP, .type = 1, .code = 4};

	check_to_backend(*state, &t, "v6 UDP port unreachable to the backend");
}

static void v4_tcp_quote_of_8_l4_bytes_to_backend(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_TCP, .type = 3, .code = 4, .info = 1400, .l4_quoted = 8};

	check_to_backend(*state, &t, "v4 TCP quote of 8 L4 bytes to the backend");
}

static void v6_tcp_quote_of_8_l4_bytes_to_backend(void **state)
{
	struct to_backend_case t = {.v6 = true,
				    .proto = IPPROTO_TCP,
				    .type = 2,
				    .code = 0,
				    .info = 1400,
				    .l4_quoted = 8};

	check_to_backend(*state, &t, "v6 TCP quote of 8 L4 bytes to the backend");
}

/* The quote ends in the middle of the TCP checksum (the half is left
 * alone), and just past it (then it is updated). */
static void v4_tcp_quote_ends_before_checksum_to_backend(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_TCP, .type = 3, .code = 4, .info = 1400, .l4_quoted = 17};

	check_to_backend(*state, &t, "v4 TCP quote of 17 L4 bytes to the backend");
}

static void v6_tcp_quote_ends_after_checksum_to_backend(void **state)
{
	struct to_backend_case t = {.v6 = true,
				    .proto = IPPROTO_TCP,
				    .type = 2,
				    .code = 0,
				    .info = 1400,
				    .l4_quoted = 18};

	check_to_backend(*state, &t, "v6 TCP quote of 18 L4 bytes to the backend");
}

/* A draining backend keeps its flows, and so the errors about them. */
static void v4_tcp_frag_needed_to_draining_backend(void **state)
{
	struct to_backend_case t = {
		.proto = IPPROTO_TCP, .type = 3, .code = 4, .info = 1400, .draining = true};

	check_to_backend(*state, &t, "v4 TCP frag needed to a draining backend");
}

enum fwd_untouched_how {
	F_NO_FLOW,	  /* the quoted flow has no entry */
	F_OTHER_CPORT,	  /* forged: another client port */
	F_OTHER_CLIENT,	  /* forged: another client address */
	F_OTHER_VPORT,	  /* forged: another port of the VIP */
	F_NOT_TO_VIP,	  /* a flow's quote, but sent to another address */
	F_BACKEND_FREE,	  /* the flow's backend slot was freed since */
	F_BACKEND_REUSED, /* ... and reused by another service */
	F_SHORT,	  /* only 4 bytes of L4 quoted */
	F_IP_CUT,	  /* the quoted IP header cut short */
	F_FRAGMENT,	  /* the quoted reply is a fragment (v4) */
	F_V6_EXT,	  /* the quoted reply has a fragment header (v6) */
	F_FAMILY,	  /* an IPv4 error quoting an IPv6 packet */
	F_ECHO_REQUEST,	  /* not an error at all */
	F_ABOUT_DNATED,	  /* a backend's, about the DNATed packet: the reply path's */
};

/* An error about the reply of a flow, made wrong as how says: passed on
 * byte for byte, counted under counter alone. */
static void check_fwd_untouched(struct fx *fx, bool v6, enum fwd_untouched_how how,
				enum gs_counter counter, const char *what)
{
	uint8_t snat[PKT_MAX], in[PKT_MAX], out[PKT_MAX];
	uint64_t before[FWD_COUNTERS];
	struct pkt_spec syn, sent;
	struct scenario sc;
	size_t slen, qlen, len, out_len;
	size_t ihl = v6 ? 40 : 20;
	const char *to;
	uint32_t id;

	sc_setup(&sc, fx, v6, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	/* No flow: the client never sent anything through the VIP. */
	id = how == F_NO_FLOW ? sc.stable[0] : sc_forward(&sc, &syn);
	if (how == F_BACKEND_FREE)
		fx_backend_set_state(fx, id, GS_BACKEND_FREE);
	if (how == F_BACKEND_REUSED) {
		struct gs_backend be = fx_backend_get(fx, id);
		char addr[64];

		inet_ntop(v6 ? AF_INET6 : AF_INET, v6 ? (void *)be.addr.b : (void *)&be.addr.w[3],
			  addr, sizeof(addr));
		fx_service_add(fx, 8, sc.vip, 81, IPPROTO_TCP, GS_HASH_FLOW);
		fx_backend_add(fx, id, 8, addr, ntohs(be.port), GS_GROUP_STABLE);
	}
	sent = sc_reply_pkt(&sc, id, &syn, PKT_ACK | PKT_PSH);
	sent.src = sc.vip;
	sent.sport = sc.vport;
	if (how == F_ABOUT_DNATED)
		sent = dnated(&sc, id, &syn);
	if (how == F_OTHER_CPORT)
		sent.dport = 40000 + 1;
	if (how == F_OTHER_CLIENT)
		sent.dst = v6 ? "fd0c::6" : "192.168.1.6";
	if (how == F_OTHER_VPORT)
		sent.sport = 81;
	if (how == F_FAMILY) {
		/* An IPv6 reply from a VIP to the client's port, inside an
		 * IPv4 error to the IPv4 flow's VIP. */
		sent.src = "fd00::10";
		sent.dst = "fd0c::5";
	}
	slen = pkt_build(&sent, snat);
	qlen = slen - ETH_LEN;
	if (how == F_SHORT)
		qlen = ihl + 4;
	if (how == F_IP_CUT)
		qlen = ihl - 4;
	if (how == F_FRAGMENT) {
		put16(snat + ETH_LEN + 6, 0x2000); /* MF, offset 0: the first */
		put16(snat + ETH_LEN + 10, 0);
		put16(snat + ETH_LEN + 10,
		      (uint16_t)~pkt_fold(pkt_sum_words(snat + ETH_LEN, 20, 0)));
	}
	if (how == F_V6_EXT)
		snat[ETH_LEN + 6] = 44;
	to = how == F_NOT_TO_VIP ? (v6 ? "fd00::11" : "10.0.0.11") : sc.vip;
	if (how == F_ABOUT_DNATED)
		to = sc.client;
	len = icmp_build(in, !v6, how == F_ECHO_REQUEST ? (v6 ? 128 : 8) : (v6 ? 2 : 3), v6 ? 0 : 4,
			 1400, ROUTER(v6), to, snat, qlen);
	fwd_counters_read(fx, before);
	CHECK_EQ(fx_run_xdp(fx, in, len, out, &out_len), XDP_PASS, "verdict XDP_PASS");
	check_unchanged(in, len, out, out_len, what);
	fwd_counters_check(fx, before, counter);
}

static void v4_to_backend_no_flow_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_NO_FLOW, GS_CNT_ICMP_NOT_OURS, "v4, no flow");
}

static void v6_to_backend_no_flow_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_NO_FLOW, GS_CNT_ICMP_NOT_OURS, "v6, no flow");
}

static void v4_to_backend_forged_client_port_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_OTHER_CPORT, GS_CNT_ICMP_NOT_OURS,
			    "v4, another client port");
}

static void v6_to_backend_forged_client_port_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_OTHER_CPORT, GS_CNT_ICMP_NOT_OURS,
			    "v6, another client port");
}

static void v4_to_backend_forged_client_address_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_OTHER_CLIENT, GS_CNT_ICMP_NOT_OURS,
			    "v4, another client address");
}

static void v6_to_backend_forged_client_address_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_OTHER_CLIENT, GS_CNT_ICMP_NOT_OURS,
			    "v6, another client address");
}

static void v4_to_backend_forged_vip_port_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_OTHER_VPORT, GS_CNT_ICMP_NOT_OURS,
			    "v4, another VIP port");
}

static void v6_to_backend_forged_vip_port_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_OTHER_VPORT, GS_CNT_ICMP_NOT_OURS,
			    "v6, another VIP port");
}

static void v4_to_backend_not_sent_to_the_vip_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_NOT_TO_VIP, GS_CNT_ICMP_NOT_OURS,
			    "v4, sent to another address than the quote's source");
}

static void v6_to_backend_not_sent_to_the_vip_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_NOT_TO_VIP, GS_CNT_ICMP_NOT_OURS,
			    "v6, sent to another address than the quote's source");
}

static void v4_to_backend_backend_freed_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_BACKEND_FREE, GS_CNT_ICMP_NOT_OURS,
			    "v4, the flow's backend freed");
}

static void v6_to_backend_backend_reused_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_BACKEND_REUSED, GS_CNT_ICMP_NOT_OURS,
			    "v6, the flow's backend slot reused by another service");
}

static void v4_to_backend_quote_of_4_l4_bytes_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_SHORT, GS_CNT_ICMP_BAD_QUOTE,
			    "v4, 4 bytes of L4 quoted");
}

static void v6_to_backend_quote_of_4_l4_bytes_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_SHORT, GS_CNT_ICMP_BAD_QUOTE,
			    "v6, 4 bytes of L4 quoted");
}

static void v4_to_backend_quoted_ip_header_cut_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_IP_CUT, GS_CNT_ICMP_BAD_QUOTE,
			    "v4, quoted IP header cut short");
}

static void v6_to_backend_quoted_ip_header_cut_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_IP_CUT, GS_CNT_ICMP_BAD_QUOTE,
			    "v6, quoted IP header cut short");
}

static void v4_to_backend_quoted_fragment_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_FRAGMENT, GS_CNT_ICMP_BAD_QUOTE,
			    "v4, quoted fragment");
}

static void v6_to_backend_quote_with_extension_header_untouched(void **state)
{
	check_fwd_untouched(*state, true, F_V6_EXT, GS_CNT_ICMP_NOT_OURS,
			    "v6, quoted extension header");
}

static void v4_error_quoting_v6_reply_untouched(void **state)
{
	check_fwd_untouched(*state, false, F_FAMILY, GS_CNT_ICMP_BAD_QUOTE,
			    "IPv4 error quoting an IPv6 reply");
}

static void v4_echo_request_to_vip_is_not_l4(void **state)
{
	check_fwd_untouched(*state, false, F_ECHO_REQUEST, GS_CNT_PASS_NOT_L4,
			    "v4 echo request to the VIP");
}

static void v6_echo_request_to_vip_is_not_l4(void **state)
{
	check_fwd_untouched(*state, true, F_ECHO_REQUEST, GS_CNT_PASS_NOT_L4,
			    "v6 echo request to the VIP");
}

/* A backend's error about a DNATed packet, coming in where graysplit is
 * also on the backend side: the reply path puts it back on its way out and
 * counts it; here it is only a packet that is not TCP or UDP. */
static void v4_error_for_the_reply_path_is_not_l4(void **state)
{
	check_fwd_untouched(*state, false, F_ABOUT_DNATED, GS_CNT_PASS_NOT_L4,
			    "v4 error about a DNATed packet, to the client");
}

static void v6_error_for_the_reply_path_is_not_l4(void **state)
{
	check_fwd_untouched(*state, true, F_ABOUT_DNATED, GS_CNT_PASS_NOT_L4,
			    "v6 error about a DNATed packet, to the client");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(v4_tcp_frag_needed_translated),
		FX_TEST(v4_tcp_frag_needed_quote_with_ip_options),
		FX_TEST(v6_tcp_packet_too_big_translated),
		FX_TEST(v4_tcp_time_exceeded_translated),
		FX_TEST(v6_tcp_time_exceeded_translated),
		FX_TEST(v4_udp_port_unreachable_translated),
		FX_TEST(v6_udp_port_unreachable_translated),
		FX_TEST(v4_udp_zero_checksum_stays_zero),
		FX_TEST(v6_udp_packet_too_big_translated),
		FX_TEST(v4_tcp_truncated_quote_ports_only),
		FX_TEST(v6_tcp_truncated_quote_ports_only),
		FX_TEST(v4_tcp_quote_ends_before_checksum),
		FX_TEST(v4_tcp_quote_ends_after_checksum),
		FX_TEST(v4_quote_of_no_flow_untouched),
		FX_TEST(v6_quote_of_no_flow_untouched),
		FX_TEST(v4_forged_client_port_untouched),
		FX_TEST(v6_forged_client_address_untouched),
		FX_TEST(v4_quote_shorter_than_8_l4_bytes_untouched),
		FX_TEST(v6_quote_shorter_than_8_l4_bytes_untouched),
		FX_TEST(v4_quoted_fragment_untouched),
		FX_TEST(v6_quote_with_extension_header_untouched),
		FX_TEST(v4_echo_reply_untouched_not_counted),
		FX_TEST(v6_echo_reply_untouched_not_counted),
		FX_TEST(v4_error_on_its_way_to_the_backend_untouched_not_counted),
		FX_TEST(v6_error_on_its_way_to_the_backend_untouched_not_counted),
		FX_TEST(v4_tcp_frag_needed_to_backend),
		FX_TEST(v4_tcp_frag_needed_to_backend_quote_with_ip_options),
		FX_TEST(v6_tcp_packet_too_big_to_backend),
		FX_TEST(v4_tcp_time_exceeded_to_backend),
		FX_TEST(v6_tcp_time_exceeded_to_backend),
		FX_TEST(v4_tcp_parameter_problem_to_backend),
		FX_TEST(v6_tcp_parameter_problem_to_backend),
		FX_TEST(v4_udp_port_unreachable_to_backend),
		FX_TEST(v4_udp_frag_needed_checksum_zero_to_backend),
		FX_TEST(v4_udp_checksum_ffff_to_backend),
		FX_TEST(v6_udp_packet_too_big_to_backend),
		FX_TEST(v6_udp_port_unreachable_to_backend),
		FX_TEST(v4_tcp_quote_of_8_l4_bytes_to_backend),
		FX_TEST(v6_tcp_quote_of_8_l4_bytes_to_backend),
		FX_TEST(v4_tcp_quote_ends_before_checksum_to_backend),
		FX_TEST(v6_tcp_quote_ends_after_checksum_to_backend),
		FX_TEST(v4_tcp_frag_needed_to_draining_backend),
		FX_TEST(v4_to_backend_no_flow_untouched),
		FX_TEST(v6_to_backend_no_flow_untouched),
		FX_TEST(v4_to_backend_forged_client_port_untouched),
		FX_TEST(v6_to_backend_forged_client_port_untouched),
		FX_TEST(v4_to_backend_forged_client_address_untouched),
		FX_TEST(v6_to_backend_forged_client_address_untouched),
		FX_TEST(v4_to_backend_forged_vip_port_untouched),
		FX_TEST(v6_to_backend_forged_vip_port_untouched),
		FX_TEST(v4_to_backend_not_sent_to_the_vip_untouched),
		FX_TEST(v6_to_backend_not_sent_to_the_vip_untouched),
		FX_TEST(v4_to_backend_backend_freed_untouched),
		FX_TEST(v6_to_backend_backend_reused_untouched),
		FX_TEST(v4_to_backend_quote_of_4_l4_bytes_untouched),
		FX_TEST(v6_to_backend_quote_of_4_l4_bytes_untouched),
		FX_TEST(v4_to_backend_quoted_ip_header_cut_untouched),
		FX_TEST(v6_to_backend_quoted_ip_header_cut_untouched),
		FX_TEST(v4_to_backend_quoted_fragment_untouched),
		FX_TEST(v6_to_backend_quote_with_extension_header_untouched),
		FX_TEST(v4_error_quoting_v6_reply_untouched),
		FX_TEST(v4_echo_request_to_vip_is_not_l4),
		FX_TEST(v6_echo_request_to_vip_is_not_l4),
		FX_TEST(v4_error_for_the_reply_path_is_not_l4),
		FX_TEST(v6_error_for_the_reply_path_is_not_l4),
	};

	return cmocka_run_group_tests_name("bpf_icmp", tests, NULL, NULL);
}
