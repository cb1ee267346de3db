// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's reading of the kernel's 32-bit per-CPU histogram buckets
 * (user/core/collect.c): summed over CPUs and differenced modulo 2^32, an
 * interval's count is exact even when a CPU's counter wrapped in between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collect.h"

#define NCPUS 4

static struct gs_hist before[NCPUS], after[NCPUS];

/* The kernel's view: CPU c's bucket b moved from start by gained (mod 2^32). */
static void set_bucket(int cpu, uint32_t b, uint32_t start, uint32_t gained)
{
	before[cpu].bucket[b] = start;
	after[cpu].bucket[b] = start + gained;
}

static void test_collect_interval_exact_across_32bit_wraps(void **state)
{
	uint32_t sum_before[GS_HIST_BUCKETS], sum_after[GS_HIST_BUCKETS];
	struct gs_hist64 h;
	uint32_t b;

	(void)state;
	memset(before, 0, sizeof(before));
	memset(after, 0, sizeof(after));
	memset(&h, 0, sizeof(h));
	/* bucket 3: CPU 0 wraps, CPU 1 does not, CPU 2 lands exactly on 0. */
	set_bucket(0, 3, 0xfffffff0u, 0x20);
	set_bucket(1, 3, 7, 5);
	set_bucket(2, 3, 0xffffffffu, 1);
	/* bucket 100: every CPU near the top, the sum over CPUs wraps too. */
	for (int cpu = 0; cpu < NCPUS; cpu++)
		set_bucket(cpu, 100, 0xfffff000u, 0x2000);
	/* last bucket: a large but legal interval, 2^31 on one CPU. */
	set_bucket(3, GS_HIST_BUCKETS - 1, 0x90000000u, 0x80000000u);

	gs_hist_sum_cpus(before, NCPUS, sum_before);
	gs_hist_sum_cpus(after, NCPUS, sum_after);
	gs_hist_add_delta(&h, sum_after, sum_before);

	assert_int_equal(h.bucket[3], 0x20 + 5 + 1);
	assert_int_equal(h.bucket[100], 4 * 0x2000);
	assert_int_equal(h.bucket[GS_HIST_BUCKETS - 1], 0x80000000u);
	assert_int_equal(h.count, 0x20 + 5 + 1 + 4 * 0x2000 + 0x80000000ull);
	for (b = 0; b < GS_HIST_BUCKETS; b++)
		if (b != 3 && b != 100 && b != GS_HIST_BUCKETS - 1)
			assert_int_equal(h.bucket[b], 0);

	/* Adding a second interval accumulates in 64 bits. */
	gs_hist_add_delta(&h, sum_after, sum_before);
	assert_int_equal(h.bucket[GS_HIST_BUCKETS - 1], 0x100000000ull);
}

static void test_collect_no_change_is_zero(void **state)
{
	uint32_t sum[GS_HIST_BUCKETS];
	struct gs_hist64 h;
	uint32_t b;

	(void)state;
	for (int cpu = 0; cpu < NCPUS; cpu++)
		for (b = 0; b < GS_HIST_BUCKETS; b++)
			before[cpu].bucket[b] = 0xffffffffu - b * (uint32_t)cpu;
	memset(&h, 0, sizeof(h));
	gs_hist_sum_cpus(before, NCPUS, sum);
	gs_hist_add_delta(&h, sum, sum);
	assert_int_equal(h.count, 0);
}

static struct gs_udp_slots slots[NCPUS];

static void slot_set(int cpu, uint32_t epoch, uint32_t started, uint32_t answered)
{
	struct gs_udp_slot *s = &slots[cpu].slot[epoch % GS_UDP_SLOTS];

	s->epoch = epoch;
	s->started = started;
	s->answered = answered;
}

/*
 * A flow starts on one CPU and is answered on another: a slot's counts are
 * summed over every CPU whose copy holds that epoch, and a copy holding an
 * older epoch in the same ring position counts nothing for it.
 */
static void test_udp_unanswered_per_slot_over_cpus(void **state)
{
	(void)state;
	memset(slots, 0, sizeof(slots));
	/* epoch 1000: 5 started on CPU 0, 3 answered on CPU 1, 1 on CPU 2. */
	slot_set(0, 1000, 5, 0);
	slot_set(1, 1000, 0, 3);
	slot_set(2, 1000, 0, 1);
	/* CPU 3 still holds the slot's previous lap: not epoch 1000's. */
	slot_set(3, 1000 - GS_UDP_SLOTS, 9, 0);
	/* epoch 1001: all answered; epoch 1002: 2 unanswered. */
	slot_set(0, 1001, 4, 4);
	slot_set(1, 1002, 2, 0);
	/* Answers counted before their starts were (another CPU's copy read
	 * first): never a negative count. */
	slot_set(2, 1003, 0, 2);
	assert_int_equal(gs_udp_unanswered(slots, NCPUS, 999, 1000), 1);
	assert_int_equal(gs_udp_unanswered(slots, NCPUS, 1000, 1001), 0);
	assert_int_equal(gs_udp_unanswered(slots, NCPUS, 999, 1003), 3);
	/* Nothing judged twice: from the last judged slot on. */
	assert_int_equal(gs_udp_unanswered(slots, NCPUS, 1002, 1003), 0);
	assert_int_equal(gs_udp_unanswered(slots, NCPUS, 1003, 1003), 0);
}

/* An agent that looks after a long pause judges the ring it has, no lap
 * twice. */
static void test_udp_unanswered_bounded_by_the_ring(void **state)
{
	uint32_t e;

	(void)state;
	memset(slots, 0, sizeof(slots));
	for (e = 5000; e < 5000 + GS_UDP_SLOTS; e++)
		slot_set(0, e, 1, 0);
	/* Judged last at 100, due now at 5000 + 63: only the ring's 64. */
	assert_int_equal(gs_udp_unanswered(slots, 1, 100, 5000 + GS_UDP_SLOTS - 1), GS_UDP_SLOTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect_interval_exact_across_32bit_wraps),
		cmocka_unit_test(test_collect_no_change_is_zero),
		cmocka_unit_test(test_udp_unanswered_per_slot_over_cpus),
		cmocka_unit_test(test_udp_unanswered_bounded_by_the_ring),
	};

	return cmocka_run_group_tests_name("collect", tests, NULL, NULL);
}
