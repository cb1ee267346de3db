/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `graysplit apply -f FILE`: make one service match a rollout file. The
 * whole change is planned from the maps first, then carried out step by
 * step; if a step fails, the steps done are undone in reverse, so the maps
 * end as they were. The caller holds the instance's lock.
 */
#ifndef GS_APPLY_H
#define GS_APPLY_H

#include <stdbool.h>

#include <json-c/json.h>

#include "maps.h"
#include "rollout_file.h"

/*
 * Plan, and unless dry_run carry out and log to the decision log. *report
 * (the caller puts it) says what was or would be done: service, rollout,
 * generation, result (unchanged, updated, started, restarted), actions.
 */
int gs_apply(struct gs_maps *m, const char *pin_dir, const struct gs_rollout_file *rf, bool dry_run,
	     struct json_object **report);

#endif
