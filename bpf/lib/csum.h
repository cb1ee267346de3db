/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Incremental Internet checksum update (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')) for the XDP path, which has no skb and so no
 * kernel checksum helpers. Values are taken raw from the packet: a ones'
 * complement sum comes out the same in either byte order as long as it is
 * stored back the way it was read.
 */
#ifndef GS_BPF_CSUM_H
#define GS_BPF_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

/* 32-bit ones' complement add: the carry out wraps around to bit 0. */
static __always_inline __u32 gs_csum_add(__u32 sum, __u32 addend)
{
	sum += addend;
	return sum + (sum < addend);
}

/* The ~m + m' term for a 4-byte field changing from old to new. */
static __always_inline __u32 gs_csum_diff32(__u32 sum, __u32 old, __u32 new)
{
	return gs_csum_add(gs_csum_add(sum, ~old), new);
}

static __always_inline __u32 gs_csum_diff16(__u32 sum, __u16 old, __u16 new)
{
	return gs_csum_add(gs_csum_add(sum, (__u16)~old), new);
}

static __always_inline __u16 gs_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Apply an accumulated difference to a stored checksum. */
static __always_inline __u16 gs_csum_apply(__u16 check, __u32 diff)
{
	return (__u16)~gs_csum_fold(gs_csum_add((__u16)~check, diff));
}

/*
 * Apply it to a CHECKSUM_PARTIAL field instead: that holds the folded
 * pseudo-header sum itself, not its complement, for the offload (or the
 * kernel's skb_checksum_help) to finish over the segment later.
 */
static __always_inline __u16 gs_csum_apply_partial(__u16 seed, __u32 diff)
{
	return gs_csum_fold(gs_csum_add(seed, diff));
}

/* Equal as ones' complement numbers: 0x0000 and 0xffff are both zero. */
static __always_inline int gs_csum_same(__u16 a, __u16 b)
{
	return a == b || ((a == 0 || a == 0xffff) && (b == 0 || b == 0xffff));
}

/* Fold a sum of 32-bit words, each added whole (no carry handling), to
 * 16 bits. Free of branches: each carry test would double the paths the
 * verifier walks. */
static __always_inline __u16 gs_fold64(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

#endif
