// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Parsers for operator input. Addresses go through inet_pton(), which is
 * strict already (no leading zeros in IPv4, no zone ids); the code here only
 * splits the text, bounds it and checks the numbers around the addresses.
 *
 * A v4-mapped IPv6 literal such as "::ffff:10.0.0.1" is accepted and is the
 * IPv4 address 10.0.0.1: both are stored as the same 16 bytes, the data path
 * cannot tell them apart, and the formatters print it back as "10.0.0.1".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "parse.h"

/* Longest input any parser looks at; "[" + 45 + "]:65535" is 53. */
#define GS_INPUT_MAX 64
/* How much of a bad input an error message quotes. */
#define GS_QUOTE_MAX 64

#define GS_PERCENT_DECIMALS 4

/*
 * Copy of s fit to print inside quotes: control and non-ASCII bytes become
 * '?', and anything past GS_QUOTE_MAX is cut with "...", so hostile input
 * cannot break the one-line error or flood the terminal.
 */
struct quoted {
	char s[GS_QUOTE_MAX + 4];
};

static const char *quote(const char *s, struct quoted *q)
{
	size_t i;

	if (!s)
		return "(null)";
	for (i = 0; i < GS_QUOTE_MAX && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		q->s[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (s[i]) {
		memcpy(q->s + i, "...", 3);
		i += 3;
	}
	q->s[i] = '\0';
	return q->s;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of s if it is 1..max bytes long, else 0 (empty or too long). */
static size_t bounded_len(const char *s, size_t max)
{
	size_t len;

	if (!s)
		return 0;
	len = strnlen(s, max + 1);
	return len > max ? 0 : len;
}

/*
 * Decimal digits only, the whole of s[0..len): no sign, no spaces (which
 * strtoul would allow) and no leading zero (which some tools read as octal),
 * value in [min, max].
 */
static bool parse_decimal(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	if (v < min)
		return false;
	*out = v;
	return true;
}

static void addr_from_v4(union gs_addr *addr, const struct in_addr *in)
{
	memset(addr, 0, sizeof(*addr));
	addr->b[10] = 0xff;
	addr->b[11] = 0xff;
	memcpy(&addr->b[12], in, 4);
}

/* inet_pton on s[0..len) of the given family (AF_INET or AF_INET6). */
static bool parse_addr_family(const char *s, size_t len, int family, union gs_addr *addr)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	struct in_addr in4;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (family == AF_INET) {
		if (inet_pton(AF_INET, buf, &in4) != 1)
			return false;
		addr_from_v4(addr, &in4);
		return true;
	}
	if (inet_pton(AF_INET6, buf, &in6) != 1)
		return false;
	memcpy(addr->b, &in6, sizeof(addr->b));
	return true;
}

int gs_parse_endpoint(const char *s, bool port_optional, union gs_addr *addr, uint16_t *port)
{
	const char *want =
		port_optional ? "IP, IP:PORT, [IPv6] or [IPv6]:PORT" : "IP:PORT or [IPv6]:PORT";
	const char *host, *colon, *port_str = NULL;
	size_t len, host_len;
	union gs_addr parsed;
	struct quoted q;
	uint64_t port_val = 0;
	int family;

	len = bounded_len(s, GS_INPUT_MAX);
	if (len == 0)
		return gs_fail(EINVAL, "invalid address '%s': %s", quote(s, &q),
			       s && *s ? "too long" : "empty");

	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return gs_fail(EINVAL, "invalid address '%s': missing ']'", quote(s, &q));
		host = s + 1;
		host_len = (size_t)(close - host);
		family = AF_INET6;
		if (close[1] == ':')
			port_str = close + 2;
		else if (close[1] != '\0')
			return gs_fail(EINVAL, "invalid address '%s': expected %s", quote(s, &q),
				       want);
	} else {
		host = s;
		colon = memchr(s, ':', len);
		if (!colon) {
			host_len = len;
			family = AF_INET;
		} else if (!memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
			/* Exactly one colon: only IPv4:PORT can have that. */
			host_len = (size_t)(colon - s);
			port_str = colon + 1;
			family = AF_INET;
		} else if (port_optional) {
			host_len = len;
			family = AF_INET6;
		} else {
			/* "fd00::1:80" could be fd00::1 port 80 or fd00::1:80. */
			return gs_fail(
				EINVAL,
				"invalid address '%s': write an IPv6 endpoint as [IPv6]:PORT",
				quote(s, &q));
		}
	}

	if (!parse_addr_family(host, host_len, family, &parsed))
		return gs_fail(EINVAL, "invalid address '%s': expected %s", quote(s, &q), want);

	if (port_str) {
		if (!parse_decimal(port_str, strlen(port_str), 1, 65535, &port_val))
			return gs_fail(EINVAL,
				       "invalid address '%s': port must be a decimal 1..65535",
				       quote(s, &q));
	} else if (!port_optional) {
		return gs_fail(EINVAL, "invalid address '%s': missing port, expected %s",
			       quote(s, &q), want);
	}

	*addr = parsed;
	*port = (uint16_t)port_val;
	return 0;
}

/* True if any bit at or after bit prefixlen (of 128, MSB first) is set. */
static bool host_bits_set(const union gs_addr *addr, uint32_t prefixlen)
{
	uint32_t i;

	for (i = prefixlen; i < 128; i++) {
		if (addr->b[i / 8] & (0x80u >> (i % 8)))
			return true;
	}
	return false;
}

int gs_parse_cidr(const char *s, union gs_addr *addr, uint32_t *prefixlen128)
{
	const char *slash;
	size_t len, host_len;
	union gs_addr parsed;
	uint64_t plen;
	struct quoted q;
	bool v4;

	len = bounded_len(s, GS_INPUT_MAX);
	if (len == 0)
		return gs_fail(EINVAL, "invalid CIDR '%s': %s", quote(s, &q),
			       s && *s ? "too long" : "empty");

	slash = memchr(s, '/', len);
	host_len = slash ? (size_t)(slash - s) : len;
	v4 = !memchr(s, ':', host_len);
	if (!parse_addr_family(s, host_len, v4 ? AF_INET : AF_INET6, &parsed))
		return gs_fail(EINVAL, "invalid CIDR '%s': expected ADDRESS or ADDRESS/PREFIX",
			       quote(s, &q));

	if (slash) {
		if (!parse_decimal(slash + 1, len - host_len - 1, 0, v4 ? 32 : 128, &plen))
			return gs_fail(EINVAL, "invalid CIDR '%s': prefix must be 0..%d",
				       quote(s, &q), v4 ? 32 : 128);
		if (v4)
			plen += 96;
	} else {
		plen = 128;
	}

	if (host_bits_set(&parsed, (uint32_t)plen))
		return gs_fail(EINVAL, "%s: host bits set", quote(s, &q));

	*addr = parsed;
	*prefixlen128 = (uint32_t)plen;
	return 0;
}

/*
 * Integer arithmetic on the digits, never floating point, so "12.25" is
 * exactly 122500 ppm and the threshold an operator typed is the one the data
 * path compares against.
 */
int gs_parse_percent(const char *s, uint32_t *ppm)
{
	size_t len, i = 0, int_digits = 0, frac_digits = 0;
	uint64_t whole = 0, frac = 0, total;
	struct quoted q;

	len = bounded_len(s, 16);
	if (len == 0)
		goto bad;
	if (s[len - 1] == '%')
		len--;
	while (i < len && is_digit(s[i])) {
		whole = whole * 10 + (uint64_t)(s[i] - '0');
		if (whole > 100)
			goto range;
		i++;
		int_digits++;
	}
	if (int_digits == 0 || (int_digits > 1 && s[0] == '0'))
		goto bad;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && is_digit(s[i])) {
			if (++frac_digits > GS_PERCENT_DECIMALS)
				return gs_fail(EINVAL,
					       "invalid percent '%s': at most %d decimals (1 ppm = "
					       "0.0001%%)",
					       quote(s, &q), GS_PERCENT_DECIMALS);
			frac = frac * 10 + (uint64_t)(s[i] - '0');
			i++;
		}
		if (frac_digits == 0)
			goto bad;
	}
	if (i != len)
		goto bad;
	for (; frac_digits < GS_PERCENT_DECIMALS; frac_digits++)
		frac *= 10;
	total = whole * 10000 + frac;
	if (total > GS_PPM_MAX)
		goto range;
	*ppm = (uint32_t)total;
	return 0;

bad:
	return gs_fail(EINVAL, "invalid percent '%s': expected 0..100, e.g. 10, 0.5, 12.25 or 10%%",
		       quote(s, &q));
range:
	return gs_fail(ERANGE, "invalid percent '%s': must be between 0 and 100", quote(s, &q));
}

struct name_value {
	const char *name;
	uint8_t value;
};

static const struct name_value proto_names[] = {
	{"tcp", IPPROTO_TCP},
	{"udp", IPPROTO_UDP},
};

static const struct name_value group_names[] = {
	{"stable", GS_GROUP_STABLE},
	{"canary", GS_GROUP_CANARY},
};

static const struct name_value hash_mode_names[] = {
	{"flow", GS_HASH_FLOW},
	{"client", GS_HASH_CLIENT},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int parse_name(const char *s, const struct name_value *table, size_t n, const char *what,
		      uint8_t *out)
{
	struct quoted q;
	size_t i;

	for (i = 0; s && i < n; i++) {
		if (strcmp(s, table[i].name) == 0) {
			*out = table[i].value;
			return 0;
		}
	}
	return gs_fail(EINVAL, "invalid %s '%s': expected %s or %s", what, quote(s, &q),
		       table[0].name, table[1].name);
}

static const char *value_name(uint8_t value, const struct name_value *table, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (table[i].value == value)
			return table[i].name;
	}
	return "unknown";
}

int gs_parse_proto(const char *s, uint8_t *proto)
{
	return parse_name(s, proto_names, ARRAY_SIZE(proto_names), "protocol", proto);
}

int gs_parse_group(const char *s, uint8_t *group)
{
	return parse_name(s, group_names, ARRAY_SIZE(group_names), "group", group);
}

int gs_parse_hash_mode(const char *s, uint8_t *hash_mode)
{
	return parse_name(s, hash_mode_names, ARRAY_SIZE(hash_mode_names), "hash mode", hash_mode);
}

static const struct name_value dep_proto_names[] = {
	{"tcp", GS_DEP_PROTO_TCP},
	{"postgres", GS_DEP_PROTO_POSTGRES},
	{"redis", GS_DEP_PROTO_REDIS},
	{"http", GS_DEP_PROTO_HTTP},
};

int gs_parse_dep_proto(const char *s, uint8_t *proto)
{
	return parse_name(s, dep_proto_names, ARRAY_SIZE(dep_proto_names), "protocol", proto);
}

const char *gs_dep_proto_name(uint8_t proto)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dep_proto_names); i++)
		if (dep_proto_names[i].value == proto)
			return dep_proto_names[i].name;
	return "tcp";
}

int gs_parse_u32(const char *s, uint32_t min, uint32_t max, const char *what, uint32_t *out)
{
	struct quoted q;
	uint64_t v;
	size_t len;

	len = bounded_len(s, 20);
	if (!parse_decimal(s, len, min, max, &v)) {
		/* Well-formed but outside the range is ERANGE; anything else EINVAL. */
		bool well_formed =
			len && strspn(s, "0123456789") == len && (len == 1 || s[0] != '0');

		return gs_fail(well_formed ? ERANGE : EINVAL,
			       "invalid %s '%s': expected an integer %u..%u",
			       what ? what : "number", quote(s, &q), min, max);
	}
	*out = (uint32_t)v;
	return 0;
}

static const struct {
	const char *unit;
	uint32_t ms;
} duration_units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};

int gs_parse_duration_ms(const char *s, uint32_t max_ms, uint32_t *ms)
{
	size_t len = bounded_len(s, 24), digits, i;
	struct quoted q;
	uint64_t v;

	digits = len ? strspn(s, "0123456789") : 0;
	if (digits && digits == len && !strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	for (i = 0; digits && i < ARRAY_SIZE(duration_units); i++) {
		if (strcmp(s + digits, duration_units[i].unit) != 0)
			continue;
		if (!parse_decimal(s, digits, 0, UINT32_MAX, &v))
			break;
		v *= duration_units[i].ms;
		if (v > max_ms)
			return gs_fail(ERANGE, "invalid duration '%s': at most %u ms", quote(s, &q),
				       max_ms);
		*ms = (uint32_t)v;
		return 0;
	}
	return gs_fail(EINVAL,
		       "invalid duration '%s': expected a whole number and a unit: 500ms, 30s, "
		       "2m, 1h (or 0)",
		       quote(s, &q));
}

static double scale_of(unsigned int decimals)
{
	double d = 1;

	while (decimals--)
		d *= 10;
	return d;
}

int gs_parse_fixed(const char *s, unsigned int decimals, uint32_t min, uint32_t max,
		   const char *what, uint32_t *out)
{
	size_t len = bounded_len(s, 24), int_digits, frac_digits = 0, i;
	uint64_t v = 0;
	struct quoted q;

	int_digits = len ? strspn(s, "0123456789") : 0;
	if (int_digits < len && s[int_digits] == '.')
		frac_digits = strspn(s + int_digits + 1, "0123456789");
	if (!int_digits || (int_digits > 1 && s[0] == '0') ||
	    (int_digits != len && (!frac_digits || int_digits + 1 + frac_digits != len)))
		goto bad;
	if (frac_digits > decimals)
		return gs_fail(EINVAL, "invalid %s '%s': at most %u decimals", what, quote(s, &q),
			       decimals);
	for (i = 0; i < len; i++) {
		if (s[i] == '.')
			continue;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX * 10ull)
			goto bad;
	}
	for (; frac_digits < decimals && v <= max; frac_digits++)
		v *= 10;
	if (v < min || v > max)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return gs_fail(EINVAL, "invalid %s '%s': expected a number %g..%g", what, quote(s, &q),
		       min / scale_of(decimals), max / scale_of(decimals));
}

void gs_format_addr(const union gs_addr *addr, char *buf, size_t len)
{
	const char *ok;

	if (!len)
		return;
	if (gs_addr_is_v4(addr))
		ok = inet_ntop(AF_INET, &addr->b[12], buf, (socklen_t)len);
	else
		ok = inet_ntop(AF_INET6, addr->b, buf, (socklen_t)len);
	if (!ok)
		snprintf(buf, len, "?");
}

void gs_format_endpoint(const union gs_addr *addr, uint16_t port, char *buf, size_t len)
{
	char host[GS_ADDR_STRLEN];

	gs_format_addr(addr, host, sizeof(host));
	if (gs_addr_is_v4(addr))
		snprintf(buf, len, "%s:%u", host, port);
	else
		snprintf(buf, len, "[%s]:%u", host, port);
}

const char *gs_proto_name(uint8_t proto)
{
	return value_name(proto, proto_names, ARRAY_SIZE(proto_names));
}

const char *gs_group_name(uint8_t group)
{
	return value_name(group, group_names, ARRAY_SIZE(group_names));
}

const char *gs_hash_mode_name(uint8_t hash_mode)
{
	return value_name(hash_mode, hash_mode_names, ARRAY_SIZE(hash_mode_names));
}

double gs_ppm_to_percent(uint32_t ppm)
{
	return ppm / 10000.0;
}
