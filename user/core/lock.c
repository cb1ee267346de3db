// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "lock.h"

/* "/sys/fs/bpf/graysplit" -> "_sys_fs_bpf_graysplit": one flat file name
 * per pin directory. */
static void sanitise(const char *pin_dir, char *out, size_t len)
{
	size_t i;

	for (i = 0; pin_dir[i] && i + 1 < len; i++) {
		char c = pin_dir[i];

		out[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					 (c >= '0' && c <= '9') || c == '.' || c == '-'
				 ? c
				 : '_';
	}
	out[i] = '\0';
}

void gs_state_path(const char *pin_dir, const char *suffix, char *path, size_t len)
{
	char name[NAME_MAX - 32];

	sanitise(pin_dir, name, sizeof(name));
	snprintf(path, len, GS_LOCK_DIR "/%s%s", name, suffix);
}

static void lock_path_kind(const char *pin_dir, const char *kind, char *path, size_t len)
{
	char suffix[32];

	snprintf(suffix, sizeof(suffix), "%s.lock", kind);
	gs_state_path(pin_dir, suffix, path, len);
}

static void lock_path(const char *pin_dir, char *path, size_t len)
{
	lock_path_kind(pin_dir, "", path, len);
}

/* Whether fd is still the file at path: the holder before us may have
 * removed it (gs_lock_remove), and a lock on a removed file guards nothing. */
static bool still_linked(int fd, const char *path)
{
	struct stat held, named;

	return !fstat(fd, &held) && !stat(path, &named) && held.st_dev == named.st_dev &&
	       held.st_ino == named.st_ino;
}

/* How long a command waits for another one's lock, and how often it
 * looks. Every command is done in well under a second, attach and apply
 * included; 30 s is a stuck one. */
#define GS_LOCK_WAIT_S	30
#define GS_LOCK_POLL_US 5000

static int lock_take(const char *pin_dir, int how)
{
	uint64_t deadline = gs_monotonic_ns() + GS_LOCK_WAIT_S * 1000000000ull;
	char path[PATH_MAX];
	int fd, err;

	if (mkdir(GS_LOCK_DIR, 0700) && errno != EEXIST)
		return gs_fail(errno, "cannot create %s: %s", GS_LOCK_DIR, strerror(errno));
	lock_path(pin_dir, path, sizeof(path));
	for (;;) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return gs_fail(errno, "cannot open lock file %s: %s", path,
				       strerror(errno));
		while (flock(fd, how | LOCK_NB)) {
			err = errno;
			if (err == EINTR)
				continue;
			/* Waiting: a bounded while, for a command that is
			 * working, never forever behind one that is stuck. */
			if (err == EWOULDBLOCK && !(how & LOCK_NB) &&
			    gs_monotonic_ns() < deadline) {
				usleep(GS_LOCK_POLL_US);
				continue;
			}
			close(fd);
			if (err == EWOULDBLOCK && (how & LOCK_NB))
				return -EWOULDBLOCK;
			if (err == EWOULDBLOCK)
				return gs_fail(
					ETIMEDOUT,
					"another graysplit command has held %s for %d s: "
					"try again once it ends (the lock file names no owner)",
					path, GS_LOCK_WAIT_S);
			return gs_fail(err, "cannot lock %s: %s", path, strerror(err));
		}
		if (still_linked(fd, path))
			return fd;
		close(fd);
	}
}

int gs_lock_acquire(const char *pin_dir)
{
	return lock_take(pin_dir, LOCK_EX);
}

int gs_lock_try(const char *pin_dir)
{
	return lock_take(pin_dir, LOCK_EX | LOCK_NB);
}

void gs_lock_remove(const char *pin_dir, int fd)
{
	char path[PATH_MAX];

	if (fd < 0)
		return;
	lock_path(pin_dir, path, sizeof(path));
	unlink(path);
	close(fd);
}

/* One try at the consumer lock file: the fd (locked), -EAGAIN when the
 * file was removed under us (take anew), or another negative errno. */
static int consumer_try(const char *path, const char *pin_dir)
{
	char holder[64] = "";
	int fd, err;
	ssize_t n;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return gs_fail(errno, "cannot open lock file %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno;
		if (err == EINTR)
			continue;
		if (err == EWOULDBLOCK) {
			/* "PID WHO": written by the holder, for this message only. */
			n = pread(fd, holder, sizeof(holder) - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
			close(fd);
			return gs_fail(EBUSY,
				       "another process reads the events of %s (pid and command: "
				       "%s): one ring-buffer consumer per instance",
				       pin_dir, holder[0] ? holder : "?");
		}
		close(fd);
		return gs_fail(err, "cannot lock %s: %s", path, strerror(err));
	}
	if (!still_linked(fd, path)) {
		close(fd);
		return -EAGAIN;
	}
	return fd;
}

int gs_lock_consumer(const char *pin_dir, const char *who)
{
	char path[PATH_MAX], holder[64];
	int fd;

	if (mkdir(GS_LOCK_DIR, 0700) && errno != EEXIST)
		return gs_fail(errno, "cannot create %s: %s", GS_LOCK_DIR, strerror(errno));
	lock_path_kind(pin_dir, ".consumer", path, sizeof(path));
	do
		fd = consumer_try(path, pin_dir);
	while (fd == -EAGAIN);
	if (fd < 0)
		return fd;
	snprintf(holder, sizeof(holder), "%d %s\n", (int)getpid(), who);
	if (ftruncate(fd, 0) || pwrite(fd, holder, strlen(holder), 0) < 0)
		holder[0] = '\0'; /* the holder's name is for messages only */
	return fd;
}

void gs_lock_consumer_release(const char *pin_dir, int fd)
{
	char path[PATH_MAX];

	if (fd < 0)
		return;
	/* Removed while still held: whoever opened it meanwhile sees it gone
	 * once it gets the lock, and takes a new file. */
	lock_path_kind(pin_dir, ".consumer", path, sizeof(path));
	unlink(path);
	close(fd);
}

void gs_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
