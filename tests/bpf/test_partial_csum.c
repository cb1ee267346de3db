// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The forward DNAT on frames whose L4 checksum is partial: a local sender
 * with checksum offload (a veth's default) leaves only the folded
 * pseudo-header sum in the field, and the kernel or the NIC finishes it over
 * the segment after XDP. The DNAT must then leave the new pseudo-header's
 * sum (what the offload finishes into a right checksum); a full
 * checksum must keep being updated as one, also when its value happens to
 * be the pseudo-header sum (the ambiguous case, told apart by summing the
 * whole segment in the program). Segment lengths cover the program's
 * 512-byte blocks, each smaller block and a 1 to 3 byte tail.
 */
#include "check.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <string.h>

#define VIP4	 "10.0.0.10"
#define VIP6	 "fd00::10"
#define CLIENT4	 "192.168.1.7"
#define CLIENT6	 "fd0c::7"
#define BACKEND4 "10.1.0.1"
#define BACKEND6 "fd01::1"
#define BPORT	 8080

/* Payload lengths: empty, tails of 1 to 3, and across the block sizes. */
static const size_t payload_lens[] = {0, 1, 2, 3, 4, 7, 255, 511, 512, 513, 1026, 1443, 1900};

#define N_LENS (sizeof(payload_lens) / sizeof(payload_lens[0]))

static void put16(uint8_t *p, uint16_t x)
{
	p[0] = (uint8_t)(x >> 8);
	p[1] = (uint8_t)x;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void service(struct fx *fx, bool v6, uint8_t proto)
{
	uint32_t id = 1;

	fx_service_add(fx, 1, v6 ? VIP6 : VIP4, 80, proto, GS_HASH_FLOW);
	fx_backend_add(fx, id, 1, v6 ? BACKEND6 : BACKEND4, BPORT, GS_GROUP_STABLE);
	fx_table_publish(fx, 1, GS_GROUP_STABLE, &id, 1);
	fx_split_set(fx, 1, 0);
}

static size_t build(bool v6, uint8_t proto, size_t payload_len, uint16_t sport, uint8_t *frame)
{
	static uint8_t payload[PKT_MAX];
	struct pkt_spec spec = {
		.src = v6 ? CLIENT6 : CLIENT4,
		.dst = v6 ? VIP6 : VIP4,
		.sport = sport,
		.dport = 80,
		.proto = proto,
		.tcp_flags = PKT_ACK,
		.payload = payload,
		.payload_len = payload_len,
	};
	size_t i;

	for (i = 0; i < payload_len; i++)
		payload[i] = (uint8_t)(i * 131 + sport);
	return pkt_build(&spec, frame);
}

/* DNAT one frame; the output must be the same frame to the backend. */
static void dnat(struct fx *fx, const uint8_t *in, size_t len, uint8_t *out, struct pkt_view *v)
{
	size_t out_len = 0;

	CHECK_EQ(fx_run_xdp(fx, in, len, out, &out_len), XDP_PASS, "verdict");
	CHECK_EQ(out_len, len, "frame length");
	check_only_rewritten(in, len, out, out_len, true, "only the DNAT");
	CHECK_TRUE(pkt_parse(out, out_len, v), "output parses");
	CHECK_EQ(v->dport, BPORT, "destination port is the backend's");
}

static void partial_case(struct fx *fx, bool v6, uint8_t proto)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct pkt_view v;
	size_t i, len;

	service(fx, v6, proto);
	for (i = 0; i < N_LENS; i++) {
		len = build(v6, proto, payload_lens[i], (uint16_t)(40000 + i), in);
		CHECK_TRUE(pkt_parse(in, len, &v), "input parses");
		put16(in + v.l4_csum_off, pkt_pseudo_fold(in, &v));
		CHECK_TRUE(pkt_csum_error(in, len) != NULL, "a partial checksum does not verify");

		dnat(fx, in, len, out, &v);
		if (get16(out + v.l4_csum_off) != pkt_pseudo_fold(out, &v))
			fail_msg("payload %zu: partial checksum 0x%04x out, want the new "
				 "pseudo-header's 0x%04x",
				 payload_lens[i], get16(out + v.l4_csum_off),
				 pkt_pseudo_fold(out, &v));
	}
	CHECK_EQ(fx_counter(fx, GS_CNT_FWD_REWRITTEN), N_LENS, "every frame DNATed");
}

/*
 * A full checksum whose value is the pseudo-header sum: two payload bytes
 * are chosen to make it so. It must be updated as the full checksum it is.
 */
static void full_case(struct fx *fx, bool v6, uint8_t proto)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct pkt_view v;
	uint16_t want;
	size_t i, len;

	service(fx, v6, proto);
	for (i = 0; i < N_LENS; i++) {
		if (payload_lens[i] < 2)
			continue;
		len = build(v6, proto, payload_lens[i], (uint16_t)(41000 + i), in);
		CHECK_TRUE(pkt_parse(in, len, &v), "input parses");
		want = pkt_pseudo_fold(in, &v);
		put16(in + v.l4_csum_off, want);
		/* The payload's first word (at an even offset of the segment)
		 * makes the whole sum verify. */
		put16(in + v.l4_off + v.l4_len - payload_lens[i], 0);
		put16(in + v.l4_off + v.l4_len - payload_lens[i],
		      (uint16_t)~pkt_l4_residue(in, &v));
		CHECK_EQ(pkt_csum_error(in, len), NULL, "the crafted frame's checksum is right");
		CHECK_EQ(get16(in + v.l4_csum_off), want, "and is the pseudo-header sum");

		dnat(fx, in, len, out, &v);
		if (pkt_csum_error(out, len))
			fail_msg("payload %zu: a full checksum updated as a partial one: %s",
				 payload_lens[i], pkt_csum_error(out, len));
	}
}

static void partial_v4_tcp(void **state)
{
	partial_case(*state, false, IPPROTO_TCP);
}

static void partial_v6_tcp(void **state)
{
	partial_case(*state, true, IPPROTO_TCP);
}

static void partial_v4_udp(void **state)
{
	partial_case(*state, false, IPPROTO_UDP);
}

static void partial_v6_udp(void **state)
{
	partial_case(*state, true, IPPROTO_UDP);
}

static void full_looking_partial_v4_tcp(void **state)
{
	full_case(*state, false, IPPROTO_TCP);
}

static void full_looking_partial_v6_tcp(void **state)
{
	full_case(*state, true, IPPROTO_TCP);
}

static void full_looking_partial_v4_udp(void **state)
{
	full_case(*state, false, IPPROTO_UDP);
}

static void full_looking_partial_v6_udp(void **state)
{
	full_case(*state, true, IPPROTO_UDP);
}

#define PC_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PC_TEST(partial_v4_tcp),
		PC_TEST(partial_v6_tcp),
		PC_TEST(partial_v4_udp),
		PC_TEST(partial_v6_udp),
		PC_TEST(full_looking_partial_v4_tcp),
		PC_TEST(full_looking_partial_v6_tcp),
		PC_TEST(full_looking_partial_v4_udp),
		PC_TEST(full_looking_partial_v6_udp),
	};

	return cmocka_run_group_tests_name("bpf_partial_csum", tests, NULL, NULL);
}
