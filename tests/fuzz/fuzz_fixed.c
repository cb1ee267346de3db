// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_fixed (alpha, the ratios): byte 0 gives the decimals (0..9),
 * bytes 1..8 the bounds, the rest is the text. An accepted value lies in
 * the bounds and its form with exactly that many decimals parses back to it.
 */
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"

#define SENTINEL 0x5a5a5a5au

static int parse(const char *s, unsigned int decimals, uint32_t min, uint32_t max, uint32_t *v)
{
	int err;

	*v = SENTINEL;
	fuzz_reset_error();
	err = gs_parse_fixed(s, decimals, min, max, "value", v);
	if (err) {
		fuzz_check_failure(err, EINVAL, EINVAL, s);
		FUZZ_CHECK(*v == SENTINEL, "'%s' failed but wrote %u", s, *v);
	}
	return err;
}

static void format_fixed(uint32_t v, unsigned int decimals, char *buf, size_t len)
{
	uint32_t scale = 1;
	unsigned int i;

	for (i = 0; i < decimals; i++)
		scale *= 10;
	if (decimals)
		snprintf(buf, len, "%u.%0*u", v / scale, (int)decimals, v % scale);
	else
		snprintf(buf, len, "%u", v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t min, max, v, v2;
	unsigned int decimals;
	char *s, text[32];

	if (size < 9)
		return 0;
	decimals = data[0] % 10;
	memcpy(&min, data + 1, 4);
	memcpy(&max, data + 5, 4);
	s = fuzz_cstr(data + 9, size - 9);
	if (!parse(s, decimals, min, max, &v)) {
		FUZZ_CHECK(v >= min && v <= max, "'%s' -> %u outside %u..%u", s, v, min, max);
		FUZZ_CHECK(strspn(s, "0123456789.") == strlen(s), "'%s' accepted", s);
		format_fixed(v, decimals, text, sizeof(text));
		FUZZ_CHECK(!parse(text, decimals, min, max, &v2) && v2 == v,
			   "'%s' -> %u -> '%s' does not parse back", s, v, text);
	}
	free(s);
	return 0;
}
