// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ICMP errors towards the client (issue 11): an error about a packet the
 * forward path DNATed quotes client:cport -> backend:bport; gs_tc_reply
 * must put VIP:port back in the quote, with every checksum right. The
 * expected frame is built from scratch here: the same error quoting the
 * client's packet as the client sent it (to the VIP), checksums computed
 * by this file, not by the data path's arithmetic.
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
	struct pkt_spec reply;
	struct gs_flow_key key;
	struct gs_rev_flow rev;
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
	reply = sc_reply_pkt(&(struct scenario){.fx = fx}, id, client, 0);
	key = sc_flow_key(&reply);
	CHECK_EQ(fx_rev_get(fx, &key, &rev), 0, "reverse entry");
	CHECK_TRUE(rev.flags & GS_REV_F_UNREACH, "flow marked unreachable");
	CHECK_EQ(fx_udp_slot(fx, id, rev.syn_ns).answered, 1, "flow resolved in its slot");
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
	};

	return cmocka_run_group_tests_name("bpf_icmp", tests, NULL, NULL);
}
