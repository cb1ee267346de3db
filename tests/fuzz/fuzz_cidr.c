// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_cidr (overrides): an accepted CIDR has its prefix on the
 * 128-bit scale (96..128 for IPv4), no host bits set, and its text form
 * parses back to the same network; a refused one leaves the outputs alone.
 */
#include <stdio.h>

#include "fuzz.h"
#include "parse.h"

static const union gs_addr sentinel_addr = {.b = {0xa5, 0xa5, 0xa5, 0xa5}};
#define SENTINEL_PLEN 0x5a5a5a5au

static int parse(const char *s, union gs_addr *addr, uint32_t *plen)
{
	int err;

	*addr = sentinel_addr;
	*plen = SENTINEL_PLEN;
	fuzz_reset_error();
	err = gs_parse_cidr(s, addr, plen);
	if (err) {
		fuzz_check_failure(err, EINVAL, EINVAL, s);
		FUZZ_CHECK(!memcmp(addr, &sentinel_addr, sizeof(*addr)) && *plen == SENTINEL_PLEN,
			   "'%s' failed but wrote its outputs", s);
	}
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), host[GS_ADDR_STRLEN], text[GS_ADDR_STRLEN + 8];
	union gs_addr addr, addr2;
	uint32_t plen, plen2, i;
	bool v4;

	if (parse(s, &addr, &plen)) {
		free(s);
		return 0;
	}
	v4 = gs_addr_is_v4(&addr);
	FUZZ_CHECK(plen <= 128 && (!v4 || plen >= 96), "'%s': prefix %u", s, plen);
	for (i = plen; i < 128; i++)
		FUZZ_CHECK(!(addr.b[i / 8] & (0x80u >> (i % 8))), "'%s': host bit %u set", s, i);

	gs_format_addr(&addr, host, sizeof(host));
	snprintf(text, sizeof(text), "%s/%u", host, v4 ? plen - 96 : plen);
	FUZZ_CHECK(!parse(text, &addr2, &plen2), "'%s' parsed, its form '%s' does not: %s", s, text,
		   gs_last_error());
	FUZZ_CHECK(!memcmp(&addr, &addr2, sizeof(addr)) && plen == plen2,
		   "'%s' -> '%s' -> another network", s, text);
	free(s);
	return 0;
}
