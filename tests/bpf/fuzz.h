/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Seeded packet fuzzing of both programs on the real object: random and
 * mutated frames go through gs_xdp_fwd (forward) and gs_tc_reply (replies of
 * flows the forward path created), one BPF_PROG_TEST_RUN each (forward
 * frames as received on tests/bpf/fibnet.h's fnin, so the fast path makes
 * real FIB lookups and redirects), and every
 * output is checked against a reference model written here in plain C: its
 * own parser, its own shadow of the flow table and of backend_addrs, and
 * its own checksums.
 */
#ifndef GS_TEST_FUZZ_H
#define GS_TEST_FUZZ_H

#include <stdint.h>

#include "fixture.h"

enum fz_class {
	FZ_VALID,   /* well-formed TCP/UDP v4/v6 to a service */
	FZ_NOSVC,   /* well-formed, to no service (or one without backends) */
	FZ_REPLY,   /* a backend's reply to a flow the forward path created */
	FZ_SWEEP,   /* a base frame cut at every offset, in order */
	FZ_TRUNC,   /* a base frame cut at a random offset */
	FZ_IHL,	    /* wrong IPv4 IHL */
	FZ_TOTLEN,  /* wrong IPv4 total length */
	FZ_V6PLEN,  /* wrong IPv6 payload length */
	FZ_IPOPT,   /* IPv4 options of random content */
	FZ_V6EXT,   /* a chain of IPv6 extension headers */
	FZ_DOFF,    /* TCP data offset < 5 or past the segment */
	FZ_FRAG,    /* IPv4 MF / fragment offset */
	FZ_VLAN,    /* one or two VLAN tags */
	FZ_CSUM,    /* IP or L4 checksum 0, 0xffff or random */
	FZ_ICMP,    /* ICMP / ICMPv6 error quoting a flow */
	FZ_UDPLEN,  /* wrong UDP length */
	FZ_MAPPED,  /* IPv6 frame with the v4-mapped addresses of a v4 flow */
	FZ_FLIP,    /* random byte flips */
	FZ_GARBAGE, /* random bytes */
	FZ_CLASSES,
};

struct fz_stats {
	uint64_t frames;
	uint64_t per_class[FZ_CLASSES];
	uint64_t fwd;		    /* frames into gs_xdp_fwd */
	uint64_t reply;		    /* frames into gs_tc_reply */
	uint64_t rewritten;	    /* came out rewritten, as the model said */
	uint64_t icmp_translated;   /* of them: ICMP errors with the quote put back to the VIP */
	uint64_t icmp_to_backend;   /* ... sent on to the backend of the flow they quote */
	uint64_t icmp_whole_quotes; /* ... whose quoted segment was there whole to verify */
	uint64_t icmp_other_way;    /* ICMP errors left to the program of the other direction */
	uint64_t csum_right;	    /* rewritten from a frame with right checksums */
	uint64_t csum_fuzzed;	    /* rewritten from a frame with a wrong checksum */
	uint64_t csum_partial;	    /* DNATed with a partial checksum, kept partial */
	uint64_t untouched;	    /* came out byte-for-byte unchanged, as the model said */
	uint64_t dropped; /* verdict other than XDP_PASS / TC_ACT_OK (the model allows none) */
	uint64_t refused; /* tc: IP frame shorter than its IP header, refused by the kernel */
	uint64_t reason[GS_CNT_MAX];  /* forward: the counter an untouched frame went to */
	uint64_t counted[GS_CNT_MAX]; /* counter moves, each checked against the model */
	uint64_t evictions;	      /* flow entries deleted behind the paths' back */
	uint64_t table_checks;	      /* flow tables compared entry by entry and emptied */
	uint64_t fast_toggles;	      /* times the fast path was switched off meanwhile */
	uint64_t nh_checked;	      /* cache fills compared with the kernel's flow entry */
	double seconds;
};

/*
 * Run frames frames generated from seed through fx (set up here with the
 * fuzz services; a fresh fixture per run). The first violation prints the
 * seed, frame index, hex dumps of input and output, and fails the test.
 */
void fz_run(struct fx *fx, uint64_t seed, uint64_t frames, struct fz_stats *stats);

/* Summary as TAP comments: frames/s, per class, outcomes. */
void fz_print_stats(const struct fz_stats *stats, uint64_t seed);

#endif
