// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

/* Per thread: the agent's store watch runs in a thread of its own. */
static _Thread_local char last_error[512];

void gs_set_error(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	/* clang-analyzer does not see va_start through the format attribute. */
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	/*
	 * Messages quote what the operator typed (an unknown option, an
	 * interface, a file name): a newline there would break the one-line
	 * rule and an escape sequence would reach the terminal. Every byte
	 * that is not printable ASCII becomes '?', wherever the text came from.
	 */
	for (p = last_error; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

const char *gs_last_error(void)
{
	return last_error[0] ? last_error : "unknown error";
}
