// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Whatever the forward path cannot fully parse or does not own passes untouched. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Run len bytes of frame: XDP_PASS, byte-for-byte unchanged, counter + 1. */
static void check_passes(struct fx *fx, const uint8_t *frame, size_t len, enum gs_counter counter,
			 const char *what)
{
	uint64_t before = fx_counter(fx, counter);
	uint64_t rewritten = fx_counter(fx, GS_CNT_FWD_REWRITTEN);
	uint8_t out[PKT_MAX];
	size_t out_len;

	CHECK_EQ(fx_run_xdp(fx, frame, len, out, &out_len), XDP_PASS, what);
	check_unchanged(frame, len, out, out_len, what);
	CHECK_EQ(fx_counter(fx, counter), before + 1, what);
	CHECK_EQ(fx_counter(fx, GS_CNT_FWD_REWRITTEN), rewritten, what);
}

static size_t syn_frame(struct scenario *sc, struct fx *fx, bool v6, uint8_t proto, uint8_t *frame)
{
	struct pkt_spec pkt;

	sc_setup(sc, fx, v6, proto, GS_HASH_FLOW);
	pkt = sc_client_pkt(sc, 40000, PKT_SYN);
	return pkt_build(&pkt, frame);
}

static void pass_other_port_not_a_service(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	struct pkt_spec pkt;
	size_t len;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	pkt.dport = 81;
	len = pkt_build(&pkt, frame);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_NO_SERVICE, "other port passes");
}

static void pass_other_address_not_a_service(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	struct pkt_spec pkt;
	size_t len;

	sc_setup(&sc, *state, true, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	pkt.dst = "fd00::11";
	len = pkt_build(&pkt, frame);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_NO_SERVICE, "other address passes");
}

static void pass_udp_to_tcp_service(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	struct pkt_spec pkt;
	size_t len;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	sc.proto = IPPROTO_UDP;
	pkt = sc_client_pkt(&sc, 40000, 0);
	len = pkt_build(&pkt, frame);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_NO_SERVICE, "UDP to a TCP service passes");
}

static void pass_arp(void **state)
{
	uint8_t frame[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0,
			     2,	   0x08, 0x06, 0,    1,	   0x08, 0, 6, 4, 0, 1};

	check_passes(*state, frame, sizeof(frame), GS_CNT_PASS_NOT_IP, "ARP passes");
}

/* Insert a VLAN tag of the given TPID after the MAC addresses. */
static void check_vlan_passes(struct fx *fx, uint16_t tpid)
{
	uint8_t frame[PKT_MAX], tagged[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, fx, false, IPPROTO_TCP, frame);

	memcpy(tagged, frame, 12);
	tagged[12] = tpid >> 8;
	tagged[13] = tpid & 0xff;
	tagged[14] = 0x00;
	tagged[15] = 0x64;
	memcpy(tagged + 16, frame + 12, len - 12);
	check_passes(fx, tagged, len + 4, GS_CNT_PASS_VLAN, "VLAN-tagged SYN to the VIP passes");
}

static void pass_vlan_8021q_tagged(void **state)
{
	check_vlan_passes(*state, 0x8100);
}

static void pass_vlan_8021ad_tagged(void **state)
{
	check_vlan_passes(*state, 0x88a8);
}

static void pass_v4_fragments(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_UDP, frame);

	frame[14 + 6] = 0x20; /* MF, offset 0: the first fragment */
	frame[14 + 7] = 0x00;
	pkt_fix_csums(frame, len);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_FRAGMENT, "first fragment (MF) passes");
	frame[14 + 6] = 0x00; /* last fragment: offset 185 * 8 */
	frame[14 + 7] = 0xb9;
	pkt_fix_csums(frame, len);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_FRAGMENT, "later fragment (offset) passes");
}

/* Put an 8-byte IPv6 extension header of type ext before the L4 header. */
static size_t add_v6_ext_header(const uint8_t *frame, size_t len, uint8_t ext, uint8_t *out)
{
	const size_t l4 = 14 + 40;
	uint16_t payload_len = (uint16_t)(frame[18] << 8 | frame[19]);

	memcpy(out, frame, l4);
	memset(out + l4, 0, 8);
	out[l4] = frame[14 + 6]; /* the extension header's next header */
	if (ext == 44) {
		out[l4 + 3] = 0x01; /* fragment header, M flag */
	} else {
		out[l4 + 2] = 0x01; /* hop-by-hop: one PadN option filling it */
		out[l4 + 3] = 4;
	}
	memcpy(out + l4 + 8, frame + l4, len - l4);
	out[14 + 6] = ext;
	payload_len += 8;
	out[18] = payload_len >> 8;
	out[19] = payload_len & 0xff;
	return len + 8;
}

static void pass_v6_fragment_header(void **state)
{
	uint8_t frame[PKT_MAX], ext[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, true, IPPROTO_UDP, frame);

	len = add_v6_ext_header(frame, len, 44, ext);
	check_passes(sc.fx, ext, len, GS_CNT_PASS_FRAGMENT, "IPv6 fragment header passes");
}

static void pass_v6_hop_by_hop_extension_header(void **state)
{
	uint8_t frame[PKT_MAX], ext[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, true, IPPROTO_TCP, frame);

	len = add_v6_ext_header(frame, len, 0, ext);
	check_passes(sc.fx, ext, len, GS_CNT_PASS_NOT_L4, "IPv6 hop-by-hop header passes");
}

static void pass_v4_icmp_to_vip(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame);

	frame[14 + 9] = 1; /* ICMP */
	pkt_fix_csums(frame, len);
	check_passes(sc.fx, frame, len, GS_CNT_PASS_NOT_L4, "ICMP to the VIP passes");
}

/* Cut a valid SYN to the VIP at each offset: every cut passes untouched. */
static void check_truncations(struct fx *fx, bool v6, uint8_t proto, const size_t *cuts,
			      size_t ncuts)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, fx, v6, proto, frame), i;

	for (i = 0; i < ncuts; i++) {
		char what[64];

		snprintf(what, sizeof(what), "truncated at %zu of %zu passes", cuts[i], len);
		CHECK_TRUE(cuts[i] < len, "cut inside the frame");
		check_passes(fx, frame, cuts[i], GS_CNT_BAD_HEADER, what);
	}
}

static void pass_v4_tcp_truncated_at_several_offsets(void **state)
{
	const size_t cuts[] = {14, 15, 33, 34, 35, 44, 53};

	check_truncations(*state, false, IPPROTO_TCP, cuts, sizeof(cuts) / sizeof(cuts[0]));
}

static void pass_v6_udp_truncated_at_several_offsets(void **state)
{
	const size_t cuts[] = {14, 30, 53, 54, 58, 61, 70};

	check_truncations(*state, true, IPPROTO_UDP, cuts, sizeof(cuts) / sizeof(cuts[0]));
}

static void pass_tcp_doff_below_5(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame);

	frame[14 + 20 + 12] = 4 << 4;
	pkt_fix_csums(frame, len);
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "TCP doff 4 passes");
}

static void pass_tcp_doff_beyond_packet(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, true, IPPROTO_TCP, frame);

	frame[14 + 40 + 12] = 15 << 4;
	pkt_fix_csums(frame, len);
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "TCP doff past the packet passes");
}

static void pass_v4_ihl_below_5(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame);

	frame[14] = 0x44;
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "IHL 4 passes");
}

static void pass_v4_total_length_beyond_frame(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame);

	frame[14 + 3] += 1;
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "tot_len past the frame passes");
}

static void pass_v4_total_length_below_header(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame);

	frame[14 + 2] = 0;
	frame[14 + 3] = 16;
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "tot_len below the header passes");
}

static void pass_udp_length_beyond_payload(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_UDP, frame);

	frame[14 + 20 + 5] += 1;
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "UDP length past the payload passes");
}

static void pass_v6_udp_zero_checksum(void **state)
{
	uint8_t frame[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, true, IPPROTO_UDP, frame);

	frame[14 + 40 + 6] = 0;
	frame[14 + 40 + 7] = 0;
	check_passes(sc.fx, frame, len, GS_CNT_BAD_HEADER, "IPv6 UDP without checksum passes");
}

static void pass_v4_service_with_v6_backend(void **state)
{
	const uint32_t v6_backend[] = {30};
	uint8_t frame[PKT_MAX];
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec pkt;
	size_t len;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_backend_add(sc.fx, 30, sc.service_id, "fd01::9", 8080, GS_GROUP_STABLE);
	fx_table_publish(sc.fx, sc.service_id, GS_GROUP_STABLE, v6_backend, 1);
	fx_table_publish(sc.fx, sc.service_id, GS_GROUP_CANARY, NULL, 0);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	len = pkt_build(&pkt, frame);
	check_passes(sc.fx, frame, len, GS_CNT_NO_BACKEND, "IPv4 flow never goes to IPv6");
	key = sc_flow_key(&pkt);
	CHECK_EQ(fx_flow_get(sc.fx, &key, &flow), -ENOENT, "no flow entry");
}

/* An IPv4 frame re-sent as IPv6 with the v4-mapped addresses of its flow. */
static size_t v4_mapped_frame(const uint8_t *v4, size_t len, uint8_t *out)
{
	size_t ihl = (size_t)(v4[14] & 15) * 4, l4_len = len - 14 - ihl;

	memcpy(out, v4, 12);
	out[12] = 0x86;
	out[13] = 0xdd;
	memset(out + 14, 0, 40);
	out[14] = 0x60;
	out[18] = (uint8_t)(l4_len >> 8);
	out[19] = (uint8_t)l4_len;
	out[20] = v4[14 + 9];
	out[21] = 64;
	out[14 + 18] = out[14 + 19] = 0xff;
	memcpy(out + 14 + 20, v4 + 14 + 12, 4);
	out[14 + 34] = out[14 + 35] = 0xff;
	memcpy(out + 14 + 36, v4 + 14 + 16, 4);
	memcpy(out + 54, v4 + 14 + ihl, l4_len);
	pkt_fix_csums(out, 54 + l4_len);
	return 54 + l4_len;
}

/*
 * ::ffff:0:0/96 never appears on the wire, and such an IPv6 key is the
 * IPv4 flow's key: an RST sent that way must not close the IPv4 flow (nor
 * be taken for a flow without backend). Found by tests/bpf/fuzz.c.
 */
static void pass_v6_with_v4_mapped_addresses(void **state)
{
	uint8_t frame[PKT_MAX], mapped[PKT_MAX];
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec pkt;
	size_t len;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	pkt = sc_client_pkt(&sc, 40000, PKT_SYN);
	sc_forward(&sc, &pkt);
	pkt = sc_client_pkt(&sc, 40000, PKT_RST);
	len = v4_mapped_frame(frame, pkt_build(&pkt, frame), mapped);
	check_passes(sc.fx, mapped, len, GS_CNT_BAD_HEADER, "v4-mapped IPv6 RST passes");
	key = sc_flow_key(&pkt);
	CHECK_EQ(fx_flow_get(sc.fx, &key, &flow), 0, "IPv4 flow entry still there");
	CHECK_EQ(flow.state, GS_FLOW_SYN_SENT, "IPv4 flow not closed by the IPv6 frame");

	pkt = sc_client_pkt(&sc, 40001, PKT_SYN);
	len = v4_mapped_frame(frame, pkt_build(&pkt, frame), mapped);
	check_passes(sc.fx, mapped, len, GS_CNT_BAD_HEADER, "v4-mapped IPv6 SYN passes");
	CHECK_EQ(fx_counter(sc.fx, GS_CNT_NO_BACKEND), 0, "not counted as no backend");
}

static void pass_every_packet_counted(void **state)
{
	uint8_t frame[PKT_MAX], out[PKT_MAX];
	struct scenario sc;
	size_t len = syn_frame(&sc, *state, false, IPPROTO_TCP, frame), out_len;

	fx_run_xdp(sc.fx, frame, len, out, &out_len);
	fx_run_xdp(sc.fx, frame, 20, out, &out_len);
	CHECK_EQ(fx_counter(sc.fx, GS_CNT_PKTS), 2, "GS_CNT_PKTS counts every packet");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(pass_other_port_not_a_service),
		FX_TEST(pass_other_address_not_a_service),
		FX_TEST(pass_udp_to_tcp_service),
		FX_TEST(pass_arp),
		FX_TEST(pass_vlan_8021q_tagged),
		FX_TEST(pass_vlan_8021ad_tagged),
		FX_TEST(pass_v4_fragments),
		FX_TEST(pass_v6_fragment_header),
		FX_TEST(pass_v6_hop_by_hop_extension_header),
		FX_TEST(pass_v4_icmp_to_vip),
		FX_TEST(pass_v4_tcp_truncated_at_several_offsets),
		FX_TEST(pass_v6_udp_truncated_at_several_offsets),
		FX_TEST(pass_tcp_doff_below_5),
		FX_TEST(pass_tcp_doff_beyond_packet),
		FX_TEST(pass_v4_ihl_below_5),
		FX_TEST(pass_v4_total_length_beyond_frame),
		FX_TEST(pass_v4_total_length_below_header),
		FX_TEST(pass_udp_length_beyond_payload),
		FX_TEST(pass_v6_udp_zero_checksum),
		FX_TEST(pass_v4_service_with_v6_backend),
		FX_TEST(pass_v6_with_v4_mapped_addresses),
		FX_TEST(pass_every_packet_counted),
	};

	return cmocka_run_group_tests_name("bpf_passthrough", tests, NULL, NULL);
}
