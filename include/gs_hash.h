/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The hashes both levels of selection use, compiled into the BPF programs
 * and into userspace, so tests and tools can predict the data path exactly.
 *
 * The mixing is Bob Jenkins' lookup3 (public domain) over 32-bit words. The
 * input is the raw key bytes in network order, so the result does not depend
 * on the host's byte order.
 */
#ifndef GS_HASH_H
#define GS_HASH_H

#include "graysplit.h"

/* clang-format off */
#define gs_rol32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

#define gs_mix(a, b, c)                                                        \
	do {                                                                   \
		a -= c; a ^= gs_rol32(c, 4);  c += b;                          \
		b -= a; b ^= gs_rol32(a, 6);  a += c;                          \
		c -= b; c ^= gs_rol32(b, 8);  b += a;                          \
		a -= c; a ^= gs_rol32(c, 16); c += b;                          \
		b -= a; b ^= gs_rol32(a, 19); a += c;                          \
		c -= b; c ^= gs_rol32(b, 4);  b += a;                          \
	} while (0)

#define gs_final(a, b, c)                                                      \
	do {                                                                   \
		c ^= b; c -= gs_rol32(b, 14);                                  \
		a ^= c; a -= gs_rol32(c, 11);                                  \
		b ^= a; b -= gs_rol32(a, 25);                                  \
		c ^= b; c -= gs_rol32(b, 16);                                  \
		a ^= c; a -= gs_rol32(c, 4);                                   \
		b ^= a; b -= gs_rol32(a, 14);                                  \
		c ^= b; c -= gs_rol32(b, 24);                                  \
	} while (0)

/* clang-format on */

/*
 * The keys are structs read as 32-bit words: may_alias tells the compiler
 * so. Without it gcc -O2 (strict aliasing) may read the words before the
 * caller's stores to the struct's fields: a flow hash that ignored the
 * source port came out of a userspace build.
 */
typedef __u32 __attribute__((__may_alias__)) gs_hash_word;

/*
 * lookup3's hashword() over n 32-bit words, n >= 1. Every call site passes a
 * compile-time constant, so the loop unrolls and the BPF verifier sees
 * straight-line code.
 */
static inline __u32 gs_hash_words(const gs_hash_word *k, __u32 n, __u32 seed)
{
	__u32 a, b, c;

	a = b = c = 0xdeadbeef + (n << 2) + seed;
#ifdef __clang__
#pragma unroll
#endif
	for (; n > 3; n -= 3, k += 3) {
		a += k[0];
		b += k[1];
		c += k[2];
		gs_mix(a, b, c);
	}
	if (n == 3)
		c += k[2];
	if (n >= 2)
		b += k[1];
	a += k[0];
	gs_final(a, b, c);
	return c;
}

/* Hash of a whole flow key (10 words): the `flow` hash mode. */
static inline __u32 gs_hash_flow(const struct gs_flow_key *key, __u32 seed)
{
	return gs_hash_words((const gs_hash_word *)key, sizeof(*key) / 4, seed);
}

/* Hash of a client address (4 words): the `client` hash mode. */
static inline __u32 gs_hash_addr(const union gs_addr *addr, __u32 seed)
{
	return gs_hash_words((const gs_hash_word *)addr->w, 4, seed);
}

/*
 * Level one: canary or stable. A key is canary iff its hash, reduced to
 * 0..999999, is below the share in ppm. Raising the share only adds keys
 * (stable -> canary); lowering it is the exact reverse.
 */
static inline int gs_is_canary(__u32 group_hash, __u32 canary_ppm)
{
	return group_hash % GS_PPM_MAX < canary_ppm;
}

#endif /* GS_HASH_H */
