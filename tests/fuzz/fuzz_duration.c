// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_duration_ms (bake, latency_margin, max_extension): the first 4
 * bytes give the limit. An accepted duration is at most the limit, its
 * "<ms>ms" form parses back to it, and the text is "0" or digits and a unit.
 */
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"

#define SENTINEL 0x5a5a5a5au

static int parse(const char *s, uint32_t max_ms, uint32_t *ms)
{
	int err;

	*ms = SENTINEL;
	fuzz_reset_error();
	err = gs_parse_duration_ms(s, max_ms, ms);
	if (err) {
		fuzz_check_failure(err, EINVAL, ERANGE, s);
		FUZZ_CHECK(*ms == SENTINEL, "'%s' failed but wrote %u", s, *ms);
	}
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t max_ms, ms, ms2;
	char *s, text[24];
	const char *unit;
	size_t digits;

	if (size < 4)
		return 0;
	memcpy(&max_ms, data, 4);
	s = fuzz_cstr(data + 4, size - 4);
	if (!parse(s, max_ms, &ms)) {
		FUZZ_CHECK(ms <= max_ms, "'%s' -> %u ms above %u", s, ms, max_ms);
		digits = strspn(s, "0123456789");
		unit = s + digits;
		FUZZ_CHECK(digits && (digits == 1 || s[0] != '0'), "'%s': bad number accepted", s);
		FUZZ_CHECK(!strcmp(s, "0") || !strcmp(unit, "ms") || !strcmp(unit, "s") ||
				   !strcmp(unit, "m") || !strcmp(unit, "h"),
			   "'%s': bad unit accepted", s);
		snprintf(text, sizeof(text), "%ums", ms);
		FUZZ_CHECK(!parse(text, max_ms, &ms2) && ms2 == ms,
			   "'%s' -> '%s' does not parse back", s, text);
	}
	free(s);
	return 0;
}
