/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A write-ahead undo journal for the CLI's commands that write more than
 * one map entry (apply, service add/del, backend add/del, split, rollout
 * commands). Before its first write a command records the state of the one
 * service it changes: its services entry, share, svc_status, rollout and
 * rollout_state, its overrides, and the whole backends array (which also
 * determines every Maglev table: gs_table_publish rebuilds a table from it
 * alone). The file (gs_state_path(pin_dir, GS_JOURNAL_SUFFIX), 0600) is
 * written whole (tmp, fsync, rename) and removed once the command is done.
 *
 * A journal still there when the CLI lock is free means its writer died
 * mid-command: whoever next holds the lock (a CLI command, or the agent
 * when it finds the lock free) puts that state back exactly and removes the
 * file. Flows and counters are the data path's, not restored.
 */
#ifndef GS_JOURNAL_H
#define GS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

#define GS_JOURNAL_SUFFIX ".journal"
#define GS_JOURNAL_MAGIC  "GSJRNL01"

struct gs_journal_override {
	struct gs_override_key key;
	struct gs_override value;
};

/* Fixed part, written as it is in memory (the file never leaves the host
 * and head_size tells another build's layout apart). Zeroed before being
 * filled, padding included, so one state has one encoding. */
struct gs_journal_head {
	char magic[8];
	uint32_t head_size;
	uint32_t pid;
	uint64_t started_unix_ns;
	char cmd[32];
	struct gs_service_key key;
	uint8_t has_service, has_status, has_rollout, has_state;
	struct gs_service service; /* the rest is about service.id */
	struct gs_split split;
	struct gs_svc_status status;
	struct gs_rollout rollout;
	struct gs_rollout_state state;
	struct gs_backend backends[GS_MAX_BACKENDS];
	uint32_t noverrides;
	uint32_t pad;
};

struct gs_journal {
	struct gs_journal_head head;
	struct gs_journal_override *overrides; /* head.noverrides */
};

/* Bytes of the file: head, overrides, then a 64-bit FNV-1a of both. */
int gs_journal_encode(const struct gs_journal *j, void **buf, size_t *len);
/* -EBADMSG (message set) for anything but a whole, matching journal. */
int gs_journal_decode(const void *buf, size_t len, struct gs_journal *j);
void gs_journal_free(struct gs_journal *j);

/* The state of service key as the maps hold it now. */
int gs_journal_snapshot(struct gs_maps *m, const struct gs_service_key *key, const char *cmd,
			struct gs_journal *j);
/* Put that state back: every entry the command may have touched. */
int gs_journal_restore(struct gs_maps *m, const struct gs_journal *j);

/* Snapshot and write the journal; call with the CLI lock held, before the
 * first write. */
int gs_journal_begin(const char *pin_dir, struct gs_maps *m, const struct gs_service_key *key,
		     const char *cmd);
/* The command is done (or undid itself): remove the journal. */
void gs_journal_end(const char *pin_dir);

/*
 * With the CLI lock held: if a journal is there, its writer died; restore
 * it, remove it, say so in one stderr line (prefix "graysplit" or
 * "graysplit agent") and a "recover" decision-log line. 1 if it recovered,
 * 0 if there was nothing to do, or a negative errno (journal kept).
 */
int gs_journal_recover(const char *pin_dir, struct gs_maps *m, const char *actor);

/* For the agent, which does not wait for the CLI lock: 0 when there is no
 * journal or it recovered one (the lock was free), 1 when a CLI command is
 * writing right now (its changes are not all in yet), or a negative errno. */
int gs_journal_check(const char *pin_dir, struct gs_maps *m);

#endif
