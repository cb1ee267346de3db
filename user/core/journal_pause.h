/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The journal's test hook (journal.h), apart from the journal so that the
 * commands that pause (service.c, apply.c) do not depend on the journal,
 * which itself goes through services and tables to restore them.
 */
#ifndef GS_JOURNAL_PAUSE_H
#define GS_JOURNAL_PAUSE_H

/* Test only: sleeps GRAYSPLIT_TEST_WRITE_DELAY_MS (read once; unset = 0)
 * between the steps of a multi-write command, so a test can kill -9 it
 * between two writes. Never on the data path or in the agent. */
void gs_journal_test_pause(void);

#endif
