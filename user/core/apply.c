// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "apply.h"
#include "apply_plan.h"
#include "clock.h"
#include "decisions.h"
#include "error.h"
#include "journal_pause.h"
#include "ops.h"
#include "output.h"
#include "parse.h"

/* What GS_OP_SPLIT overwrites, to put back if a later step fails: the
 * share, and the service state and reason a split clears. */
struct split_before {
	struct gs_split split;
	struct gs_service service;
	struct gs_svc_status status;
	bool have_status;
};

struct run {
	struct gs_maps *m;
	const struct gs_rollout_file *rf;
	const struct gs_apply_plan *plan;
	struct split_before before;
};

static int op_do(struct run *r, const struct gs_apply_op *op)
{
	const struct gs_service_key *svc = &r->rf->service;
	struct gs_maps *m = r->m;
	struct gs_service service;
	int err;

	switch (op->kind) {
	case GS_OP_SERVICE_ADD:
		return gs_service_add(m, svc, op->hash_mode);
	case GS_OP_SERVICE_HASH:
		return gs_service_set_hash(m, svc, op->hash_mode);
	case GS_OP_BACKEND_ADD:
		return gs_backend_add(m, svc, &op->addr, op->port, op->group, op->weight);
	case GS_OP_BACKEND_UPDATE:
		return gs_backend_update(m, svc, &op->addr, op->port, op->group, op->weight);
	case GS_OP_BACKEND_DRAIN:
		return gs_backend_drain(m, svc, &op->addr, op->port);
	case GS_OP_OVERRIDE_DEL:
		return gs_override_del(m, svc, &op->addr, op->prefixlen128);
	case GS_OP_OVERRIDE_ADD:
		return gs_override_add(m, svc, &op->addr, op->prefixlen128, op->group);
	case GS_OP_ROLLOUT:
		err = gs_service_lookup(m, svc, &service);
		if (err)
			return err;
		if (bpf_map_update_elem(m->rollouts, &service.id, &r->plan->rollout, BPF_ANY))
			return gs_fail(errno, "cannot write the rollouts map: %s", strerror(errno));
		return 0;
	case GS_OP_SPLIT:
		err = gs_service_lookup(m, svc, &r->before.service);
		if (err)
			return err;
		if (bpf_map_lookup_elem(m->split, &r->before.service.id, &r->before.split))
			return gs_fail(errno, "cannot read the split map: %s", strerror(errno));
		r->before.have_status = !bpf_map_lookup_elem(m->svc_status, &r->before.service.id,
							     &r->before.status);
		return gs_split_set(m, svc, r->plan->rollout.steps[0].canary_ppm);
	}
	return gs_fail(EINVAL, "unknown apply step %d", op->kind);
}

/* Best effort: the message of the step that failed is the one kept. */
static void op_undo(struct run *r, const struct gs_apply_op *op)
{
	const struct gs_service_key *svc = &r->rf->service;
	const struct gs_apply_plan *p = r->plan;
	struct gs_maps *m = r->m;
	uint32_t id = p->service.id;

	switch (op->kind) {
	case GS_OP_SERVICE_ADD:
		gs_service_del(m, svc);
		break;
	case GS_OP_SERVICE_HASH:
		gs_service_set_hash(m, svc, op->old_hash_mode);
		break;
	case GS_OP_BACKEND_ADD:
		/* A slot that was draining drains again; a new one goes. */
		if (op->was_draining)
			gs_backend_drain(m, svc, &op->addr, op->port);
		else
			gs_backend_del(m, svc, &op->addr, op->port);
		break;
	case GS_OP_BACKEND_UPDATE:
		gs_backend_update(m, svc, &op->addr, op->port, op->old_group, op->old_weight);
		break;
	case GS_OP_BACKEND_DRAIN:
		gs_backend_add(m, svc, &op->addr, op->port, op->old_group, op->old_weight);
		break;
	case GS_OP_OVERRIDE_DEL:
		gs_override_add(m, svc, &op->addr, op->prefixlen128, op->old_group);
		break;
	case GS_OP_OVERRIDE_ADD:
		gs_override_del(m, svc, &op->addr, op->prefixlen128);
		break;
	case GS_OP_ROLLOUT:
		if (p->before.present)
			bpf_map_update_elem(m->rollouts, &id, &p->before.spec, BPF_ANY);
		else
			bpf_map_delete_elem(m->rollouts, &id);
		break;
	case GS_OP_SPLIT:
		id = r->before.service.id;
		bpf_map_update_elem(m->split, &id, &r->before.split, BPF_ANY);
		bpf_map_update_elem(m->services, svc, &r->before.service, BPF_EXIST);
		if (r->before.have_status)
			bpf_map_update_elem(m->svc_status, &id, &r->before.status, BPF_ANY);
		break;
	}
}

static void undo_all(struct run *r, size_t done)
{
	char message[512];

	snprintf(message, sizeof(message), "%s", gs_last_error());
	while (done--)
		op_undo(r, &r->plan->ops[done]);
	gs_set_error("%s", message);
}

static void add_str(struct json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

static struct json_object *percent_json(uint32_t ppm)
{
	char text[32];

	snprintf(text, sizeof(text), "%g", gs_ppm_to_percent(ppm));
	return gs_json_decimal(gs_ppm_to_percent(ppm), text);
}

static const char *const op_names[] = {
	[GS_OP_SERVICE_ADD] = "service_add",
	[GS_OP_SERVICE_HASH] = "service_hash",
	[GS_OP_BACKEND_ADD] = "backend_add",
	[GS_OP_BACKEND_UPDATE] = "backend_update",
	[GS_OP_BACKEND_DRAIN] = "backend_drain",
	[GS_OP_OVERRIDE_DEL] = "override_del",
	[GS_OP_OVERRIDE_ADD] = "override_add",
	[GS_OP_ROLLOUT] = "rollout",
	[GS_OP_SPLIT] = "split",
};

static struct json_object *describe_op(const struct gs_apply_plan *p, const struct gs_apply_op *op)
{
	struct json_object *o = json_object_new_object();
	char text[GS_SERVICE_STRLEN];

	add_str(o, "action", op_names[op->kind]);
	switch (op->kind) {
	case GS_OP_SERVICE_ADD:
		add_str(o, "hash", gs_hash_mode_name(op->hash_mode));
		break;
	case GS_OP_SERVICE_HASH:
		add_str(o, "hash", gs_hash_mode_name(op->hash_mode));
		add_str(o, "was", gs_hash_mode_name(op->old_hash_mode));
		break;
	case GS_OP_BACKEND_ADD:
	case GS_OP_BACKEND_UPDATE:
	case GS_OP_BACKEND_DRAIN:
		gs_format_endpoint(&op->addr, op->port, text, sizeof(text));
		add_str(o, "backend", text);
		add_str(o, "group",
			gs_group_name(op->kind == GS_OP_BACKEND_DRAIN ? op->old_group : op->group));
		json_object_object_add(o, "weight",
				       json_object_new_int(op->kind == GS_OP_BACKEND_DRAIN
								   ? op->old_weight
								   : op->weight));
		if (op->kind == GS_OP_BACKEND_UPDATE) {
			add_str(o, "was_group", gs_group_name(op->old_group));
			json_object_object_add(o, "was_weight",
					       json_object_new_int(op->old_weight));
		}
		break;
	case GS_OP_OVERRIDE_DEL:
	case GS_OP_OVERRIDE_ADD:
		gs_format_cidr(&op->addr, op->prefixlen128, text, sizeof(text));
		add_str(o, "cidr", text);
		add_str(o, "group",
			gs_group_name(op->kind == GS_OP_OVERRIDE_DEL ? op->old_group : op->group));
		break;
	case GS_OP_ROLLOUT:
		json_object_object_add(o, "generation",
				       json_object_new_uint64(p->rollout.generation));
		json_object_object_add(o, "steps", json_object_new_int((int)p->rollout.nsteps));
		break;
	case GS_OP_SPLIT:
		json_object_object_add(o, "percent", percent_json(p->rollout.steps[0].canary_ppm));
		break;
	}
	return o;
}

static struct json_object *describe(const struct gs_apply_plan *p, const struct gs_rollout_file *rf,
				    bool dry_run)
{
	struct json_object *tree = json_object_new_object(), *actions = json_object_new_array();
	char name[GS_SERVICE_STRLEN];
	uint64_t generation = p->before.present ? p->before.spec.generation : 0;
	size_t i;

	for (i = 0; i < p->n; i++) {
		json_object_array_add(actions, describe_op(p, &p->ops[i]));
		if (p->ops[i].kind == GS_OP_ROLLOUT)
			generation = p->rollout.generation;
	}
	gs_format_service(&rf->service, name, sizeof(name));
	add_str(tree, "service", name);
	add_str(tree, "rollout", rf->spec.name);
	json_object_object_add(tree, "generation", json_object_new_uint64(generation));
	add_str(tree, "result", p->result);
	json_object_object_add(tree, "dry_run", json_object_new_boolean(dry_run));
	json_object_object_add(tree, "actions", actions);
	return tree;
}

/* The decision log's line: the report less its dry_run flag, plus where
 * the share went. */
static int log_decision(const char *pin_dir, const struct run *r, struct json_object *report)
{
	struct json_object *entry = json_object_new_object(), *v;
	bool split = r->plan->n && r->plan->ops[r->plan->n - 1].kind == GS_OP_SPLIT;
	int err;

	json_object_object_get_ex(report, "service", &v);
	json_object_object_add(entry, "service", json_object_get(v));
	add_str(entry, "action", "apply");
	json_object_object_get_ex(report, "rollout", &v);
	json_object_object_add(entry, "rollout", json_object_get(v));
	json_object_object_get_ex(report, "generation", &v);
	json_object_object_add(entry, "generation", json_object_get(v));
	json_object_object_get_ex(report, "result", &v);
	json_object_object_add(entry, "result", json_object_get(v));
	if (split) {
		json_object_object_add(entry, "from_percent",
				       percent_json(r->before.split.canary_ppm));
		json_object_object_add(entry, "to_percent",
				       percent_json(r->plan->rollout.steps[0].canary_ppm));
		/* Steps count from 1 in the log, as the agent's lines do. */
		json_object_object_add(entry, "step", json_object_new_int(1));
		json_object_object_add(entry, "steps",
				       json_object_new_int((int)r->plan->rollout.nsteps));
	}
	json_object_object_get_ex(report, "actions", &v);
	json_object_object_add(entry, "changes",
			       json_object_new_int((int)json_object_array_length(v)));
	err = gs_decision_append(pin_dir, entry);
	json_object_put(entry);
	return err;
}

int gs_apply(struct gs_maps *m, const char *pin_dir, const struct gs_rollout_file *rf, bool dry_run,
	     struct json_object **report)
{
	struct gs_apply_plan plan;
	struct run r = {.m = m, .rf = rf, .plan = &plan};
	size_t i;
	int err;

	err = gs_apply_plan_make(m, rf, gs_realtime_ns(), &plan);
	if (err)
		return err;
	for (i = 0; i < plan.n && !dry_run && !err; i++) {
		gs_journal_test_pause();
		err = op_do(&r, &plan.ops[i]);
		if (err)
			undo_all(&r, i);
	}
	if (!err) {
		*report = describe(&plan, rf, dry_run);
		if (!dry_run) {
			err = log_decision(pin_dir, &r, *report);
			if (err) {
				/* An unlogged change is not made. */
				undo_all(&r, plan.n);
				json_object_put(*report);
				*report = NULL;
			}
		}
	}
	gs_apply_plan_free(&plan);
	return err;
}
