// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

static char last_error[512];

void gs_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* clang-analyzer does not see va_start through the format attribute. */
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *gs_last_error(void)
{
	return last_error[0] ? last_error : "unknown error";
}
