// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "error.h"
#include "rollout.h"

const char *gs_rollout_phase_name(enum gs_rollout_phase p)
{
	switch (p) {
	case GS_RO_NONE:
		return "none";
	case GS_RO_PROGRESSING:
		return "progressing";
	case GS_RO_PAUSED:
		return "paused";
	case GS_RO_COMPLETED:
		return "completed";
	case GS_RO_FAILED:
		return "failed";
	case GS_RO_ABORTED:
		return "aborted";
	}
	return "unknown";
}

void gs_rollout_view_make(const struct gs_rollout *spec, const struct gs_rollout_state *state,
			  struct gs_rollout_view *out)
{
	memset(out, 0, sizeof(*out));
	if (!spec || !spec->nsteps || spec->nsteps > GS_MAX_STEPS)
		return;
	out->present = true;
	out->spec = *spec;
	out->nsteps = spec->nsteps;
	if (state && state->generation == spec->generation && state->step < spec->nsteps) {
		out->picked_up = true;
		out->state = *state;
		out->phase = (enum gs_rollout_phase)state->phase;
		out->step = state->step;
		out->step_started_unix_ns = state->step_started_unix_ns;
	} else {
		out->phase = GS_RO_PROGRESSING;
		out->step = 0;
		out->step_started_unix_ns = spec->applied_unix_ns;
	}
	/* The operator's word shows before the agent has acted on it. */
	if (spec->aborted)
		out->phase = GS_RO_ABORTED;
	else if (spec->paused && out->phase == GS_RO_PROGRESSING)
		out->phase = GS_RO_PAUSED;
	out->step_ppm = spec->steps[out->step].canary_ppm;
	out->bake_ms = (uint64_t)spec->steps[out->step].bake_ms + out->state.extended_ms;
}

int gs_rollout_view_read(struct gs_maps *m, uint32_t service_id, struct gs_rollout_view *out)
{
	struct gs_rollout spec;
	struct gs_rollout_state state;
	bool have_state;

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(m->rollouts, &service_id, &spec)) {
		if (errno == ENOENT)
			return 0;
		return gs_fail(errno, "cannot read the rollouts map: %s", strerror(errno));
	}
	have_state = !bpf_map_lookup_elem(m->rollout_state, &service_id, &state);
	gs_rollout_view_make(&spec, have_state ? &state : NULL, out);
	return 0;
}
