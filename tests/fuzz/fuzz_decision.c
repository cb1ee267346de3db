// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The decision log's readable line (gs_decision_format, what `graysplit
 * events` and `top` print for each JSON line of the log): whatever the line
 * holds, the text stays inside the buffer, is NUL-terminated and is one
 * line without control characters. Byte 0 of the input picks the buffer
 * size (1..256, or the 2048 of `events`); the rest is the log line.
 */
#include <json-c/json.h>

#include "decisions.h"
#include "fuzz.h"

static void format_into(struct json_object *e, size_t len)
{
	char *buf = malloc(len); /* exactly len: ASan sees any write past it */
	size_t i, n;

	if (!buf)
		abort();
	gs_decision_format(e, buf, len);
	n = strnlen(buf, len);
	FUZZ_CHECK(n < len, "no NUL within %zu bytes", len);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f,
			   "control byte 0x%02x at %zu of '%s'", (unsigned char)buf[i], i, buf);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *e;
	size_t len;
	char *line;

	if (size < 1)
		return 0;
	len = data[0] == 0xff ? 2048 : (size_t)data[0] + 1;
	line = fuzz_cstr(data + 1, size - 1);
	/* As `events` reads it: json_tokener_parse on the line. */
	e = json_tokener_parse(line);
	if (e) {
		format_into(e, len);
		format_into(e, 2048);
		json_object_put(e);
	}
	free(line);
	return 0;
}
