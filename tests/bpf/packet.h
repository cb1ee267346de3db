/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Crafted frames for BPF_PROG_TEST_RUN: eth + IPv4 (with options) or IPv6 +
 * TCP or UDP with correct checksums, a parser that reads them back, and a
 * checksum verifier written from scratch, so a test never trusts the data
 * path's own arithmetic.
 */
#ifndef GS_TEST_PACKET_H
#define GS_TEST_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"

#define PKT_MAX 2048

#define PKT_FIN 0x01
#define PKT_SYN 0x02
#define PKT_RST 0x04
#define PKT_PSH 0x08
#define PKT_ACK 0x10

struct pkt_spec {
	const char *src; /* "10.0.0.1" or "fd00::1": the family follows */
	const char *dst;
	uint16_t sport; /* host order */
	uint16_t dport;
	uint8_t proto;	    /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t tcp_flags;  /* PKT_* */
	uint8_t ip_opt_len; /* IPv4 options, multiple of 4, <= 40 */
	bool udp_no_csum;   /* IPv4 UDP sent with checksum 0 */
	const void *payload;
	size_t payload_len;
};

/* Where the headers of a frame are, read back by the test's own parser. */
struct pkt_view {
	bool is_v4;
	uint8_t proto;
	size_t l3_off;
	size_t l4_off;
	size_t l4_len;	    /* L4 header + payload */
	size_t ip_csum_off; /* 0 for IPv6 */
	size_t l4_csum_off;
	size_t dst_addr_off;
	size_t src_addr_off;
	size_t addr_len;   /* 4 or 16 */
	union gs_addr src; /* v4-mapped for IPv4 */
	union gs_addr dst;
	uint16_t sport; /* host order */
	uint16_t dport;
};

/* Text address -> gs_addr (IPv4 as ::ffff:a.b.c.d); aborts on bad text. */
union gs_addr pkt_addr(const char *text);

/* Build the frame into buf (PKT_MAX bytes); returns its length. */
size_t pkt_build(const struct pkt_spec *spec, uint8_t *buf);

/* Parse a frame built by pkt_build (or rewritten from one); false if not. */
bool pkt_parse(const uint8_t *frame, size_t len, struct pkt_view *view);

/* Recompute IPv4 header and L4 checksums of a frame in place. */
void pkt_fix_csums(uint8_t *frame, size_t len);

/* RFC 1071 sum of big-endian 16-bit words (an odd byte padded with zero),
 * added to sum; and a sum folded to 16 bits, not complemented. */
uint32_t pkt_sum_words(const uint8_t *p, size_t n, uint32_t sum);
uint16_t pkt_fold(uint32_t sum);

/*
 * Verify the IPv4 header checksum and the TCP/UDP checksum over the
 * pseudo-header from scratch. Returns NULL when both are right, else what
 * is wrong.
 */
const char *pkt_csum_error(const uint8_t *frame, size_t len);

/* The ones' complement checksum field value for the L4 part as it stands. */
uint16_t pkt_l4_csum(const uint8_t *frame, const struct pkt_view *view);

/* The folded pseudo-header sum: what a sender leaving the L4 checksum to
 * offload (CHECKSUM_PARTIAL) puts in the field. */
uint16_t pkt_pseudo_fold(const uint8_t *frame, const struct pkt_view *view);

/* The folded sum of pseudo-header and segment, checksum included: 0xffff
 * when the checksum is right. */
uint16_t pkt_l4_residue(const uint8_t *frame, const struct pkt_view *view);

/* The flow key the data path builds for this frame. */
struct gs_flow_key pkt_flow_key(const struct pkt_view *view);

#endif
