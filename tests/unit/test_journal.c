// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The undo journal's file format: what is encoded decodes to the same
 * state, byte for byte; a file cut short, grown, flipped anywhere, from
 * another layout, or claiming too many overrides is refused, never half
 * read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "journal.h"

static void fill(struct gs_journal *j, uint32_t noverrides)
{
	uint32_t i;

	memset(j, 0, sizeof(*j));
	memcpy(j->head.magic, GS_JOURNAL_MAGIC, sizeof(j->head.magic));
	j->head.head_size = sizeof(j->head);
	j->head.pid = 4242;
	snprintf(j->head.cmd, sizeof(j->head.cmd), "apply");
	j->head.key.vip.b[10] = 0xff;
	j->head.key.vip.b[11] = 0xff;
	j->head.key.vip.b[15] = 10;
	j->head.key.port = 0x5000;
	j->head.key.proto = 6;
	j->head.has_service = 1;
	j->head.has_rollout = 1;
	j->head.service.id = 3;
	j->head.split.canary_ppm = 250000;
	j->head.rollout.generation = 7;
	j->head.rollout.nsteps = 2;
	snprintf(j->head.rollout.name, sizeof(j->head.rollout.name), "web-v2");
	for (i = 0; i < GS_MAX_BACKENDS; i += 97) {
		j->head.backends[i].service_id = 3;
		j->head.backends[i].state = GS_BACKEND_ACTIVE;
		j->head.backends[i].weight = (uint16_t)(i + 1);
		j->head.backends[i].addr.b[15] = (uint8_t)i;
	}
	j->head.noverrides = noverrides;
	j->overrides = noverrides ? calloc(noverrides, sizeof(*j->overrides)) : NULL;
	for (i = 0; i < noverrides; i++) {
		j->overrides[i].key.prefixlen = 32 + 96 + 24;
		j->overrides[i].key.service_id = 3;
		j->overrides[i].key.client.b[14] = (uint8_t)i;
		j->overrides[i].value.group = (uint8_t)(i & 1);
	}
}

static void round_trip(void **state)
{
	uint32_t counts[] = {0, 1, 5, 300};
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		struct gs_journal in, out;
		void *buf, *again;
		size_t len, len2;

		fill(&in, counts[k]);
		assert_int_equal(gs_journal_encode(&in, &buf, &len), 0);
		assert_int_equal(len, sizeof(in.head) + counts[k] * sizeof(in.overrides[0]) + 8);
		assert_int_equal(gs_journal_decode(buf, len, &out), 0);
		assert_memory_equal(&in.head, &out.head, sizeof(in.head));
		assert_int_equal(out.head.noverrides, counts[k]);
		if (counts[k])
			assert_memory_equal(in.overrides, out.overrides,
					    counts[k] * sizeof(in.overrides[0]));
		/* One state, one encoding. */
		assert_int_equal(gs_journal_encode(&out, &again, &len2), 0);
		assert_int_equal(len, len2);
		assert_memory_equal(buf, again, len);
		free(again);
		free(buf);
		gs_journal_free(&in);
		gs_journal_free(&out);
	}
}

static void refuses_damage(void **state)
{
	struct gs_journal in, out;
	unsigned char *buf, *big;
	size_t len, off;
	void *raw;

	(void)state;
	fill(&in, 3);
	assert_int_equal(gs_journal_encode(&in, &raw, &len), 0);
	buf = raw;
	/* Every prefix, empty included. */
	for (off = 0; off < len; off += off < 64 ? 1 : 509)
		assert_int_equal(gs_journal_decode(buf, off, &out), -EBADMSG);
	assert_int_equal(gs_journal_decode(buf, len - 1, &out), -EBADMSG);
	/* One byte more. */
	big = calloc(1, len + 1);
	memcpy(big, buf, len);
	assert_int_equal(gs_journal_decode(big, len + 1, &out), -EBADMSG);
	free(big);
	/* A bit flipped anywhere: head, overrides, checksum. */
	for (off = 0; off < len; off += off < 64 ? 1 : 331) {
		buf[off] ^= 0x10;
		assert_int_equal(gs_journal_decode(buf, len, &out), -EBADMSG);
		assert_null(out.overrides);
		buf[off] ^= 0x10;
	}
	buf[len - 1] ^= 1;
	assert_int_equal(gs_journal_decode(buf, len, &out), -EBADMSG);
	buf[len - 1] ^= 1;
	assert_int_equal(gs_journal_decode(buf, len, &out), 0);
	gs_journal_free(&out);
	free(raw);
	gs_journal_free(&in);
}

/* Checks that come before the checksum: a forged count or layout is
 * caught by name, not by reading past the buffer. */
static void refuses_forged_fields(void **state)
{
	struct gs_journal in, out;
	size_t len;
	void *buf;

	(void)state;
	fill(&in, 0);
	in.head.noverrides = GS_MAX_OVERRIDES + 1;
	in.overrides = calloc(GS_MAX_OVERRIDES + 1, sizeof(*in.overrides));
	assert_int_equal(gs_journal_encode(&in, &buf, &len), 0);
	assert_int_equal(gs_journal_decode(buf, len, &out), -EBADMSG);
	assert_non_null(strstr(gs_last_error(), "overrides"));
	free(buf);
	gs_journal_free(&in);

	fill(&in, 0);
	in.head.head_size = sizeof(in.head) - 8;
	assert_int_equal(gs_journal_encode(&in, &buf, &len), 0);
	assert_int_equal(gs_journal_decode(buf, len, &out), -EBADMSG);
	assert_non_null(strstr(gs_last_error(), "build"));
	free(buf);

	fill(&in, 0);
	memset(in.head.cmd, 'x', sizeof(in.head.cmd));
	assert_int_equal(gs_journal_encode(&in, &buf, &len), 0);
	assert_int_equal(gs_journal_decode(buf, len, &out), -EBADMSG);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(refuses_damage),
		cmocka_unit_test(refuses_forged_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
