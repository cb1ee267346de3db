/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A mutating command's hold on an instance: its lock, its maps, and the
 * repair of a command that died half-way (its journal is still there), so
 * every change starts from a state some command left whole. The CLI runs
 * each command in one; the agent of fleet mode runs each apply from the
 * store in one, through the same code.
 */
#ifndef GS_SESSION_H
#define GS_SESSION_H

#include <stdbool.h>

#include "graysplit.h"
#include "maps.h"

struct gs_session {
	int lock_fd;
	struct gs_maps maps;
	const char *pin_dir;
	bool journaled; /* a journal to remove at the end */
};

/* Lock, open the maps, repair; 0 or a negative errno (message set). */
int gs_session_begin(const char *pin_dir, struct gs_session *s);

/* Before the first write of a change of more than one entry of key's
 * state; cmd names the change in the journal ("apply"). */
int gs_session_journal(struct gs_session *s, const struct gs_service_key *key, const char *cmd);

/* After the change: on success, free the slots of drained backends; then
 * the journal goes, the maps close, the lock is released. Returns err. */
int gs_session_end(struct gs_session *s, int err);

#endif
