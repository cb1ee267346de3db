/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The response code of a DNS answer from its fixed header (RFC 1035 4.1.1):
 * ID (2 bytes), then QR | OPCODE | AA | TC | RD, then RA | Z | AD | CD |
 * RCODE. Four bytes, read once per flow, whatever the answer's length. Over
 * TCP a two-byte length comes first (RFC 1035 4.2.2). SERVFAIL and REFUSED
 * are the server failing, the DNS analogue of an HTTP 5xx; NXDOMAIN and the
 * others are answers about the question, as a 4xx is.
 *
 * Which services speak DNS: those on port 53. The reply path knows a flow
 * by its reverse entry, which holds the VIP's port, so this costs no lookup.
 */
#ifndef GS_BPF_DNS_H
#define GS_BPF_DNS_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define GS_DNS_PORT	      53
#define GS_DNS_QR	      0x80 /* in byte 2: this is a response */
#define GS_DNS_RCODE_MASK     0x0f /* in byte 3 */
#define GS_DNS_RCODE_SERVFAIL 2
#define GS_DNS_RCODE_REFUSED  5

static __always_inline int gs_dns_port(__u16 port_be)
{
	return port_be == bpf_htons(GS_DNS_PORT);
}

/*
 * RCODE + 1 of the DNS response at off (len bytes; tcp: after the length
 * prefix) in skb, or 0 if it is no DNS response. Loaded with
 * bpf_skb_load_bytes: the payload may be paged, and the packet was just
 * rewritten.
 */
static __always_inline __u32 gs_dns_rcode1(struct __sk_buff *skb, __u32 off, __u32 len, int tcp)
{
	__u8 hdr[6];
	__u32 skip = tcp ? 2 : 0;

	if (len < skip + 12) /* the whole fixed header, or it is not DNS */
		return 0;
	if (bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
		return 0;
	if (!(hdr[skip + 2] & GS_DNS_QR))
		return 0;
	return (__u32)(hdr[skip + 3] & GS_DNS_RCODE_MASK) + 1;
}

static __always_inline int gs_dns_rcode_fails(__u32 rcode)
{
	return rcode == GS_DNS_RCODE_SERVFAIL || rcode == GS_DNS_RCODE_REFUSED;
}

#endif
