// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "decisions.h"
#include "error.h"
#include "ops.h"
#include "rollout_cli.h"

static const char *op_action(enum gs_rollout_op op)
{
	switch (op) {
	case GS_RO_OP_PAUSE:
		return "pause";
	case GS_RO_OP_RESUME:
		return "resume";
	case GS_RO_OP_PROMOTE:
	case GS_RO_OP_PROMOTE_FULL:
		return "promote";
	case GS_RO_OP_ABORT:
		return "abort";
	}
	return "?";
}

static bool finished(enum gs_rollout_phase p)
{
	return p == GS_RO_COMPLETED || p == GS_RO_FAILED || p == GS_RO_ABORTED;
}

int gs_rollout_plan(const struct gs_rollout_view *v, const char *svc, enum gs_rollout_op op,
		    struct gs_rollout *spec, uint32_t *from_step, char *reason, size_t len)
{
	const char *phase = gs_rollout_phase_name(v->phase);
	uint32_t at = v->step, to;

	*spec = v->spec;
	/* A promote the agent has not acted on yet counts as done. */
	if (v->picked_up && spec->promote_seq != v->state.promote_seq_seen &&
	    spec->promote_to < spec->nsteps)
		at = spec->promote_to;
	*from_step = at;
	if (op != GS_RO_OP_ABORT && finished(v->phase))
		return gs_fail(EINVAL, "the rollout %s of %s is %s: nothing to %s", spec->name, svc,
			       phase, op_action(op));
	switch (op) {
	case GS_RO_OP_PAUSE:
		if (spec->paused)
			return gs_fail(EALREADY, "the rollout %s of %s is already paused",
				       spec->name, svc);
		spec->paused = 1;
		snprintf(reason, len, "paused by the operator at step %u/%u", at + 1, spec->nsteps);
		return 0;
	case GS_RO_OP_RESUME:
		if (v->phase != GS_RO_PAUSED)
			return gs_fail(EINVAL, "the rollout %s of %s is not paused (%s)",
				       spec->name, svc, phase);
		spec->paused = 0;
		spec->resume_seq++;
		snprintf(reason, len, "resumed by the operator at step %u/%u", at + 1,
			 spec->nsteps);
		return 0;
	case GS_RO_OP_PROMOTE:
	case GS_RO_OP_PROMOTE_FULL:
		/* An agent begins a rollout at step 1 whatever was asked before. */
		if (!v->picked_up)
			return gs_fail(
				EAGAIN,
				"the rollout %s of %s has not been picked up by an agent yet "
				"(is one running?): nothing to promote",
				spec->name, svc);
		if (at + 1 >= spec->nsteps)
			return gs_fail(ERANGE,
				       "the rollout %s of %s is at its last step (%u/%u): nothing "
				       "to promote to",
				       spec->name, svc, at + 1, spec->nsteps);
		to = op == GS_RO_OP_PROMOTE_FULL ? spec->nsteps - 1 : at + 1;
		spec->promote_seq++;
		spec->promote_to = to;
		snprintf(reason, len, "promote requested by the operator: step %u/%u -> %u/%u",
			 at + 1, spec->nsteps, to + 1, spec->nsteps);
		return 0;
	case GS_RO_OP_ABORT:
		if (v->phase == GS_RO_COMPLETED || v->phase == GS_RO_ABORTED)
			return gs_fail(EINVAL, "the rollout %s of %s is %s: nothing to abort",
				       spec->name, svc, phase);
		spec->aborted = 1;
		snprintf(reason, len, "aborted by the operator at step %u/%u: share 0%%", at + 1,
			 spec->nsteps);
		return 0;
	}
	return gs_fail(EINVAL, "unknown rollout command");
}

int gs_rollout_command(struct gs_maps *m, const char *pin_dir, const struct gs_service_key *key,
		       enum gs_rollout_op op)
{
	struct gs_split split = {0}, zero = {0};
	char svc[GS_SERVICE_STRLEN], reason[GS_REASON_LEN];
	struct gs_rollout_view v;
	struct gs_rollout spec;
	struct gs_service service;
	struct json_object *entry;
	uint32_t from_step;
	int err;

	gs_format_service(key, svc, sizeof(svc));
	err = gs_service_lookup(m, key, &service);
	if (!err)
		err = gs_rollout_view_read(m, service.id, &v);
	if (err)
		return err;
	if (!v.present)
		return gs_fail(ENOENT, "no rollout on %s (graysplit apply -f FILE starts one)",
			       svc);
	err = gs_rollout_plan(&v, svc, op, &spec, &from_step, reason, sizeof(reason));
	if (err)
		return err;
	bpf_map_lookup_elem(m->split, &service.id, &split);
	/* abort: the share first, in one write, as a fail-back does. */
	if (op == GS_RO_OP_ABORT && bpf_map_update_elem(m->split, &service.id, &zero, BPF_ANY))
		return gs_fail(errno, "cannot write the split map: %s", strerror(errno));
	if (bpf_map_update_elem(m->rollouts, &service.id, &spec, BPF_EXIST)) {
		err = gs_fail(errno, "cannot write the rollouts map: %s", strerror(errno));
		/* Put the share back: a failed command leaves the maps alone. */
		if (op == GS_RO_OP_ABORT)
			bpf_map_update_elem(m->split, &service.id, &split, BPF_ANY);
		return err;
	}
	entry = gs_decision_new("cli", svc, op_action(op));
	json_object_object_add(entry, "rollout", json_object_new_string(spec.name));
	json_object_object_add(entry, "step", json_object_new_int64(from_step + 1));
	json_object_object_add(entry, "steps", json_object_new_int64(spec.nsteps));
	if (op == GS_RO_OP_ABORT)
		gs_decision_add_share(entry, split.canary_ppm, 0);
	if (op == GS_RO_OP_PROMOTE || op == GS_RO_OP_PROMOTE_FULL)
		gs_decision_add_share(entry, split.canary_ppm,
				      spec.steps[spec.promote_to].canary_ppm);
	json_object_object_add(entry, "reason", json_object_new_string(reason));
	/* The maps changed: the command succeeded even if the log cannot say so. */
	if (gs_decision_append(pin_dir, entry))
		fprintf(stderr, "graysplit: warning: %s\n", gs_last_error());
	json_object_put(entry);
	return 0;
}
