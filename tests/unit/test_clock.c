// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The kernel's tick rate and jiffies as user space finds them
 * (user/core/clock.c), which the next hop cache's life is counted in: the
 * rate is one Linux allows, the jiffies advance at it, and the cache's life
 * in ticks is GS_FIB_CACHE_TTL_NS at that rate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "graysplit.h"

static void test_hz_is_a_linux_rate(void **state)
{
	static const uint32_t rates[] = {24,  32,  48,	64,  100,  128,	 200,
					 250, 256, 300, 512, 1000, 1024, 1200};
	uint32_t hz = gs_kernel_hz();
	size_t i;

	(void)state;
	assert_int_not_equal(hz, 0);
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i] == hz)
			return;
	fail_msg("tick rate %u is none Linux has", hz);
}

/* Between two readings half a second apart, jiffies move by the rate
 * times the time between them, which the monotonic clock brackets however
 * long the test was descheduled, give or take a tick at each end. */
static void test_jiffies_advance_at_hz(void **state)
{
	struct timespec half = {0, 500000000};
	uint32_t hz = gs_kernel_hz();
	uint64_t j1, j2, t1a, t1b, t2a, t2b;
	double lo, hi, got;

	(void)state;
	t1a = gs_monotonic_ns();
	j1 = gs_kernel_jiffies();
	t1b = gs_monotonic_ns();
	nanosleep(&half, NULL);
	t2a = gs_monotonic_ns();
	j2 = gs_kernel_jiffies();
	t2b = gs_monotonic_ns();
	assert_true(j1 != 0 && j2 > j1);
	lo = (double)(t2a - t1b) / 1e9 * hz - 2;
	hi = (double)(t2b - t1a) / 1e9 * hz + 2;
	got = (double)(j2 - j1);
	if (got < lo || got > hi)
		fail_msg("jiffies moved %.0f; at %u Hz want %.0f to %.0f", got, hz, lo, hi);
}

static void test_cache_life_in_ticks(void **state)
{
	(void)state;
	assert_int_equal(gs_fib_ttl_ticks(), GS_FIB_CACHE_TTL_NS * gs_kernel_hz() / 1000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hz_is_a_linux_rate),
		cmocka_unit_test(test_jiffies_advance_at_hz),
		cmocka_unit_test(test_cache_life_in_ticks),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
