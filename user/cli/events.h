/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The events ring buffer from userspace: `graysplit trace`, which prints
 * them as JSON lines (names.h names them). A ring buffer has one reader:
 * what one consumer takes, another never sees. The agent is that reader
 * normally; both take the instance's consumer lock, so `trace` refuses to
 * run next to an agent (and the reverse).
 */
#ifndef GS_EVENTS_H
#define GS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"

/* Events as JSON lines on stdout: those pending now, or with follow every
 * one until SIGINT or SIGTERM (then 0). */
int gs_events_dump(const char *pin_dir, bool follow);

#endif
