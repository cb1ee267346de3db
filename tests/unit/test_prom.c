// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus text rendering (user/agent/prom.c): label and HELP escaping, and
 * histograms from the kernel's log-linear buckets, whose every `le` count
 * must equal the number of samples below that bound, counted independently
 * from the samples themselves.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "graysplit.h"
#include "gs_hist.h"
#include "metrics.h"
#include "names.h"
#include "prom.h"
#include "stats.h"
#include "rng.h"

/* Every global counter has a name and a HELP text: a counter added to the
 * data path without them crashed /metrics. */
static void test_prom_every_counter_named(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < GS_CNT_MAX; i++) {
		if (!gs_counter_name(i) || !gs_metrics_datapath_help(i))
			fail_msg("counter %u has no %s", i, gs_counter_name(i) ? "help" : "name");
	}
}

static void test_prom_label_escaping(void **state)
{
	struct gs_prom_buf b = {0};

	(void)state;
	gs_prom_escape_label(&b, "plain 10.77.0.10:80/tcp");
	assert_string_equal(b.p, "plain 10.77.0.10:80/tcp");
	b.len = 0;
	gs_prom_escape_label(&b, "a\\b\"c\nd");
	assert_string_equal(b.p, "a\\\\b\\\"c\\nd");
	b.len = 0;
	/* Non-ASCII UTF-8 passes as it is. */
	gs_prom_escape_label(&b, "caf\xc3\xa9");
	assert_string_equal(b.p, "caf\xc3\xa9");
	assert_false(b.oom);
	gs_prom_buf_free(&b);
}

static void test_prom_labels_list(void **state)
{
	struct gs_prom_buf b = {0};

	(void)state;
	gs_prom_labels(&b, (const char *const[]){"service", "[fd77::10]:80/tcp", "odd", "x\"y"}, 2);
	assert_string_equal(b.p, "service=\"[fd77::10]:80/tcp\",odd=\"x\\\"y\"");
	gs_prom_buf_free(&b);
}

static void test_prom_help_escaping(void **state)
{
	struct gs_prom_buf b = {0};

	(void)state;
	/* HELP escapes \ and newline, but a quote stays a quote. */
	gs_prom_header(&b, "m_total", "counter", "say \"x\" \\ then\nmore");
	assert_string_equal(b.p, "# HELP m_total say \"x\" \\\\ then\\nmore\n"
				 "# TYPE m_total counter\n");
	gs_prom_buf_free(&b);
}

static void test_prom_buffer_grows_past_first_block(void **state)
{
	struct gs_prom_buf b = {0};
	size_t i;

	(void)state;
	for (i = 0; i < 10000; i++)
		gs_prom_printf(&b, "%05zu\n", i);
	assert_int_equal(b.len, 60000);
	assert_memory_equal(b.p + 6 * 9999, "09999\n", 6);
	assert_int_equal(strlen(b.p), b.len);
	gs_prom_buf_free(&b);
}

/* A parsed histogram line: le in whole microseconds (or UINT64_MAX for +Inf). */
struct hline {
	uint64_t le_us;
	uint64_t count;
};

/* Parse name_bucket lines of one series; returns how many, and _sum/_count. */
static size_t parse_histogram(const char *text, const char *name, struct hline *out, size_t max,
			      double *sum, uint64_t *count)
{
	char bucket[128], sum_name[128], count_name[128];
	const char *line = text;
	size_t n = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket{", name);
	snprintf(sum_name, sizeof(sum_name), "%s_sum", name);
	snprintf(count_name, sizeof(count_name), "%s_count", name);
	*sum = NAN;
	*count = UINT64_MAX;
	while (line && *line) {
		const char *le = strstr(line, "le=\""), *end = strchr(line, '\n');

		if (!strncmp(line, bucket, strlen(bucket))) {
			assert_non_null(le);
			assert_true(n < max);
			le += 4;
			if (!strncmp(le, "+Inf\"", 5)) {
				out[n].le_us = UINT64_MAX;
			} else {
				/* Seconds with at most 6 decimals: exact microseconds. */
				unsigned long long whole = 0, frac = 0;
				int fd = 0;
				const char *dot;

				assert_int_equal(sscanf(le, "%llu", &whole), 1);
				dot = strchr(le, '.');
				if (dot && dot < strchr(le, '"')) {
					for (dot++; *dot >= '0' && *dot <= '9'; dot++, fd++)
						frac = frac * 10 + (unsigned long long)(*dot - '0');
					assert_true(fd >= 1 && fd <= 6);
					while (fd++ < 6)
						frac *= 10;
				}
				out[n].le_us = whole * 1000000ull + frac;
			}
			assert_int_equal(sscanf(strstr(le, "} ") + 2, "%" SCNu64, &out[n].count),
					 1);
			n++;
		} else if (!strncmp(line, sum_name, strlen(sum_name))) {
			assert_int_equal(sscanf(strchr(line, ' ') + 1, "%lf", sum), 1);
		} else if (!strncmp(line, count_name, strlen(count_name))) {
			assert_int_equal(sscanf(strchr(line, ' ') + 1, "%" SCNu64, count), 1);
		}
		line = end ? end + 1 : NULL;
	}
	return n;
}

/* Is us the lower edge of some kernel bucket? */
static int is_bucket_edge(uint64_t us)
{
	uint32_t b;

	for (b = 0; b < GS_HIST_BUCKETS; b++)
		if (gs_hist_bucket_low(b) == us)
			return 1;
	return 0;
}

#define N_LAT 200000

static void test_prom_histogram_counts_exact_at_every_bound(void **state)
{
	static uint64_t samples_us[N_LAT];
	static struct hline lines[GS_PROM_LE_COUNT + 8];
	struct gs_hist64 *h = calloc(1, sizeof(*h));
	struct gs_prom_buf b = {0};
	uint64_t seed = 0x70e3a1, count, below, prev = 0;
	double sum, true_sum = 0;
	size_t n, i, j;

	(void)state;
	assert_non_null(h);
	/* Log-uniform 0.5 us .. 60 s: every bound sees samples on both sides,
	 * the last one (50.3 s) too; all below the catch-all bucket (67 s), so
	 * every sample's bucket has a true midpoint. */
	for (i = 0; i < N_LAT; i++) {
		double us = exp(log(0.5) + rng_unit(&seed) * (log(6e7) - log(0.5)));

		/* The kernel truncates to whole microseconds. */
		samples_us[i] = (uint64_t)us;
		true_sum += us;
		gs_hist64_record(h, samples_us[i]);
	}
	gs_prom_histogram(&b, "lat_seconds", "backend=\"b3\"", h->bucket);
	assert_false(b.oom);
	n = parse_histogram(b.p, "lat_seconds", lines, sizeof(lines) / sizeof(lines[0]), &sum,
			    &count);
	assert_int_equal(n, GS_PROM_LE_COUNT + 1);
	assert_true(lines[n - 1].le_us == UINT64_MAX);
	for (i = 0; i + 1 < n; i++) {
		/* Bounds rise and each is an edge of the kernel's buckets ... */
		assert_true(i == 0 || lines[i].le_us > lines[i - 1].le_us);
		assert_true(is_bucket_edge(lines[i].le_us));
		/* ... so the count is exact: samples below the bound. */
		for (below = 0, j = 0; j < N_LAT; j++)
			below += samples_us[j] < lines[i].le_us;
		assert_int_equal(lines[i].count, below);
		assert_true(lines[i].count >= prev);
		prev = lines[i].count;
	}
	assert_int_equal(lines[0].le_us, 1);
	assert_int_equal(lines[GS_PROM_LE_FINE].le_us, GS_HIST_SUB);
	/* 1.5 * 2^25 us: the last regular bound, below the catch-all bucket. */
	assert_int_equal(lines[n - 2].le_us, 3ull << 24);
	assert_true(lines[n - 2].count < N_LAT);
	assert_int_equal(lines[n - 1].count, N_LAT);
	assert_int_equal(count, N_LAT);
	/* _sum from bucket midpoints: each sample from 16 us up within 1/32 of
	 * its value, so the sum too (those below add at most 0.5 us each). */
	assert_true(fabs(sum - true_sum / 1e6) <= 0.032 * true_sum / 1e6);
	free(h);
	gs_prom_buf_free(&b);
}

static void test_prom_histogram_by_hand(void **state)
{
	struct gs_hist64 *h = calloc(1, sizeof(*h));
	struct gs_prom_buf b = {0};
	static struct hline lines[GS_PROM_LE_COUNT + 8];
	uint64_t count;
	double sum;
	size_t n;

	(void)state;
	assert_non_null(h);
	/* 3 us (exact bucket 3), 16 us (first log bucket [16,17)),
	 * 1000 us (bucket [992,1024)), 1024 us ([1024,1088)). */
	gs_hist64_record(h, 3);
	gs_hist64_record(h, 16);
	gs_hist64_record(h, 1000);
	gs_hist64_record(h, 1024);
	gs_prom_histogram(&b, "x_seconds", "", h->bucket);
	/* No labels: no empty braces on _sum and _count. */
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"0.000004\"} 1\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"0.000016\"} 1\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"0.000024\"} 2\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"0.001024\"} 3\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"0.001536\"} 4\n"));
	assert_non_null(strstr(b.p, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(b.p, "\nx_seconds_count 4\n"));
	n = parse_histogram(b.p, "x_seconds", lines, sizeof(lines) / sizeof(lines[0]), &sum,
			    &count);
	assert_int_equal(n, GS_PROM_LE_COUNT + 1);
	/* Midpoints: 3.5 + 16.5 + 1008 + 1056 us. */
	assert_true(fabs(sum - 2084e-6) < 1e-12);
	free(h);
	gs_prom_buf_free(&b);
}

/* Many histograms into one buffer, which grows (moves) in the middle of
 * some: each must read exactly as the same histogram rendered alone. */
static void test_prom_histograms_survive_buffer_growth(void **state)
{
	struct gs_hist64 *h = calloc(1, sizeof(*h));
	struct gs_prom_buf all = {0}, one = {0};
	char labels[300];
	uint64_t seed = 42;
	size_t i, at = 0;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < 500; i++)
		gs_hist64_record(h, rng_next(&seed) % 100000);
	memset(labels, 'x', sizeof(labels) - 1);
	memcpy(labels, "l=\"", 3);
	labels[sizeof(labels) - 2] = '"';
	labels[sizeof(labels) - 1] = '\0';
	gs_prom_histogram(&one, "h_seconds", labels, h->bucket);
	for (i = 0; i < 200; i++)
		gs_prom_histogram(&all, "h_seconds", labels, h->bucket);
	assert_false(all.oom);
	assert_int_equal(all.len, 200 * one.len);
	for (i = 0; i < 200; i++, at += one.len)
		assert_memory_equal(all.p + at, one.p, one.len);
	free(h);
	gs_prom_buf_free(&all);
	gs_prom_buf_free(&one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_every_counter_named),
		cmocka_unit_test(test_prom_label_escaping),
		cmocka_unit_test(test_prom_labels_list),
		cmocka_unit_test(test_prom_help_escaping),
		cmocka_unit_test(test_prom_buffer_grows_past_first_block),
		cmocka_unit_test(test_prom_histogram_counts_exact_at_every_bound),
		cmocka_unit_test(test_prom_histogram_by_hand),
		cmocka_unit_test(test_prom_histograms_survive_buffer_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
