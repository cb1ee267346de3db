/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The decision log: every change a person or the agent made to a service's
 * traffic, one JSON object per line, in the instance's state directory
 * (gs_state_path(pin_dir, ".decisions.jsonl")). Lines are appended with one
 * write(2) each on an O_APPEND file, so writers in several processes never
 * interleave inside a line. Past GS_DECISIONS_MAX_BYTES the file moves to
 * "<path>.1" (one generation kept) and a new one starts.
 */
#ifndef GS_DECISIONS_H
#define GS_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define GS_DECISIONS_SUFFIX    ".decisions.jsonl"
#define GS_DECISIONS_MAX_BYTES (4u << 20)

/* Appends entry (not consumed) with "time" and "unix_ns" of now put first,
 * and "actor": "cli" if it names none. 0, or a negative errno with the
 * message set. */
int gs_decision_append(const char *pin_dir, struct json_object *entry);

/* The same at a given wall-clock time (the agent's decision time). */
int gs_decision_append_at(const char *pin_dir, uint64_t unix_ns, struct json_object *entry);

/* A new entry: {actor, service, action}, for the caller to add to. */
struct json_object *gs_decision_new(const char *actor, const char *service, const char *action);

/* Adds "from_percent" and "to_percent" (the shares as decimals). */
void gs_decision_add_share(struct json_object *entry, uint32_t from_ppm, uint32_t to_ppm);

/* One readable line of an entry: time, service, actor and action, step and
 * share change, verdict, reason. */
void gs_decision_format(struct json_object *entry, char *buf, size_t len);

/* A field of an entry as a string (numbers as written); NULL if absent. */
const char *gs_decision_field(struct json_object *entry, const char *key);

#endif
