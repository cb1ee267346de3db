// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "decisions.h"
#include "error.h"
#include "lock.h"

#define DECISIONS_SUFFIX ".decisions.jsonl"

static int write_line(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *line;
	ssize_t n;
	int fd, err = 0;

	line = malloc(len + 2);
	if (!line)
		return gs_fail(ENOMEM, "out of memory");
	memcpy(line, text, len);
	line[len] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = gs_fail(errno, "cannot open the decision log %s: %s", path, strerror(errno));
	} else {
		n = write(fd, line, len + 1);
		if (n != (ssize_t)(len + 1))
			err = gs_fail(n < 0 ? errno : EIO, "cannot write the decision log %s: %s",
				      path, n < 0 ? strerror(errno) : "short write");
		close(fd);
	}
	free(line);
	return err;
}

int gs_decision_append(const char *pin_dir, struct json_object *entry)
{
	struct json_object *line = json_object_new_object(), *actor;
	uint64_t now = gs_realtime_ns();
	char path[PATH_MAX], when[GS_ISO_TIME_STRLEN];
	int err;

	if (!line)
		return gs_fail(ENOMEM, "out of memory");
	if (mkdir(GS_LOCK_DIR, 0700) && errno != EEXIST) {
		json_object_put(line);
		return gs_fail(errno, "cannot create %s: %s", GS_LOCK_DIR, strerror(errno));
	}
	gs_format_iso_time(now, when, sizeof(when));
	json_object_object_add(line, "time", json_object_new_string(when));
	json_object_object_add(line, "unix_ns", json_object_new_uint64(now));
	if (!json_object_object_get_ex(entry, "actor", &actor))
		json_object_object_add(line, "actor", json_object_new_string("cli"));
	json_object_object_foreach(entry, key, value)
	{
		json_object_object_add(line, key, json_object_get(value));
	}
	gs_state_path(pin_dir, DECISIONS_SUFFIX, path, sizeof(path));
	err = write_line(path,
			 json_object_to_json_string_ext(
				 line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(line);
	return err;
}
