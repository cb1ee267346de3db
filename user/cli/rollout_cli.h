/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The operator's side of a rollout: the commands that steer it (how it is
 * shown is gs_rollout_describe, in rollout.h). They change only the
 * CLI-owned rollouts map (pause, resume, promote, abort), under the CLI's
 * lock, which the caller holds; the agent acts on them at its next tick.
 * abort also cuts the share to 0 itself, so it works with no agent running.
 */
#ifndef GS_ROLLOUT_CLI_H
#define GS_ROLLOUT_CLI_H

#include <stdint.h>

#include "graysplit.h"
#include "maps.h"
#include "rollout.h"

enum gs_rollout_op {
	GS_RO_OP_PAUSE,
	GS_RO_OP_RESUME,
	GS_RO_OP_PROMOTE,      /* to the next step */
	GS_RO_OP_PROMOTE_FULL, /* to the last step */
	GS_RO_OP_ABORT,
};

/* One operator command on the service's rollout; one-line error and the
 * maps unchanged when it does not apply (no rollout, not paused, ...).
 * Appends the decision-log line. */
/* Checks the command against the view (one-line error when it does not
 * apply) and fills the spec it leaves, with the reason the log gives;
 * *from_step is the step it was at. Shared with fleet mode (fleet_cli.c). */
int gs_rollout_plan(const struct gs_rollout_view *v, const char *svc, enum gs_rollout_op op,
		    struct gs_rollout *spec, uint32_t *from_step, char *reason, size_t len);

int gs_rollout_command(struct gs_maps *m, const char *pin_dir, const struct gs_service_key *key,
		       enum gs_rollout_op op);

#endif
