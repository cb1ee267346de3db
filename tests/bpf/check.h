/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Named assertions (selftests' ASSERT_EQ(got, want, "what")): a failure says
 * which property broke and with what values, not just a line number.
 */
#ifndef GS_TEST_CHECK_H
#define GS_TEST_CHECK_H

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "packet.h"

#define CHECK_EQ(got, want, what)                                                                  \
	do {                                                                                       \
		unsigned long long got_ = (unsigned long long)(got);                               \
		unsigned long long want_ = (unsigned long long)(want);                             \
		if (got_ != want_)                                                                 \
			fail_msg("%s: got %llu (0x%llx), want %llu (0x%llx)", what, got_, got_,    \
				 want_, want_);                                                    \
	} while (0)

#define CHECK_NE(got, bad, what)                                                                   \
	do {                                                                                       \
		unsigned long long got_ = (unsigned long long)(got);                               \
		if (got_ == (unsigned long long)(bad))                                             \
			fail_msg("%s: got %llu, must differ", what, got_);                         \
	} while (0)

#define CHECK_TRUE(cond, what)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg("%s: not true: %s", what, #cond);                                 \
	} while (0)

/* The frame's checksums, recomputed from scratch, are right. */
void check_csums(const uint8_t *frame, size_t len, const char *what);

/*
 * out equals in byte for byte, except the address and port on one side
 * (dst for DNAT, src for SNAT) and the checksums that cover them.
 */
void check_only_rewritten(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
			  bool dst_side, const char *what);

void check_unchanged(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
		     const char *what);

#endif
