// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "netns.h"

#define GS_NETNS_RUN_DIR "/run/netns"

/* The namespace the process started in, so detach --all can come back to it
 * after visiting the namespace of every recorded interface. */
static int origin_fd = -1;

int gs_netns_init(void)
{
	if (origin_fd >= 0)
		return 0;
	origin_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (origin_fd < 0)
		return gs_fail(errno, "cannot open /proc/self/ns/net: %s", strerror(errno));
	return 0;
}

int gs_netns_origin_socket(int domain, int type, int protocol)
{
	int here, fd, saved;

	if (origin_fd < 0)
		return socket(domain, type | SOCK_CLOEXEC, protocol);
	/* setns() moves only the calling thread; the socket keeps the
	 * namespace it was made in. */
	here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (here < 0)
		return -1;
	if (setns(origin_fd, CLONE_NEWNET)) {
		saved = errno;
		close(here);
		errno = saved;
		return -1;
	}
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	saved = errno;
	/* A thread left in the wrong namespace would do the data path's
	 * work in it: better no process than that. */
	if (setns(here, CLONE_NEWNET))
		abort();
	close(here);
	errno = saved;
	return fd;
}

int gs_netns_check(const char *name)
{
	char path[sizeof(GS_NETNS_RUN_DIR) + GS_NETNS_NAME_MAX + 2];
	struct stat st;

	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return gs_fail(EINVAL, "invalid network namespace name '%s'", name);
	if (strlen(name) > GS_NETNS_NAME_MAX)
		return gs_fail(ENAMETOOLONG,
			       "network namespace name '%s' is longer than %d characters", name,
			       GS_NETNS_NAME_MAX);
	snprintf(path, sizeof(path), GS_NETNS_RUN_DIR "/%s", name);
	if (stat(path, &st))
		return gs_fail(ENOENT, "no network namespace '%s' (%s: %s)", name, path,
			       strerror(errno));
	return 0;
}

int gs_netns_enter(const char *name)
{
	char path[sizeof(GS_NETNS_RUN_DIR) + GS_NETNS_NAME_MAX + 2];
	int err, fd;

	err = gs_netns_init();
	if (err)
		return err;
	if (!name || !name[0]) {
		if (setns(origin_fd, CLONE_NEWNET))
			return gs_fail(errno, "cannot return to the original network namespace: %s",
				       strerror(errno));
		return 0;
	}
	err = gs_netns_check(name);
	if (err)
		return err;
	snprintf(path, sizeof(path), GS_NETNS_RUN_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gs_fail(errno, "cannot open %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET)) {
		err = errno;
		close(fd);
		return gs_fail(err, "cannot enter network namespace '%s': %s", name, strerror(err));
	}
	close(fd);
	return 0;
}
