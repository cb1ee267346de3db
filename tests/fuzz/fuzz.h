/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Shared by the libFuzzer targets. A target does not only survive its input:
 * it states what must hold of the result (round trips, ranges, the one-line
 * error) and aborts when it does not, which libFuzzer reports as a crash and
 * keeps as a reproducer.
 */
#ifndef GS_FUZZ_H
#define GS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed (%s:%d): %s: ", __FILE__, __LINE__,     \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* What the error channel holds before a call, to see that a failing call
 * set its own message. */
#define FUZZ_NO_MESSAGE "fuzz: no message set"

static inline void fuzz_reset_error(void)
{
	gs_set_error("%s", FUZZ_NO_MESSAGE);
}

/* The input as a C string, cut at its first NUL as a command line or a
 * strdup'ed value would be. The caller frees it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A failed call: a negative errno among those allowed and a fresh message
 * that is one printable line (the CLI prints it after "graysplit: "). */
static inline void fuzz_check_failure(int err, int errno_a, int errno_b, const char *input)
{
	const char *msg = gs_last_error();
	size_t i;

	FUZZ_CHECK(err == -errno_a || err == -errno_b, "err %d for '%s'", err, input);
	FUZZ_CHECK(strcmp(msg, FUZZ_NO_MESSAGE) != 0, "no message for '%s'", input);
	FUZZ_CHECK(msg[0] != '\0', "empty message for '%s'", input);
	for (i = 0; msg[i]; i++)
		FUZZ_CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f,
			   "control byte 0x%02x at %zu of message '%s'", (unsigned char)msg[i], i,
			   msg);
}

#endif
