// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_endpoint, with the port required (services, --metrics) and
 * optional (backends): what it accepts formats back and parses to the same
 * address and port; the strict form accepts nothing the lenient one refuses;
 * on error the outputs stay untouched and the message is one line.
 */
#include "fuzz.h"
#include "parse.h"

static const union gs_addr sentinel_addr = {.b = {0xa5, 0xa5, 0xa5, 0xa5}};
#define SENTINEL_PORT 0x5a5a

static int parse(const char *s, bool port_optional, union gs_addr *addr, uint16_t *port)
{
	int err;

	*addr = sentinel_addr;
	*port = SENTINEL_PORT;
	fuzz_reset_error();
	err = gs_parse_endpoint(s, port_optional, addr, port);
	if (err) {
		fuzz_check_failure(err, EINVAL, EINVAL, s);
		FUZZ_CHECK(!memcmp(addr, &sentinel_addr, sizeof(*addr)) && *port == SENTINEL_PORT,
			   "'%s' failed but wrote its outputs", s);
	}
	return err;
}

/* The text form of what was parsed parses back to it. */
static void round_trip(const char *s, bool port_optional, const union gs_addr *addr, uint16_t port)
{
	char text[GS_ENDPOINT_STRLEN];
	union gs_addr addr2;
	uint16_t port2;
	int err;

	if (port)
		gs_format_endpoint(addr, port, text, sizeof(text));
	else
		gs_format_addr(addr, text, sizeof(text));
	err = parse(text, port_optional, &addr2, &port2);
	FUZZ_CHECK(!err, "'%s' parsed, its form '%s' does not: %s", s, text, gs_last_error());
	FUZZ_CHECK(!memcmp(addr, &addr2, sizeof(addr2)) && port == port2,
		   "'%s' -> '%s' -> another endpoint", s, text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	union gs_addr strict_addr, lenient_addr;
	uint16_t strict_port, lenient_port;
	int strict, lenient;

	strict = parse(s, false, &strict_addr, &strict_port);
	lenient = parse(s, true, &lenient_addr, &lenient_port);
	if (!strict) {
		FUZZ_CHECK(strict_port >= 1, "'%s': port 0 with the port required", s);
		FUZZ_CHECK(!lenient, "'%s' accepted only with the port required", s);
		FUZZ_CHECK(!memcmp(&strict_addr, &lenient_addr, sizeof(strict_addr)) &&
				   strict_port == lenient_port,
			   "'%s' differs between the two modes", s);
		round_trip(s, false, &strict_addr, strict_port);
	}
	if (!lenient) {
		FUZZ_CHECK(lenient_port || strict, "'%s': no port yet accepted when required", s);
		round_trip(s, true, &lenient_addr, lenient_port);
	}
	free(s);
	return 0;
}
