// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "apply_plan.h"
#include "error.h"
#include "map_iter.h"
#include "ops.h"

static struct gs_apply_op *add_op(struct gs_apply_plan *p, enum gs_apply_op_kind kind)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct gs_apply_op *ops = realloc(p->ops, cap * sizeof(*ops));

		if (!ops)
			return NULL;
		p->ops = ops;
		p->cap = cap;
	}
	memset(&p->ops[p->n], 0, sizeof(p->ops[0]));
	p->ops[p->n].kind = kind;
	return &p->ops[p->n++];
}

/* The backends map slot of (service, addr, port), or NULL. */
static const struct gs_backend *slot_of(const struct gs_backend *all, uint32_t service_id,
					const union gs_addr *addr, uint16_t port_host)
{
	uint32_t id;

	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		const struct gs_backend *b = &all[id];

		if (b->state != GS_BACKEND_FREE && b->service_id == service_id &&
		    !memcmp(&b->addr, addr, sizeof(*addr)) && ntohs(b->port) == port_host)
			return b;
	}
	return NULL;
}

static bool in_file(const struct gs_rollout_file *rf, const struct gs_backend *b)
{
	uint32_t i;

	for (i = 0; i < rf->nbackends; i++)
		if (!memcmp(&rf->backends[i].addr, &b->addr, sizeof(b->addr)) &&
		    rf->backends[i].port == ntohs(b->port))
			return true;
	return false;
}

static int plan_backends(struct gs_maps *m, const struct gs_rollout_file *rf,
			 struct gs_apply_plan *p)
{
	struct gs_backend *all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	struct gs_apply_op *op;
	uint32_t i, id;
	int err = 0;

	if (!all)
		return gs_fail(ENOMEM, "out of memory");
	if (p->service_exists)
		err = gs_backends_read(m, all);
	for (i = 0; i < rf->nbackends && !err; i++) {
		const struct gs_rollout_backend *want = &rf->backends[i];
		const struct gs_backend *have =
			p->service_exists ? slot_of(all, p->service.id, &want->addr, want->port)
					  : NULL;

		if (have && have->state == GS_BACKEND_ACTIVE && have->group == want->group &&
		    have->weight == want->weight)
			continue;
		op = add_op(p, have && have->state == GS_BACKEND_ACTIVE ? GS_OP_BACKEND_UPDATE
									: GS_OP_BACKEND_ADD);
		if (!op) {
			err = gs_fail(ENOMEM, "out of memory");
			break;
		}
		op->addr = want->addr;
		op->port = want->port;
		op->group = want->group;
		op->weight = want->weight;
		if (have) {
			op->was_draining = have->state == GS_BACKEND_DRAINING;
			op->old_group = have->group;
			op->old_weight = have->weight;
		}
	}
	for (id = 0; id < GS_MAX_BACKENDS && p->service_exists && !err; id++) {
		const struct gs_backend *b = &all[id];

		if (b->state != GS_BACKEND_ACTIVE || b->service_id != p->service.id ||
		    in_file(rf, b))
			continue;
		op = add_op(p, GS_OP_BACKEND_DRAIN);
		if (!op) {
			err = gs_fail(ENOMEM, "out of memory");
			break;
		}
		op->addr = b->addr;
		op->port = ntohs(b->port);
		op->old_group = b->group;
		op->old_weight = b->weight;
	}
	free(all);
	return err;
}

/* The service's overrides as they are in the map. */
struct override_set {
	uint32_t service_id;
	struct gs_override_key *keys;
	uint8_t *groups;
	size_t n, cap;
};

static int collect_override(const void *key, const void *value, void *ctx)
{
	const struct gs_override_key *k = key;
	const struct gs_override *v = value;
	struct override_set *s = ctx;

	if (k->service_id != s->service_id)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct gs_override_key *keys = realloc(s->keys, cap * sizeof(*keys));
		uint8_t *groups;

		if (!keys)
			return -ENOMEM;
		s->keys = keys;
		groups = realloc(s->groups, cap);
		if (!groups)
			return -ENOMEM;
		s->groups = groups;
		s->cap = cap;
	}
	s->keys[s->n] = *k;
	s->groups[s->n++] = v->group;
	return 0;
}

/* Index in s of the override for (client, prefixlen128), or s->n. */
static size_t find_override(const struct override_set *s, const union gs_addr *client,
			    uint32_t prefixlen128)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->keys[i].prefixlen == 32 + prefixlen128 &&
		    !memcmp(&s->keys[i].client, client, sizeof(*client)))
			break;
	return i;
}

static int plan_overrides(struct gs_maps *m, const struct gs_rollout_file *rf,
			  struct gs_apply_plan *p)
{
	struct override_set have = {.service_id = p->service.id};
	struct gs_apply_op *op;
	size_t i, j;
	int err = 0;

	if (p->service_exists) {
		err = gs_map_foreach(m->overrides, sizeof(struct gs_override_key),
				     sizeof(struct gs_override), collect_override, &have);
		if (err)
			err = gs_fail(-err, "cannot read the overrides map: %s", strerror(-err));
	}
	/* Gone from the file, or in another group: out first. */
	for (j = 0; j < have.n && !err; j++) {
		uint32_t plen = have.keys[j].prefixlen - 32;

		for (i = 0; i < rf->noverrides; i++)
			if (rf->overrides[i].prefixlen128 == plen &&
			    !memcmp(&rf->overrides[i].client, &have.keys[j].client,
				    sizeof(have.keys[j].client)))
				break;
		if (i < rf->noverrides && rf->overrides[i].group == have.groups[j])
			continue;
		op = add_op(p, GS_OP_OVERRIDE_DEL);
		if (!op) {
			err = gs_fail(ENOMEM, "out of memory");
			break;
		}
		op->addr = have.keys[j].client;
		op->prefixlen128 = plen;
		op->old_group = have.groups[j];
	}
	for (i = 0; i < rf->noverrides && !err; i++) {
		const struct gs_rollout_override *o = &rf->overrides[i];

		j = find_override(&have, &o->client, o->prefixlen128);
		if (j < have.n && have.groups[j] == o->group)
			continue;
		op = add_op(p, GS_OP_OVERRIDE_ADD);
		if (!op) {
			err = gs_fail(ENOMEM, "out of memory");
			break;
		}
		op->addr = o->client;
		op->prefixlen128 = o->prefixlen128;
		op->group = o->group;
	}
	free(have.keys);
	free(have.groups);
	return err;
}

/* What the operator wrote: the name, the steps, the analysis. The rest of
 * an entry is bookkeeping of this apply and of later commands. */
static bool same_content(const struct gs_rollout *a, const struct gs_rollout *b)
{
	return !strncmp(a->name, b->name, sizeof(a->name)) && a->nsteps == b->nsteps &&
	       !memcmp(a->steps, b->steps, a->nsteps * sizeof(a->steps[0])) &&
	       !memcmp(&a->analysis, &b->analysis, sizeof(a->analysis));
}

static int plan_rollout(const struct gs_rollout_file *rf, uint64_t now_ns, struct gs_apply_plan *p,
			bool *started)
{
	const struct gs_rollout_view *v = &p->before;
	bool same = v->present && same_content(&v->spec, &rf->spec);

	*started = false;
	if (same && (rf->fleet || (v->phase != GS_RO_FAILED && v->phase != GS_RO_ABORTED)))
		return 0;
	memset(&p->rollout, 0, sizeof(p->rollout));
	p->rollout = rf->spec;
	p->rollout.generation = v->present ? v->spec.generation + 1 : 1;
	p->rollout.applied_unix_ns = now_ns;
	/* Counters only ever go up, so no earlier command looks new. */
	p->rollout.promote_seq = v->present ? v->spec.promote_seq : 0;
	p->rollout.resume_seq = v->present ? v->spec.resume_seq : 0;
	p->rollout.promote_to = 0;
	p->rollout.paused = 0;
	p->rollout.aborted = 0;
	if (!add_op(p, GS_OP_ROLLOUT) || !add_op(p, GS_OP_SPLIT))
		return gs_fail(ENOMEM, "out of memory");
	*started = true;
	p->result = same ? "restarted" : "started";
	return 0;
}

int gs_apply_plan_make(struct gs_maps *m, const struct gs_rollout_file *rf, uint64_t now_ns,
		       struct gs_apply_plan *plan)
{
	struct gs_apply_op *op;
	bool started;
	int err;

	memset(plan, 0, sizeof(*plan));
	plan->result = "unchanged";
	if (!bpf_map_lookup_elem(m->services, &rf->service, &plan->service)) {
		plan->service_exists = true;
		err = gs_rollout_view_read(m, plan->service.id, &plan->before);
		if (err)
			return err;
	} else if (errno != ENOENT) {
		return gs_fail(errno, "cannot read the services map: %s", strerror(errno));
	}
	if (!plan->service_exists || plan->service.hash_mode != rf->hash_mode) {
		op = add_op(plan, plan->service_exists ? GS_OP_SERVICE_HASH : GS_OP_SERVICE_ADD);
		if (!op)
			return gs_fail(ENOMEM, "out of memory");
		op->hash_mode = rf->hash_mode;
		op->old_hash_mode = plan->service.hash_mode;
	}
	err = plan_backends(m, rf, plan);
	if (!err)
		err = plan_overrides(m, rf, plan);
	if (!err)
		err = plan_rollout(rf, now_ns, plan, &started);
	if (err) {
		gs_apply_plan_free(plan);
		return err;
	}
	if (!started && plan->n)
		plan->result = "updated";
	return 0;
}

void gs_apply_plan_free(struct gs_apply_plan *plan)
{
	free(plan->ops);
	plan->ops = NULL;
	plan->n = plan->cap = 0;
}
