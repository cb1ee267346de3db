// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "check.h"

#include <stdbool.h>
#include <string.h>

void check_csums(const uint8_t *frame, size_t len, const char *what)
{
	const char *error = pkt_csum_error(frame, len);

	if (error)
		fail_msg("%s: %s", what, error);
}

static bool in_range(size_t i, size_t start, size_t len)
{
	return i >= start && i < start + len;
}

void check_only_rewritten(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
			  bool dst_side, const char *what)
{
	struct pkt_view v;
	size_t i, addr_off, port_off;

	CHECK_EQ(out_len, in_len, what);
	if (!pkt_parse(in, in_len, &v))
		fail_msg("%s: input frame does not parse", what);
	addr_off = dst_side ? v.dst_addr_off : v.src_addr_off;
	port_off = v.l4_off + (dst_side ? 2 : 0);
	for (i = 0; i < in_len; i++) {
		if (in[i] == out[i])
			continue;
		if (in_range(i, addr_off, v.addr_len) || in_range(i, port_off, 2) ||
		    in_range(i, v.l4_csum_off, 2) || (v.is_v4 && in_range(i, v.ip_csum_off, 2)))
			continue;
		fail_msg("%s: byte %zu changed (0x%02x -> 0x%02x) outside the rewritten fields",
			 what, i, in[i], out[i]);
	}
}

void check_unchanged(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
		     const char *what)
{
	CHECK_EQ(out_len, in_len, what);
	if (memcmp(in, out, in_len))
		fail_msg("%s: frame changed", what);
}
