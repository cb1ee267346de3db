// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gs_parse_group, gs_parse_proto, gs_parse_hash_mode: each accepts exactly
 * its names (no prefix, case or space games) and the value names itself
 * back; anything else is EINVAL with one line and the output untouched.
 */
#include "fuzz.h"
#include "parse.h"

#define SENTINEL 0xa5

static void check(const char *s, int (*parse)(const char *, uint8_t *),
		  const char *(*name)(uint8_t), const char *a, const char *b)
{
	uint8_t v = SENTINEL;
	int err;

	fuzz_reset_error();
	err = parse(s, &v);
	if (!err) {
		FUZZ_CHECK(!strcmp(s, a) || !strcmp(s, b), "'%s' accepted", s);
		FUZZ_CHECK(!strcmp(name(v), s), "'%s' -> %u named '%s'", s, v, name(v));
	} else {
		FUZZ_CHECK(strcmp(s, a) && strcmp(s, b), "'%s' refused", s);
		fuzz_check_failure(err, EINVAL, EINVAL, s);
		FUZZ_CHECK(v == SENTINEL, "'%s' failed but wrote %u", s, v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	check(s, gs_parse_group, gs_group_name, "stable", "canary");
	check(s, gs_parse_proto, gs_proto_name, "tcp", "udp");
	check(s, gs_parse_hash_mode, gs_hash_mode_name, "flow", "client");
	free(s);
	return 0;
}
