/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One error channel for the whole tool: library functions record a one-line
 * message and return a negative errno; only main() prints it, once, as
 * "graysplit: <message>".
 */
#ifndef GS_ERROR_H
#define GS_ERROR_H

#include <errno.h>

__attribute__((format(printf, 1, 2))) void gs_set_error(const char *fmt, ...);
const char *gs_last_error(void);

/* Record the message and return -err (err is a positive errno). */
#define gs_fail(err, ...) (gs_set_error(__VA_ARGS__), -(err))

#endif
