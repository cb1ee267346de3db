// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reply path: gs_tc_reply puts the VIP back on the backend's answers. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <string.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Run a reply through tc; it must come out TC_ACT_OK. */
static size_t run_reply(struct fx *fx, const struct pkt_spec *reply, uint8_t *in, uint8_t *out)
{
	size_t len = pkt_build(reply, in), out_len;

	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "reply verdict is TC_ACT_OK");
	CHECK_EQ(out_len, len, "reply length unchanged");
	return len;
}

static void check_reply_rewritten(struct fx *fx, bool v6, uint8_t proto, uint16_t ip_opt_len)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct gs_backend_stats bs;
	struct pkt_spec syn, reply;
	struct pkt_view view;
	struct scenario sc;
	union gs_addr vip, client;
	uint32_t id;
	size_t len;

	sc_setup(&sc, fx, v6, proto, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	reply = sc_reply_pkt(&sc, id, &syn, PKT_SYN | PKT_ACK);
	reply.ip_opt_len = (uint8_t)ip_opt_len;
	len = run_reply(fx, &reply, in, out);

	CHECK_TRUE(pkt_parse(out, len, &view), "rewritten reply parses");
	vip = pkt_addr(sc.vip);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "reply source is the VIP");
	CHECK_EQ(view.sport, sc.vport, "reply source port is the VIP port");
	client = pkt_addr(syn.src);
	CHECK_EQ(memcmp(&view.dst, &client, sizeof(client)), 0, "reply destination is the client");
	CHECK_EQ(view.dport, syn.sport, "reply destination port is the client's");
	check_csums(out, len, "reply checksums recomputed from scratch");
	check_only_rewritten(in, len, out, len, false,
			     "reply differs only in src ip, src port, checksums");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 1, "GS_CNT_REV_REWRITTEN");
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.rx_packets, 1, "backend rx_packets");
	CHECK_EQ(bs.rx_bytes, len - 14, "backend rx_bytes (IP length)");
}

static void reply_v4_tcp_rewritten_to_vip(void **state)
{
	check_reply_rewritten(*state, false, IPPROTO_TCP, 0);
}

static void reply_v6_tcp_rewritten_to_vip(void **state)
{
	check_reply_rewritten(*state, true, IPPROTO_TCP, 0);
}

static void reply_v4_udp_rewritten_to_vip(void **state)
{
	check_reply_rewritten(*state, false, IPPROTO_UDP, 0);
}

static void reply_v6_udp_rewritten_to_vip(void **state)
{
	check_reply_rewritten(*state, true, IPPROTO_UDP, 0);
}

static void reply_v4_tcp_with_ip_options_rewritten_to_vip(void **state)
{
	check_reply_rewritten(*state, false, IPPROTO_TCP, 8);
}

static void reply_v4_udp_zero_checksum_stays_zero_both_ways(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fx *fx = *state;
	struct pkt_spec req, reply;
	struct pkt_view view;
	struct scenario sc;
	size_t len;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_UDP, GS_HASH_FLOW);
	req = sc_client_pkt(&sc, 40000, 0);
	req.udp_no_csum = true;
	id = sc_forward(&sc, &req);
	reply = sc_reply_pkt(&sc, id, &req, 0);
	reply.udp_no_csum = true;
	len = run_reply(fx, &reply, in, out);
	CHECK_TRUE(pkt_parse(out, len, &view), "reply parses");
	CHECK_EQ(view.sport, sc.vport, "reply rewritten to the VIP port");
	CHECK_EQ(out[view.l4_csum_off] | out[view.l4_csum_off + 1], 0,
		 "reply UDP checksum still 0");
	check_csums(out, len, "reply IPv4 header checksum");
	check_only_rewritten(in, len, out, len, false, "only src and checksums changed");
}

static void check_reply_untouched(struct fx *fx, const struct pkt_spec *reply)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len;

	len = run_reply(fx, reply, in, out);
	check_unchanged(in, len, out, len, "reply of no flow unchanged");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 0, "nothing counted as rewritten");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_BAD_HEADER), 0, "not counted as bad header");
}

static void reply_without_flow_untouched(void **state)
{
	struct scenario sc;
	struct pkt_spec syn, reply;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	reply = sc_reply_pkt(&sc, sc.stable[0], &syn, PKT_SYN | PKT_ACK);
	check_reply_untouched(sc.fx, &reply);
}

static void reply_from_other_port_untouched(void **state)
{
	struct scenario sc;
	struct pkt_spec syn, reply;
	uint32_t id;

	sc_setup(&sc, *state, true, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK);
	reply.sport = 22;
	check_reply_untouched(sc.fx, &reply);
}

/* A reply from an address:port that is no backend of any service passes
 * untouched, though the client has a flow to the VIP on that port. */
static void reply_from_no_backend_untouched(void **state)
{
	struct gs_backend_addr ba;
	struct scenario sc;
	struct pkt_spec syn, reply;
	uint32_t id;

	sc_setup(&sc, *state, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	reply = sc_reply_pkt(&sc, id, &syn, PKT_SYN | PKT_ACK);
	reply.src = "10.1.0.99";
	CHECK_EQ(fx_backend_addr_get(sc.fx, reply.src, reply.sport, IPPROTO_TCP, &ba), -ENOENT,
		 "10.1.0.99 is no backend");
	check_reply_untouched(sc.fx, &reply);
	CHECK_EQ(fx_backend_stats(sc.fx, id).rx_packets, 0, "nothing counted for the backend");
}

/*
 * A reply from another backend of the same service, to a client port whose
 * flow went elsewhere: backend_addrs names the service, the flow exists,
 * but it is not this backend's; the reply is not SNATed, measured or
 * allowed to close the flow.
 */
static void reply_from_other_backend_of_service_untouched(void **state)
{
	struct fx *fx = *state;
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec syn, ack, reply;
	uint32_t id, other;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &ack);
	other = id == sc.stable[0] ? sc.stable[1] : sc.stable[0];
	reply = sc_reply_pkt(&sc, other, &syn, PKT_RST | PKT_ACK);
	check_reply_untouched(fx, &reply);
	key = sc_flow_key(&syn);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry there");
	CHECK_EQ(flow.backend_id, id, "flow keeps its backend");
	CHECK_EQ(flow.state, GS_FLOW_ESTABLISHED, "the other backend's RST does not close it");
	CHECK_EQ(flow.rev_flags & GS_REV_F_RST, 0, "nor is it recorded");
	CHECK_EQ(fx_backend_stats(fx, other).rx_packets, 0, "nothing counted for the other");
	CHECK_EQ(fx_backend_stats(fx, other).conn_refused + fx_backend_stats(fx, other).resets, 0,
		 "no refusal or reset counted");
	CHECK_EQ(fx_backend_stats(fx, id).rx_packets, 0, "nor for the flow's backend");

	/* The flow's own backend still gets its reply SNATed. */
	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK);
	{
		uint8_t in[PKT_MAX], out[PKT_MAX];
		struct pkt_view view;
		union gs_addr vip = pkt_addr(sc.vip);
		size_t len = run_reply(fx, &reply, in, out);

		CHECK_TRUE(pkt_parse(out, len, &view), "reply parses");
		CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "own backend's reply SNATed");
	}
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 1, "one reply rewritten");
}

/*
 * One backend address:port serving two services: backend_addrs lists both
 * VIP:ports, and each reply goes back as the VIP its client's flow was
 * sent to, found by the client's address and port.
 */
static void check_shared_backend(struct fx *fx, bool v6, uint8_t proto)
{
	const char *shared = v6 ? "fd01::1" : "10.1.0.1";
	const char *vip2 = v6 ? "fd00::20" : "10.0.0.20";
	uint8_t in[PKT_MAX], out[PKT_MAX];
	const uint32_t only[] = {30};
	struct gs_backend_addr ba;
	struct gs_flow_key key;
	struct gs_flow flow;
	struct pkt_view view;
	struct scenario sc, sc2;
	struct pkt_spec req1, req2, reply;
	union gs_addr vip;
	uint16_t port;
	size_t len;
	uint32_t id1;

	sc_setup(&sc, fx, v6, proto, GS_HASH_FLOW);
	/* Service 8 on another VIP and port, whose one backend (id 30) is
	 * backend 10 of service 7: the same address and port. */
	sc2 = sc;
	sc2.service_id = 8;
	sc2.vip = vip2;
	sc2.vport = 8443;
	fx_service_add(fx, 8, vip2, 8443, proto, GS_HASH_FLOW);
	fx_backend_add(fx, 30, 8, shared, 8080, GS_GROUP_STABLE);
	fx_table_publish(fx, 8, GS_GROUP_STABLE, only, 1);
	CHECK_EQ(fx_backend_addr_get(fx, shared, 8080, proto, &ba), 0, "backend_addrs entry");
	CHECK_EQ(ba.count, 2, "the shared backend lists two services");
	CHECK_EQ(ba.svc[0].backend_id, 10, "service 7's entry names its backend id 10");
	CHECK_EQ(ba.svc[1].backend_id, 30, "service 8's entry names its backend id 30");

	/* Client port 40000 to service 8 (backend 30), another port to
	 * service 7 that lands on the shared backend (id 10). backend_addrs
	 * lists service 7 first: the reply to port 40000 finds no flow
	 * there and must go on to service 8. */
	req2 = sc_client_pkt(&sc2, 40000, PKT_SYN);
	sc_forward(&sc2, &req2); /* (it names the backend by address: 10 or 30) */
	key = sc_flow_key(&req2);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "service 8's flow");
	CHECK_EQ(flow.backend_id, 30, "service 8 goes to the shared backend as its id 30");
	for (port = 40001; port < 41000; port++) {
		req1 = sc_client_pkt(&sc, port, PKT_SYN);
		if (sc_predict_backend(&sc, &req1, GS_GROUP_STABLE) == sc.stable[0])
			break;
	}
	sc_forward(&sc, &req1);
	key = sc_flow_key(&req1);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "service 7's flow");
	id1 = flow.backend_id;
	CHECK_EQ(id1, sc.stable[0], "service 7's flow on the shared backend as its id 10");

	reply = sc_reply_pkt(&sc2, 30, &req2, PKT_SYN | PKT_ACK);
	len = run_reply(fx, &reply, in, out);
	CHECK_TRUE(pkt_parse(out, len, &view), "reply to service 8's client parses");
	vip = pkt_addr(vip2);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "source is service 8's VIP");
	CHECK_EQ(view.sport, 8443, "source port is service 8's");
	check_csums(out, len, "checksums");

	reply = sc_reply_pkt(&sc, id1, &req1, PKT_SYN | PKT_ACK);
	len = run_reply(fx, &reply, in, out);
	CHECK_TRUE(pkt_parse(out, len, &view), "reply to service 7's client parses");
	vip = pkt_addr(sc.vip);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "source is service 7's VIP");
	CHECK_EQ(view.sport, sc.vport, "source port is service 7's");
	check_csums(out, len, "checksums");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 2, "both rewritten");
	CHECK_EQ(fx_backend_stats(fx, 30).rx_packets, 1, "service 8's backend id counted");
	CHECK_EQ(fx_backend_stats(fx, id1).rx_packets, 1, "service 7's backend id counted");
}

static void reply_shared_backend_two_services_v4_tcp(void **state)
{
	check_shared_backend(*state, false, IPPROTO_TCP);
}

static void reply_shared_backend_two_services_v6_udp(void **state)
{
	check_shared_backend(*state, true, IPPROTO_UDP);
}

/* A backend's FIN or RST closes the flow: the next SYN selects anew. */
static void check_backend_close(struct fx *fx, uint8_t close_flags)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec syn, ack, reply;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &ack);
	reply = sc_reply_pkt(&sc, id, &syn, close_flags);
	check_csums(out, run_reply(fx, &reply, in, out), "FIN/RST reply checksums");
	key = sc_flow_key(&syn);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry still there");
	CHECK_EQ(flow.state, GS_FLOW_CLOSING, "backend FIN/RST -> CLOSING");

	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	CHECK_EQ(fx_backend_get(fx, sc_forward(&sc, &syn)).group, GS_GROUP_CANARY,
		 "next SYN selects anew");
}

static void reply_backend_fin_closes_flow(void **state)
{
	check_backend_close(*state, PKT_FIN | PKT_ACK);
}

static void reply_backend_rst_closes_flow(void **state)
{
	check_backend_close(*state, PKT_RST | PKT_ACK);
}

static void reply_arp_untouched_not_counted(void **state)
{
	uint8_t frame[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0,
			     2,	   0x08, 0x06, 0,    1,	   0x08, 0, 6, 4, 0, 1};
	uint8_t out[PKT_MAX];
	struct fx *fx = *state;
	size_t out_len;

	CHECK_EQ(fx_run_tc(fx, frame, sizeof(frame), out, &out_len), TC_ACT_OK, "verdict");
	check_unchanged(frame, sizeof(frame), out, out_len, "ARP at egress unchanged");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_BAD_HEADER), 0, "ARP is no bad header");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 0, "not rewritten");
}

/* A backend on the VIP's own port: only the addresses change, both ways. */
static void reply_backend_on_vip_port_only_address_rewritten(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	const uint32_t same_port[] = {12};
	struct fx *fx = *state;
	struct pkt_spec syn, reply;
	struct pkt_view view;
	struct scenario sc;
	union gs_addr vip;
	size_t len;

	sc_setup(&sc, fx, true, IPPROTO_TCP, GS_HASH_FLOW);
	fx_backend_add(fx, 12, sc.service_id, "fd01::3", sc.vport, GS_GROUP_STABLE);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, same_port, 1);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	CHECK_EQ(sc_forward(&sc, &syn), 12, "SYN to the backend on port 80");
	reply = sc_reply_pkt(&sc, 12, &syn, PKT_SYN | PKT_ACK);
	len = run_reply(fx, &reply, in, out);
	CHECK_TRUE(pkt_parse(out, len, &view), "reply parses");
	vip = pkt_addr(sc.vip);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "reply source is the VIP");
	CHECK_EQ(memcmp(out + view.l4_off, in + view.l4_off, 2), 0, "source port unchanged");
	check_csums(out, len, "reply checksums recomputed from scratch");
	check_only_rewritten(in, len, out, len, false, "only src address and checksums changed");
}

static void reply_truncated_untouched_and_counted(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, reply;
	size_t len, out_len;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK);
	len = pkt_build(&reply, in);
	len = 14 + 20 + 10; /* cut inside the TCP header */
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict");
	check_unchanged(in, len, out, out_len, "truncated reply unchanged");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_BAD_HEADER), 1, "GS_CNT_REV_BAD_HEADER");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 0, "not rewritten");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(reply_v4_tcp_rewritten_to_vip),
		FX_TEST(reply_v6_tcp_rewritten_to_vip),
		FX_TEST(reply_v4_udp_rewritten_to_vip),
		FX_TEST(reply_v6_udp_rewritten_to_vip),
		FX_TEST(reply_v4_tcp_with_ip_options_rewritten_to_vip),
		FX_TEST(reply_v4_udp_zero_checksum_stays_zero_both_ways),
		FX_TEST(reply_without_flow_untouched),
		FX_TEST(reply_from_other_port_untouched),
		FX_TEST(reply_from_no_backend_untouched),
		FX_TEST(reply_from_other_backend_of_service_untouched),
		FX_TEST(reply_shared_backend_two_services_v4_tcp),
		FX_TEST(reply_shared_backend_two_services_v6_udp),
		FX_TEST(reply_backend_fin_closes_flow),
		FX_TEST(reply_backend_rst_closes_flow),
		FX_TEST(reply_backend_on_vip_port_only_address_rewritten),
		FX_TEST(reply_truncated_untouched_and_counted),
		FX_TEST(reply_arp_untouched_not_counted),
	};

	return cmocka_run_group_tests_name("bpf_reply", tests, NULL, NULL);
}
