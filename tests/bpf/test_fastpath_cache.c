// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fast path's next hop cache (lib/fastpath.h, struct gs_flow's fib_*),
 * with real FIB lookups in the test's own namespace (tests/bpf/fibnet.h):
 * the frame that selects the flow's backend asks the FIB and its answer goes
 * into the flow entry with it, the next frames take it from there
 * (GS_CNT_FAST_CACHED) with
 * the MACs the FIB gave, until it is older than the TTL or a frame asks
 * another question (longer, other DSCP or flow label, other ingress
 * interface). Every per-frame check still applies to a cached flow.
 */
#include "check.h"
#include "clock.h"
#include "config.h"
#include "fibnet.h"
#include "fixture.h"

#include <arpa/inet.h>
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

/* A MAC the neighbour moves to, unlike any fibnet gives. */
static const uint8_t moved_mac[6] = {0x02, 0x4d, 0x4f, 0x56, 0x45, 0x44};

static int cache_setup(void **state)
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

/* Service 1 at the VIP of the family, its one backend the FIB knows
 * behind fntx with a neighbour. */
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

/* An ACK with payload_len bytes of payload, of one and the same flow. */
static size_t build(bool v6, const char *vip, size_t payload_len, uint8_t *frame)
{
	static char payload[1600];
	struct pkt_spec spec = {
		.src = v6 ? CLIENT6 : CLIENT4,
		.dst = vip,
		.sport = 40001,
		.dport = 80,
		.proto = IPPROTO_TCP,
		.tcp_flags = PKT_ACK,
		.payload = payload,
		.payload_len = payload_len,
	};

	memset(payload, 'x', sizeof(payload));
	return pkt_build(&spec, frame);
}

/* The frame's DSCP and ECN bits (IPv4 TOS, IPv6 traffic class). */
static uint8_t tclass_of(const uint8_t *frame, bool v6)
{
	return v6 ? (uint8_t)((frame[14] & 0x0f) << 4 | frame[15] >> 4) : frame[15];
}

static void set_tclass(uint8_t *frame, size_t len, bool v6, uint8_t tclass)
{
	if (v6) {
		frame[14] = (uint8_t)((frame[14] & 0xf0) | tclass >> 4);
		frame[15] = (uint8_t)((frame[15] & 0x0f) | (tclass & 0x0f) << 4);
	} else {
		frame[15] = tclass;
	}
	pkt_fix_csums(frame, len);
}

/* What the cache keeps of the frame's question: fib_tos. */
static uint32_t tos_of(const uint8_t *frame, bool v6)
{
	uint32_t word;

	if (!v6)
		return frame[15] & 0xfcu;
	memcpy(&word, frame + 14, 4);
	return word & htonl(0x0fcfffff);
}

static struct gs_flow_key key_of(const uint8_t *frame, size_t len)
{
	struct pkt_view v;

	CHECK_TRUE(pkt_parse(frame, len, &v), "frame parses");
	return pkt_flow_key(&v);
}

static struct gs_flow flow_of(struct fx *fx, const uint8_t *frame, size_t len)
{
	struct gs_flow_key key = key_of(frame, len);
	struct gs_flow flow;

	CHECK_EQ(fx_flow_get(fx, &key, &flow), 0, "flow entry");
	return flow;
}

/* Run frame in on iif; the verdict, the output in out. */
static uint32_t run(struct fx *fx, uint32_t iif, const uint8_t *in, size_t len, uint8_t *out)
{
	struct fibnet net = {.in_ifindex = iif};
	size_t out_len = 0;
	uint32_t verdict = 0;

	CHECK_EQ(fn_run_xdp(fx, &net, in, len, out, &out_len, &verdict), 0, "BPF_PROG_TEST_RUN");
	CHECK_EQ(out_len, len, "frame length");
	return verdict;
}

struct tally {
	uint64_t redirect, cached;
};

static struct tally tally(struct fx *fx)
{
	return (struct tally){fx_counter(fx, GS_CNT_FAST_REDIRECT),
			      fx_counter(fx, GS_CNT_FAST_CACHED)};
}

/* One frame from fnin: redirected, with the cache answering or not, to
 * dmac from fntx. */
static void expect_redirect(struct fx *fx, const uint8_t *in, size_t len, bool cached,
			    const uint8_t *dmac, const char *what)
{
	uint8_t out[PKT_MAX];
	struct tally t0 = tally(fx), t1;
	bool v4 = in[12] == 0x08;
	size_t ttl_off = v4 ? 14 + 8 : 14 + 7;
	char msg[160];

	snprintf(msg, sizeof(msg), "%s: verdict", what);
	CHECK_EQ(run(fx, if_nametoindex("fnin"), in, len, out), XDP_REDIRECT, msg);
	t1 = tally(fx);
	snprintf(msg, sizeof(msg), "%s: fast_redirect", what);
	CHECK_EQ(t1.redirect - t0.redirect, 1, msg);
	snprintf(msg, sizeof(msg), "%s: fast_cached", what);
	CHECK_EQ(t1.cached - t0.cached, cached ? 1 : 0, msg);
	snprintf(msg, sizeof(msg), "%s: destination MAC", what);
	CHECK_EQ(memcmp(out, dmac, 6), 0, msg);
	snprintf(msg, sizeof(msg), "%s: source MAC is fntx's", what);
	CHECK_EQ(memcmp(out + 6, fn_tx_mac, 6), 0, msg);
	snprintf(msg, sizeof(msg), "%s: TTL / hop limit one less", what);
	CHECK_EQ(out[ttl_off], in[ttl_off] - 1, msg);
	snprintf(msg, sizeof(msg), "%s: checksums", what);
	check_csums(out, len, msg);
}

/* The cache as the FIB's answer for a frame of l3_len from fnin left it. */
static void check_entry(const struct gs_flow *flow, const uint8_t *dmac, uint16_t l3_len,
			uint32_t tos)
{
	CHECK_TRUE(flow->fib_stamp != 0, "cache stamped");
	CHECK_EQ(flow->fib_oif, if_nametoindex("fntx"), "cached egress interface is fntx");
	CHECK_EQ(flow->fib_iif, if_nametoindex("fnin"), "cached for ingress fnin");
	CHECK_EQ(memcmp(flow->fib_dmac, dmac, 6), 0, "cached destination MAC is the neighbour's");
	CHECK_EQ(memcmp(flow->fib_smac, fn_tx_mac, 6), 0, "cached source MAC is fntx's");
	CHECK_EQ(flow->fib_len, l3_len, "cached for the frame's IP length");
	CHECK_EQ(flow->fib_tos, tos, "cached for the frame's TOS / flow info");
}

/* The IP length of a frame without VLAN tag. */
static uint16_t l3_len(size_t len)
{
	return (uint16_t)(len - 14);
}

static void neigh_set(bool v6, const uint8_t *mac)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd),
		 "ip %s neigh replace %s lladdr %02x:%02x:%02x:%02x:%02x:%02x dev fntx nud "
		 "permanent",
		 v6 ? "-6" : "-4", v6 ? BACKEND6 : BACKEND4, mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	CHECK_EQ(system(cmd), 0, "ip neigh replace");
}

/* bpf_jiffies64(), as the kernel prints it. */
static uint64_t jiffies_now(void)
{
	uint64_t j = gs_kernel_jiffies();

	CHECK_TRUE(j != 0, "jiffies from /proc/timer_list");
	return j;
}

/* Make the flow's cached answer as old as the fast path stops taking it. */
static void expire(struct fx *fx, const uint8_t *frame, size_t len)
{
	struct gs_flow_key key = key_of(frame, len);
	struct gs_flow flow = flow_of(fx, frame, len);

	flow.fib_stamp = jiffies_now() - gs_fib_ttl_ticks();
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.flows, &key, sizeof(key), &flow, sizeof(flow),
				      BPF_EXIST),
		 0, "flows update");
}

/* The frame that selects asks the FIB and its entry carries the answer:
 * the frames after it are answered by the cache. */
static void kept_frames_are_cached(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint8_t in[PKT_MAX];
	struct gs_flow flow;
	size_t len = build(v6, vip, 100, in);
	uint64_t j0, j1;

	j0 = jiffies_now();
	expect_redirect(fx, in, len, false, fn_nh_mac, "selecting frame");
	j1 = jiffies_now();
	flow = flow_of(fx, in, len);
	check_entry(&flow, fn_nh_mac, l3_len(len), tos_of(in, v6));
	/* The stamp is the kernel's jiffies, as user space reads them too. */
	CHECK_TRUE(flow.fib_stamp >= j0 && flow.fib_stamp <= j1, "stamped with the jiffies");
	expect_redirect(fx, in, len, true, fn_nh_mac, "first kept frame");
	expect_redirect(fx, in, len, true, fn_nh_mac, "second kept frame");
	CHECK_EQ(flow_of(fx, in, len).fib_stamp, flow.fib_stamp,
		 "a cached answer leaves the entry alone");
}

static void cached_v4(void **state)
{
	kept_frames_are_cached(state, false);
}

static void cached_v6(void **state)
{
	kept_frames_are_cached(state, true);
}

/*
 * Within the TTL the cache answers with the MAC the FIB gave, even after
 * the neighbour moved (the staleness the TTL bounds); once the answer is
 * as old as the TTL allows, the FIB is asked again and its new MAC is used
 * and cached.
 */
static void expired_asks_again(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint8_t in[PKT_MAX];
	struct gs_flow flow;
	size_t len = build(v6, vip, 100, in);
	uint64_t stamp;

	expect_redirect(fx, in, len, false, fn_nh_mac, "selecting frame");
	neigh_set(v6, moved_mac);
	expect_redirect(fx, in, len, true, fn_nh_mac, "cached, neighbour moved within the TTL");
	expire(fx, in, len);
	stamp = flow_of(fx, in, len).fib_stamp;
	expect_redirect(fx, in, len, false, moved_mac, "expired: the FIB asked again");
	flow = flow_of(fx, in, len);
	CHECK_TRUE(flow.fib_stamp > stamp, "stamped anew");
	check_entry(&flow, moved_mac, l3_len(len), tos_of(in, v6));
	expect_redirect(fx, in, len, true, moved_mac, "the new answer cached");
}

static void expired_v4(void **state)
{
	expired_asks_again(state, false);
}

static void expired_v6(void **state)
{
	expired_asks_again(state, true);
}

/*
 * The cache knows the MTU only as far as the lookup checked it: a longer
 * frame asks the FIB (and caches its own length), a shorter one does not;
 * one longer than the MTU goes to the kernel whatever is cached.
 */
static void longer_frame_asks(void **state)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, false);
	uint8_t small[PKT_MAX], big[PKT_MAX], huge[PKT_MAX], out[PKT_MAX];
	size_t small_len = build(false, vip, 100, small);
	size_t big_len = build(false, vip, 1000, big);
	size_t huge_len = build(false, vip, 1500, huge);
	struct gs_flow flow;
	uint64_t kernel;

	expect_redirect(fx, small, small_len, false, fn_nh_mac, "selecting frame");
	expect_redirect(fx, big, big_len, false, fn_nh_mac, "longer frame");
	flow = flow_of(fx, big, big_len);
	check_entry(&flow, fn_nh_mac, l3_len(big_len), tos_of(big, false));
	expect_redirect(fx, big, big_len, true, fn_nh_mac, "as long");
	expect_redirect(fx, small, small_len, true, fn_nh_mac, "shorter");
	kernel = fx_counter(fx, GS_CNT_FAST_KERNEL);
	CHECK_EQ(run(fx, if_nametoindex("fnin"), huge, huge_len, out), XDP_PASS,
		 "over the MTU: passed");
	CHECK_EQ(fx_counter(fx, GS_CNT_FAST_KERNEL) - kernel, 1, "over the MTU: fast_kernel");
	check_only_rewritten(huge, huge_len, out, huge_len, true, "over the MTU: DNAT only");
}

/*
 * DSCP (and the IPv6 flow label) may choose another route: a frame with
 * other ones asks the FIB. ECN bits choose nothing: a CE-marked frame is
 * answered by the cache.
 */
static void other_question_asks(void **state, bool v6)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, v6);
	uint8_t in[PKT_MAX], ecn[PKT_MAX], dscp[PKT_MAX], out[PKT_MAX];
	size_t len = build(v6, vip, 100, in);
	uint32_t oth = if_nametoindex("fnoth");
	struct gs_flow flow;
	struct tally t0;

	memcpy(ecn, in, len);
	set_tclass(ecn, len, v6, tclass_of(in, v6) | 0x03);
	memcpy(dscp, in, len);
	set_tclass(dscp, len, v6, 0xb8 | 0x01); /* EF, ECT(1) */
	expect_redirect(fx, in, len, false, fn_nh_mac, "selecting frame");
	expect_redirect(fx, ecn, len, true, fn_nh_mac, "ECN CE only");
	expect_redirect(fx, dscp, len, false, fn_nh_mac, "other DSCP");
	flow = flow_of(fx, in, len);
	CHECK_TRUE(tos_of(dscp, v6) != tos_of(in, v6), "the DSCP differs");
	check_entry(&flow, fn_nh_mac, l3_len(len), tos_of(dscp, v6));
	expect_redirect(fx, dscp, len, true, fn_nh_mac, "that DSCP again");
	/* From another interface: the FIB is asked (routing may depend on
	 * it); the answer is still fntx, which that lookup caches. */
	t0 = tally(fx);
	CHECK_EQ(run(fx, oth, dscp, len, out), XDP_REDIRECT, "from fnoth: redirected");
	CHECK_EQ(tally(fx).cached, t0.cached, "from fnoth: not from the cache");
	CHECK_EQ(flow_of(fx, in, len).fib_iif, oth, "cached for fnoth now");
}

static void other_question_v4(void **state)
{
	other_question_asks(state, false);
}

static void other_question_v6(void **state)
{
	other_question_asks(state, true);
}

/* A cached flow still meets every per-frame check: TTL, the switch, the
 * egress port in tx_ports. */
static void per_frame_checks_stay(void **state)
{
	struct fx *fx = *state;
	const char *vip = service_one(fx, false);
	uint8_t in[PKT_MAX], ttl1[PKT_MAX], out[PKT_MAX];
	size_t len = build(false, vip, 100, in);
	uint32_t tx = if_nametoindex("fntx");
	uint32_t fnin = if_nametoindex("fnin");
	uint64_t before;

	memcpy(ttl1, in, len);
	ttl1[14 + 8] = 1;
	pkt_fix_csums(ttl1, len);
	expect_redirect(fx, in, len, false, fn_nh_mac, "selecting frame");

	before = fx_counter(fx, GS_CNT_FAST_KERNEL);
	CHECK_EQ(run(fx, fnin, ttl1, len, out), XDP_PASS, "TTL 1: passed");
	CHECK_EQ(fx_counter(fx, GS_CNT_FAST_KERNEL) - before, 1, "TTL 1: fast_kernel");

	fn_fast_path_set(fx, false);
	before = fx_counter(fx, GS_CNT_FAST_OFF);
	CHECK_EQ(run(fx, fnin, in, len, out), XDP_PASS, "switched off: passed");
	CHECK_EQ(fx_counter(fx, GS_CNT_FAST_OFF) - before, 1, "switched off: fast_off");
	fn_fast_path_set(fx, true);

	CHECK_EQ(bpf_map__delete_elem(fx->skel->maps.tx_ports, &tx, sizeof(tx), 0), 0,
		 "tx_ports delete");
	before = fx_counter(fx, GS_CNT_FAST_NO_TXPORT);
	CHECK_EQ(run(fx, fnin, in, len, out), XDP_PASS, "fntx out of tx_ports: passed");
	CHECK_EQ(fx_counter(fx, GS_CNT_FAST_NO_TXPORT) - before, 1,
		 "fntx out of tx_ports: fast_no_txport");
	check_only_rewritten(in, len, out, len, true, "fntx out of tx_ports: DNAT only");
	CHECK_EQ(fx_counter(fx, GS_CNT_FAST_CACHED), 0, "nothing answered from the cache");
	/* The cache outlived all that. */
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.tx_ports, &tx, sizeof(tx), &tx, sizeof(tx),
				      BPF_ANY),
		 0, "tx_ports add");
	expect_redirect(fx, in, len, true, fn_nh_mac, "fntx back");
}

#define CACHE_TEST(fn) cmocka_unit_test_setup_teardown(fn, cache_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		CACHE_TEST(cached_v4),	       CACHE_TEST(cached_v6),
		CACHE_TEST(expired_v4),	       CACHE_TEST(expired_v6),
		CACHE_TEST(longer_frame_asks), CACHE_TEST(other_question_v4),
		CACHE_TEST(other_question_v6), CACHE_TEST(per_frame_checks_stay),
	};

	return cmocka_run_group_tests_name("bpf_fastpath_cache", tests, NULL, NULL);
}
