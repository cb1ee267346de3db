/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One step of a rollout's walk: from the view (spec and the agent's state),
 * the canary analysis of the current share and the clock, what the agent
 * does now and the state it records. Pure: no maps, no clock, so every rule
 * is table-tested; the agent carries the action out.
 */
#ifndef GS_ROLLOUT_WALK_H
#define GS_ROLLOUT_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"
#include "policy.h"
#include "rollout.h"

enum gs_walk_action {
	GS_WALK_NONE = 0, /* nothing changes */
	GS_WALK_ENTER,	  /* set the share to the new step's and start its bake */
	GS_WALK_EXTEND,	  /* analysis inconclusive at the bake's end: bake longer */
	GS_WALK_PAUSE,	  /* the operator's pause, or inconclusive past max_extension */
	GS_WALK_COMPLETE, /* the last step is done */
	GS_WALK_ABORT,	  /* the operator aborted: share 0, walk stopped */
	GS_WALK_FAIL,	  /* the canary failed: fail back, share 0 */
	GS_WALK_RESUME,	  /* the operator's resume: the current step's bake restarts */
	GS_WALK_PROMOTE,  /* the operator's promote: to promote_to at once */
};

struct gs_walk_input {
	enum gs_verdict verdict; /* the agent's current verdict on this share */
	bool enough_samples;	 /* the analysis had its min_samples */
	uint64_t canary_samples; /* ... for the reason line */
	uint32_t min_samples;
	uint64_t now_unix_ns;
	uint32_t share_ppm; /* the split map's share now */
	bool rolled_back;   /* the service was failed back (state rolled_back) */
	uint32_t window_ms; /* the agent's window: the least extension */
	/* The analysis of this share began less than a window ago (a restarted
	 * agent): inconclusive at the bake's end then waits, not extends. */
	bool settling;
	const char *fail_reason; /* why, when the verdict is a failure or rolled back */
};

struct gs_walk_result {
	enum gs_walk_action action;
	bool set_share; /* write share_ppm to the split map */
	uint32_t share_ppm;
	uint32_t from_ppm;	       /* the share before, for the log */
	bool state_changed;	       /* write state to rollout_state */
	struct gs_rollout_state state; /* the new state (reason in state.reason) */
};

/* The decision log's action word: "promote" for any change of step, "extend", "resume", "pause",
 * "complete", "abort", "fail_back"; "none". */
const char *gs_walk_action_name(enum gs_walk_action a);

/* The longest an inconclusive bake may be extended by: the spec's, or the
 * step's own bake when it says 0. */
uint32_t gs_walk_max_extension_ms(const struct gs_rollout *spec, uint32_t step);

void gs_walk_step(const struct gs_rollout_view *view, const struct gs_walk_input *in,
		  struct gs_walk_result *out);

#endif
