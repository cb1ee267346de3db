// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_LEN 14
#define IP4_LEN 20
#define IP6_LEN 40
#define TCP_LEN 20
#define UDP_LEN 8

union gs_addr pkt_addr(const char *text)
{
	union gs_addr addr;

	memset(&addr, 0, sizeof(addr));
	if (inet_pton(AF_INET, text, &addr.w[3]) == 1) {
		addr.b[10] = 0xff;
		addr.b[11] = 0xff;
		return addr;
	}
	if (inet_pton(AF_INET6, text, addr.b) == 1)
		return addr;
	fprintf(stderr, "pkt_addr: bad address '%s'\n", text);
	abort();
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 sum of big-endian 16-bit words, odd byte padded with zero. */
uint32_t pkt_sum_words(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

uint16_t pkt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

size_t pkt_build(const struct pkt_spec *spec, uint8_t *buf)
{
	union gs_addr src = pkt_addr(spec->src);
	union gs_addr dst = pkt_addr(spec->dst);
	bool is_v4 = gs_addr_is_v4(&src);
	size_t l3_len = is_v4 ? IP4_LEN + spec->ip_opt_len : IP6_LEN;
	size_t l4_hdr = spec->proto == IPPROTO_TCP ? TCP_LEN : UDP_LEN;
	size_t l4_len = l4_hdr + spec->payload_len;
	size_t len = ETH_LEN + l3_len + l4_len;
	uint8_t *l3 = buf + ETH_LEN;
	uint8_t *l4 = l3 + l3_len;

	if (len > PKT_MAX || gs_addr_is_v4(&dst) != is_v4 || spec->ip_opt_len > 40 ||
	    spec->ip_opt_len % 4) {
		fprintf(stderr, "pkt_build: bad spec\n");
		abort();
	}
	memset(buf, 0, len);
	memcpy(buf, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(buf + 6, "\x02\x00\x00\x00\x00\x02", 6);
	put16(buf + 12, is_v4 ? 0x0800 : 0x86dd);

	if (is_v4) {
		l3[0] = 0x40 | (uint8_t)(l3_len / 4);
		l3[1] = 0x10;
		put16(l3 + 2, (uint16_t)(l3_len + l4_len));
		put16(l3 + 4, 0x1234);
		put16(l3 + 6, 0x4000); /* DF */
		l3[8] = 64;
		l3[9] = spec->proto;
		memcpy(l3 + 12, &src.w[3], 4);
		memcpy(l3 + 16, &dst.w[3], 4);
		/* Options: NOPs, ending in an End of Options List. */
		if (spec->ip_opt_len) {
			memset(l3 + IP4_LEN, 0x01, spec->ip_opt_len);
			l3[l3_len - 1] = 0x00;
		}
	} else {
		l3[0] = 0x60;
		l3[1] = 0x01; /* a traffic class/flow label that must survive */
		l3[2] = 0x23;
		l3[3] = 0x45;
		put16(l3 + 4, (uint16_t)l4_len);
		l3[6] = spec->proto;
		l3[7] = 64;
		memcpy(l3 + 8, src.b, 16);
		memcpy(l3 + 24, dst.b, 16);
	}

	put16(l4, spec->sport);
	put16(l4 + 2, spec->dport);
	if (spec->proto == IPPROTO_TCP) {
		put16(l4 + 4, 0x0102);
		put16(l4 + 6, 0x0304);
		put16(l4 + 8, spec->tcp_flags & PKT_ACK ? 0x0a0b : 0);
		put16(l4 + 10, spec->tcp_flags & PKT_ACK ? 0x0c0d : 0);
		l4[12] = 5 << 4;
		l4[13] = spec->tcp_flags;
		put16(l4 + 14, 0xfaf0);
	} else {
		put16(l4 + 4, (uint16_t)l4_len);
	}
	if (spec->payload_len)
		memcpy(l4 + l4_hdr, spec->payload, spec->payload_len);

	pkt_fix_csums(buf, len);
	if (is_v4 && spec->proto == IPPROTO_UDP && spec->udp_no_csum)
		put16(l4 + 6, 0);
	return len;
}

bool pkt_parse(const uint8_t *frame, size_t len, struct pkt_view *v)
{
	uint16_t ethertype;
	size_t l3_len, ip_len;

	memset(v, 0, sizeof(*v));
	if (len < ETH_LEN)
		return false;
	ethertype = get16(frame + 12);
	v->l3_off = ETH_LEN;
	if (ethertype == 0x0800) {
		const uint8_t *ip = frame + ETH_LEN;

		if (len < ETH_LEN + IP4_LEN)
			return false;
		v->is_v4 = true;
		l3_len = (size_t)(ip[0] & 0x0f) * 4;
		ip_len = get16(ip + 2);
		v->proto = ip[9];
		v->ip_csum_off = ETH_LEN + 10;
		v->src_addr_off = ETH_LEN + 12;
		v->dst_addr_off = ETH_LEN + 16;
		v->addr_len = 4;
		v->src = v->dst = pkt_addr("0.0.0.0");
		memcpy(&v->src.w[3], ip + 12, 4);
		memcpy(&v->dst.w[3], ip + 16, 4);
	} else if (ethertype == 0x86dd) {
		const uint8_t *ip = frame + ETH_LEN;

		if (len < ETH_LEN + IP6_LEN)
			return false;
		l3_len = IP6_LEN;
		ip_len = IP6_LEN + get16(ip + 4);
		v->proto = ip[6];
		v->src_addr_off = ETH_LEN + 8;
		v->dst_addr_off = ETH_LEN + 24;
		v->addr_len = 16;
		memcpy(v->src.b, ip + 8, 16);
		memcpy(v->dst.b, ip + 24, 16);
	} else {
		return false;
	}
	if (ip_len < l3_len || ETH_LEN + ip_len > len)
		return false;
	if (v->proto != IPPROTO_TCP && v->proto != IPPROTO_UDP)
		return false;
	v->l4_off = ETH_LEN + l3_len;
	v->l4_len = ip_len - l3_len;
	if (v->l4_len < (v->proto == IPPROTO_TCP ? TCP_LEN : UDP_LEN))
		return false;
	v->l4_csum_off = v->l4_off + (v->proto == IPPROTO_TCP ? 16 : 6);
	v->sport = get16(frame + v->l4_off);
	v->dport = get16(frame + v->l4_off + 2);
	return true;
}

/* Sum of the pseudo-header alone. */
static uint32_t pseudo_sum(const uint8_t *frame, const struct pkt_view *v)
{
	uint8_t pseudo[40];

	if (v->is_v4) {
		memcpy(pseudo, frame + v->src_addr_off, 4);
		memcpy(pseudo + 4, frame + v->dst_addr_off, 4);
		pseudo[8] = 0;
		pseudo[9] = v->proto;
		put16(pseudo + 10, (uint16_t)v->l4_len);
		return pkt_sum_words(pseudo, 12, 0);
	}
	memcpy(pseudo, frame + v->src_addr_off, 16);
	memcpy(pseudo + 16, frame + v->dst_addr_off, 16);
	put16(pseudo + 32, 0);
	put16(pseudo + 34, (uint16_t)v->l4_len);
	memset(pseudo + 36, 0, 3);
	pseudo[39] = v->proto;
	return pkt_sum_words(pseudo, 40, 0);
}

/* Sum of pseudo-header and the whole L4 segment, checksum field included. */
static uint32_t l4_sum(const uint8_t *frame, const struct pkt_view *v)
{
	return pkt_sum_words(frame + v->l4_off, v->l4_len, pseudo_sum(frame, v));
}

uint16_t pkt_pseudo_fold(const uint8_t *frame, const struct pkt_view *v)
{
	return pkt_fold(pseudo_sum(frame, v));
}

uint16_t pkt_l4_residue(const uint8_t *frame, const struct pkt_view *v)
{
	return pkt_fold(l4_sum(frame, v));
}

uint16_t pkt_l4_csum(const uint8_t *frame, const struct pkt_view *v)
{
	uint8_t copy[PKT_MAX];
	size_t len = v->l4_off + v->l4_len;

	memcpy(copy, frame, len);
	put16(copy + v->l4_csum_off, 0);
	return (uint16_t)~pkt_fold(l4_sum(copy, v));
}

void pkt_fix_csums(uint8_t *frame, size_t len)
{
	struct pkt_view v;
	uint16_t check;

	if (!pkt_parse(frame, len, &v))
		return;
	if (v.is_v4) {
		put16(frame + v.ip_csum_off, 0);
		put16(frame + v.ip_csum_off,
		      (uint16_t)~pkt_fold(pkt_sum_words(frame + v.l3_off, v.l4_off - v.l3_off, 0)));
	}
	check = pkt_l4_csum(frame, &v);
	if (v.proto == IPPROTO_UDP && check == 0)
		check = 0xffff;
	put16(frame + v.l4_csum_off, check);
}

const char *pkt_csum_error(const uint8_t *frame, size_t len)
{
	struct pkt_view v;

	if (!pkt_parse(frame, len, &v))
		return "frame does not parse";
	if (v.is_v4 && pkt_fold(pkt_sum_words(frame + v.l3_off, v.l4_off - v.l3_off, 0)) != 0xffff)
		return "IPv4 header checksum wrong";
	if (v.proto == IPPROTO_UDP && get16(frame + v.l4_csum_off) == 0)
		return v.is_v4 ? NULL : "IPv6 UDP checksum is zero";
	if (pkt_fold(l4_sum(frame, &v)) != 0xffff)
		return v.proto == IPPROTO_TCP ? "TCP checksum wrong" : "UDP checksum wrong";
	return NULL;
}

struct gs_flow_key pkt_flow_key(const struct pkt_view *v)
{
	struct gs_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src = v->src;
	key.dst = v->dst;
	key.sport = htons(v->sport);
	key.dport = htons(v->dport);
	key.proto = v->proto;
	return key;
}
