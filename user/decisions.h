/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The decision log: one JSON object per line at
 * gs_state_path(pin_dir, ".decisions.jsonl"), every change of a rollout and
 * who made it, for people reading afterwards what happened and why.
 */
#ifndef GS_DECISIONS_H
#define GS_DECISIONS_H

#include <json-c/json.h>

/*
 * Append entry as one line, prefixed with "time" (RFC 3339 UTC, ms),
 * "unix_ns" and "actor" ("cli" unless entry has one). One write(2) with
 * O_APPEND, so lines of concurrent writers never interleave. The entry is
 * not consumed. 0, or a negative errno with the message set.
 */
int gs_decision_append(const char *pin_dir, struct json_object *entry);

#endif
