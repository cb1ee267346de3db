/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The status of a cleartext HTTP/1.x response from its first bytes. Only the
 * status line's fixed-width start is read ("HTTP/1.1 503"), so a response
 * costs one 12-byte copy whatever its length, and anything else (TLS, HTTP/2,
 * a protocol that is not HTTP) reads as 0: a response without a status.
 */
#ifndef GS_BPF_HTTP_H
#define GS_BPF_HTTP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* "HTTP/1.x NNN": version, a space, three digits. */
#define GS_HTTP_STATUS_PREFIX 12

static __always_inline int gs_is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* The status in a status line's first GS_HTTP_STATUS_PREFIX bytes, or 0. */
static __always_inline __u32 gs_http_status_of(const __u8 *b)
{
	__u32 status;

	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' ||
	    b[5] != '1' || b[6] != '.' || !gs_is_digit(b[7]) || b[8] != ' ')
		return 0;
	if (!gs_is_digit(b[9]) || !gs_is_digit(b[10]) || !gs_is_digit(b[11]))
		return 0;
	status = (__u32)(b[9] - '0') * 100 + (__u32)(b[10] - '0') * 10 + (__u32)(b[11] - '0');
	return status >= 100 && status <= 599 ? status : 0;
}

/*
 * The HTTP status of the payload at off (len bytes) in skb, or 0. Loaded with
 * bpf_skb_load_bytes: the payload may sit in paged data, and the reply path
 * has rewritten the packet, so no direct pointer into it is valid here.
 */
static __always_inline __u32 gs_http_status(struct __sk_buff *skb, __u32 off, __u32 len)
{
	__u8 line[GS_HTTP_STATUS_PREFIX];

	if (len < sizeof(line) || bpf_skb_load_bytes(skb, off, line, sizeof(line)))
		return 0;
	return gs_http_status_of(line);
}

#endif
