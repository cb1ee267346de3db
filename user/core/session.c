// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>

#include "backend.h"
#include "journal.h"
#include "lock.h"
#include "session.h"

int gs_session_begin(const char *pin_dir, struct gs_session *s)
{
	int err;

	s->pin_dir = pin_dir;
	s->journaled = false;
	s->lock_fd = gs_lock_acquire(pin_dir);
	if (s->lock_fd < 0)
		return s->lock_fd;
	err = gs_maps_open(pin_dir, &s->maps);
	if (!err) {
		err = gs_journal_recover(pin_dir, &s->maps, "cli");
		if (err < 0)
			gs_maps_close(&s->maps);
		else
			err = 0;
	}
	/* No instance there (a mistyped --pin-dir, say): leave no lock file
	 * behind for it in the state directory. */
	if (err == -ENOENT)
		gs_lock_remove(pin_dir, s->lock_fd);
	else if (err)
		gs_lock_release(s->lock_fd);
	return err;
}

int gs_session_journal(struct gs_session *s, const struct gs_service_key *key, const char *cmd)
{
	int err = gs_journal_begin(s->pin_dir, &s->maps, key, cmd);

	s->journaled = !err;
	return err;
}

/*
 * Drained backends are reaped lazily, after a change that succeeded, so no
 * command waits for a drain; never after a failure, which must leave the
 * maps as they were.
 */
int gs_session_end(struct gs_session *s, int err)
{
	if (!err)
		gs_backend_reap(&s->maps);
	if (s->journaled)
		gs_journal_end(s->pin_dir);
	gs_maps_close(&s->maps);
	gs_lock_release(s->lock_fd);
	return err;
}
