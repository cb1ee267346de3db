// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus text format, written into a growing buffer. The format's
 * rules that matter here: label values escape \ " and newline; HELP text
 * escapes \ and newline; a histogram's buckets are cumulative, end with
 * le="+Inf" equal to _count, and are followed by _sum and _count.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_hist.h"
#include "prom.h"

void gs_prom_buf_free(struct gs_prom_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Room for need more bytes plus a NUL; false (and oom) if there is none. */
static bool reserve(struct gs_prom_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *p;

	if (b->oom)
		return false;
	if (b->len + need + 1 <= b->cap)
		return true;
	while (cap < b->len + need + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void put(struct gs_prom_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Straight into the free room when the line fits (nearly always): one
 * vsnprintf, not a measuring pass first. */
void gs_prom_printf(struct gs_prom_buf *b, const char *fmt, ...)
{
	va_list ap, again;
	size_t room;
	int n;

	if (!reserve(b, 0))
		return;
	room = b->cap - b->len;
	va_start(ap, fmt);
	va_copy(again, ap);
	/* clang-analyzer does not see va_start through the format attribute. */
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= room && reserve(b, (size_t)n))
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt,
			  again); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(again);
	if (n >= 0 && b->len + (size_t)n < b->cap)
		b->len += (size_t)n;
}

static void put_str(struct gs_prom_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Decimal digits of v, without printf: the histograms are most of the text. */
static void put_u64(struct gs_prom_buf *b, uint64_t v)
{
	char digits[24];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, digits + i, sizeof(digits) - i);
}

/* s with \ and newline escaped, and " too when quote is set. */
static void escape(struct gs_prom_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(b, "\\\\", 2);
		else if (*s == '\n')
			put(b, "\\n", 2);
		else if (*s == '"' && quote)
			put(b, "\\\"", 2);
		else
			put(b, s, 1);
	}
}

void gs_prom_escape_label(struct gs_prom_buf *b, const char *value)
{
	escape(b, value, true);
}

void gs_prom_header(struct gs_prom_buf *b, const char *name, const char *type, const char *help)
{
	gs_prom_printf(b, "# HELP %s ", name);
	escape(b, help, false);
	gs_prom_printf(b, "\n# TYPE %s %s\n", name, type);
}

void gs_prom_labels(struct gs_prom_buf *b, const char *const *pairs, size_t npairs)
{
	size_t i;

	for (i = 0; i < npairs; i++) {
		gs_prom_printf(b, "%s%s=\"", i ? "," : "", pairs[2 * i]);
		gs_prom_escape_label(b, pairs[2 * i + 1]);
		put(b, "\"", 1);
	}
}

/* Whole microseconds as seconds, exactly: "0.000016", "1.572864". */
static void format_seconds(uint64_t us, char *buf, size_t len)
{
	char frac[8];
	int n;

	n = snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, len, "%" PRIu64 ".%s", us / 1000000, frac);
}

/*
 * A bucket's upper edge in us. The last one also holds everything past
 * 2^GS_HIST_MAX_LOG us; as in user/core/stats.c it is given the width of a
 * regular bucket at its scale, so its midpoint is a finite estimate.
 */
static double bucket_high(uint32_t i)
{
	if (i + 1 < GS_HIST_BUCKETS)
		return (double)gs_hist_bucket_low(i + 1);
	return (double)gs_hist_bucket_low(i) * (1.0 + 1.0 / GS_HIST_SUB);
}

/*
 * The kernel stores whole microseconds, truncated, so kernel bucket i holds
 * the real latencies in [low(i), low(i + 1)) us: the samples up to an edge
 * E = low(j) are exactly the buckets below j. Prometheus reads le as "<=";
 * a latency of exactly E (to the nanosecond) is counted in the next bound,
 * which no real measurement can tell apart.
 */
void gs_prom_histogram(struct gs_prom_buf *b, const char *name, const char *labels,
		       const uint64_t *buckets)
{
	/* The bounds' text, made once: they are the same for every series. */
	static char le_text[GS_PROM_LE_COUNT][16];
	const char *sep = labels[0] ? "," : "";
	const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
	size_t prefix_at, prefix_len;
	uint64_t cum = 0;
	double sum_us = 0;
	uint32_t i, le, next = gs_prom_le_bucket(0);

	if (!le_text[0][0])
		for (le = 0; le < GS_PROM_LE_COUNT; le++)
			format_seconds(gs_hist_bucket_low(gs_prom_le_bucket(le)), le_text[le],
				       sizeof(le_text[le]));
	/* name_bucket{labels,le=" once, copied for every bound. */
	prefix_at = b->len;
	gs_prom_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
	if (b->oom)
		return;
	prefix_len = b->len - prefix_at;
	for (i = 0, le = 0; i < GS_HIST_BUCKETS; i++) {
		if (i == next && le < GS_PROM_LE_COUNT) {
			if (le > 0) {
				/* reserve first: put() could move the text it copies from. */
				if (!reserve(b, prefix_len))
					return;
				memcpy(b->p + b->len, b->p + prefix_at, prefix_len);
				b->len += prefix_len;
			}
			put_str(b, le_text[le]);
			put(b, "\"} ", 3);
			put_u64(b, cum);
			put(b, "\n", 1);
			next = gs_prom_le_bucket(++le);
		}
		cum += buckets[i];
		sum_us += (double)buckets[i] * ((double)gs_hist_bucket_low(i) + bucket_high(i)) / 2;
	}
	gs_prom_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
	gs_prom_printf(b, "%s_sum%s%s%s %.12g\n", name, open, labels, close, sum_us / 1e6);
	gs_prom_printf(b, "%s_count%s%s%s %" PRIu64 "\n", name, open, labels, close, cum);
}
