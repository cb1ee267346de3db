/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Writing the Prometheus text exposition format (version 0.0.4): HELP and
 * TYPE lines, samples with escaped label values, and histograms made from
 * the kernel's log-linear latency buckets. Pure: a growing buffer, no maps,
 * so the unit tests check every byte.
 */
#ifndef GS_PROM_H
#define GS_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"

/* A growing text buffer; after an allocation failure it stops growing and
 * oom says so (the caller answers 500 rather than a cut exposition). */
struct gs_prom_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void gs_prom_buf_free(struct gs_prom_buf *b);
__attribute__((format(printf, 2, 3))) void gs_prom_printf(struct gs_prom_buf *b, const char *fmt,
							  ...);

/* A label value escaped as the format wants: \ " and newline as \\ \" \n. */
void gs_prom_escape_label(struct gs_prom_buf *b, const char *value);

/* "# HELP name text" (text escaped: \ and newline) and "# TYPE name type". */
void gs_prom_header(struct gs_prom_buf *b, const char *name, const char *type, const char *help);

/*
 * One label pair list, written between the braces: name="value",... from
 * pairs of NULL-terminated (name, value) strings. For building a series'
 * labels once and reusing them.
 */
void gs_prom_labels(struct gs_prom_buf *b, const char *const *pairs, size_t npairs);

/*
 * The histogram's `le` bounds: 1, 2, 4 and 8 us (kernel buckets below
 * GS_HIST_SUB hold one whole microsecond each), then the lower edge of every
 * GS_PROM_LE_STRIDE-th kernel bucket from GS_HIST_SUB us on: 2^k and
 * 1.5 * 2^k us, 16 us .. 50.3 s. Each bound is an edge of the kernel's
 * buckets, so each cumulative count is a sum of whole kernel buckets: exact,
 * never interpolated.
 */
#define GS_PROM_LE_FINE	  GS_HIST_SUB_BITS /* 1, 2, 4, 8 */
#define GS_PROM_LE_STRIDE (GS_HIST_SUB / 2)
#define GS_PROM_LE_COUNT                                                                           \
	(GS_PROM_LE_FINE + (GS_HIST_BUCKETS - 1 - GS_HIST_SUB) / GS_PROM_LE_STRIDE + 1)
/* Kernel bucket whose lower edge is the i-th bound (i < GS_PROM_LE_COUNT). */
static inline uint32_t gs_prom_le_bucket(uint32_t i)
{
	if (i < GS_PROM_LE_FINE)
		return 1u << i;
	return GS_HIST_SUB + (i - GS_PROM_LE_FINE) * GS_PROM_LE_STRIDE;
}

/*
 * name_bucket{labels,le="..."} for each bound and +Inf, name_sum, name_count,
 * from 64-bit bucket counts in microseconds (GS_HIST_BUCKETS of them); le
 * and _sum are in seconds. labels: the series' labels without braces, may
 * be "". _sum is the sum of bucket midpoints, an estimate within 3.1%.
 */
void gs_prom_histogram(struct gs_prom_buf *b, const char *name, const char *labels,
		       const uint64_t *buckets);

#endif
