/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One lock per instance, so two CLI invocations never interleave their
 * read-check-write sequences on the same maps.
 */
#ifndef GS_LOCK_H
#define GS_LOCK_H

#define GS_LOCK_DIR "/run/graysplit"

/* GS_LOCK_DIR "/<pin dir as one file name><suffix>": where an instance keeps
 * its small files outside bpffs (locks, the decision log). */
void gs_state_path(const char *pin_dir, const char *suffix, char *path, size_t len);

/* Block until this process holds the instance's lock; returns the fd. */
int gs_lock_acquire(const char *pin_dir);
void gs_lock_release(int fd);
/* The same without waiting: -EWOULDBLOCK (no message) while another holds it. */
int gs_lock_try(const char *pin_dir);
/* Release and remove the lock file: for when the instance itself is gone.
 * A waiter that then gets the removed file's lock notices and takes anew. */
void gs_lock_remove(const char *pin_dir, int fd);

/*
 * The instance's one ring-buffer consumer (the agent, or `events`): a lock
 * of its own, taken without waiting, holding the holder's pid. Returns the
 * fd, or -EBUSY with "... already runs (pid N)" when another process has it;
 * the kernel drops it when the process dies, even by kill -9.
 */
int gs_lock_consumer(const char *pin_dir, const char *who);
/* Remove the consumer lock file and release it (a clean exit). */
void gs_lock_consumer_release(const char *pin_dir, int fd);

#endif
