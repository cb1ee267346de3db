// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "error.h"
#include "etcd.h"
#include "fleet.h"
#include "lock.h"
#include "follow.h"
#include "rollout_file.h"
#include "service.h"
#include "session.h"

/* What this node did with one spec key. */
struct applied {
	char *key;
	int64_t mod_revision; /* applied (or refused: error set) */
	char *signature;      /* the backends its selectors resolved to ("" without) */
	char *error;	      /* NULL: applied */
	uint64_t failed_ns;   /* a failed apply is tried again after a resync period */
};

/* The last state (and operator commands) read or written for one service. */
struct seen_state {
	struct gs_service_key key;
	int64_t mod_revision;
	int64_t ops_revision;
};

struct gs_follow {
	struct gs_etcd *etcd;
	struct gs_etcd_watch *watch;  /* PREFIX/services/ */
	struct gs_etcd_watch *bwatch; /* PREFIX/backends/: registrations */
	int epfd;		      /* both watches' eventfds, for the agent's epoll */
	int64_t backends_revision;    /* the registrations' newest change seen */
	bool backends_up;
	struct gs_store_url url;
	const char *pin_dir;
	char name[GS_FLEET_NAME_MAX];
	struct gs_follow_hooks hooks;

	struct seen_state *states;
	size_t nstates;
	/* The leader key as this node wrote it (0: not the leader). */
	int64_t leader_mod;
	uint64_t next_campaign_ns;

	struct applied *applied;
	size_t napplied;
	int64_t applied_revision; /* the store revision the maps match */
	bool store_up, reported_up, report_dirty;

	int64_t lease;
	uint64_t next_keepalive_ns, next_resync_ns;
	uint64_t backoff_until_ns; /* a call failed: the store is left alone until then */
	uint64_t backoff_ns;	   /* ... for this long after the next failure */
	uint64_t lease_ok_ns;	   /* the lease last granted or kept alive */
	uint32_t seed;		   /* the fleet's, as last given to the agent */
	bool have_seed;
	uint64_t started_unix_ns;
};

static void log_line(struct gs_follow *f, const char *event, const char *key, int64_t revision,
		     const char *result, const char *error)
{
	struct json_object *o = json_object_new_object();
	char when[40];

	gs_format_iso_time(gs_realtime_ns(), when, sizeof(when));
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "store", json_object_new_string(event));
	json_object_object_add(o, "node", json_object_new_string(f->name));
	if (key)
		json_object_object_add(o, "key", json_object_new_string(key));
	if (revision)
		json_object_object_add(o, "revision", json_object_new_int64(revision));
	if (result)
		json_object_object_add(o, "result", json_object_new_string(result));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	f->hooks.log(f->hooks.ctx, o);
	json_object_put(o);
}

/* Whether the store may be called now (no recent failure). */
static bool store_usable(const struct gs_follow *f)
{
	return gs_monotonic_ns() >= f->backoff_until_ns;
}

/*
 * After every call: a store that did not answer (or answered with an
 * error) is noted once and left alone for a while, longer while it keeps
 * failing. Leadership does not end with one slow call: it lasts as long as
 * the lease surely does (lead_check).
 */
static int store_result(struct gs_follow *f, int err)
{
	if (!err) {
		f->backoff_ns = 0;
		return 0;
	}
	f->backoff_ns = f->backoff_ns ? f->backoff_ns * 2 : GS_FOLLOW_BACKOFF_MIN_NS;
	if (f->backoff_ns > GS_FOLLOW_BACKOFF_MAX_NS)
		f->backoff_ns = GS_FOLLOW_BACKOFF_MAX_NS;
	f->backoff_until_ns = gs_monotonic_ns() + f->backoff_ns;
	if (f->store_up)
		log_line(f, "unreachable", NULL, 0, NULL, gs_last_error());
	f->store_up = false;
	return err;
}

/* A leader whose lease may be running out unrenewed stops leading: another
 * node may lead by now. */
static void lead_check(struct gs_follow *f, uint64_t now_ns)
{
	if (!f->leader_mod || now_ns + GS_FOLLOW_LEAD_MARGIN_NS <
				      f->lease_ok_ns + GS_FOLLOW_LEASE_TTL_S * 1000000000ull)
		return;
	f->leader_mod = 0;
	f->report_dirty = true;
	log_line(f, "follower", NULL, 0, NULL, "lease not renewed in time");
}

static int epoll_watch(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void applied_load(struct gs_follow *f);

int gs_follow_start(const struct gs_store_url *url, const char *pin_dir, const char *name,
		    const struct gs_follow_hooks *hooks, struct gs_follow **out)
{
	char dir[GS_FLEET_KEY_MAX];
	struct gs_follow *f;
	int err;

	if (name && (err = gs_fleet_name_check(name)))
		return err;
	f = calloc(1, sizeof(*f));
	if (!f)
		return gs_fail(ENOMEM, "store: out of memory");
	f->url = *url;
	f->pin_dir = pin_dir;
	f->hooks = *hooks;
	f->started_unix_ns = gs_realtime_ns();
	if (name)
		snprintf(f->name, sizeof(f->name), "%s", name);
	else
		gs_fleet_default_name(pin_dir, f->name, sizeof(f->name));
	err = gs_etcd_open(&f->url, &f->etcd);
	if (!err) {
		gs_etcd_set_timeout(f->etcd, GS_FOLLOW_CALL_MS);
		/* From the store's current revision: whatever came before, the
		 * first full read sees. */
		gs_fleet_services_dir(f->url.prefix, dir, sizeof(dir));
		err = gs_etcd_watch_start(&f->url, dir, 0, &f->watch);
	}
	if (!err) {
		gs_fleet_backends_dir(f->url.prefix, dir, sizeof(dir));
		err = gs_etcd_watch_start(&f->url, dir, 0, &f->bwatch);
	}
	if (!err)
		applied_load(f);
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!err && (f->epfd < 0 || epoll_watch(f->epfd, gs_etcd_watch_fd(f->watch)) ||
		     epoll_watch(f->epfd, gs_etcd_watch_fd(f->bwatch))))
		err = gs_fail(errno, "store: epoll: %s", strerror(errno));
	if (err) {
		gs_etcd_watch_stop(f->watch);
		gs_etcd_watch_stop(f->bwatch);
		close(f->epfd);
		gs_etcd_watch_stop(f->bwatch);
		if (f->epfd >= 0)
			close(f->epfd);
		gs_etcd_close(f->etcd);
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

int gs_follow_fd(const struct gs_follow *f)
{
	return f->epfd;
}

const char *gs_follow_name(const struct gs_follow *f)
{
	return f->name;
}

/* An entry's strings, each its own allocation (strdup). */
static void applied_free(struct applied *a)
{
	char *key = a->key, *error = a->error, *signature = a->signature;

	a->key = a->error = a->signature = NULL;
	free(key);
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): never the same string as key */
	free(error);
	free(signature);
}

static struct applied *applied_find(struct gs_follow *f, const char *key)
{
	struct applied *a;
	size_t i;

	for (i = 0; i < f->napplied; i++)
		if (!strcmp(f->applied[i].key, key))
			return &f->applied[i];
	a = realloc(f->applied, (f->napplied + 1) * sizeof(*a));
	if (!a)
		return NULL;
	f->applied = a;
	a = &f->applied[f->napplied];
	memset(a, 0, sizeof(*a));
	a->key = strdup(key);
	if (!a->key)
		return NULL;
	f->napplied++;
	return a;
}

/* One spec into the maps, as `apply -f` would: parse and check, then
 * session, journal, plan and apply, which logs the change. */
/* The spec parsed and checked, its selectors resolved against the
 * registered backends; *sig names what they resolved to. */
static int spec_load(struct gs_follow *f, const struct gs_etcd_kv *kv,
		     const struct gs_etcd_kvs *registered, struct gs_rollout_file *rf, char *sig,
		     size_t sig_len)
{
	char name[GS_FLEET_KEY_MAX + 16];
	bool selectors, stable = false;
	uint32_t i;
	int err;

	snprintf(name, sizeof(name), "store:%s", kv->key);
	err = gs_rollout_file_parse(name, kv->value, kv->value_len, rf);
	if (err)
		return err;
	rf->fleet = true;
	selectors = rf->nselectors > 0;
	err = gs_fleet_resolve(f->url.prefix, registered, rf, sig, sig_len);
	for (i = 0; i < rf->nbackends; i++)
		stable = stable || rf->backends[i].group == GS_GROUP_STABLE;
	if (!err && selectors && !stable)
		err = gs_fail(ENOENT, "%s: no registered backend for its stable group yet", name);
	if (err)
		gs_rollout_file_free(rf);
	return err;
}

static int apply_spec(struct gs_follow *f, struct gs_rollout_file *rf, char *result,
		      size_t result_len)
{
	struct json_object *report = NULL, *r;
	struct gs_session s;
	int err;

	err = gs_session_begin(f->pin_dir, &s);
	if (!err) {
		err = gs_session_journal(&s, &rf->service, "apply (store)");
		if (!err)
			err = gs_apply(&s.maps, f->pin_dir, rf, false, &report);
		err = gs_session_end(&s, err);
	}
	snprintf(result, result_len, "%s",
		 !err && json_object_object_get_ex(report, "result", &r) ? json_object_get_string(r)
									 : "updated");
	json_object_put(report);
	return err;
}

static struct seen_state *seen_find(struct gs_follow *f, const struct gs_service_key *k)
{
	struct seen_state *s;
	size_t i;

	for (i = 0; i < f->nstates; i++)
		if (!memcmp(&f->states[i].key, k, sizeof(*k)))
			return &f->states[i];
	s = realloc(f->states, (f->nstates + 1) * sizeof(*s));
	if (!s)
		return NULL;
	f->states = s;
	s = &f->states[f->nstates++];
	s->key = *k;
	s->mod_revision = 0;
	s->ops_revision = 0;
	return s;
}

/* A state key read: mirror it unless this node wrote it or saw it. */
static void sync_state(struct gs_follow *f, const struct gs_etcd_kv *kv,
		       const struct gs_service_key *k)
{
	struct seen_state *seen = seen_find(f, k);
	struct gs_fleet_state st;

	if (!seen || seen->mod_revision == kv->mod_revision)
		return;
	seen->mod_revision = kv->mod_revision;
	if (gs_fleet_state_parse(kv->value, &st)) {
		log_line(f, "state", kv->key, kv->mod_revision, "failed", gs_last_error());
		return;
	}
	st.mod_revision = kv->mod_revision;
	if (!strcmp(st.by, f->name))
		return;
	f->hooks.state(f->hooks.ctx, k, &st);
}

/* The operator's commands for k: into the maps when they changed. */
static void sync_ops(struct gs_follow *f, const struct gs_etcd_kv *kv,
		     const struct gs_service_key *k)
{
	struct seen_state *seen = seen_find(f, k);
	struct gs_fleet_ops ops;

	if (!seen || seen->ops_revision == kv->mod_revision)
		return;
	if (gs_fleet_ops_parse(kv->value, &ops)) {
		seen->ops_revision = kv->mod_revision;
		log_line(f, "ops", kv->key, kv->mod_revision, "failed", gs_last_error());
		return;
	}
	ops.mod_revision = kv->mod_revision;
	if (f->hooks.ops(f->hooks.ctx, k, &ops))
		seen->ops_revision = kv->mod_revision;
}

/*
 * The store keys of the specs this node applied, one a line, in the
 * instance's state directory: a restarted agent knows which services are
 * the store's to remove (a spec deleted while it was down).
 */
#define APPLIED_SUFFIX ".fleet-specs"

static void applied_save(const struct gs_follow *f)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *out;
	size_t i;

	gs_state_path(f->pin_dir, APPLIED_SUFFIX, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	out = fopen(tmp, "we");
	if (!out)
		return;
	for (i = 0; i < f->napplied; i++)
		fprintf(out, "%s\n", f->applied[i].key);
	if (fclose(out) || rename(tmp, path))
		unlink(tmp);
}

static void applied_load(struct gs_follow *f)
{
	char path[PATH_MAX], line[GS_FLEET_KEY_MAX + 2];
	struct gs_service_key k;
	const char *leaf;
	FILE *in;

	gs_state_path(f->pin_dir, APPLIED_SUFFIX, path, sizeof(path));
	in = fopen(path, "re");
	if (!in)
		return;
	while (fgets(line, sizeof(line), in)) {
		struct applied *a;

		line[strcspn(line, "\n")] = '\0';
		/* Of this store's prefix only; applied again when present. */
		if (gs_fleet_key_service(f->url.prefix, line, &k, &leaf) ||
		    strcmp(leaf, "spec") != 0)
			continue;
		a = applied_find(f, line);
		if (a)
			a->mod_revision = -1;
	}
	fclose(in);
}

/*
 * A spec this node applied that the store no longer has: its service
 * leaves this node too (`service del --store`). Only what this agent
 * applied itself (now or before a restart): a service added here by hand
 * is not the store's.
 */
static void remove_gone(struct gs_follow *f, const struct gs_etcd_kvs *specs)
{
	struct gs_service_key k;
	struct gs_session s;
	const char *leaf;
	size_t i, j;
	int err;

	for (i = 0; i < f->napplied;) {
		struct applied *a = &f->applied[i];
		bool present = false;

		for (j = 0; j < specs->n && !present; j++)
			present = !strcmp(specs->kv[j].key, a->key);
		if (present || gs_fleet_key_service(f->url.prefix, a->key, &k, &leaf)) {
			i++;
			continue;
		}
		err = gs_session_begin(f->pin_dir, &s);
		if (!err) {
			err = gs_session_journal(&s, &k, "service del (store)");
			if (!err)
				err = gs_service_del(&s.maps, &k);
			err = gs_session_end(&s, err);
		}
		log_line(f, "delete", a->key, specs->revision, err ? "failed" : "deleted",
			 err ? gs_last_error() : NULL);
		applied_free(a);
		/* The last entry takes its place (it may be this one). */
		f->applied[i] = f->applied[--f->napplied];
		f->report_dirty = true;
	}
}

/* Read every spec and apply the ones not applied at their revision; then
 * mirror every decision state that changed (after the specs: a state may
 * be of a rollout a spec just started). */
static void sync_specs(struct gs_follow *f, uint64_t now_ns)
{
	char dir[GS_FLEET_KEY_MAX];
	char bdir[GS_FLEET_KEY_MAX], sig[1024];
	struct gs_etcd_kvs specs, registered;
	struct gs_rollout_file rf;
	bool all_ok = true;
	uint32_t seed;
	size_t i;
	int err;

	gs_fleet_services_dir(f->url.prefix, dir, sizeof(dir));
	if (store_result(f, gs_fleet_seed(f->etcd, &seed)))
		return;
	if (!f->have_seed || seed != f->seed) {
		f->hooks.seed(f->hooks.ctx, seed);
		f->seed = seed;
		f->have_seed = true;
	}
	if (store_result(f, gs_etcd_get(f->etcd, dir, true, &specs)))
		return;
	gs_fleet_backends_dir(f->url.prefix, bdir, sizeof(bdir));
	if (store_result(f, gs_etcd_get(f->etcd, bdir, true, &registered))) {
		gs_etcd_kvs_free(&specs);
		return;
	}
	if (!f->store_up)
		log_line(f, "reachable", NULL, specs.revision, NULL, NULL);
	f->store_up = true;
	for (i = 0; i < specs.n; i++) {
		const struct gs_etcd_kv *kv = &specs.kv[i];
		struct applied *a;
		char result[32];
		size_t len = strlen(kv->key);

		if (len < 5 || strcmp(kv->key + len - 5, "/spec") != 0)
			continue;
		a = applied_find(f, kv->key);
		if (!a) {
			all_ok = false;
			continue;
		}
		err = spec_load(f, kv, &registered, &rf, sig, sizeof(sig));
		if (!err && a->mod_revision == kv->mod_revision && !a->error && a->signature &&
		    !strcmp(a->signature, sig)) {
			gs_rollout_file_free(&rf);
			continue;
		}
		if (err && a->mod_revision == kv->mod_revision && a->error &&
		    now_ns < a->failed_ns + GS_FOLLOW_RESYNC_NS) {
			all_ok = false;
			continue;
		}
		if (!err) {
			err = apply_spec(f, &rf, result, sizeof(result));
			gs_rollout_file_free(&rf);
		}
		free(a->error);
		free(a->signature);
		a->error = NULL;
		a->signature = err ? NULL : strdup(sig);
		a->mod_revision = kv->mod_revision;
		f->report_dirty = true;
		if (err) {
			a->error = strdup(gs_last_error());
			a->failed_ns = now_ns;
			all_ok = false;
			log_line(f, "apply", kv->key, kv->mod_revision, "failed", gs_last_error());
		} else {
			log_line(f, "apply", kv->key, kv->mod_revision, result, NULL);
		}
	}
	for (i = 0; i < specs.n; i++) {
		struct gs_service_key k;
		const char *leaf;

		if (!gs_fleet_key_service(f->url.prefix, specs.kv[i].key, &k, &leaf) &&
		    !strcmp(leaf, "state"))
			sync_state(f, &specs.kv[i], &k);
	}
	/* Commands after the states: they name the rollout by the generation
	 * a state brings. */
	for (i = 0; i < specs.n; i++) {
		struct gs_service_key k;
		const char *leaf;

		if (!gs_fleet_key_service(f->url.prefix, specs.kv[i].key, &k, &leaf) &&
		    !strcmp(leaf, "ops"))
			sync_ops(f, &specs.kv[i], &k);
	}
	gs_etcd_kvs_free(&registered);
	remove_gone(f, &specs);
	if (f->report_dirty)
		applied_save(f);
	if (all_ok && specs.revision > f->applied_revision) {
		f->applied_revision = specs.revision;
		f->report_dirty = true;
	}
	gs_etcd_kvs_free(&specs);
}

static struct json_object *report_json(const struct gs_follow *f)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char host[64] = "", when[40];
	size_t i;

	gethostname(host, sizeof(host) - 1);
	json_object_object_add(o, "name", json_object_new_string(f->name));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "pin_dir", json_object_new_string(f->pin_dir));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "applied_revision", json_object_new_int64(f->applied_revision));
	json_object_object_add(o, "leader", json_object_new_boolean(f->leader_mod != 0));
	gs_format_iso_time(f->started_unix_ns, when, sizeof(when));
	json_object_object_add(o, "started", json_object_new_string(when));
	gs_format_iso_time(gs_realtime_ns(), when, sizeof(when));
	json_object_object_add(o, "updated", json_object_new_string(when));
	for (i = 0; i < f->napplied; i++) {
		struct json_object *s = json_object_new_object();

		json_object_object_add(s, "key", json_object_new_string(f->applied[i].key));
		json_object_object_add(s, "revision",
				       json_object_new_int64(f->applied[i].mod_revision));
		if (f->applied[i].error)
			json_object_object_add(s, "error",
					       json_object_new_string(f->applied[i].error));
		json_object_array_add(arr, s);
	}
	json_object_object_add(o, "specs", arr);
	return o;
}

/* The node's key under its lease: a new lease when there is none (first
 * run, or it expired while the store was away). */
static void keep_report(struct gs_follow *f, uint64_t now_ns)
{
	char key[GS_FLEET_KEY_MAX];
	struct json_object *o;
	const char *text;
	int err = 0;

	if (f->lease && now_ns >= f->next_keepalive_ns) {
		err = gs_etcd_lease_keepalive(f->etcd, f->lease);
		if (err == -ENOENT) {
			/* Expired while the store was away: the node's keys went
			 * with it, and its leadership. */
			f->lease = 0;
			f->leader_mod = 0;
			err = 0;
		}
		err = store_result(f, err);
		if (!err && f->lease) {
			f->next_keepalive_ns = now_ns + GS_FOLLOW_KEEPALIVE_NS;
			f->lease_ok_ns = now_ns;
		}
	}
	if (!err && !f->lease) {
		err = store_result(f,
				   gs_etcd_lease_grant(f->etcd, GS_FOLLOW_LEASE_TTL_S, &f->lease));
		f->report_dirty = true;
		f->next_keepalive_ns = now_ns + GS_FOLLOW_KEEPALIVE_NS;
		if (!err)
			f->lease_ok_ns = now_ns;
	}
	if (err || !f->report_dirty)
		return;
	gs_fleet_nodes_dir(f->url.prefix, key, sizeof(key));
	snprintf(key + strlen(key), sizeof(key) - strlen(key), "%s", f->name);
	o = report_json(f);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (!store_result(f, gs_etcd_put(f->etcd, key, text, strlen(text), f->lease)))
		f->report_dirty = false;
	json_object_put(o);
}

static void leader_key(const struct gs_follow *f, char *out, size_t len)
{
	snprintf(out, len, "%s/leader", f->url.prefix);
}

/*
 * Who leads: the leader key, or this node if the key is free (a
 * transaction that creates it under this node's lease). Leadership ends
 * with the lease, on every node's view at once, since the key goes with
 * it.
 */
static void campaign(struct gs_follow *f)
{
	char key[GS_FLEET_KEY_MAX];
	struct gs_etcd_kvs kvs;
	struct gs_etcd_cmp cmp;
	struct gs_etcd_op op;
	bool was = f->leader_mod != 0, ok;
	int64_t rev;

	leader_key(f, key, sizeof(key));
	if (store_result(f, gs_etcd_get(f->etcd, key, false, &kvs)))
		return;
	if (kvs.n) {
		f->leader_mod = kvs.kv[0].lease == f->lease && !strcmp(kvs.kv[0].value, f->name)
					? kvs.kv[0].mod_revision
					: 0;
	} else if (f->lease) {
		cmp = (struct gs_etcd_cmp){key, 0};
		op = (struct gs_etcd_op){GS_ETCD_PUT, key, f->name, strlen(f->name), f->lease};
		if (!store_result(f, gs_etcd_txn(f->etcd, &cmp, 1, &op, 1, &ok, &rev)) && ok)
			f->leader_mod = rev;
	}
	gs_etcd_kvs_free(&kvs);
	if (was != (f->leader_mod != 0)) {
		log_line(f, f->leader_mod ? "leader" : "follower", NULL, f->leader_mod, NULL, NULL);
		f->report_dirty = true;
	}
}

bool gs_follow_has_spec(const struct gs_follow *f, const struct gs_service_key *k)
{
	char key[GS_FLEET_KEY_MAX];
	size_t i;

	gs_fleet_spec_key(f->url.prefix, k, key, sizeof(key));
	for (i = 0; i < f->napplied; i++)
		if (!strcmp(f->applied[i].key, key))
			return !f->applied[i].error;
	return false;
}

bool gs_follow_leader(const struct gs_follow *f)
{
	return f->leader_mod != 0;
}

int gs_follow_publish_state(struct gs_follow *f, const struct gs_service_key *k,
			    struct gs_fleet_state *st)
{
	char key[GS_FLEET_KEY_MAX], lkey[GS_FLEET_KEY_MAX];
	struct seen_state *seen = seen_find(f, k);
	struct gs_etcd_cmp cmp[2];
	struct json_object *o;
	struct gs_etcd_op op;
	const char *text;
	int64_t rev;
	bool ok;
	int err;

	if (!f->leader_mod || !seen)
		return gs_fail(EPERM, "store: not the leader");
	if (!store_usable(f))
		return gs_fail(EAGAIN, "store: unreachable");
	snprintf(st->by, sizeof(st->by), "%s", f->name);
	gs_fleet_state_key(f->url.prefix, k, key, sizeof(key));
	leader_key(f, lkey, sizeof(lkey));
	cmp[0] = (struct gs_etcd_cmp){lkey, f->leader_mod};
	cmp[1] = (struct gs_etcd_cmp){key, seen->mod_revision};
	o = gs_fleet_state_json(st);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	op = (struct gs_etcd_op){GS_ETCD_PUT, key, text, strlen(text), 0};
	err = store_result(f, gs_etcd_txn(f->etcd, cmp, 2, &op, 1, &ok, &rev));
	json_object_put(o);
	if (err)
		return err;
	if (!ok) {
		/* Someone else's word came first, or leadership went: read
		 * again at once. */
		f->next_resync_ns = 0;
		f->next_campaign_ns = 0;
		return gs_fail(ECANCELED, "store: %s changed, or leadership moved", key);
	}
	seen->mod_revision = rev;
	st->mod_revision = rev;
	return 0;
}

int gs_follow_publish_stats(struct gs_follow *f, struct json_object *stats)
{
	char key[GS_FLEET_KEY_MAX];
	const char *text = json_object_to_json_string_ext(stats, JSON_C_TO_STRING_PLAIN);

	if (!f->lease || !store_usable(f))
		return gs_fail(EAGAIN, "store: no lease yet, or unreachable");
	snprintf(key, sizeof(key), "%s/stats/%s", f->url.prefix, f->name);
	return store_result(f, gs_etcd_put(f->etcd, key, text, strlen(text), f->lease));
}

int gs_follow_read_stats(struct gs_follow *f, struct gs_etcd_kvs *out)
{
	char dir[GS_FLEET_KEY_MAX];

	if (!store_usable(f))
		return gs_fail(EAGAIN, "store: unreachable");
	snprintf(dir, sizeof(dir), "%s/stats/", f->url.prefix);
	return store_result(f, gs_etcd_get(f->etcd, dir, true, out));
}

int gs_follow_publish_downstream(struct gs_follow *f, struct json_object *pairs)
{
	char key[GS_FLEET_KEY_MAX];
	const char *text = json_object_to_json_string_ext(pairs, JSON_C_TO_STRING_PLAIN);

	if (!f->lease || !store_usable(f))
		return gs_fail(EAGAIN, "store: no lease yet, or unreachable");
	snprintf(key, sizeof(key), "%s/downstream/%s", f->url.prefix, f->name);
	return store_result(f, gs_etcd_put(f->etcd, key, text, strlen(text), f->lease));
}

int gs_follow_read_downstream(struct gs_follow *f, struct gs_etcd_kvs *out)
{
	char dir[GS_FLEET_KEY_MAX];

	if (!store_usable(f))
		return gs_fail(EAGAIN, "store: unreachable");
	snprintf(dir, sizeof(dir), "%s/downstream/", f->url.prefix);
	return store_result(f, gs_etcd_get(f->etcd, dir, true, out));
}

void gs_follow_run(struct gs_follow *f, uint64_t now_ns)
{
	int64_t revision, brevision;
	bool up, bup, due;

	gs_etcd_watch_drain(f->watch, &revision, &up);
	gs_etcd_watch_drain(f->bwatch, &brevision, &bup);
	due = now_ns >= f->next_resync_ns || revision > f->applied_revision ||
	      up != f->reported_up || !f->store_up || brevision > f->backends_revision ||
	      bup != f->backends_up;
	f->reported_up = up;
	f->backends_revision = brevision;
	f->backends_up = bup;
	lead_check(f, now_ns);
	if (!store_usable(f))
		return;
	if (due) {
		f->next_resync_ns = now_ns + GS_FOLLOW_RESYNC_NS;
		sync_specs(f, now_ns);
	}
	if (f->store_up)
		keep_report(f, now_ns);
	if (f->store_up && now_ns >= f->next_campaign_ns) {
		f->next_campaign_ns = now_ns + GS_FOLLOW_CAMPAIGN_NS;
		campaign(f);
	}
}

void gs_follow_stop(struct gs_follow *f)
{
	size_t i;

	if (!f)
		return;
	gs_etcd_watch_stop(f->watch);
	gs_etcd_watch_stop(f->bwatch);
	close(f->epfd);
	if (f->lease && f->store_up)
		gs_etcd_lease_revoke(f->etcd, f->lease);
	gs_etcd_close(f->etcd);
	for (i = 0; i < f->napplied; i++)
		applied_free(&f->applied[i]);
	free(f->applied);
	free(f->states);
	free(f);
}
