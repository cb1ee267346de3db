// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t gs_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t gs_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* The first "now at N nsecs" (CLOCK_MONOTONIC) and "jiffies: N" lines. */
static int read_timer_list(uint64_t *now_ns, uint64_t *jiffies)
{
	FILE *f = fopen("/proc/timer_list", "r");
	bool have_now = false, have_jiffies = false;
	unsigned long long v;
	char line[256];

	if (!f)
		return -1;
	while ((!have_now || !have_jiffies) && fgets(line, sizeof(line), f)) {
		if (!have_now && sscanf(line, "now at %llu nsecs", &v) == 1) {
			*now_ns = v;
			have_now = true;
		} else if (!have_jiffies && sscanf(line, "jiffies: %llu", &v) == 1) {
			*jiffies = v;
			have_jiffies = true;
		}
	}
	fclose(f);
	return have_now && have_jiffies ? 0 : -1;
}

uint64_t gs_kernel_jiffies(void)
{
	uint64_t now_ns, jiffies;

	return read_timer_list(&now_ns, &jiffies) ? 0 : jiffies;
}

static uint32_t kernel_hz(void);

/* Once per process: the rate stays what the kernel was built with. */
uint32_t gs_kernel_hz(void)
{
	static uint32_t hz;

	if (!hz)
		hz = kernel_hz();
	return hz;
}

static uint32_t kernel_hz(void)
{
	/* Every CONFIG_HZ choice of the architectures Linux runs on. */
	static const uint32_t rates[] = {24,  32,  48,	64,  100,  128,	 200,
					 250, 256, 300, 512, 1000, 1024, 1200};
	uint64_t t1, j1, t2, j2;
	double hz, best = 0;
	size_t i;

	if (read_timer_list(&t1, &j1))
		return 0;
	/* At boot jiffies are (u32)(-300 HZ): 2^32 + (uptime - 300 s) HZ
	 * since, to within the fraction of a second between the two
	 * starting. Far enough from 300 s that fraction is lost in the
	 * quotient; near it, count the ticks of a quarter second. */
	if (t1 > 400000000000ull || t1 < 200000000000ull) {
		hz = ((double)j1 - 4294967296.0) / ((double)t1 / 1e9 - 300.0);
	} else {
		struct timespec q = {0, 250000000};

		nanosleep(&q, NULL);
		if (read_timer_list(&t2, &j2) || t2 <= t1)
			return 0;
		hz = (double)(j2 - j1) / ((double)(t2 - t1) / 1e9);
	}
	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (best == 0 || fabs(hz - rates[i]) < fabs(hz - best))
			best = rates[i];
	return fabs(hz - best) <= best * 0.05 ? (uint32_t)best : 0;
}

void gs_format_iso_time(uint64_t unix_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(unix_ns / 1000000000ull);
	unsigned int ms = (unsigned int)(unix_ns % 1000000000ull / 1000000ull);
	struct tm tm;
	char day[24];

	if (!gmtime_r(&sec, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s.%03uZ", day, ms);
}
