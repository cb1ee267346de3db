// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Forward path: a new flow to a VIP is DNATed to a backend of the right group. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <string.h>

/*
 * The first packet of a flow at share ppm goes to want_group, to the very
 * backend the table gives hash2, and leaves its one flow entry behind, which
 * the backend's address finds through backend_addrs.
 */
static void check_new_flow(struct fx *fx, bool v6, uint8_t proto, uint32_t ppm, uint8_t want_group)
{
	struct scenario sc;
	struct pkt_spec pkt;
	struct gs_backend_addr_key bkey;
	struct gs_backend_addr ba;
	struct gs_flow_key key;
	struct gs_flow flow;
	struct gs_backend backend;
	struct gs_backend_stats bs;
	uint8_t frame[PKT_MAX];
	uint32_t id;
	size_t len;

	sc_setup(&sc, fx, v6, proto, GS_HASH_FLOW);
	fx_split_set(fx, sc.service_id, ppm);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	len = pkt_build(&pkt, frame);

	id = sc_forward(&sc, &pkt);
	backend = fx_backend_get(fx, id);
	CHECK_EQ(backend.group, want_group, "backend is of the expected group");
	CHECK_EQ(id, sc_predict_backend(&sc, &pkt, want_group),
		 "backend is the table's slot for hash2");

	key = sc_flow_key(&pkt);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry written");
	CHECK_EQ(flow.backend_id, id, "flow entry names the backend");
	CHECK_EQ(flow.service_id, sc.service_id, "flow entry names the service");
	CHECK_EQ(flow.group, want_group, "flow entry records the group");
	CHECK_EQ(flow.state, proto == IPPROTO_TCP ? GS_FLOW_SYN_SENT : GS_FLOW_UDP,
		 "flow state after the first packet");
	CHECK_NE(flow.created_ns, 0, "flow creation time set");

	CHECK_EQ(flow.rev_flags, 0, "nothing seen by the reply path yet");
	CHECK_EQ(flow.req_ns, 0, "no request yet");
	CHECK_EQ(flow.flags, 0, "no forward flags");

	memset(&bkey, 0, sizeof(bkey));
	bkey.addr = backend.addr;
	bkey.port = backend.port;
	bkey.proto = proto;
	CHECK_EQ(bpf_map__lookup_elem(fx->skel->maps.backend_addrs, &bkey, sizeof(bkey), &ba,
				      sizeof(ba), 0),
		 0, "the backend's address is in backend_addrs");
	CHECK_EQ(ba.count, 1, "of one service");
	CHECK_EQ(memcmp(&ba.svc[0].vip, &key.dst, sizeof(key.dst)), 0, "whose VIP is the flow's");
	CHECK_EQ(ba.svc[0].port, key.dport, "and port");

	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_NEW), 1, "GS_CNT_FLOW_NEW");
	CHECK_EQ(fx_counter(fx, GS_CNT_FWD_REWRITTEN), 1, "GS_CNT_FWD_REWRITTEN");
	CHECK_EQ(fx_counter(fx, GS_CNT_PKTS), 1, "GS_CNT_PKTS");
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.new_flows, 1, "backend new_flows");
	CHECK_EQ(bs.packets, 1, "backend packets");
	CHECK_EQ(bs.bytes, len - 14, "backend bytes (IP length)");
}

static void fwd_v4_tcp_syn_split_0_goes_stable(void **state)
{
	check_new_flow(*state, false, IPPROTO_TCP, 0, GS_GROUP_STABLE);
}

static void fwd_v4_tcp_syn_split_100_goes_canary(void **state)
{
	check_new_flow(*state, false, IPPROTO_TCP, GS_PPM_MAX, GS_GROUP_CANARY);
}

static void fwd_v6_tcp_syn_split_0_goes_stable(void **state)
{
	check_new_flow(*state, true, IPPROTO_TCP, 0, GS_GROUP_STABLE);
}

static void fwd_v6_tcp_syn_split_100_goes_canary(void **state)
{
	check_new_flow(*state, true, IPPROTO_TCP, GS_PPM_MAX, GS_GROUP_CANARY);
}

static void fwd_v4_udp_split_0_goes_stable(void **state)
{
	check_new_flow(*state, false, IPPROTO_UDP, 0, GS_GROUP_STABLE);
}

static void fwd_v4_udp_split_100_goes_canary(void **state)
{
	check_new_flow(*state, false, IPPROTO_UDP, GS_PPM_MAX, GS_GROUP_CANARY);
}

static void fwd_v6_udp_split_0_goes_stable(void **state)
{
	check_new_flow(*state, true, IPPROTO_UDP, 0, GS_GROUP_STABLE);
}

static void fwd_v6_udp_split_100_goes_canary(void **state)
{
	check_new_flow(*state, true, IPPROTO_UDP, GS_PPM_MAX, GS_GROUP_CANARY);
}

/* At 50% every flow lands where gs_hash_flow + gs_is_canary say, and both
 * groups get some. */
static void check_split_50_matches_prediction(struct fx *fx, bool v6, uint8_t proto)
{
	unsigned int seen[GS_GROUPS] = {0, 0};
	struct scenario sc;
	uint16_t sport;

	sc_setup(&sc, fx, v6, proto, GS_HASH_FLOW);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX / 2);
	for (sport = 41000; sport < 41064; sport++) {
		struct pkt_spec pkt = sc_client_pkt(&sc, sport, PKT_SYN);
		uint8_t group = sc_predict_group(&sc, &pkt, GS_PPM_MAX / 2);
		uint32_t id = sc_forward(&sc, &pkt);

		CHECK_EQ(fx_backend_get(fx, id).group, group, "group predicted by the hash");
		CHECK_EQ(id, sc_predict_backend(&sc, &pkt, group), "backend predicted by hash2");
		seen[group]++;
	}
	CHECK_TRUE(seen[GS_GROUP_STABLE] > 0, "some flows stable at 50%");
	CHECK_TRUE(seen[GS_GROUP_CANARY] > 0, "some flows canary at 50%");
}

static void fwd_v4_tcp_split_50_group_as_predicted(void **state)
{
	check_split_50_matches_prediction(*state, false, IPPROTO_TCP);
}

static void fwd_v6_udp_split_50_group_as_predicted(void **state)
{
	check_split_50_matches_prediction(*state, true, IPPROTO_UDP);
}

static void fwd_v4_ip_options_rewritten_with_checksums(void **state)
{
	struct scenario sc;
	struct pkt_spec pkt;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40001, PKT_SYN);
	pkt.ip_opt_len = 12;
	sc_forward(&sc, &pkt);
	CHECK_EQ(fx_counter(sc.fx, GS_CNT_FWD_REWRITTEN), 1, "GS_CNT_FWD_REWRITTEN");
}

static void fwd_v4_tcp_ethernet_padding_left_alone(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len, out_len;
	struct scenario sc;
	struct pkt_spec pkt;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40002, PKT_SYN);
	len = pkt_build(&pkt, in);
	/* A 54-byte SYN is padded to the 60-byte Ethernet minimum on the wire. */
	memset(in + len, 0xa5, 6);
	len += 6;
	CHECK_EQ(fx_run_xdp(sc.fx, in, len, out, &out_len), XDP_PASS, "verdict");
	CHECK_EQ(fx_counter(sc.fx, GS_CNT_FWD_REWRITTEN), 1, "padded frame rewritten");
	check_csums(out, out_len, "checksums of the padded frame");
	check_only_rewritten(in, len, out, out_len, true, "padding unchanged");
}

static void fwd_v4_udp_zero_checksum_stays_zero(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len, out_len;
	struct pkt_view view;
	struct scenario sc;
	struct pkt_spec pkt;

	sc_setup(&sc, *state, false, IPPROTO_UDP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40003, 0);
	pkt.udp_no_csum = true;
	len = pkt_build(&pkt, in);
	CHECK_EQ(fx_run_xdp(sc.fx, in, len, out, &out_len), XDP_PASS, "verdict");
	CHECK_EQ(fx_counter(sc.fx, GS_CNT_FWD_REWRITTEN), 1, "GS_CNT_FWD_REWRITTEN");
	CHECK_TRUE(pkt_parse(out, out_len, &view), "output parses");
	CHECK_EQ(out[view.l4_csum_off] | out[view.l4_csum_off + 1], 0, "UDP checksum still 0");
	check_csums(out, out_len, "IPv4 header checksum");
	check_only_rewritten(in, len, out, out_len, true, "only dst and checksums changed");
}

/*
 * A UDP checksum whose new value computes to 0 must be sent as 0xffff (0
 * would mean "no checksum"). Choose two payload bytes so that the frame as
 * rewritten sums to exactly 0xffff.
 */
static void check_udp_zero_result_sent_as_ffff(struct fx *fx, bool v6)
{
	uint8_t in[PKT_MAX], out[PKT_MAX], post[PKT_MAX];
	uint8_t payload[4] = {0, 0, 0x5a, 0x5a};
	struct gs_backend backend;
	struct pkt_spec pkt, at_backend;
	struct pkt_view view;
	struct scenario sc;
	char addr_text[64];
	size_t len, out_len;
	uint32_t id;
	uint16_t word;

	sc_setup(&sc, fx, v6, IPPROTO_UDP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40004, 0);
	pkt.payload = payload;
	pkt.payload_len = sizeof(payload);
	id = sc_predict_backend(&sc, &pkt, GS_GROUP_STABLE);
	backend = fx_backend_get(fx, id);
	if (v6)
		inet_ntop(AF_INET6, backend.addr.b, addr_text, sizeof(addr_text));
	else
		inet_ntop(AF_INET, &backend.addr.w[3], addr_text, sizeof(addr_text));

	at_backend = pkt;
	at_backend.dst = addr_text;
	at_backend.dport = ntohs(backend.port);
	len = pkt_build(&at_backend, post);
	CHECK_TRUE(pkt_parse(post, len, &view), "frame at backend parses");
	word = pkt_l4_csum(post, &view);
	payload[0] = word >> 8;
	payload[1] = word & 0xff;

	len = pkt_build(&pkt, in);
	CHECK_EQ(fx_run_xdp(fx, in, len, out, &out_len), XDP_PASS, "verdict");
	CHECK_TRUE(pkt_parse(out, out_len, &view), "output parses");
	CHECK_EQ(pkt_l4_csum(out, &view), 0, "rewritten UDP checksum computes to 0");
	CHECK_EQ(out[view.l4_csum_off] << 8 | out[view.l4_csum_off + 1], 0xffff,
		 "UDP checksum sent as 0xffff");
	check_csums(out, out_len, "checksums from scratch");
}

static void fwd_v4_udp_checksum_computing_to_0_sent_as_ffff(void **state)
{
	check_udp_zero_result_sent_as_ffff(*state, false);
}

static void fwd_v6_udp_checksum_computing_to_0_sent_as_ffff(void **state)
{
	check_udp_zero_result_sent_as_ffff(*state, true);
}

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(fwd_v4_tcp_syn_split_0_goes_stable),
		FX_TEST(fwd_v4_tcp_syn_split_100_goes_canary),
		FX_TEST(fwd_v6_tcp_syn_split_0_goes_stable),
		FX_TEST(fwd_v6_tcp_syn_split_100_goes_canary),
		FX_TEST(fwd_v4_udp_split_0_goes_stable),
		FX_TEST(fwd_v4_udp_split_100_goes_canary),
		FX_TEST(fwd_v6_udp_split_0_goes_stable),
		FX_TEST(fwd_v6_udp_split_100_goes_canary),
		FX_TEST(fwd_v4_tcp_split_50_group_as_predicted),
		FX_TEST(fwd_v6_udp_split_50_group_as_predicted),
		FX_TEST(fwd_v4_ip_options_rewritten_with_checksums),
		FX_TEST(fwd_v4_tcp_ethernet_padding_left_alone),
		FX_TEST(fwd_v4_udp_zero_checksum_stays_zero),
		FX_TEST(fwd_v4_udp_checksum_computing_to_0_sent_as_ffff),
		FX_TEST(fwd_v6_udp_checksum_computing_to_0_sent_as_ffff),
	};

	return cmocka_run_group_tests_name("bpf_forward", tests, NULL, NULL);
}
