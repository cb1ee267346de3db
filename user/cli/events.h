/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The events ring buffer from userspace: names of the event types, and
 * `graysplit trace`, which prints them as JSON lines. A ring buffer has one
 * reader: what one consumer takes, another never sees. The agent is that
 * reader normally; both take the instance's consumer lock, so `trace`
 * refuses to run next to an agent (and the reverse).
 */
#ifndef GS_EVENTS_H
#define GS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"

/* "connect", "refused", "timeout", "reset", "response"; NULL if unknown. */
const char *gs_event_type_name(uint8_t type);
/* "NOERROR", "SERVFAIL", ... for a DNS RCODE. */
const char *gs_dns_rcode_name(uint8_t rcode);

/* Refused, timed-out or reset connects, and 5xx answers. */
bool gs_event_is_error(const struct gs_event *ev);

/* Events as JSON lines on stdout: those pending now, or with follow every
 * one until SIGINT or SIGTERM (then 0). */
int gs_events_dump(const char *pin_dir, bool follow);

#endif
