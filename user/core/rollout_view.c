// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "error.h"
#include "output.h"
#include "parse.h"
#include "policy.h"
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

static struct json_object *decimal(double v, const char *fmt)
{
	char text[32];

	snprintf(text, sizeof(text), fmt, v);
	return gs_json_decimal(v, text);
}

static struct json_object *percent(uint32_t ppm)
{
	return decimal(gs_ppm_to_percent(ppm), "%g");
}

static void add(struct json_object *obj, const char *key, struct json_object *value)
{
	json_object_object_add(obj, key, value);
}

static struct json_object *describe_steps(const struct gs_rollout *spec)
{
	struct json_object *arr = json_object_new_array();
	uint32_t i;

	for (i = 0; i < spec->nsteps && i < GS_MAX_STEPS; i++) {
		struct json_object *s = json_object_new_object();

		add(s, "percent", percent(spec->steps[i].canary_ppm));
		add(s, "bake_s", decimal(spec->steps[i].bake_ms / 1000.0, "%.1f"));
		json_object_array_add(arr, s);
	}
	return arr;
}

struct json_object *gs_rollout_describe(const struct gs_rollout_view *v, uint64_t now_unix_ns,
					bool full)
{
	struct json_object *obj;
	char name[GS_ROLLOUT_NAMELEN + 1], reason[GS_REASON_LEN + 1];
	uint64_t elapsed_ms = 0;

	if (!v->present)
		return NULL;
	obj = json_object_new_object();
	snprintf(name, sizeof(name), "%.*s", GS_ROLLOUT_NAMELEN, v->spec.name);
	snprintf(reason, sizeof(reason), "%.*s", GS_REASON_LEN, v->state.reason);
	/* A finished walk's clock stopped when it finished. */
	if (v->phase == GS_RO_PROGRESSING && now_unix_ns > v->step_started_unix_ns)
		elapsed_ms = (now_unix_ns - v->step_started_unix_ns) / 1000000ull;
	else if (v->picked_up && v->state.changed_unix_ns > v->step_started_unix_ns)
		elapsed_ms = (v->state.changed_unix_ns - v->step_started_unix_ns) / 1000000ull;
	add(obj, "name", json_object_new_string(name));
	add(obj, "phase", json_object_new_string(gs_rollout_phase_name(v->phase)));
	add(obj, "step", json_object_new_int64(v->step + 1));
	add(obj, "steps", json_object_new_int64(v->nsteps));
	add(obj, "step_percent", percent(v->step_ppm));
	add(obj, "bake_elapsed_s", decimal(elapsed_ms / 1000.0, "%.1f"));
	add(obj, "bake_s", decimal(v->bake_ms / 1000.0, "%.1f"));
	/* The operator's word shows before the agent has acted on it. */
	if (v->spec.aborted && v->state.phase != GS_RO_ABORTED)
		snprintf(reason, sizeof(reason), "aborted by the operator: share 0%%");
	else if (v->spec.paused && v->state.phase != GS_RO_PAUSED && v->phase == GS_RO_PAUSED)
		snprintf(reason, sizeof(reason), "paused by the operator");
	else if (!v->picked_up)
		snprintf(reason, sizeof(reason), "applied; not picked up by an agent yet");
	add(obj, "reason", json_object_new_string(reason));
	if (!full)
		return obj;
	add(obj, "generation", json_object_new_uint64(v->spec.generation));
	add(obj, "last_verdict",
	    v->picked_up ? json_object_new_string(
				   gs_verdict_name((enum gs_verdict)v->state.last_verdict))
			 : NULL);
	add(obj, "extended_s", decimal(v->state.extended_ms / 1000.0, "%.1f"));
	add(obj, "paused_by_operator", json_object_new_boolean(v->spec.paused));
	add(obj, "aborted", json_object_new_boolean(v->spec.aborted));
	add(obj, "steps_list", describe_steps(&v->spec));
	return obj;
}
