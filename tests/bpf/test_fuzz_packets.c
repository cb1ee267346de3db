// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Packet fuzzing of both programs (tests/bpf/fuzz.c). Without arguments, a
 * 10k-frame smoke slice for `make test`; `make fuzz` runs it with
 * --frames N --seed S. Either way one cmocka test with TAP output.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t opt_frames = 10000;
static uint64_t opt_seed = 1;

static void fuzz_packets(void **state)
{
	struct fz_stats stats;

	fz_run(*state, opt_seed, opt_frames, &stats);
	fz_print_stats(&stats, opt_seed);
}

static int parse_u64(const char *text, uint64_t *out)
{
	char *end;

	if (!text || !*text || *text == '-')
		return -1;
	*out = strtoull(text, &end, 0);
	return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fuzz_packets, fx_setup, fx_teardown),
	};
	int i;

	for (i = 1; i < argc; i++) {
		uint64_t *opt = NULL;

		if (!strcmp(argv[i], "--frames"))
			opt = &opt_frames;
		else if (!strcmp(argv[i], "--seed"))
			opt = &opt_seed;
		if (!opt || parse_u64(argv[i + 1], opt)) {
			fprintf(stderr, "usage: %s [--frames N] [--seed S]\n", argv[0]);
			return 2;
		}
		i++;
	}
	return cmocka_run_group_tests_name("bpf_fuzz_packets", tests, NULL, NULL);
}
