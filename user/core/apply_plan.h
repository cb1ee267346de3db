/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What `apply` has to do, worked out from the maps before anything is
 * touched: a list of steps, each of which can be undone.
 */
#ifndef GS_APPLY_PLAN_H
#define GS_APPLY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"
#include "rollout.h"
#include "rollout_file.h"

/* In the order they run: the service first, new backends before old ones
 * leave (a group never empties on the way), the split last. */
enum gs_apply_op_kind {
	GS_OP_SERVICE_ADD,
	GS_OP_SERVICE_HASH,
	GS_OP_BACKEND_ADD,
	GS_OP_BACKEND_UPDATE,
	GS_OP_BACKEND_DRAIN,
	GS_OP_OVERRIDE_DEL,
	GS_OP_OVERRIDE_ADD,
	GS_OP_ROLLOUT,
	GS_OP_SPLIT,
};

struct gs_apply_op {
	enum gs_apply_op_kind kind;
	union gs_addr addr;    /* backend, or override client */
	uint32_t prefixlen128; /* override */
	uint16_t port;	       /* backend, host order */
	uint16_t weight, old_weight;
	uint8_t group, old_group;
	uint8_t hash_mode, old_hash_mode;
	bool was_draining; /* backend add: the slot was there, draining */
};

struct gs_apply_plan {
	struct gs_apply_op *ops;
	size_t n, cap;
	bool service_exists;
	struct gs_service service;     /* as found */
	struct gs_rollout_view before; /* the rollout as found */
	struct gs_rollout rollout;     /* what GS_OP_ROLLOUT writes */
	const char *result;	       /* unchanged, updated, started, restarted */
};

/* Compare the maps with rf; now_ns stamps a new rollout. */
int gs_apply_plan_make(struct gs_maps *m, const struct gs_rollout_file *rf, uint64_t now_ns,
		       struct gs_apply_plan *plan);
void gs_apply_plan_free(struct gs_apply_plan *plan);

#endif
