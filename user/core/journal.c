// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "backend_addrs.h"
#include "backends_read.h"
#include "clock.h"
#include "decisions.h"
#include "error.h"
#include "journal.h"
#include "lock.h"
#include "map_iter.h"
#include "service.h"
#include "table.h"

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_SEED 0xcbf29ce484222325ull

int gs_journal_encode(const struct gs_journal *j, void **buf, size_t *len)
{
	size_t olen = (size_t)j->head.noverrides * sizeof(j->overrides[0]);
	size_t n = sizeof(j->head) + olen + sizeof(uint64_t);
	unsigned char *p = malloc(n);
	uint64_t sum;

	if (!p)
		return gs_fail(ENOMEM, "out of memory");
	memcpy(p, &j->head, sizeof(j->head));
	if (olen)
		memcpy(p + sizeof(j->head), j->overrides, olen);
	sum = fnv1a(FNV_SEED, p, n - sizeof(sum));
	memcpy(p + n - sizeof(sum), &sum, sizeof(sum));
	*buf = p;
	*len = n;
	return 0;
}

int gs_journal_decode(const void *buf, size_t len, struct gs_journal *j)
{
	const unsigned char *p = buf;
	uint64_t sum;
	size_t olen;

	memset(j, 0, sizeof(*j));
	if (len < sizeof(j->head) + sizeof(sum))
		return gs_fail(EBADMSG, "journal too short (%zu bytes)", len);
	memcpy(&j->head, p, sizeof(j->head));
	if (memcmp(j->head.magic, GS_JOURNAL_MAGIC, sizeof(j->head.magic)) != 0 ||
	    j->head.head_size != sizeof(j->head))
		return gs_fail(EBADMSG, "not a journal of this graysplit build");
	if (j->head.noverrides > GS_MAX_OVERRIDES)
		return gs_fail(EBADMSG, "journal lists %u overrides", j->head.noverrides);
	olen = (size_t)j->head.noverrides * sizeof(j->overrides[0]);
	if (len != sizeof(j->head) + olen + sizeof(sum))
		return gs_fail(EBADMSG, "journal is %zu bytes, not %zu", len,
			       sizeof(j->head) + olen + sizeof(sum));
	memcpy(&sum, p + len - sizeof(sum), sizeof(sum));
	if (sum != fnv1a(FNV_SEED, p, len - sizeof(sum)))
		return gs_fail(EBADMSG, "journal checksum mismatch");
	if (j->head.cmd[sizeof(j->head.cmd) - 1])
		return gs_fail(EBADMSG, "journal command name unterminated");
	if (olen) {
		j->overrides = malloc(olen);
		if (!j->overrides)
			return gs_fail(ENOMEM, "out of memory");
		memcpy(j->overrides, p + sizeof(j->head), olen);
	}
	return 0;
}

void gs_journal_free(struct gs_journal *j)
{
	free(j->overrides);
	j->overrides = NULL;
	j->head.noverrides = 0;
}

/* One service's overrides, as a growing list. */
struct override_list {
	uint32_t service_id;
	struct gs_journal_override *items;
	uint32_t n, cap;
};

static int collect_override(const void *key, const void *value, void *ctx)
{
	const struct gs_override_key *k = key;
	struct override_list *l = ctx;

	if (k->service_id != l->service_id)
		return 0;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		struct gs_journal_override *items = realloc(l->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	memset(&l->items[l->n], 0, sizeof(l->items[0]));
	l->items[l->n].key = *k;
	memcpy(&l->items[l->n].value, value, sizeof(struct gs_override));
	l->n++;
	return 0;
}

static int read_overrides(struct gs_maps *m, uint32_t service_id, struct override_list *l)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->service_id = service_id;
	err = gs_map_foreach(m->overrides, sizeof(struct gs_override_key),
			     sizeof(struct gs_override), collect_override, l);
	if (err) {
		free(l->items);
		l->items = NULL;
		l->n = 0;
		return gs_fail(-err, "cannot read the overrides map: %s", strerror(-err));
	}
	return 0;
}

/* A lookup into a present flag: absent is a value too, other errors not. */
static int lookup(int fd, const void *key, void *value, uint8_t *present, const char *map)
{
	if (!bpf_map_lookup_elem(fd, key, value)) {
		*present = 1;
		return 0;
	}
	if (errno != ENOENT)
		return gs_fail(errno, "cannot read the %s map: %s", map, strerror(errno));
	*present = 0;
	return 0;
}

int gs_journal_snapshot(struct gs_maps *m, const struct gs_service_key *key, const char *cmd,
			struct gs_journal *j)
{
	struct gs_journal_head *h = &j->head;
	struct override_list l;
	uint32_t id;
	int err;

	memset(j, 0, sizeof(*j));
	memcpy(h->magic, GS_JOURNAL_MAGIC, sizeof(h->magic));
	h->head_size = sizeof(*h);
	h->pid = (uint32_t)getpid();
	h->started_unix_ns = gs_realtime_ns();
	snprintf(h->cmd, sizeof(h->cmd), "%s", cmd);
	h->key = *key;
	err = lookup(m->services, key, &h->service, &h->has_service, "services");
	if (err || !h->has_service)
		goto backends;
	id = h->service.id;
	if (bpf_map_lookup_elem(m->split, &id, &h->split))
		return gs_fail(errno, "cannot read the split map: %s", strerror(errno));
	err = lookup(m->svc_status, &id, &h->status, &h->has_status, "svc_status");
	if (!err)
		err = lookup(m->rollouts, &id, &h->rollout, &h->has_rollout, "rollouts");
	if (!err)
		err = lookup(m->rollout_state, &id, &h->state, &h->has_state, "rollout_state");
	if (!err)
		err = read_overrides(m, id, &l);
	if (err)
		return err;
	j->overrides = l.items;
	h->noverrides = l.n;
backends:
	if (!err)
		err = gs_backends_read(m, h->backends);
	if (err)
		gs_journal_free(j);
	return err;
}

static int put(int fd, const void *key, const void *value, bool present, const char *map)
{
	if (present ? bpf_map_update_elem(fd, key, value, BPF_ANY)
		    : bpf_map_delete_elem(fd, key) && errno != ENOENT)
		return gs_fail(errno, "cannot restore the %s map: %s", map, strerror(errno));
	return 0;
}

static bool listed(const struct gs_journal *j, const struct gs_journal_override *o)
{
	uint32_t i;

	for (i = 0; i < j->head.noverrides; i++)
		if (!memcmp(&j->overrides[i].key, &o->key, sizeof(o->key)) &&
		    j->overrides[i].value.group == o->value.group)
			return true;
	return false;
}

static int restore_overrides(struct gs_maps *m, const struct gs_journal *j)
{
	struct override_list now;
	uint32_t i;
	int err;

	err = read_overrides(m, j->head.service.id, &now);
	for (i = 0; i < now.n && !err; i++)
		if (!listed(j, &now.items[i]))
			err = put(m->overrides, &now.items[i].key, NULL, false, "overrides");
	for (i = 0; i < j->head.noverrides && !err; i++)
		err = put(m->overrides, &j->overrides[i].key, &j->overrides[i].value, true,
			  "overrides");
	free(now.items);
	return err;
}

/*
 * Order: a service the command added goes first, out of the data path's
 * sight; then backends, overrides and the per-id entries; then the tables
 * those backends make; the service's own entry last, so a service the
 * command removed comes back whole.
 */
int gs_journal_restore(struct gs_maps *m, const struct gs_journal *j)
{
	const struct gs_journal_head *h = &j->head;
	bool touched[GS_MAX_SERVICES] = {false};
	struct gs_backend *now;
	struct gs_service cur;
	uint32_t id, g, sid;
	int err = 0;

	if (!h->has_service && !bpf_map_lookup_elem(m->services, &h->key, &cur)) {
		err = gs_service_del(m, &h->key);
		if (err)
			return err;
	}
	now = calloc(GS_MAX_BACKENDS, sizeof(*now));
	if (!now)
		return gs_fail(ENOMEM, "out of memory");
	err = gs_backends_read(m, now);
	for (id = 0; id < GS_MAX_BACKENDS && !err; id++) {
		if (!memcmp(&now[id], &h->backends[id], sizeof(now[id])))
			continue;
		if (bpf_map_update_elem(m->backends, &id, &h->backends[id], BPF_ANY)) {
			err = gs_fail(errno, "cannot restore the backends map: %s",
				      strerror(errno));
			break;
		}
		if (now[id].service_id < GS_MAX_SERVICES)
			touched[now[id].service_id] = true;
		if (h->backends[id].service_id < GS_MAX_SERVICES)
			touched[h->backends[id].service_id] = true;
	}
	free(now);
	/* Before the tables send a flow to a restored backend. */
	if (!err)
		err = gs_backend_addrs_sync(m);
	if (!err && h->has_service) {
		sid = h->service.id;
		if (sid >= GS_MAX_SERVICES)
			return gs_fail(EBADMSG, "journal names service id %u", sid);
		touched[sid] = true;
		err = restore_overrides(m, j);
		if (!err)
			err = put(m->split, &sid, &h->split, true, "split");
		if (!err)
			err = put(m->svc_status, &sid, &h->status, h->has_status, "svc_status");
		if (!err)
			err = put(m->rollouts, &sid, &h->rollout, h->has_rollout, "rollouts");
		if (!err)
			err = put(m->rollout_state, &sid, &h->state, h->has_state, "rollout_state");
	}
	for (sid = 0; sid < GS_MAX_SERVICES && !err; sid++)
		for (g = 0; g < GS_GROUPS && touched[sid] && !err; g++)
			err = gs_table_publish(m, sid, (uint8_t)g);
	if (!err && h->has_service)
		err = put(m->services, &h->key, &h->service, true, "services");
	/* A service put back names its backends' addresses only now. */
	if (!err && h->has_service)
		err = gs_backend_addrs_sync(m);
	return err;
}

static void journal_path(const char *pin_dir, char *path, size_t len)
{
	gs_state_path(pin_dir, GS_JOURNAL_SUFFIX, path, len);
}

static int write_whole(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX + 8];
	const char *p = buf;
	int fd, err = 0;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return gs_fail(errno, "cannot write the journal %s: %s", tmp, strerror(errno));
	while (len && !err) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? errno : EIO;
		else {
			p += n;
			len -= (size_t)n;
		}
	}
	if (!err && fsync(fd))
		err = errno;
	if (close(fd) && !err)
		err = errno;
	/* The rename is what makes it count: a reader sees all of it or none. */
	if (!err && rename(tmp, path))
		err = errno;
	if (err) {
		unlink(tmp);
		return gs_fail(err, "cannot write the journal %s: %s", path, strerror(err));
	}
	return 0;
}

int gs_journal_begin(const char *pin_dir, struct gs_maps *m, const struct gs_service_key *key,
		     const char *cmd)
{
	char path[PATH_MAX];
	struct gs_journal j;
	size_t len;
	void *buf;
	int err;

	err = gs_journal_snapshot(m, key, cmd, &j);
	if (err)
		return err;
	err = gs_journal_encode(&j, &buf, &len);
	gs_journal_free(&j);
	if (err)
		return err;
	journal_path(pin_dir, path, sizeof(path));
	err = write_whole(path, buf, len);
	free(buf);
	return err;
}

void gs_journal_end(const char *pin_dir)
{
	char path[PATH_MAX];

	journal_path(pin_dir, path, sizeof(path));
	unlink(path);
}

static int read_file(const char *path, void **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : gs_fail(errno, "cannot open the journal %s: %s", path,
						 strerror(errno));
	if (fstat(fd, &st) || st.st_size > (16 << 20)) {
		close(fd);
		return gs_fail(EBADMSG, "journal %s: cannot stat or too large", path);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return gs_fail(ENOMEM, "out of memory");
	}
	n = pread(fd, *buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		return gs_fail(EIO, "cannot read the journal %s", path);
	}
	*len = (size_t)n;
	return 1;
}

static void log_recover(const char *pin_dir, const struct gs_journal *j, const char *actor)
{
	char name[GS_SERVICE_STRLEN], reason[160];
	struct json_object *entry;

	gs_format_service(&j->head.key, name, sizeof(name));
	snprintf(reason, sizeof(reason), "'%s' (pid %u) was interrupted: its changes undone",
		 j->head.cmd, j->head.pid);
	fprintf(stderr, "graysplit%s: recovered %s: %s\n", strcmp(actor, "cli") ? " agent" : "",
		name, reason);
	entry = gs_decision_new(actor, name, "recover");
	json_object_object_add(entry, "command", json_object_new_string(j->head.cmd));
	json_object_object_add(entry, "pid", json_object_new_int64(j->head.pid));
	json_object_object_add(entry, "reason", json_object_new_string(reason));
	if (gs_decision_append(pin_dir, entry))
		fprintf(stderr, "graysplit: warning: %s\n", gs_last_error());
	json_object_put(entry);
}

int gs_journal_recover(const char *pin_dir, struct gs_maps *m, const char *actor)
{
	char path[PATH_MAX], message[512];
	struct gs_journal j;
	size_t len = 0;
	void *buf = NULL;
	int err;

	journal_path(pin_dir, path, sizeof(path));
	err = read_file(path, &buf, &len);
	if (err <= 0)
		return err;
	err = gs_journal_decode(buf, len, &j);
	free(buf);
	if (!err)
		err = gs_journal_restore(m, &j);
	if (err) {
		snprintf(message, sizeof(message), "%s", gs_last_error());
		gs_journal_free(&j);
		return gs_fail(-err,
			       "cannot recover from an interrupted command (journal %s, kept): %s",
			       path, message);
	}
	unlink(path);
	log_recover(pin_dir, &j, actor);
	gs_journal_free(&j);
	return 1;
}

int gs_journal_check(const char *pin_dir, struct gs_maps *m)
{
	char path[PATH_MAX];
	int fd, err;

	journal_path(pin_dir, path, sizeof(path));
	if (access(path, F_OK))
		return 0;
	fd = gs_lock_try(pin_dir);
	if (fd == -EWOULDBLOCK)
		return 1;
	if (fd < 0)
		return fd;
	err = gs_journal_recover(pin_dir, m, "agent");
	gs_lock_release(fd);
	return err < 0 ? err : 0;
}
