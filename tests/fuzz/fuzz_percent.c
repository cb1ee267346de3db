// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_percent (split, steps, --max-error-rate): an accepted share is
 * 0..1e6 ppm, equals what a plain reading of the digits gives, and its
 * 4-decimal form parses back to it; a trailing '%' changes nothing.
 */
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"

#define SENTINEL_PPM 0x5a5a5a5au

static int parse(const char *s, uint32_t *ppm)
{
	int err;

	*ppm = SENTINEL_PPM;
	fuzz_reset_error();
	err = gs_parse_percent(s, ppm);
	if (err) {
		fuzz_check_failure(err, EINVAL, ERANGE, s);
		FUZZ_CHECK(*ppm == SENTINEL_PPM, "'%s' failed but wrote %u", s, *ppm);
	}
	return err;
}

/* The same reading done differently: "W[.F]" with W 1..3 digits and F 1..4
 * digits, no leading zero in W, optional '%', value at most 100. */
static bool reference(const char *s, uint32_t *ppm)
{
	size_t len = strlen(s), w = strspn(s, "0123456789"), f = 0, i;
	uint64_t whole = 0, frac = 0;

	if (len && s[len - 1] == '%')
		len--;
	if (w < len && s[w] == '.')
		f = strspn(s + w + 1, "0123456789");
	if (!w || w > 3 || (w > 1 && s[0] == '0') || f > 4)
		return false;
	if (w + (f ? f + 1 : 0) != len)
		return false;
	for (i = 0; i < w; i++)
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	for (i = 0; i < 4; i++)
		frac = frac * 10 + (i < f ? (uint64_t)(s[w + 1 + i] - '0') : 0);
	if (whole * 10000 + frac > 1000000)
		return false;
	*ppm = (uint32_t)(whole * 10000 + frac);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), text[32];
	uint32_t ppm, ppm2, want = 0;
	bool ok, want_ok;

	ok = !parse(s, &ppm);
	want_ok = reference(s, &want);
	FUZZ_CHECK(ok == want_ok, "'%s': parser says %s, the reference %s", s, ok ? "yes" : "no",
		   want_ok ? "yes" : "no");
	if (ok) {
		FUZZ_CHECK(ppm <= GS_PPM_MAX, "'%s': %u ppm", s, ppm);
		FUZZ_CHECK(ppm == want, "'%s': %u ppm, the reference %u", s, ppm, want);
		snprintf(text, sizeof(text), "%u.%04u", ppm / 10000, ppm % 10000);
		FUZZ_CHECK(!parse(text, &ppm2) && ppm2 == ppm, "'%s' -> '%s' does not parse back",
			   s, text);
		snprintf(text, sizeof(text), "%u.%04u%%", ppm / 10000, ppm % 10000);
		FUZZ_CHECK(!parse(text, &ppm2) && ppm2 == ppm, "'%s' -> '%s' does not parse back",
			   s, text);
	}
	free(s);
	return 0;
}
