/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef GS_STOPFD_H
#define GS_STOPFD_H

/*
 * SIGINT and SIGTERM blocked and made readable on a signalfd (close-on-exec),
 * so a poll loop ends on them: the agent's and `events --follow`'s. -1 with
 * errno set on failure.
 */
int gs_stop_signals_fd(void);

#endif
