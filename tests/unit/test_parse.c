// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Table-driven tests of every operator-input parser: what each accepts and
 * what it yields, what it rejects, that a rejection leaves the outputs alone
 * and leaves a printable one-line message that quotes the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <netinet/in.h>

#include "error.h"
#include "parse.h"

#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define SENTINEL_ERROR "no message yet"
#define FILL	       0xa5

/*
 * Sets a known message before a call so that a message found afterwards
 * must have come from the call.
 */
static void reset_error(void)
{
	gs_set_error("%s", SENTINEL_ERROR);
}

static bool is_printable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/*
 * A rejection must return a negative errno and leave one printable line
 * that quotes the (sanitised) input.
 */
static void check_rejection(const char *input, int rc)
{
	const char *msg = gs_last_error();
	size_t i;

	if (rc >= 0)
		fail_msg("'%s' was accepted", input);
	assert_true(rc == -EINVAL || rc == -ERANGE);
	assert_string_not_equal(msg, SENTINEL_ERROR);
	assert_true(strlen(msg) > 0);
	assert_true(strlen(msg) < 200);
	for (i = 0; msg[i]; i++) {
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
			fail_msg("message for '%s' has byte %#x: %s", input, (unsigned char)msg[i],
				 msg);
	}
	/* Short printable inputs appear verbatim so the user sees them. */
	if (is_printable(input) && strlen(input) > 0 && strlen(input) < 40 && !strstr(msg, input))
		fail_msg("message does not quote '%s': %s", input, msg);
}

static bool all_bytes(const void *p, size_t len, unsigned char value)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (b[i] != value)
			return false;
	}
	return true;
}

struct endpoint_case {
	const char *input;
	bool port_optional;
	bool ok;
	const char *addr; /* canonical text of the parsed address */
	uint16_t port;
};

static const struct endpoint_case endpoint_cases[] = {
	{"10.0.0.10:80", false, true, "10.0.0.10", 80},
	{"[fd00::1]:80", false, true, "fd00::1", 80},
	{"1.2.3.4:65535", false, true, "1.2.3.4", 65535},
	{"1.2.3.4:1", false, true, "1.2.3.4", 1},
	{"[FD00::A]:8080", false, true, "fd00::a", 8080},
	{"[::1]:443", false, true, "::1", 443},
	/* Documented choice: a v4-mapped literal is that IPv4 address. */
	{"[::ffff:10.0.0.1]:443", false, true, "10.0.0.1", 443},
	{"10.0.0.10", true, true, "10.0.0.10", 0},
	{"fd00::1", true, true, "fd00::1", 0},
	{"[fd00::1]", true, true, "fd00::1", 0},
	{"10.0.0.10:80", true, true, "10.0.0.10", 80},
	{"[fd00::1]:80", true, true, "fd00::1", 80},
	/* Without brackets and with an optional port, the text is all address. */
	{"fd00::1:80", true, true, "fd00::1:80", 0},

	{"", false, false, NULL, 0},
	{"", true, false, NULL, 0},
	{"10.0.0.10", false, false, NULL, 0},
	{"[fd00::1]", false, false, NULL, 0},
	{"fd00::1", false, false, NULL, 0},
	{"fd00::1:80", false, false, NULL, 0},
	{"1.2.3.4:", false, false, NULL, 0},
	{"1.2.3.4:", true, false, NULL, 0},
	{"10.0.0.10:0", false, false, NULL, 0},
	{"10.0.0.10:0", true, false, NULL, 0},
	{"10.0.0.10:65536", false, false, NULL, 0},
	{"10.0.0.10:99999999999", false, false, NULL, 0},
	{"10.0.0.10:080", false, false, NULL, 0},
	{"10.0.0.10:80x", false, false, NULL, 0},
	{"10.0.0.10:80 ", false, false, NULL, 0},
	{" 10.0.0.10:80", false, false, NULL, 0},
	{"10.0.0.10 :80", false, false, NULL, 0},
	{"10.0.0.10: 80", false, false, NULL, 0},
	{"10.0.0.10:+80", false, false, NULL, 0},
	{"10.0.0.10:-80", false, false, NULL, 0},
	{"10.0.0.10:0x50", false, false, NULL, 0},
	{"10.0.0.10:80:80", false, false, NULL, 0},
	{"+10.0.0.10:80", false, false, NULL, 0},
	{"-10.0.0.10:80", false, false, NULL, 0},
	{"10.0.0.999:80", false, false, NULL, 0},
	{"10.0.0:80", false, false, NULL, 0},
	{"010.0.0.1:80", false, false, NULL, 0},
	{"localhost:80", false, false, NULL, 0},
	{":80", false, false, NULL, 0},
	{"[]:80", false, false, NULL, 0},
	{"[fd00::1", false, false, NULL, 0},
	{"[fd00::1", true, false, NULL, 0},
	{"[fd00::1]:", false, false, NULL, 0},
	{"[fd00::1]80", false, false, NULL, 0},
	{"[fd00::1]:80]", false, false, NULL, 0},
	{"[[fd00::1]]:80", false, false, NULL, 0},
	{"[10.0.0.1]:80", false, false, NULL, 0},
	{"[fd00::1%eth0]:80", false, false, NULL, 0},
	{"fd00::1%eth0", true, false, NULL, 0},
	{"fd00::g", true, false, NULL, 0},
	{"10.0.0.10\n:80", false, false, NULL, 0},
	{"\x1b[31m10.0.0.1:80", false, false, NULL, 0},
	{"10.0.0.10:80\xff", false, false, NULL, 0},
};

static void test_parse_endpoint_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(endpoint_cases); i++) {
		const struct endpoint_case *c = &endpoint_cases[i];
		char text[GS_ADDR_STRLEN];
		union gs_addr addr;
		uint16_t port;
		int rc;

		memset(&addr, FILL, sizeof(addr));
		memset(&port, FILL, sizeof(port));
		reset_error();
		rc = gs_parse_endpoint(c->input, c->port_optional, &addr, &port);
		if (!c->ok) {
			check_rejection(c->input, rc);
			assert_true(all_bytes(&addr, sizeof(addr), FILL));
			assert_true(all_bytes(&port, sizeof(port), FILL));
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", c->input, gs_last_error());
		gs_format_addr(&addr, text, sizeof(text));
		assert_string_equal(text, c->addr);
		assert_int_equal(port, c->port);
	}
}

static void test_parse_endpoint_stores_ipv4_as_v4_mapped(void **state)
{
	static const uint8_t want[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 10};
	union gs_addr addr;
	uint16_t port;

	(void)state;
	assert_int_equal(gs_parse_endpoint("10.0.0.10:80", false, &addr, &port), 0);
	assert_memory_equal(addr.b, want, 16);
	assert_true(gs_addr_is_v4(&addr));
	assert_int_equal(gs_parse_endpoint("[fd00::1]:80", false, &addr, &port), 0);
	assert_false(gs_addr_is_v4(&addr));
	assert_int_equal(addr.b[0], 0xfd);
	assert_int_equal(addr.b[15], 1);
}

static void test_parse_endpoint_message_format(void **state)
{
	union gs_addr addr;
	uint16_t port;

	(void)state;
	gs_parse_endpoint("10.0.0.999:80", false, &addr, &port);
	assert_string_equal(gs_last_error(),
			    "invalid address '10.0.0.999:80': expected IP:PORT or [IPv6]:PORT");
}

/* Hostile input: control bytes shown as '?', long input cut with "...". */
static void test_parse_errors_sanitise_hostile_input(void **state)
{
	char longer[1000];
	union gs_addr addr;
	uint32_t value, plen;
	uint16_t port;
	const char *msg;

	(void)state;
	gs_parse_endpoint("\x1b[31mevil\r\n:80", false, &addr, &port);
	msg = gs_last_error();
	assert_non_null(strstr(msg, "'?[31mevil??:80'"));

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(gs_parse_endpoint(longer, true, &addr, &port) < 0);
	msg = gs_last_error();
	assert_true(strlen(msg) < 160);
	assert_non_null(strstr(msg, "aaa..."));
	assert_true(gs_parse_cidr(longer, &addr, &plen) < 0);
	assert_true(strlen(gs_last_error()) < 160);
	assert_true(gs_parse_percent(longer, &value) < 0);
	assert_true(strlen(gs_last_error()) < 160);
	assert_true(gs_parse_u32(longer, 0, 10, "weight", &value) < 0);
	assert_true(strlen(gs_last_error()) < 160);
	assert_true(gs_parse_proto(longer, (uint8_t *)&value) < 0);
	assert_true(strlen(gs_last_error()) < 160);

	/* A long string that starts like a valid address is still refused. */
	memcpy(longer, "10.0.0.1:80", 11);
	assert_true(gs_parse_endpoint(longer, false, &addr, &port) < 0);
}

struct cidr_case {
	const char *input;
	bool ok;
	const char *addr;
	uint32_t prefixlen128;
};

static const struct cidr_case cidr_cases[] = {
	{"10.1.0.0/16", true, "10.1.0.0", 112},
	{"fd00::/64", true, "fd00::", 64},
	{"10.0.0.1", true, "10.0.0.1", 128},
	{"fd00::1", true, "fd00::1", 128},
	{"10.1.2.3/32", true, "10.1.2.3", 128},
	{"0.0.0.0/0", true, "0.0.0.0", 96},
	{"::/0", true, "::", 0},
	{"fd00::1/128", true, "fd00::1", 128},
	{"192.168.0.0/23", true, "192.168.0.0", 119},
	{"::ffff:10.1.0.0/112", true, "10.1.0.0", 112},

	{"10.1.0.1/16", false, NULL, 0},
	{"fd00::1/64", false, NULL, 0},
	{"10.1.0.0/33", false, NULL, 0},
	{"fd00::/129", false, NULL, 0},
	{"10.1.0.0/", false, NULL, 0},
	{"/16", false, NULL, 0},
	{"10.1.0.0/16/1", false, NULL, 0},
	{"10.1.0.0/-1", false, NULL, 0},
	{"10.1.0.0/+16", false, NULL, 0},
	{"10.1.0.0/016", false, NULL, 0},
	{"10.1.0.0/1a", false, NULL, 0},
	{"10.1.0.0 /16", false, NULL, 0},
	{"10.1.0.0/16 ", false, NULL, 0},
	{"[fd00::]/64", false, NULL, 0},
	{"10.1.0/16", false, NULL, 0},
	{"", false, NULL, 0},
	{"abc", false, NULL, 0},
	{"10.1.0.0/99999999999999", false, NULL, 0},
};

static void test_parse_cidr_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cidr_cases); i++) {
		const struct cidr_case *c = &cidr_cases[i];
		char text[GS_ADDR_STRLEN];
		union gs_addr addr;
		uint32_t plen;
		int rc;

		memset(&addr, FILL, sizeof(addr));
		memset(&plen, FILL, sizeof(plen));
		reset_error();
		rc = gs_parse_cidr(c->input, &addr, &plen);
		if (!c->ok) {
			check_rejection(c->input, rc);
			assert_true(all_bytes(&addr, sizeof(addr), FILL));
			assert_true(all_bytes(&plen, sizeof(plen), FILL));
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", c->input, gs_last_error());
		gs_format_addr(&addr, text, sizeof(text));
		assert_string_equal(text, c->addr);
		assert_int_equal(plen, c->prefixlen128);
	}
}

static void test_parse_cidr_host_bits_message(void **state)
{
	union gs_addr addr;
	uint32_t plen;

	(void)state;
	assert_int_equal(gs_parse_cidr("10.1.0.1/16", &addr, &plen), -EINVAL);
	assert_string_equal(gs_last_error(), "10.1.0.1/16: host bits set");
}

struct percent_case {
	const char *input;
	bool ok;
	uint32_t ppm;
};

static const struct percent_case percent_cases[] = {
	{"10", true, 100000},
	{"0.5", true, 5000},
	{"12.25", true, 122500},
	{"10%", true, 100000},
	{"0.0001", true, 1},
	{"100", true, 1000000},
	{"0", true, 0},
	{"0%", true, 0},
	{"100.0000", true, 1000000},
	{"99.9999", true, 999999},
	{"33.3333", true, 333333},
	{"0.1", true, 1000},
	{"5.05%", true, 50500},

	{"-1", false, 0},
	{"+5", false, 0},
	{"100.0001", false, 0},
	{"101", false, 0},
	{"1000", false, 0},
	{"1e2", false, 0},
	{"nan", false, 0},
	{"inf", false, 0},
	{"abc", false, 0},
	{"0x10", false, 0},
	{"", false, 0},
	{"%", false, 0},
	{"10%%", false, 0},
	{"%10", false, 0},
	{" 10", false, 0},
	{"10 ", false, 0},
	{"10 %", false, 0},
	{"0.00001", false, 0},
	{"12.34567", false, 0},
	{".5", false, 0},
	{"5.", false, 0},
	{"10.5.1", false, 0},
	{"05", false, 0},
	{"10,5", false, 0},
	{"99999999999999999999", false, 0},
};

static void test_parse_percent_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(percent_cases); i++) {
		const struct percent_case *c = &percent_cases[i];
		uint32_t ppm = 0xa5a5a5a5;
		int rc;

		reset_error();
		rc = gs_parse_percent(c->input, &ppm);
		if (!c->ok) {
			check_rejection(c->input, rc);
			assert_int_equal(ppm, 0xa5a5a5a5);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", c->input, gs_last_error());
		if (ppm != c->ppm)
			fail_msg("'%s' gave %u ppm, want %u", c->input, ppm, c->ppm);
	}
}

/* Every 4-decimal percent in 0..100 parses to exactly its ppm, which a
 * floating-point parse would miss for values like 0.0003 or 12.2499. */
static void test_parse_percent_exact_for_every_ppm(void **state)
{
	uint32_t want, got;
	char text[32];

	(void)state;
	for (want = 0; want <= GS_PPM_MAX; want++) {
		snprintf(text, sizeof(text), "%u.%04u", want / 10000, want % 10000);
		if (gs_parse_percent(text, &got) != 0)
			fail_msg("'%s' rejected: %s", text, gs_last_error());
		if (got != want)
			fail_msg("'%s' gave %u ppm, want %u", text, got, want);
		assert_true(gs_ppm_to_percent(got) * 10000.0 > want - 0.01);
		assert_true(gs_ppm_to_percent(got) * 10000.0 < want + 0.01);
	}
}

struct name_case {
	int (*parse)(const char *s, uint8_t *out);
	const char *(*name)(uint8_t value);
	const char *input;
	bool ok;
	uint8_t value;
};

static const struct name_case name_cases[] = {
	{gs_parse_proto, gs_proto_name, "tcp", true, IPPROTO_TCP},
	{gs_parse_proto, gs_proto_name, "udp", true, IPPROTO_UDP},
	{gs_parse_proto, gs_proto_name, "TCP", false, 0},
	{gs_parse_proto, gs_proto_name, "icmp", false, 0},
	{gs_parse_proto, gs_proto_name, "6", false, 0},
	{gs_parse_proto, gs_proto_name, "tcp ", false, 0},
	{gs_parse_proto, gs_proto_name, "", false, 0},
	{gs_parse_group, gs_group_name, "stable", true, GS_GROUP_STABLE},
	{gs_parse_group, gs_group_name, "canary", true, GS_GROUP_CANARY},
	{gs_parse_group, gs_group_name, "Canary", false, 0},
	{gs_parse_group, gs_group_name, "both", false, 0},
	{gs_parse_group, gs_group_name, "canaryx", false, 0},
	{gs_parse_group, gs_group_name, "", false, 0},
	{gs_parse_hash_mode, gs_hash_mode_name, "flow", true, GS_HASH_FLOW},
	{gs_parse_hash_mode, gs_hash_mode_name, "client", true, GS_HASH_CLIENT},
	{gs_parse_hash_mode, gs_hash_mode_name, "5tuple", false, 0},
	{gs_parse_hash_mode, gs_hash_mode_name, "flo", false, 0},
	{gs_parse_hash_mode, gs_hash_mode_name, "", false, 0},
};

static void test_parse_names_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(name_cases); i++) {
		const struct name_case *c = &name_cases[i];
		uint8_t value = FILL;
		int rc;

		reset_error();
		rc = c->parse(c->input, &value);
		if (!c->ok) {
			check_rejection(c->input, rc);
			assert_int_equal(value, FILL);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", c->input, gs_last_error());
		assert_int_equal(value, c->value);
		/* The name printed back is the name that was parsed. */
		assert_string_equal(c->name(value), c->input);
	}
	assert_string_equal(gs_proto_name(1), "unknown");
	assert_string_equal(gs_group_name(7), "unknown");
	assert_string_equal(gs_hash_mode_name(9), "unknown");
}

struct u32_case {
	const char *input;
	uint32_t min, max;
	int rc;
	uint32_t value;
};

static const struct u32_case u32_cases[] = {
	{"1", 1, 65535, 0, 1},
	{"65535", 1, 65535, 0, 65535},
	{"0", 0, 10, 0, 0},
	{"4294967295", 0, UINT32_MAX, 0, UINT32_MAX},
	{"0", 1, 65535, -ERANGE, 0},
	{"65536", 1, 65535, -ERANGE, 0},
	{"4294967296", 0, UINT32_MAX, -ERANGE, 0},
	{"99999999999999999999", 0, UINT32_MAX, -ERANGE, 0},
	{"999999999999999999999", 0, UINT32_MAX, -EINVAL, 0},
	{"-1", 0, 10, -EINVAL, 0},
	{"+1", 0, 10, -EINVAL, 0},
	{" 1", 0, 10, -EINVAL, 0},
	{"1 ", 0, 10, -EINVAL, 0},
	{"0x10", 0, 100, -EINVAL, 0},
	{"010", 0, 100, -EINVAL, 0},
	{"1.5", 0, 100, -EINVAL, 0},
	{"", 0, 100, -EINVAL, 0},
	{"ten", 0, 100, -EINVAL, 0},
};

static void test_parse_u32_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(u32_cases); i++) {
		const struct u32_case *c = &u32_cases[i];
		uint32_t value = 0xa5a5a5a5;
		int rc;

		reset_error();
		rc = gs_parse_u32(c->input, c->min, c->max, "weight", &value);
		if (rc != c->rc)
			fail_msg("'%s' in %u..%u: rc %d, want %d (%s)", c->input, c->min, c->max,
				 rc, c->rc, gs_last_error());
		if (rc) {
			check_rejection(c->input, rc);
			assert_non_null(strstr(gs_last_error(), "weight"));
			assert_int_equal(value, 0xa5a5a5a5);
			continue;
		}
		assert_int_equal(value, c->value);
	}
}

struct duration_case {
	const char *input;
	uint32_t max_ms;
	int rc;
	uint32_t ms;
};

static const struct duration_case duration_cases[] = {
	{"0", 1000, 0, 0},
	{"0s", 1000, 0, 0},
	{"500ms", 1000, 0, 500},
	{"30s", 60000, 0, 30000},
	{"2m", 600000, 0, 120000},
	{"1h", 3600000, 0, 3600000},
	{"1001ms", 1000, -ERANGE, 0},
	{"2h", 3600000, -ERANGE, 0},
	{"99999999999h", UINT32_MAX, -EINVAL, 0},
	{"5", 1000, -EINVAL, 0},
	{"1.5s", 10000, -EINVAL, 0},
	{"s", 1000, -EINVAL, 0},
	{"-1s", 1000, -EINVAL, 0},
	{" 1s", 1000, -EINVAL, 0},
	{"1 s", 1000, -EINVAL, 0},
	{"1d", UINT32_MAX, -EINVAL, 0},
	{"01s", 1000, -EINVAL, 0},
	{"", 1000, -EINVAL, 0},
};

static void test_parse_duration_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(duration_cases); i++) {
		const struct duration_case *c = &duration_cases[i];
		uint32_t ms = 0xa5a5a5a5;
		int rc;

		reset_error();
		rc = gs_parse_duration_ms(c->input, c->max_ms, &ms);
		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d (%s)", c->input, rc, c->rc, gs_last_error());
		if (rc) {
			check_rejection(c->input, rc);
			assert_int_equal(ms, 0xa5a5a5a5);
			continue;
		}
		assert_int_equal(ms, c->ms);
	}
}

struct fixed_case {
	const char *input;
	unsigned int decimals;
	uint32_t min, max;
	int rc;
	uint32_t value;
};

static const struct fixed_case fixed_cases[] = {
	{"0.01", 6, 1, 500000, 0, 10000},
	{"0.000001", 6, 1, 500000, 0, 1},
	{"0.5", 6, 1, 500000, 0, 500000},
	{"1.5", 3, 1000, 1000000, 0, 1500},
	{"2", 3, 1, 1000000, 0, 2000},
	{"1000", 3, 1000, 1000000, 0, 1000000},
	{"0.0000001", 6, 1, 500000, -EINVAL, 0},
	{"0.6", 6, 1, 500000, -EINVAL, 0},
	{"0", 6, 1, 500000, -EINVAL, 0},
	{"1000.001", 3, 1000, 1000000, -EINVAL, 0},
	{"99999999999999999999", 3, 0, 1000000, -EINVAL, 0},
	{"1.", 3, 0, 1000000, -EINVAL, 0},
	{".5", 3, 0, 1000000, -EINVAL, 0},
	{"01", 3, 0, 1000000, -EINVAL, 0},
	{"1e3", 3, 0, 1000000, -EINVAL, 0},
	{"-1", 3, 0, 1000000, -EINVAL, 0},
	{"", 3, 0, 1000000, -EINVAL, 0},
};

static void test_parse_fixed_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(fixed_cases); i++) {
		const struct fixed_case *c = &fixed_cases[i];
		uint32_t value = 0xa5a5a5a5;
		int rc;

		reset_error();
		rc = gs_parse_fixed(c->input, c->decimals, c->min, c->max, "ratio", &value);
		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d (%s)", c->input, rc, c->rc, gs_last_error());
		if (rc) {
			check_rejection(c->input, rc);
			assert_non_null(strstr(gs_last_error(), "ratio"));
			assert_int_equal(value, 0xa5a5a5a5);
			continue;
		}
		assert_int_equal(value, c->value);
	}
}

static void test_parse_null_input_rejected(void **state)
{
	union gs_addr addr;
	uint32_t value;
	uint16_t port;
	uint8_t byte;

	(void)state;
	assert_true(gs_parse_endpoint(NULL, true, &addr, &port) < 0);
	assert_true(gs_parse_cidr(NULL, &addr, &value) < 0);
	assert_true(gs_parse_percent(NULL, &value) < 0);
	assert_true(gs_parse_u32(NULL, 0, 1, "n", &value) < 0);
	assert_true(gs_parse_proto(NULL, &byte) < 0);
	assert_true(gs_parse_duration_ms(NULL, 1000, &value) < 0);
	assert_true(gs_parse_fixed(NULL, 3, 0, 1000, "n", &value) < 0);
}

/* Formatting what was parsed gives back the canonical input. */
static void test_format_round_trip(void **state)
{
	static const char *const endpoints[] = {
		"10.0.0.10:80", "[fd00::1]:80", "0.0.0.0:1", "[::]:65535", "[2001:db8::a:b]:8080",
	};
	char text[GS_ENDPOINT_STRLEN];
	union gs_addr addr;
	uint16_t port;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(endpoints); i++) {
		assert_int_equal(gs_parse_endpoint(endpoints[i], false, &addr, &port), 0);
		gs_format_endpoint(&addr, port, text, sizeof(text));
		assert_string_equal(text, endpoints[i]);
	}

	/* The longest IPv6 text fits the declared buffer sizes. */
	assert_int_equal(gs_parse_endpoint("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", false,
					   &addr, &port),
			 0);
	gs_format_endpoint(&addr, port, text, sizeof(text));
	assert_string_equal(text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

	/* Too small a buffer is cut, never overrun (ASan watches). */
	gs_format_endpoint(&addr, port, text, 6);
	assert_true(strlen(text) < 6);
	gs_format_addr(&addr, text, 4);
	assert_true(strlen(text) < 4);

	assert_true(gs_ppm_to_percent(122500) == 12.25);
	assert_true(gs_ppm_to_percent(GS_PPM_MAX) == 100.0);
	assert_true(gs_ppm_to_percent(0) == 0.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_endpoint_table),
		cmocka_unit_test(test_parse_endpoint_stores_ipv4_as_v4_mapped),
		cmocka_unit_test(test_parse_endpoint_message_format),
		cmocka_unit_test(test_parse_errors_sanitise_hostile_input),
		cmocka_unit_test(test_parse_cidr_table),
		cmocka_unit_test(test_parse_cidr_host_bits_message),
		cmocka_unit_test(test_parse_percent_table),
		cmocka_unit_test(test_parse_percent_exact_for_every_ppm),
		cmocka_unit_test(test_parse_names_table),
		cmocka_unit_test(test_parse_u32_table),
		cmocka_unit_test(test_parse_duration_table),
		cmocka_unit_test(test_parse_fixed_table),
		cmocka_unit_test(test_parse_null_input_rejected),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
