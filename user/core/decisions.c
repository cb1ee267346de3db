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

/* Whether a line is for the wanted service; prints it as asked. */
static void print_line(const char *line, const struct gs_decisions_query *q)
{
	struct json_object *e = json_tokener_parse(line);
	char text[2048];
	const char *svc;

	if (!e)
		return;
	svc = field(e, "service");
	if (!q->service || (svc && !strcmp(svc, q->service))) {
		if (q->json) {
			fputs(line, stdout);
			fputc('\n', stdout);
		} else {
			gs_decision_format(e, text, sizeof(text));
			puts(text);
		}
	}
	json_object_put(e);
}

static bool wanted(const char *line, const struct gs_decisions_query *q)
{
	struct json_object *e;
	const char *svc;
	bool ok;

	if (!q->service)
		return line[0] != '\0';
	e = json_tokener_parse(line);
	if (!e)
		return false;
	svc = field(e, "service");
	ok = svc && !strcmp(svc, q->service);
	json_object_put(e);
	return ok;
}

/* The whole file into memory (NULL and 0 if it is not there). */
static char *slurp(const char *path, size_t *len, ino_t *ino)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	struct stat st;
	size_t n;

	*len = 0;
	if (!f)
		return NULL;
	if (!fstat(fileno(f), &st)) {
		if (ino)
			*ino = st.st_ino;
		buf = malloc((size_t)st.st_size + 1);
		if (buf) {
			n = fread(buf, 1, (size_t)st.st_size, f);
			buf[n] = '\0';
			*len = n;
		}
	}
	fclose(f);
	return buf;
}

/* Whole lines of buf, those wanted, into lines[] (pointers into buf). */
static int split_lines(char *buf, size_t len, const struct gs_decisions_query *q, char ***lines,
		       size_t *n, size_t *cap, size_t *whole)
{
	char *p = buf, *nl;

	while (p < buf + len && (nl = memchr(p, '\n', buf + len - p))) {
		*nl = '\0';
		if (wanted(p, q)) {
			if (*n == *cap) {
				size_t c = *cap ? *cap * 2 : 256;
				char **more = realloc(*lines, c * sizeof(**lines));

				if (!more)
					return gs_fail(ENOMEM, "out of memory");
				*lines = more;
				*cap = c;
			}
			(*lines)[(*n)++] = p;
		}
		p = nl + 1;
	}
	if (whole)
		*whole = (size_t)(p - buf);
	return 0;
}

/* From offset on, every whole line as it comes; the file rotated (another
 * inode at the path) is followed to the new one. */
static int follow(const char *path, ino_t ino, size_t offset, const struct gs_decisions_query *q)
{
	const struct timespec pause = {.tv_nsec = 200000000L};
	char chunk[65536], *pending = NULL;
	size_t npending = 0;
	struct stat st;
	FILE *f = NULL;

	for (;;) {
		size_t got;

		if (!f) {
			f = fopen(path, "re");
			if (f && (fstat(fileno(f), &st) || st.st_ino != ino)) {
				if (!fstat(fileno(f), &st))
					ino = st.st_ino;
				offset = 0;
			}
			if (f && fseeko(f, (off_t)offset, SEEK_SET)) {
				fclose(f);
				f = NULL;
			}
		}
		got = f ? fread(chunk, 1, sizeof(chunk), f) : 0;
		if (got) {
			char *more = realloc(pending, npending + got + 1);
			char *p, *nl;

			if (!more) {
				free(pending);
				fclose(f);
				return gs_fail(ENOMEM, "out of memory");
			}
			pending = more;
			memcpy(pending + npending, chunk, got);
			npending += got;
			offset += got;
			p = pending;
			while ((nl = memchr(p, '\n', pending + npending - p))) {
				*nl = '\0';
				print_line(p, q);
				p = nl + 1;
			}
			npending -= (size_t)(p - pending);
			memmove(pending, p, npending);
			fflush(stdout);
			continue;
		}
		if (f)
			clearerr(f);
		/* Rotated: the rest of the old file was read; on to the new. */
		if (!stat(path, &st) && st.st_ino != ino && f) {
			fclose(f);
			f = NULL;
			ino = st.st_ino;
			offset = 0;
			npending = 0;
			continue;
		}
		nanosleep(&pause, NULL);
	}
}

int gs_decisions_print(const char *pin_dir, const struct gs_decisions_query *q)
{
	char path[4096], old[4096 + 8];
	char *bufs[2] = {NULL, NULL}, **lines = NULL;
	size_t lens[2], n = 0, cap = 0, i, first, whole = 0;
	ino_t ino = 0;
	int err;

	log_path(pin_dir, path, sizeof(path));
	snprintf(old, sizeof(old), "%s.1", path);
	bufs[0] = slurp(old, &lens[0], NULL);
	bufs[1] = slurp(path, &lens[1], &ino);
	err = split_lines(bufs[0] ? bufs[0] : "", bufs[0] ? lens[0] : 0, q, &lines, &n, &cap, NULL);
	if (!err)
		err = split_lines(bufs[1] ? bufs[1] : "", bufs[1] ? lens[1] : 0, q, &lines, &n,
				  &cap, &whole);
	if (!err) {
		first = q->last >= 0 && (size_t)q->last < n ? n - (size_t)q->last : 0;
		for (i = first; i < n; i++)
			print_line(lines[i], q);
		fflush(stdout);
	}
	free(lines);
	free(bufs[0]);
	free(bufs[1]);
	if (err || !q->follow)
		return err;
	return follow(path, ino, whole, q);
}
