/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Names of the data path's values for people and for JSON: the global
 * counters, the ring buffer's event types and DNS RCODEs, and which events
 * count as errors. Status, metrics, trace and the agent all name them the
 * same way from here. (The names of a group, protocol and hash mode are in
 * parse.h, sharing one table with their parsers; a rollout phase's in
 * rollout.h, a verdict's in policy.h.)
 */
#ifndef GS_NAMES_H
#define GS_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"

/* Name of a global counter (enum gs_counter) in lower snake case. */
const char *gs_counter_name(unsigned int counter);

/* "connect", "refused", "timeout", "reset", "response"; NULL if unknown. */
const char *gs_event_type_name(uint8_t type);
/* "NOERROR", "SERVFAIL", ... for a DNS RCODE. */
const char *gs_dns_rcode_name(uint8_t rcode);

/* Refused, timed-out or reset connects, and 5xx answers. */
bool gs_event_is_error(const struct gs_event *ev);

#endif
