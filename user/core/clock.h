/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Clocks for the agent and its log: monotonic time for intervals (and the
 * BPF side's bpf_ktime_get_ns() timestamps), wall-clock time for people.
 */
#ifndef GS_CLOCK_H
#define GS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t gs_monotonic_ns(void);
uint64_t gs_realtime_ns(void);

/*
 * The kernel's jiffies and tick rate (CONFIG_HZ), which the XDP fast path's
 * next hop cache counts in (bpf_jiffies64: one load, where the kernel's
 * coarse clock cost 30 ns a frame). Read from /proc/timer_list: the kernel
 * prints jiffies there, and the tick rate follows from it and the
 * monotonic clock (jiffies start at (u32)(-300 HZ) at boot and count HZ a
 * second). 0 when the file cannot be read or no tick rate fits.
 */
uint64_t gs_kernel_jiffies(void);
uint32_t gs_kernel_hz(void);

/* "2026-11-29T01:02:03.456Z" (UTC, milliseconds). */
#define GS_ISO_TIME_STRLEN 32
void gs_format_iso_time(uint64_t unix_ns, char *buf, size_t len);

#endif
