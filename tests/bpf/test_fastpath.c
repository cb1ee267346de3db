// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP fast path's decisions, with real FIB lookups in a namespace of the
 * test's own (tests/bpf/fibnet.h): a DNATed frame whose backend has a known
 * neighbour behind an interface in tx_ports comes out XDP_REDIRECT, with the
 * next hop's MACs, TTL or hop limit one less and every checksum right;
 * every other DNATed frame comes out XDP_PASS exactly as without the fast
 * path, each outcome counted once; a frame that is not DNATed never gets
 * there.
 */
#include "check.h"
#include "fibnet.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#define VIP4	"10.0.0.10"
#define VIP6	"fd00::10"
#define CLIENT4 "192.168.1.7"
#define CLIENT6 "fd0c::7"

static const enum gs_counter fast_counters[] = {
	GS_CNT_FAST_REDIRECT, GS_CNT_FAST_NO_NEIGH, GS_CNT_FAST_NO_TXPORT, GS_CNT_FAST_PARTIAL,
	GS_CNT_FAST_KERNEL,   GS_CNT_FAST_OFF,	    GS_CNT_FAST_CONNTRACK, GS_CNT_FAST_PORT_FAILING,
};

#define N_FAST (sizeof(fast_counters) / sizeof(fast_counters[0]))

struct fp_case {
	const char *backend; /* the service's one backend */
	uint16_t bport;
	uint8_t proto;
	bool udp_no_csum;
	uint8_t ttl;	    /* 0: as built (64) */
	uint8_t ip_opt_len; /* IPv4 options */
	bool partial;	    /* L4 checksum as a local sender leaves it for offload */
};

static int fp_setup(void **state)
{
	struct fibnet *net;
	struct fx *fx;

	if (fx_setup(state))
		return -1;
	fx = *state;
	net = calloc(1, sizeof(*net));
	if (!net)
		return -1;
	fn_setup(net, fx);
	/* The fixture keeps one pointer: the namespace outlives the test
	 * only as long as this process, which is the point. */
	free(net);
	return 0;
}

/* Service 1 at the VIP of the backend's family, with that one backend. */
static void service_one(struct fx *fx, const struct fp_case *c, const char **vip)
{
	union gs_addr a = pkt_addr(c->backend);
	uint32_t id = 1;

	*vip = gs_addr_is_v4(&a) ? VIP4 : VIP6;
	fx_service_add(fx, 1, *vip, 80, c->proto, GS_HASH_FLOW);
	fx_backend_add(fx, id, 1, c->backend, c->bport, GS_GROUP_STABLE);
	fx_table_publish(fx, 1, GS_GROUP_STABLE, &id, 1);
	fx_split_set(fx, 1, 0);
}

/* The folded pseudo-header sum, stored as the L4 checksum: CHECKSUM_PARTIAL. */
static void make_partial(uint8_t *frame, size_t len)
{
	struct pkt_view v;
	uint16_t sum;

	CHECK_TRUE(pkt_parse(frame, len, &v), "frame parses");
	sum = pkt_pseudo_fold(frame, &v);
	frame[v.l4_csum_off] = (uint8_t)(sum >> 8);
	frame[v.l4_csum_off + 1] = (uint8_t)sum;
}

static size_t build(const struct fp_case *c, const char *vip, uint8_t *frame)
{
	static const char payload[] = "GET / HTTP/1.1\r\n\r\n";
	union gs_addr a = pkt_addr(c->backend);
	struct pkt_spec spec = {
		.src = gs_addr_is_v4(&a) ? CLIENT4 : CLIENT6,
		.dst = vip,
		.sport = 40001,
		.dport = 80,
		.proto = c->proto,
		.tcp_flags = PKT_ACK,
		.ip_opt_len = c->ip_opt_len,
		.udp_no_csum = c->udp_no_csum,
		.payload = payload,
		.payload_len = sizeof(payload) - 1,
	};
	size_t len = pkt_build(&spec, frame);

	if (c->ttl) {
		frame[gs_addr_is_v4(&a) ? 14 + 8 : 14 + 7] = c->ttl;
		pkt_fix_csums(frame, len);
	}
	if (c->partial)
		make_partial(frame, len);
	return len;
}

static void check_fast_counters(struct fx *fx, enum gs_counter want, const char *what)
{
	size_t i;

	for (i = 0; i < N_FAST; i++)
		CHECK_EQ(fx_counter(fx, fast_counters[i]), fast_counters[i] == want ? 1 : 0, what);
}

/*
 * Run one frame of case c on fnin; want is the one fast-path counter that
 * must move (0: none, the frame must not be DNATed at all).
 */
static void run_case(struct fx *fx, const struct fp_case *c, enum gs_counter want)
{
	struct fibnet net = {.in_ifindex = if_nametoindex("fnin")};
	uint8_t in[PKT_MAX], out[PKT_MAX], undone[PKT_MAX];
	union gs_addr backend = pkt_addr(c->backend);
	bool v4 = gs_addr_is_v4(&backend);
	size_t ttl_off = v4 ? 14 + 8 : 14 + 7;
	size_t len, out_len = 0;
	struct pkt_view v;
	uint32_t verdict = 0;
	const char *vip;

	service_one(fx, c, &vip);
	len = build(c, vip, in);
	CHECK_EQ(fn_run_xdp(fx, &net, in, len, out, &out_len, &verdict), 0, "BPF_PROG_TEST_RUN");
	CHECK_EQ(out_len, len, "frame length");
	check_fast_counters(fx, want, "fast-path counters");
	CHECK_EQ(fx_counter(fx, GS_CNT_FWD_REWRITTEN), 1, "frame DNATed");
	CHECK_TRUE(pkt_parse(out, out_len, &v), "output parses");
	CHECK_EQ(memcmp(v.dst.b, backend.b, sizeof(backend)), 0, "destination is the backend");
	CHECK_EQ(v.dport, c->bport, "destination port is the backend's");
	if (!c->partial)
		check_csums(out, out_len, "checksums of the output");

	memcpy(undone, out, out_len);
	if (want == GS_CNT_FAST_REDIRECT) {
		CHECK_EQ(verdict, XDP_REDIRECT, "verdict");
		CHECK_EQ(memcmp(out, fn_nh_mac, 6), 0, "destination MAC is the neighbour's");
		CHECK_EQ(memcmp(out + 6, fn_tx_mac, 6), 0, "source MAC is fntx's");
		CHECK_EQ(out[ttl_off], in[ttl_off] - 1, "TTL / hop limit one less");
		/* Undo what forwarding changed; the rest is the DNAT alone. */
		memcpy(undone, in, 12);
		undone[ttl_off] = in[ttl_off];
	} else {
		CHECK_EQ(verdict, XDP_PASS, "verdict");
	}
	check_only_rewritten(in, len, undone, out_len, true, "only the DNAT (and forwarding)");
}

static void redirect_v4_tcp(void **state)
{
	const struct fp_case c = {.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP};

	run_case(*state, &c, GS_CNT_FAST_REDIRECT);
}

static void redirect_v6_udp(void **state)
{
	const struct fp_case c = {.backend = "fd01::1", .bport = 5353, .proto = IPPROTO_UDP};

	run_case(*state, &c, GS_CNT_FAST_REDIRECT);
}

static void redirect_v6_tcp_same_port(void **state)
{
	const struct fp_case c = {.backend = "fd01:1::1", .bport = 80, .proto = IPPROTO_TCP};

	run_case(*state, &c, GS_CNT_FAST_REDIRECT);
}

static void redirect_v4_udp_without_checksum(void **state)
{
	const struct fp_case c = {
		.backend = "10.1.1.1", .bport = 53, .proto = IPPROTO_UDP, .udp_no_csum = true};

	run_case(*state, &c, GS_CNT_FAST_REDIRECT);
}

/* TTL 2 is the last that may be forwarded: it leaves with 1. */
static void redirect_ttl_2(void **state)
{
	const struct fp_case c = {
		.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP, .ttl = 2};

	run_case(*state, &c, GS_CNT_FAST_REDIRECT);
}

static void pass_no_neighbour(void **state)
{
	const struct fp_case c4 = {.backend = "10.1.0.2", .bport = 8080, .proto = IPPROTO_TCP};

	run_case(*state, &c4, GS_CNT_FAST_NO_NEIGH);
}

static void pass_no_neighbour_v6(void **state)
{
	const struct fp_case c6 = {.backend = "fd01::2", .bport = 8080, .proto = IPPROTO_UDP};

	run_case(*state, &c6, GS_CNT_FAST_NO_NEIGH);
}

static void pass_not_in_tx_ports(void **state)
{
	const struct fp_case c = {.backend = "fd02::1", .bport = 9090, .proto = IPPROTO_TCP};

	run_case(*state, &c, GS_CNT_FAST_NO_TXPORT);
}

/* The devmap entry is what decides: fntx without it is like fnoth. */
static void pass_tx_port_removed(void **state)
{
	struct fx *fx = *state;
	uint32_t ifindex = if_nametoindex("fntx");
	const struct fp_case c = {.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP};

	CHECK_EQ(bpf_map__delete_elem(fx->skel->maps.tx_ports, &ifindex, sizeof(ifindex), 0), 0,
		 "tx_ports delete");
	run_case(fx, &c, GS_CNT_FAST_NO_TXPORT);
}

static void pass_unreachable(void **state)
{
	const struct fp_case c = {.backend = "10.3.0.1", .bport = 8080, .proto = IPPROTO_TCP};

	run_case(*state, &c, GS_CNT_FAST_KERNEL);
}

static void pass_ttl_1(void **state)
{
	const struct fp_case c = {
		.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP, .ttl = 1};

	run_case(*state, &c, GS_CNT_FAST_KERNEL);
}

static void pass_hop_limit_1(void **state)
{
	const struct fp_case c = {
		.backend = "fd01::1", .bport = 8080, .proto = IPPROTO_TCP, .ttl = 1};

	run_case(*state, &c, GS_CNT_FAST_KERNEL);
}

static void pass_ip_options(void **state)
{
	const struct fp_case c = {
		.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP, .ip_opt_len = 8};

	run_case(*state, &c, GS_CNT_FAST_KERNEL);
}

static void pass_partial_checksum_v4(void **state)
{
	const struct fp_case c = {
		.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP, .partial = true};

	run_case(*state, &c, GS_CNT_FAST_PARTIAL);
}

static void pass_partial_checksum_v6_udp(void **state)
{
	const struct fp_case c = {
		.backend = "fd01::1", .bport = 5353, .proto = IPPROTO_UDP, .partial = true};

	run_case(*state, &c, GS_CNT_FAST_PARTIAL);
}

static void pass_switched_off(void **state)
{
	const struct fp_case c = {.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP};

	fn_fast_path_set(*state, false);
	run_case(*state, &c, GS_CNT_FAST_OFF);
}

/* A frame to the backend's own address is not for a service: untouched,
 * though the FIB would let it through fntx. */
static void not_dnated_never_redirected(void **state)
{
	struct fx *fx = *state;
	struct fibnet net = {.in_ifindex = if_nametoindex("fnin")};
	const struct fp_case c = {.backend = "10.1.0.1", .bport = 8080, .proto = IPPROTO_TCP};
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len, out_len = 0;
	uint32_t verdict = 0;
	const char *vip;

	service_one(fx, &c, &vip);
	len = build(&c, "10.1.0.1", in);
	CHECK_EQ(fn_run_xdp(fx, &net, in, len, out, &out_len, &verdict), 0, "BPF_PROG_TEST_RUN");
	CHECK_EQ(verdict, XDP_PASS, "verdict");
	check_unchanged(in, len, out, out_len, "frame not for a service");
	check_fast_counters(fx, 0, "no fast-path counter moves");
	CHECK_EQ(fx_counter(fx, GS_CNT_PASS_NO_SERVICE), 1, "counted as not for a service");
}

#define FP_TEST(fn) cmocka_unit_test_setup_teardown(fn, fp_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		FP_TEST(redirect_v4_tcp),
		FP_TEST(redirect_v6_udp),
		FP_TEST(redirect_v6_tcp_same_port),
		FP_TEST(redirect_v4_udp_without_checksum),
		FP_TEST(redirect_ttl_2),
		FP_TEST(pass_no_neighbour),
		FP_TEST(pass_no_neighbour_v6),
		FP_TEST(pass_not_in_tx_ports),
		FP_TEST(pass_tx_port_removed),
		FP_TEST(pass_unreachable),
		FP_TEST(pass_ttl_1),
		FP_TEST(pass_hop_limit_1),
		FP_TEST(pass_ip_options),
		FP_TEST(pass_partial_checksum_v4),
		FP_TEST(pass_partial_checksum_v6_udp),
		FP_TEST(pass_switched_off),
		FP_TEST(not_dnated_never_redirected),
	};

	return cmocka_run_group_tests_name("bpf_fastpath", tests, NULL, NULL);
}
