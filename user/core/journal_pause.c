// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "journal_pause.h"

void gs_journal_test_pause(void)
{
	static long delay_ms = -1;
	struct timespec ts;
	const char *env;

	if (delay_ms < 0) {
		env = getenv("GRAYSPLIT_TEST_WRITE_DELAY_MS");
		delay_ms = env ? strtol(env, NULL, 10) : 0;
		if (delay_ms < 0 || delay_ms > 60000)
			delay_ms = 0;
	}
	if (!delay_ms)
		return;
	ts.tv_sec = delay_ms / 1000;
	ts.tv_nsec = (delay_ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}
