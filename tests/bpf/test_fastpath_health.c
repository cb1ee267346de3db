// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What stops the XDP fast path short of a redirect besides routing
 * (lib/fastpath.h), with real FIB lookups in the test's own namespace
 * (tests/bpf/fibnet.h): the config's conntrack flag, netfilter drops the
 * kernel-side watch counted in tx_health's namespace slot and attach has
 * not acknowledged (config's nf_dropped_ack), and an egress port whose
 * tx_health slot says the device refused redirected frames, whether the
 * next hop came from the FIB or from the flow's cache. The watch programs
 * themselves are tp_btf (no BPF_PROG_TEST_RUN): the tests write tx_health
 * as they would. Where the cache is to answer, the test stamps the flow's
 * cached answer anew just before the frame, so the TTL never runs out in
 * between on a busy machine. Every frame moves exactly one fast-path counter; a frame
 * passed is exactly the DNATed frame, nothing of forwarding done to it.
 */
#include "check.h"
#include "clock.h"
#include "config.h"
#include "fibnet.h"
#include "fixture.h"
#include "names.h"

#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#define CLIENT4	 "192.168.1.7"
#define CLIENT6	 "fd0c::7"
#define BACKEND4 "10.1.0.1"
#define BACKEND6 "fd01::1"

static const enum gs_counter fast_counters[] = {
	GS_CNT_FAST_REDIRECT,  GS_CNT_FAST_NO_NEIGH,	 GS_CNT_FAST_NO_TXPORT,
	GS_CNT_FAST_PARTIAL,   GS_CNT_FAST_KERNEL,	 GS_CNT_FAST_OFF,
	GS_CNT_FAST_CONNTRACK, GS_CNT_FAST_PORT_FAILING, GS_CNT_FAST_CACHED,
};

#define N_FAST (sizeof(fast_counters) / sizeof(fast_counters[0]))

static int health_setup(void **state)
{
	struct fibnet *net;

	if (fx_setup(state))
		return -1;
	net = calloc(1, sizeof(*net));
	if (!net)
		return -1;
	fn_setup(net, *state);
	free(net);
	return 0;
}

/* Service 1 at the VIP of the family, its one backend behind fntx with a
 * known neighbour: without anything in the way, its frames are redirected. */
static const char *service_one(struct fx *fx, bool v6)
{
	const char *vip = v6 ? "fd00::10" : "10.0.0.10";
	uint32_t id = 1;

	fx_service_add(fx, 1, vip, 80, IPPROTO_TCP, GS_HASH_FLOW);
	fx_backend_add(fx, id, 1, v6 ? BACKEND6 : BACKEND4, 8080, GS_GROUP_STABLE);
	fx_table_publish(fx, 1, GS_GROUP_STABLE, &id, 1);
	fx_split_set(fx, 1, 0);
	return vip;
}

/* An ACK with a little payload, always of the same flow. */
static size_t build(bool v6, const char *vip, uint8_t *frame)
{
	static const char payload[] = "GET / HTTP/1.1\r\n\r\n";
	struct pkt_spec spec = {
		.src = v6 ? CLIENT6 : CLIENT4,
		.dst = vip,
		.sport = 40001,
		.dport = 80,
		.proto = IPPROTO_TCP,
		.tcp_flags = PKT_ACK,
		.payload = payload,
		.payload_len = sizeof(payload) - 1,
	};

	return pkt_build(&spec, frame);
}

static void config_set(struct fx *fx, uint32_t flags, uint64_t nf_dropped_ack)
{
	fn_config_set(fx, flags, nf_dropped_ack);
}

static void health_set(struct fx *fx, uint32_t slot, const struct gs_tx_health *h)
{
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.tx_health, &slot, sizeof(slot), h, sizeof(*h),
				      BPF_ANY),
		 0, "tx_health update");
}

/* A port's slot as the watch leaves it after the device refused a batch. */
static void port_refused(struct fx *fx, uint32_t ifindex, uint64_t frames)
{
	struct gs_tx_health h = {
		.refused = frames, .refused_ns = 1, .last_err = -6 /* ENXIO */, .ifindex = ifindex};

	health_set(fx, gs_tx_slot(ifindex), &h);
}

/* What userspace does when it makes the port a target again. */
static void port_cleared(struct fx *fx, uint32_t ifindex)
{
	struct gs_tx_health h = {0};

	health_set(fx, gs_tx_slot(ifindex), &h);
}

static void nf_dropped_set(struct fx *fx, uint64_t dropped)
{
	struct gs_tx_health h = {.nf_dropped = dropped};

	health_set(fx, GS_TX_SLOT_NETNS, &h);
}

static void counters_read(struct fx *fx, uint64_t *c)
{
	size_t i;

	for (i = 0; i < N_FAST; i++)
		c[i] = fx_counter(fx, fast_counters[i]);
}

static struct gs_flow flow_of(struct fx *fx, const uint8_t *frame, size_t len)
{
	struct gs_flow_key key;
	struct gs_flow flow;
	struct pkt_view v;

	CHECK_TRUE(pkt_parse(frame, len, &v), "frame parses");
	key = pkt_flow_key(&v);
	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry");
	return flow;
}

static struct gs_flow_key key_of(const uint8_t *frame, size_t len)
{
	struct pkt_view v;

	CHECK_TRUE(pkt_parse(frame, len, &v), "frame parses");
	return pkt_flow_key(&v);
}

/* bpf_jiffies64(), as the kernel prints it. */
static uint64_t jiffies_now(void)
{
	uint64_t j = gs_kernel_jiffies();

	CHECK_TRUE(j != 0, "jiffies from /proc/timer_list");
	return j;
}

/*
 * Stamp the flow's cached next hop now, its answer unchanged, so that it
 * is surely within the TTL when the next frame runs, however long the
 * test took since (a busy machine, a command run in between). The cache
 * must hold an answer already: this only keeps it young.
 */
static uint64_t keep_fresh(struct fx *fx, const uint8_t *frame, size_t len)
{
	struct gs_flow_key key = key_of(frame, len);
	struct gs_flow flow = flow_of(fx, frame, len);

	CHECK_TRUE(flow.fib_stamp != 0, "the flow's next hop is cached");
	flow.fib_stamp = jiffies_now();
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.flows, &key, sizeof(key), &flow, sizeof(flow),
				      BPF_EXIST),
		 0, "flows update");
	return flow.fib_stamp;
}

/*
 * One frame of the flow from fnin: want is the one fast-path counter that
 * must move (GS_CNT_FAST_CACHED moves along with a redirect when cached).
 * A redirect leaves with the neighbour's MAC from fntx and one hop less; a
 * pass is the DNATed frame alone.
 */
static void expect(struct fx *fx, const uint8_t *in, size_t len, enum gs_counter want, bool cached,
		   const char *what)
{
	struct fibnet net = {.in_ifindex = if_nametoindex("fnin")};
	uint64_t before[N_FAST], after[N_FAST];
	uint8_t out[PKT_MAX], undone[PKT_MAX];
	bool v4 = in[12] == 0x08;
	size_t ttl_off = v4 ? 14 + 8 : 14 + 7;
	size_t out_len = 0, i;
	uint32_t verdict = 0;
	char msg[200];

	if (cached)
		keep_fresh(fx, in, len);
	counters_read(fx, before);
	snprintf(msg, sizeof(msg), "%s: BPF_PROG_TEST_RUN", what);
	CHECK_EQ(fn_run_xdp(fx, &net, in, len, out, &out_len, &verdict), 0, msg);
	snprintf(msg, sizeof(msg), "%s: frame length", what);
	CHECK_EQ(out_len, len, msg);
	counters_read(fx, after);
	for (i = 0; i < N_FAST; i++) {
		bool moves = fast_counters[i] == want ||
			     (fast_counters[i] == GS_CNT_FAST_CACHED && cached);

		snprintf(msg, sizeof(msg), "%s: %s moved", what, gs_counter_name(fast_counters[i]));
		CHECK_EQ(after[i] - before[i], moves ? 1 : 0, msg);
	}
	memcpy(undone, out, out_len);
	if (want == GS_CNT_FAST_REDIRECT) {
		snprintf(msg, sizeof(msg), "%s: verdict XDP_REDIRECT", what);
		CHECK_EQ(verdict, XDP_REDIRECT, msg);
		snprintf(msg, sizeof(msg), "%s: destination MAC is the neighbour's", what);
		CHECK_EQ(memcmp(out, fn_nh_mac, 6), 0, msg);
		snprintf(msg, sizeof(msg), "%s: source MAC is fntx's", what);
		CHECK_EQ(memcmp(out + 6, fn_tx_mac, 6), 0, msg);
		snprintf(msg, sizeof(msg), "%s: TTL / hop limit one less", what);
		CHECK_EQ(out[ttl_off], in[ttl_off] - 1, msg);
		memcpy(undone, in, 12);
		undone[ttl_off] = in[ttl_off];
	} else {
		snprintf(msg, sizeof(msg), "%s: verdict XDP_PASS", what);
		CHECK_EQ(verdict, XDP_PASS, msg);
	}
	snprintf(msg, sizeof(msg), "%s: only the DNAT (and forwarding)", what);
	check_only_rewritten(in, len, undone, out_len, true, msg);
	snprintf(msg, sizeof(msg), "%s: checksums", what);
	check_csums(out, out_len, msg);
}

/* ---- a failing egress port ---- */

/* A port whose device refused frames: its frames go up the stack until
 * the slot is zeroed again, new flows and kept ones alike. */
static void port_failing_passes(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint32_t tx = if_nametoindex("fntx");
	uint8_t in[PKT_MAX];
	size_t len = build(v6, vip, in);

	port_refused(fx, tx, 1);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "selecting frame, fntx refused 1");
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "kept frame, fntx refused 1");
	CHECK_EQ(flow_of(fx, in, len).fib_stamp, 0, "a passed frame caches nothing");
	port_cleared(fx, tx);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "fntx's slot zeroed");
	port_refused(fx, tx, 1000);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "fntx refused 1000");
	port_cleared(fx, tx);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "zeroed again, the cache answers");
}

static void port_failing_v4(void **state)
{
	port_failing_passes(state, false);
}

static void port_failing_v6(void **state)
{
	port_failing_passes(state, true);
}

/*
 * The next hop from the flow's cache names the port as well: a failing
 * port stops it too. The neighbour is deleted once the cache holds the
 * answer, so a frame the FIB answered would count no_neigh: what stops
 * it must be the check of the cached answer.
 */
static void port_failing_cached(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint32_t tx = if_nametoindex("fntx");
	uint8_t in[PKT_MAX];
	size_t len = build(v6, vip, in);
	uint64_t stamp;
	char cmd[120];

	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "selecting frame");
	CHECK_TRUE(flow_of(fx, in, len).fib_stamp != 0, "next hop cached");
	snprintf(cmd, sizeof(cmd), "ip %s neigh del %s dev fntx", v6 ? "-6" : "-4",
		 v6 ? BACKEND6 : BACKEND4);
	CHECK_EQ(system(cmd), 0, "ip neigh del");
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "neighbour gone: the cache answers");

	port_refused(fx, tx, 1);
	stamp = keep_fresh(fx, in, len);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "cached flow, fntx refused 1");
	CHECK_EQ(flow_of(fx, in, len).fib_stamp, stamp, "the cache left alone");
	stamp = keep_fresh(fx, in, len);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "cached flow, again");
	CHECK_EQ(flow_of(fx, in, len).fib_stamp, stamp, "the cache left alone again");
	port_cleared(fx, tx);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "fntx's slot zeroed: cached redirect");
}

static void port_failing_cached_v4(void **state)
{
	port_failing_cached(state, false);
}

static void port_failing_cached_v6(void **state)
{
	port_failing_cached(state, true);
}

/*
 * Only the egress port's own slot counts: refusals in every other slot
 * (fnoth's, the namespace slot, all the rest), netfilter drops counted in
 * the port's slot, and a full ring's one-by-one drops (dropped, not
 * refused) leave the redirect alone.
 */
static void other_slot_failing(void **state)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, false);
	uint32_t tx = if_nametoindex("fntx");
	uint32_t oth = if_nametoindex("fnoth");
	struct gs_tx_health h = {0};
	uint8_t in[PKT_MAX];
	size_t len = build(false, vip, in);
	uint32_t slot;

	CHECK_NE(gs_tx_slot(oth), gs_tx_slot(tx), "fnoth and fntx in slots of their own");
	port_refused(fx, oth, 5);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "fnoth refused 5");
	h.refused = 7;
	for (slot = 0; slot < GS_TX_SLOTS; slot++)
		if (slot != gs_tx_slot(tx))
			health_set(fx, slot, &h);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "every other slot refused 7");
	h = (struct gs_tx_health){.dropped = 9, .nf_dropped = 4, .ifindex = tx};
	health_set(fx, gs_tx_slot(tx), &h);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "fntx dropped 9, its nf_dropped 4");
	port_refused(fx, tx, 1);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false, "then fntx refused 1");
}

/* ---- conntrack in the namespace ---- */

/* The flag attach and the agent set while the ruleset tracks connections. */
static void conntrack_flag(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint8_t in[PKT_MAX];
	size_t len = build(v6, vip, in);

	config_set(fx, GS_CFG_CONNTRACK, 0);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "selecting frame, conntrack");
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "kept frame, conntrack");
	config_set(fx, 0, 0);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "conntrack cleared");
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "conntrack cleared, cached");
	/* A cached flow is stopped as well. */
	config_set(fx, GS_CFG_CONNTRACK | GS_CFG_NO_EVENTS, 0);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "cached flow, conntrack (and no events)");
	config_set(fx, GS_CFG_NO_EVENTS, 0);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "conntrack cleared again, cached");
}

static void conntrack_flag_v4(void **state)
{
	conntrack_flag(state, false);
}

static void conntrack_flag_v6(void **state)
{
	conntrack_flag(state, true);
}

/*
 * Netfilter dropped replies of our flows since attach last looked (the
 * watch counts them in the namespace slot): the fast path stays off until
 * the config acknowledges that count, and goes off again at the next drop.
 */
static void nf_dropped_unacknowledged(void **state)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, false);
	uint8_t in[PKT_MAX];
	size_t len = build(false, vip, in);

	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "nothing dropped");
	nf_dropped_set(fx, 3);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "3 dropped, ack 0");
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "3 dropped, ack 0, again");
	config_set(fx, 0, 3);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "3 dropped, ack 3");
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "3 dropped, ack 3, cached");
	nf_dropped_set(fx, 4);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "4 dropped, ack 3 (cached flow)");
	config_set(fx, 0, 4);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, true, "4 dropped, ack 4");
}

/* ---- the operator's switch wins ---- */

static void switched_off_wins(void **state)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, false);
	uint32_t tx = if_nametoindex("fntx");
	uint8_t in[PKT_MAX];
	size_t len = build(false, vip, in);

	config_set(fx, GS_CFG_NO_FAST_PATH | GS_CFG_CONNTRACK, 0);
	expect(fx, in, len, GS_CNT_FAST_OFF, false, "off, conntrack flag");
	nf_dropped_set(fx, 3);
	config_set(fx, GS_CFG_NO_FAST_PATH, 0);
	expect(fx, in, len, GS_CNT_FAST_OFF, false, "off, 3 netfilter drops unacknowledged");
	port_refused(fx, tx, 1);
	config_set(fx, GS_CFG_NO_FAST_PATH | GS_CFG_CONNTRACK, 0);
	expect(fx, in, len, GS_CNT_FAST_OFF, false, "off, conntrack, drops and fntx refused");
	/* Switched on: conntrack comes before the port. */
	config_set(fx, GS_CFG_CONNTRACK, 3);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "on, conntrack, fntx refused");
	config_set(fx, 0, 0);
	expect(fx, in, len, GS_CNT_FAST_CONNTRACK, false, "on, drops unacknowledged, fntx refused");
	config_set(fx, 0, 3);
	expect(fx, in, len, GS_CNT_FAST_PORT_FAILING, false,
	       "on, drops acknowledged, fntx refused");
	port_cleared(fx, tx);
	expect(fx, in, len, GS_CNT_FAST_REDIRECT, false, "all clear");
}

#define HEALTH_TEST(fn) cmocka_unit_test_setup_teardown(fn, health_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		HEALTH_TEST(port_failing_v4),	     HEALTH_TEST(port_failing_v6),
		HEALTH_TEST(port_failing_cached_v4), HEALTH_TEST(port_failing_cached_v6),
		HEALTH_TEST(other_slot_failing),     HEALTH_TEST(conntrack_flag_v4),
		HEALTH_TEST(conntrack_flag_v6),	     HEALTH_TEST(nf_dropped_unacknowledged),
		HEALTH_TEST(switched_off_wins),
	};

	return cmocka_run_group_tests_name("bpf_fastpath_health", tests, NULL, NULL);
}
