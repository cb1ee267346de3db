// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The flow table decides: existing flows keep their backend; TCP state. */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <string.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

static struct gs_flow flow_of(const struct scenario *sc, const struct pkt_spec *pkt)
{
	struct gs_flow_key key = sc_flow_key(pkt);
	struct gs_flow flow;

	if (fx_flow_get(sc->fx, &key, &flow))
		fail_msg("flow entry of port %u missing", pkt->sport);
	return flow;
}

/* A client port whose flow the hash sends to want_backend at share 0. */
static uint16_t port_to_stable(const struct scenario *sc, uint32_t want_backend)
{
	uint16_t sport;

	for (sport = 42000; sport < 43000; sport++) {
		struct pkt_spec pkt = sc_client_pkt(sc, sport, PKT_SYN);

		if (sc_predict_backend(sc, &pkt, GS_GROUP_STABLE) == want_backend)
			return sport;
	}
	fail_msg("no port maps to backend %u", want_backend);
	return 0;
}

static void check_keeps_backend_after_split_flip(struct fx *fx, bool v6, uint8_t proto)
{
	struct scenario sc;
	struct pkt_spec first, next, fresh;
	uint32_t id;

	sc_setup(&sc, fx, v6, proto, GS_HASH_FLOW);
	first = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &first);
	CHECK_EQ(fx_backend_get(fx, id).group, GS_GROUP_STABLE, "first packet at 0% is stable");

	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	next = sc_client_pkt(&sc, 40000, PKT_ACK | PKT_PSH);
	CHECK_EQ(sc_forward(&sc, &next), id, "next packet keeps its backend after split 100");
	if (proto == IPPROTO_TCP)
		CHECK_EQ(flow_of(&sc, &first).state, GS_FLOW_ESTABLISHED,
			 "SYN_SENT -> ESTABLISHED");

	fresh = sc_client_pkt(&sc, 40001, PKT_SYN);
	CHECK_EQ(fx_backend_get(fx, sc_forward(&sc, &fresh)).group, GS_GROUP_CANARY,
		 "a new flow does see split 100");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_NEW), 2, "two flows selected");
}

static void flow_v4_tcp_ack_keeps_backend_after_split_flip(void **state)
{
	check_keeps_backend_after_split_flip(*state, false, IPPROTO_TCP);
}

static void flow_v6_tcp_ack_keeps_backend_after_split_flip(void **state)
{
	check_keeps_backend_after_split_flip(*state, true, IPPROTO_TCP);
}

static void flow_v4_udp_keeps_backend_after_split_flip(void **state)
{
	check_keeps_backend_after_split_flip(*state, false, IPPROTO_UDP);
}

static void flow_v6_udp_keeps_backend_after_split_flip(void **state)
{
	check_keeps_backend_after_split_flip(*state, true, IPPROTO_UDP);
}

/* A new table without the flow's backend (backend set change) moves no flow. */
static void check_keeps_backend_after_table_replace(struct fx *fx, bool v6)
{
	const uint32_t new_set[] = {12};
	struct scenario sc;
	struct pkt_spec syn, ack, fresh;
	uint32_t id;

	sc_setup(&sc, fx, v6, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, port_to_stable(&sc, sc.stable[0]), PKT_SYN);
	id = sc_forward(&sc, &syn);
	CHECK_EQ(id, sc.stable[0], "SYN on the first stable backend");

	fx_backend_add(fx, 12, sc.service_id, v6 ? "fd01::3" : "10.1.0.3", 8082, GS_GROUP_STABLE);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, new_set, 1);
	ack = sc_client_pkt(&sc, syn.sport, PKT_ACK);
	CHECK_EQ(sc_forward(&sc, &ack), id, "ACK keeps the backend after the table swap");

	fresh = sc_client_pkt(&sc, 40999, PKT_SYN);
	CHECK_EQ(sc_forward(&sc, &fresh), 12, "a new flow uses the new table");
}

static void flow_v4_ack_keeps_backend_after_table_replace(void **state)
{
	check_keeps_backend_after_table_replace(*state, false);
}

static void flow_v6_ack_keeps_backend_after_table_replace(void **state)
{
	check_keeps_backend_after_table_replace(*state, true);
}

static void flow_retransmitted_syn_keeps_backend_and_created_ns(void **state)
{
	struct fx *fx = *state;
	struct gs_flow before, after;
	struct scenario sc;
	struct pkt_spec syn;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	before = flow_of(&sc, &syn);

	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	CHECK_EQ(sc_forward(&sc, &syn), id, "retransmitted SYN keeps the backend");
	after = flow_of(&sc, &syn);
	CHECK_EQ(after.created_ns, before.created_ns, "retransmitted SYN keeps created_ns");
	CHECK_EQ(after.state, GS_FLOW_SYN_SENT, "still SYN_SENT");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_NEW), 1, "selected once");
	CHECK_EQ(fx_backend_stats(fx, id).new_flows, 1, "one new flow on the backend");
	CHECK_EQ(fx_backend_stats(fx, id).packets, 2, "two packets on the backend");
}

static void flow_syn_on_established_keeps_backend(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &ack);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	CHECK_EQ(sc_forward(&sc, &syn), id, "SYN on an established flow keeps the backend");
	CHECK_EQ(flow_of(&sc, &syn).state, GS_FLOW_ESTABLISHED, "state stays ESTABLISHED");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_RESELECT), 0, "no reselection");
}

/* After the client's FIN (or RST) the 5-tuple's next SYN is a new connection. */
static void check_syn_after_close_reselects(struct fx *fx, uint8_t close_flags)
{
	struct gs_flow closed, reopened;
	struct gs_flow_key key;
	struct scenario sc;
	struct pkt_spec syn, ack, close;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	close = sc_client_pkt(&sc, 40000, close_flags);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &ack);
	CHECK_EQ(sc_forward(&sc, &close), id, "FIN/RST goes to the flow's backend");
	closed = flow_of(&sc, &syn);
	CHECK_EQ(closed.state, GS_FLOW_CLOSING, "FIN/RST from the client -> CLOSING");
	/* Everything the old connection left in the entry, which is
	 * rewritten in place: none of it may reach the new one. */
	key = sc_flow_key(&syn);
	closed.req_ns = 12345;
	closed.flags = GS_FLOW_F_SYN_RETRANSMIT;
	closed.rev_flags = GS_REV_F_SYNACK | GS_REV_F_RESPONSE | GS_REV_F_RST;
	closed.fib_stamp = 1;
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.flows, &key, sizeof(key), &closed,
				      sizeof(closed), BPF_EXIST),
		 0, "flows update");

	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	CHECK_EQ(sc_forward(&sc, &ack), id, "ACK of the closing flow keeps the backend");
	id = sc_forward(&sc, &syn);
	CHECK_EQ(fx_backend_get(fx, id).group, GS_GROUP_CANARY, "SYN after close selects anew");
	reopened = flow_of(&sc, &syn);
	CHECK_EQ(reopened.state, GS_FLOW_SYN_SENT, "reopened flow is SYN_SENT");
	CHECK_EQ(reopened.backend_id, id, "reopened flow names the new backend");
	CHECK_EQ(reopened.req_ns, 0, "no request seen on the reopened flow");
	CHECK_EQ(reopened.flags, 0, "no forward flags on the reopened flow");
	CHECK_EQ(reopened.rev_flags, 0, "nothing seen of the reopened flow's replies");
	CHECK_EQ(reopened.fib_stamp, 0, "the old backend's next hop is gone");
	CHECK_EQ(reopened.group, GS_GROUP_CANARY, "reopened flow records the new group");
	CHECK_TRUE(reopened.created_ns >= closed.created_ns, "reopened flow has a new age");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_RESELECT), 1, "GS_CNT_FLOW_RESELECT");
	CHECK_EQ(fx_backend_stats(fx, id).new_flows, 1, "new flow counted on the new backend");
}

/* A SYN after a FIN that selects the same backend again asks the FIB the
 * same question: the entry keeps the answer (and its age); another
 * backend's would not (check_syn_after_close_reselects). */
static void flow_reselect_to_same_backend_keeps_next_hop(void **state)
{
	struct fx *fx = *state;
	struct gs_flow closed, reopened;
	struct gs_flow_key key;
	struct scenario sc;
	struct pkt_spec syn, fin;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	fin = sc_client_pkt(&sc, 40000, PKT_FIN | PKT_ACK);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &fin);
	key = sc_flow_key(&syn);
	closed = flow_of(&sc, &syn);
	closed.fib_stamp = 7;
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.flows, &key, sizeof(key), &closed,
				      sizeof(closed), BPF_EXIST),
		 0, "flows update");
	CHECK_EQ(sc_forward(&sc, &syn), id, "the same 5-tuple selects the same backend");
	reopened = flow_of(&sc, &syn);
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_RESELECT), 1, "selected again");
	CHECK_EQ(reopened.state, GS_FLOW_SYN_SENT, "reopened");
	CHECK_EQ(reopened.fib_stamp, 7, "the next hop answer stays");
}

static void flow_syn_after_client_fin_reselects(void **state)
{
	check_syn_after_close_reselects(*state, PKT_FIN | PKT_ACK);
}

static void flow_syn_after_client_rst_reselects(void **state)
{
	check_syn_after_close_reselects(*state, PKT_RST);
}

/* A mid-connection packet with no entry (LRU eviction) selects with the
 * same hashes, so it lands where its SYN did. */
static void flow_missing_entry_recovered_on_same_backend(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;
	struct gs_flow_key key;
	uint32_t id;

	sc_setup(&sc, fx, true, IPPROTO_TCP, GS_HASH_FLOW);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX / 2);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK | PKT_PSH);
	id = sc_forward(&sc, &syn);
	sc_forward(&sc, &ack);
	key = sc_flow_key(&syn);
	fx_flow_del(fx, &key);

	CHECK_EQ(sc_forward(&sc, &ack), id, "evicted flow lands on the same backend");
	CHECK_EQ(flow_of(&sc, &ack).state, GS_FLOW_ESTABLISHED, "re-inserted as ESTABLISHED");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_MISSING), 1, "GS_CNT_FLOW_MISSING");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_NEW), 1, "not counted as a new flow");
	CHECK_EQ(fx_backend_stats(fx, id).new_flows, 1, "backend new_flows unchanged");
}

/*
 * One table: the reply path finds a flow only through its entry. An entry
 * the LRU evicted leaves the replies untouched until the client's next
 * packet puts it back (same hash, same backend), and from then on they are
 * SNATed again; the entry put back has nothing left to measure.
 */
static void flow_evicted_replies_follow_the_entry(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fx *fx = *state;
	struct gs_flow_key key;
	struct scenario sc;
	struct pkt_spec syn, ack, reply;
	struct pkt_view view;
	union gs_addr vip;
	size_t len, out_len;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	id = sc_forward(&sc, &syn);
	key = sc_flow_key(&syn);
	fx_flow_del(fx, &key);

	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK);
	len = pkt_build(&reply, in);
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict");
	check_unchanged(in, len, out, out_len, "no entry: the reply goes out untouched");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 0, "not rewritten");

	CHECK_EQ(sc_forward(&sc, &ack), id, "ACK selects the same backend again");
	CHECK_EQ(flow_of(&sc, &syn).rev_flags, GS_REV_F_SYNACK | GS_REV_F_RESPONSE,
		 "picked up mid-stream: handshake and response marked seen");
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict");
	CHECK_TRUE(pkt_parse(out, out_len, &view), "reply parses");
	vip = pkt_addr(sc.vip);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "SNATed once the entry is back");
	CHECK_EQ(fx_counter(fx, GS_CNT_REV_REWRITTEN), 1, "rewritten once");
	CHECK_EQ(fx_backend_stats(fx, id).connects + fx_backend_stats(fx, id).responses, 0,
		 "nothing measured from the middle");
}

/*
 * The agent's --on-fail reset marks an entry GS_FLOW_F_RESET: the reply
 * path still SNATs the replies in flight with it, the forward path treats
 * it as gone (the next packet is picked up anew, here at share 0 on
 * stable) and overwrites it.
 */
static void flow_reset_by_agent_reply_kept_forward_selects_anew(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fx *fx = *state;
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec syn, ack, reply;
	struct pkt_view view;
	union gs_addr vip;
	size_t len, out_len;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	id = sc_forward(&sc, &syn);
	CHECK_EQ(id, sc.canary[0], "on the canary at 100%");
	sc_forward(&sc, &ack);
	fx_split_set(fx, sc.service_id, 0);
	key = sc_flow_key(&syn);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry");
	flow.flags |= GS_FLOW_F_RESET;
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.flows, &key, sizeof(key), &flow, sizeof(flow),
				      BPF_EXIST),
		 0, "mark the entry reset");

	reply = sc_reply_pkt(&sc, id, &syn, PKT_ACK);
	len = pkt_build(&reply, in);
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict");
	CHECK_TRUE(pkt_parse(out, out_len, &view), "reply parses");
	vip = pkt_addr(sc.vip);
	CHECK_EQ(memcmp(&view.src, &vip, sizeof(vip)), 0, "the canary's reply in flight SNATed");

	CHECK_NE(sc_forward(&sc, &ack), id, "the next packet leaves the canary");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_MISSING), 1, "picked up as a missing entry");
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry");
	CHECK_EQ(flow.flags & GS_FLOW_F_RESET, 0, "overwritten: no longer reset");
	CHECK_EQ(flow.group, GS_GROUP_STABLE, "on stable now");
	CHECK_EQ(fx_run_tc(fx, in, len, out, &out_len), TC_ACT_OK, "verdict");
	check_unchanged(in, len, out, out_len, "a canary reply after that is no flow's");
}

/* backend del: out of the table and DRAINING; its flows finish there. */
static void flow_drained_backend_keeps_flow_gets_no_new(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;
	uint16_t sport;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, port_to_stable(&sc, sc.stable[0]), PKT_SYN);
	id = sc_forward(&sc, &syn);
	CHECK_EQ(id, sc.stable[0], "flow on the backend to drain");

	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, &sc.stable[1], 1);
	fx_backend_set_state(fx, sc.stable[0], GS_BACKEND_DRAINING);
	ack = sc_client_pkt(&sc, syn.sport, PKT_ACK | PKT_PSH);
	CHECK_EQ(sc_forward(&sc, &ack), id, "existing flow stays on the draining backend");

	for (sport = 43000; sport < 43032; sport++) {
		struct pkt_spec fresh = sc_client_pkt(&sc, sport, PKT_SYN);

		CHECK_EQ(sc_forward(&sc, &fresh), sc.stable[1],
			 "new flow avoids the drained backend");
	}
	CHECK_EQ(fx_backend_stats(fx, id).new_flows, 1, "drained backend got no new flow");
}

/* A drained backend still named by a stale table takes no new flow either. */
static void flow_draining_backend_in_stale_table_gets_no_new(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, &sc.stable[0], 1);
	fx_backend_set_state(fx, sc.stable[0], GS_BACKEND_DRAINING);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	CHECK_EQ(sc_forward(&sc, &syn), sc.canary[0], "falls back to the other group");
	CHECK_EQ(fx_backend_stats(fx, sc.stable[0]).new_flows, 0, "draining backend untouched");
}

/* A reclaimed (FREE) backend slot no longer holds the flow: select again. */
static void flow_on_freed_backend_reselects(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, port_to_stable(&sc, sc.stable[0]), PKT_SYN);
	id = sc_forward(&sc, &syn);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, &sc.stable[1], 1);
	fx_backend_set_state(fx, id, GS_BACKEND_FREE);

	ack = sc_client_pkt(&sc, syn.sport, PKT_ACK);
	CHECK_EQ(sc_forward(&sc, &ack), sc.stable[1], "flow moved off the freed backend");
	CHECK_EQ(flow_of(&sc, &ack).backend_id, sc.stable[1], "flow entry updated");
	CHECK_EQ(fx_backend_stats(fx, sc.stable[1]).new_flows, 0, "a moved flow is no new flow");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_RESELECT), 1, "GS_CNT_FLOW_RESELECT");
}

/* A slot reclaimed and reused by another service: its old flows move. */
static void flow_on_backend_reused_by_other_service_reselects(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, port_to_stable(&sc, sc.stable[0]), PKT_SYN);
	id = sc_forward(&sc, &syn);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, &sc.stable[1], 1);
	fx_backend_add(fx, id, sc.service_id + 1, "10.9.0.1", 8080, GS_GROUP_STABLE);

	ack = sc_client_pkt(&sc, syn.sport, PKT_ACK);
	CHECK_EQ(sc_forward(&sc, &ack), sc.stable[1], "flow moved off the reused slot");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_RESELECT), 1, "GS_CNT_FLOW_RESELECT");
}

/* A service deleted and added again gets a new id: old flows select anew. */
static void flow_of_readded_service_reselects(void **state)
{
	const uint32_t new_backends[] = {30};
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn, ack;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	sc_forward(&sc, &syn);
	fx_service_add(fx, 8, sc.vip, sc.vport, IPPROTO_TCP, GS_HASH_FLOW);
	fx_backend_add(fx, 30, 8, "10.3.0.1", 8080, GS_GROUP_STABLE);
	fx_table_publish(fx, 8, GS_GROUP_STABLE, new_backends, 1);
	fx_split_set(fx, 8, 0);

	ack = sc_client_pkt(&sc, 40000, PKT_ACK);
	CHECK_EQ(sc_forward(&sc, &ack), 30, "flow goes to the new service's backend");
	CHECK_EQ(flow_of(&sc, &ack).service_id, 8, "flow entry names the new service");
}

/* A share set before any canary exists sends canary flows to stable. */
static void flow_canary_share_without_canary_backend_falls_back(void **state)
{
	struct fx *fx = *state;
	struct scenario sc;
	struct pkt_spec syn;
	uint32_t id;

	sc_setup(&sc, fx, true, IPPROTO_TCP, GS_HASH_FLOW);
	fx_table_publish(fx, sc.service_id, GS_GROUP_CANARY, NULL, 0);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	CHECK_EQ(fx_backend_get(fx, id).group, GS_GROUP_STABLE, "served by stable");
	CHECK_EQ(flow_of(&sc, &syn).group, GS_GROUP_STABLE, "flow records the serving group");
}

static void flow_no_backend_passes_untouched(void **state)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct fx *fx = *state;
	struct gs_flow_key key;
	struct gs_flow flow;
	struct scenario sc;
	struct pkt_spec syn;
	size_t len, out_len;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_table_publish(fx, sc.service_id, GS_GROUP_STABLE, NULL, 0);
	fx_table_publish(fx, sc.service_id, GS_GROUP_CANARY, NULL, 0);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	len = pkt_build(&syn, in);
	CHECK_EQ(fx_run_xdp(fx, in, len, out, &out_len), XDP_PASS, "verdict");
	check_unchanged(in, len, out, out_len, "frame without backend unchanged");
	CHECK_EQ(fx_counter(fx, GS_CNT_NO_BACKEND), 1, "GS_CNT_NO_BACKEND");
	key = sc_flow_key(&syn);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), -ENOENT, "no flow entry");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(flow_v4_tcp_ack_keeps_backend_after_split_flip),
		FX_TEST(flow_v6_tcp_ack_keeps_backend_after_split_flip),
		FX_TEST(flow_v4_udp_keeps_backend_after_split_flip),
		FX_TEST(flow_v6_udp_keeps_backend_after_split_flip),
		FX_TEST(flow_v4_ack_keeps_backend_after_table_replace),
		FX_TEST(flow_v6_ack_keeps_backend_after_table_replace),
		FX_TEST(flow_retransmitted_syn_keeps_backend_and_created_ns),
		FX_TEST(flow_syn_on_established_keeps_backend),
		FX_TEST(flow_syn_after_client_fin_reselects),
		FX_TEST(flow_reselect_to_same_backend_keeps_next_hop),
		FX_TEST(flow_syn_after_client_rst_reselects),
		FX_TEST(flow_missing_entry_recovered_on_same_backend),
		FX_TEST(flow_evicted_replies_follow_the_entry),
		FX_TEST(flow_reset_by_agent_reply_kept_forward_selects_anew),
		FX_TEST(flow_drained_backend_keeps_flow_gets_no_new),
		FX_TEST(flow_draining_backend_in_stale_table_gets_no_new),
		FX_TEST(flow_on_freed_backend_reselects),
		FX_TEST(flow_on_backend_reused_by_other_service_reselects),
		FX_TEST(flow_of_readded_service_reselects),
		FX_TEST(flow_canary_share_without_canary_backend_falls_back),
		FX_TEST(flow_no_backend_passes_untouched),
	};

	return cmocka_run_group_tests_name("bpf_flow", tests, NULL, NULL);
}
