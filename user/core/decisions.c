// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "decisions.h"
#include "error.h"
#include "lock.h"
#include "output.h"
#include "parse.h"

static void log_path(const char *pin_dir, char *path, size_t len)
{
	gs_state_path(pin_dir, GS_DECISIONS_SUFFIX, path, len);
}

/* O_APPEND, 0600 in a 0700 directory: decisions may name clients' nets. */
static int open_for_append(const char *path)
{
	int fd;

	if (mkdir(GS_LOCK_DIR, 0700) && errno != EEXIST)
		return gs_fail(errno, "cannot create %s: %s", GS_LOCK_DIR, strerror(errno));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return gs_fail(errno, "cannot open the decision log %s: %s", path, strerror(errno));
	return fd;
}

/* Past the limit the file becomes .1; two writers racing both rename, and
 * the second's rename of a fresh file loses at most a few lines to .1's
 * overwrite, which is the price of needing no lock here. */
static int rotate_if_big(const char *path, int fd)
{
	char old[4096 + 8];
	struct stat st;

	if (fstat(fd, &st) || st.st_size < (off_t)GS_DECISIONS_MAX_BYTES)
		return fd;
	snprintf(old, sizeof(old), "%s.1", path);
	if (rename(path, old))
		return fd;
	close(fd);
	return open_for_append(path);
}

int gs_decision_append_at(const char *pin_dir, uint64_t unix_ns, struct json_object *entry)
{
	struct json_object *line = json_object_new_object();
	char path[4096], when[GS_ISO_TIME_STRLEN];
	const char *text;
	char *buf;
	size_t len;
	ssize_t n;
	int fd, err = 0;

	gs_format_iso_time(unix_ns, when, sizeof(when));
	json_object_object_add(line, "time", json_object_new_string(when));
	json_object_object_add(line, "unix_ns", json_object_new_uint64(unix_ns));
	if (!json_object_object_get_ex(entry, "actor", NULL))
		json_object_object_add(line, "actor", json_object_new_string("cli"));
	json_object_object_foreach(entry, key, value)
	{
		if (strcmp(key, "time") != 0 && strcmp(key, "unix_ns") != 0)
			json_object_object_add(line, key, json_object_get(value));
	}
	text = json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	buf = malloc(len + 1);
	if (!buf) {
		json_object_put(line);
		return gs_fail(ENOMEM, "out of memory");
	}
	memcpy(buf, text, len);
	buf[len] = '\n';
	json_object_put(line);

	log_path(pin_dir, path, sizeof(path));
	fd = open_for_append(path);
	if (fd >= 0)
		fd = rotate_if_big(path, fd);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	/* One write: O_APPEND places the whole line at the end at once. */
	n = write(fd, buf, len + 1);
	if (n != (ssize_t)(len + 1))
		err = gs_fail(n < 0 ? errno : EIO, "cannot write the decision log %s: %s", path,
			      n < 0 ? strerror(errno) : "short write");
	close(fd);
	free(buf);
	return err;
}

int gs_decision_append(const char *pin_dir, struct json_object *entry)
{
	return gs_decision_append_at(pin_dir, gs_realtime_ns(), entry);
}

struct json_object *gs_decision_new(const char *actor, const char *service, const char *action)
{
	struct json_object *e = json_object_new_object();

	json_object_object_add(e, "actor", json_object_new_string(actor));
	json_object_object_add(e, "service", json_object_new_string(service));
	json_object_object_add(e, "action", json_object_new_string(action));
	return e;
}

static struct json_object *percent_json(uint32_t ppm)
{
	char text[24];

	snprintf(text, sizeof(text), "%g", gs_ppm_to_percent(ppm));
	return gs_json_decimal(gs_ppm_to_percent(ppm), text);
}

void gs_decision_add_share(struct json_object *entry, uint32_t from_ppm, uint32_t to_ppm)
{
	json_object_object_add(entry, "from_percent", percent_json(from_ppm));
	json_object_object_add(entry, "to_percent", percent_json(to_ppm));
}

static const char *field(struct json_object *e, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(e, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

const char *gs_decision_field(struct json_object *entry, const char *key)
{
	return field(entry, key);
}

void gs_decision_format(struct json_object *e, char *buf, size_t len)
{
	const char *time = field(e, "time"), *service = field(e, "service");
	const char *actor = field(e, "actor"), *action = field(e, "action");
	const char *step = field(e, "step"), *steps = field(e, "steps");
	const char *from = field(e, "from_percent"), *to = field(e, "to_percent");
	const char *verdict = field(e, "verdict"), *reason = field(e, "reason");
	size_t n;

	snprintf(buf, len, "%s %s %s %s", time ? time : "?", service ? service : "?",
		 actor ? actor : "?", action ? action : "?");
#define APPEND(...)                                                                                \
	do {                                                                                       \
		n = strlen(buf);                                                                   \
		if (n < len)                                                                       \
			snprintf(buf + n, len - n, __VA_ARGS__);                                   \
	} while (0)
	if (step)
		APPEND(" step %s%s%s", step, steps ? "/" : "", steps ? steps : "");
	if (from && to)
		APPEND(" %s%% -> %s%%", from, to);
	else if (to)
		APPEND(" -> %s%%", to);
	if (verdict)
		APPEND(" verdict %s", verdict);
	if (reason && reason[0])
		APPEND(": %s", reason);
#undef APPEND
	/* One entry, one line: a newline or an escape sequence in a field of
	 * a damaged or hand-edited log must not break `events` or `top`. */
	for (n = 0; n < len && buf[n]; n++)
		if ((unsigned char)buf[n] < 0x20 || buf[n] == 0x7f)
			buf[n] = '?';
}
