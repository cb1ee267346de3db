/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A service's rollout as everyone outside the agent sees it: the applied
 * spec (rollouts map, written by the CLI) combined with the agent's walk of
 * it (rollout_state map, written by the agent). The operator's pause and
 * abort show at once, before an agent has acted on them; a rollout the agent
 * has not picked up yet shows at its first step.
 */
#ifndef GS_ROLLOUT_H
#define GS_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "graysplit.h"
#include "maps.h"

struct gs_rollout_view {
	bool present;	/* a rollout was applied to this service */
	bool picked_up; /* the agent's state is of this generation */
	enum gs_rollout_phase phase;
	uint32_t step; /* index into spec.steps */
	uint32_t nsteps;
	uint32_t step_ppm; /* share of the current step */
	uint64_t step_started_unix_ns;
	uint64_t bake_ms; /* current step's bake plus any extension */
	struct gs_rollout spec;
	struct gs_rollout_state state;
};

const char *gs_rollout_phase_name(enum gs_rollout_phase p); /* "progressing", ... */

/* Pure: from the two map values (state may be NULL: none yet). */
void gs_rollout_view_make(const struct gs_rollout *spec, const struct gs_rollout_state *state,
			  struct gs_rollout_view *out);

/* Reads both maps for service_id; out->present false when none applied. */
int gs_rollout_view_read(struct gs_maps *m, uint32_t service_id, struct gs_rollout_view *out);

/* status --json's per-service "rollout": {name, phase, step, steps,
 * step_percent, bake_elapsed_s, bake_s, reason}; NULL (JSON null) if none.
 * With full: also the last verdict, the operator's flags and every step. */
struct json_object *gs_rollout_describe(const struct gs_rollout_view *v, uint64_t now_unix_ns,
					bool full);

#endif
