// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_u32 (weights, --min-samples, ...): the input's first 8 bytes
 * give the bounds, the rest is the text. Accepted exactly when the text is
 * the canonical decimal of a number within the bounds (printing the value
 * gives the text back); out of range is ERANGE, anything else EINVAL.
 */
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"

#define SENTINEL 0x5a5a5a5au

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t min, max, v = SENTINEL;
	char *s, text[16];
	bool canonical, digits;
	size_t len;
	int err;

	if (size < 8)
		return 0;
	memcpy(&min, data, 4);
	memcpy(&max, data + 4, 4);
	s = fuzz_cstr(data + 8, size - 8);
	len = strlen(s);
	digits = len && len <= 20 && strspn(s, "0123456789") == len && (len == 1 || s[0] != '0');
	canonical = false;
	if (digits && len <= 10) {
		unsigned long long n = strtoull(s, NULL, 10);

		canonical = n <= UINT32_MAX && n >= min && n <= max;
	}

	fuzz_reset_error();
	err = gs_parse_u32(s, min, max, "number", &v);
	if (!err) {
		FUZZ_CHECK(canonical, "'%s' accepted in %u..%u", s, min, max);
		FUZZ_CHECK(v >= min && v <= max, "'%s' -> %u outside %u..%u", s, v, min, max);
		snprintf(text, sizeof(text), "%u", v);
		FUZZ_CHECK(!strcmp(text, s), "'%s' -> %u", s, v);
	} else {
		FUZZ_CHECK(!canonical, "'%s' refused in %u..%u: %s", s, min, max, gs_last_error());
		fuzz_check_failure(err, digits ? ERANGE : EINVAL, digits ? ERANGE : EINVAL, s);
		FUZZ_CHECK(v == SENTINEL, "'%s' failed but wrote %u", s, v);
	}
	free(s);
	return 0;
}
