// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "decisions.h"
#include "decisions_print.h"
#include "error.h"
#include "lock.h"

/* Whether a line is for the wanted service; prints it as asked. */
static void print_line(const char *line, const struct gs_decisions_query *q)
{
	struct json_object *e = json_tokener_parse(line);
	char text[2048];
	const char *svc;

	if (!e)
		return;
	svc = gs_decision_field(e, "service");
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
	svc = gs_decision_field(e, "service");
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

	gs_state_path(pin_dir, GS_DECISIONS_SUFFIX, path, sizeof(path));
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
