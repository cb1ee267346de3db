// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include "error.h"
#include "fleet.h"
#include "parse.h"

void gs_fleet_services_dir(const char *prefix, char *out, size_t len)
{
	snprintf(out, len, "%s/services/", prefix);
}

void gs_fleet_nodes_dir(const char *prefix, char *out, size_t len)
{
	snprintf(out, len, "%s/nodes/", prefix);
}

/* PREFIX/services/PROTO/VIP:PORT/LEAF */
static void service_key(const char *prefix, const struct gs_service_key *k, const char *leaf,
			char *out, size_t len)
{
	char ep[GS_ENDPOINT_STRLEN];

	gs_format_endpoint(&k->vip, ntohs(k->port), ep, sizeof(ep));
	snprintf(out, len, "%s/services/%s/%s/%s", prefix, gs_proto_name(k->proto), ep, leaf);
}

void gs_fleet_spec_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len)
{
	service_key(prefix, k, "spec", out, len);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int gs_fleet_name_check(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= GS_FLEET_NAME_MAX)
		return gs_fail(EINVAL, "node name '%.64s': 1 to %d characters", name,
			       GS_FLEET_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!name_char(name[i]))
			return gs_fail(EINVAL,
				       "node name '%.64s': only letters, digits, '.', '_' and '-'",
				       name);
	return 0;
}

void gs_fleet_default_name(const char *pin_dir, char *out, size_t len)
{
	char host[64] = "node";
	size_t i, n;

	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "node");
	host[sizeof(host) - 1] = '\0';
	while (*pin_dir == '/')
		pin_dir++;
	snprintf(out, len, "%s.%s", host, pin_dir);
	n = strlen(out);
	for (i = 0; i < n; i++)
		if (!name_char(out[i]))
			out[i] = '_';
}

int gs_fleet_publish(struct gs_etcd *e, const struct gs_rollout_file *rf, const char *text,
		     size_t len, int64_t expect_revision, bool dry_run, struct json_object **report)
{
	char key[GS_FLEET_KEY_MAX], ep[GS_ENDPOINT_STRLEN + 8];
	struct gs_etcd_kvs now;
	struct gs_etcd_cmp cmp;
	struct gs_etcd_op op;
	int64_t found, revision = 0;
	const char *result;
	bool same, ok;
	int err;

	gs_fleet_spec_key(gs_etcd_url(e)->prefix, &rf->service, key, sizeof(key));
	err = gs_etcd_get(e, key, false, &now);
	if (err)
		return err;
	found = now.n ? now.kv[0].mod_revision : 0;
	same = now.n && now.kv[0].value_len == len && !memcmp(now.kv[0].value, text, len);
	gs_etcd_kvs_free(&now);
	if (expect_revision >= 0 && expect_revision != found)
		return gs_fail(ECANCELED,
			       "apply: %s is at revision %" PRId64 " in the store, not %" PRId64
			       ": nothing written",
			       key, found, expect_revision);
	if (same || dry_run) {
		result = same ? "unchanged" : "would_publish";
		revision = found;
	} else {
		cmp = (struct gs_etcd_cmp){key, found};
		op = (struct gs_etcd_op){GS_ETCD_PUT, key, text, len, 0};
		err = gs_etcd_txn(e, &cmp, 1, &op, 1, &ok, &revision);
		if (err)
			return err;
		if (!ok)
			return gs_fail(ECANCELED,
				       "apply: %s changed in the store after this apply read it "
				       "(at revision %" PRId64 "): nothing written",
				       key, found);
		result = "published";
	}
	gs_format_endpoint(&rf->service.vip, ntohs(rf->service.port), ep, sizeof(ep));
	*report = json_object_new_object();
	json_object_object_add(*report, "service", json_object_new_string(ep));
	json_object_object_add(*report, "proto",
			       json_object_new_string(gs_proto_name(rf->service.proto)));
	json_object_object_add(*report, "key", json_object_new_string(key));
	json_object_object_add(*report, "result", json_object_new_string(result));
	json_object_object_add(*report, "revision", json_object_new_int64(revision));
	return 0;
}

int gs_fleet_status(struct gs_etcd *e, struct json_object **out)
{
	char dir[GS_FLEET_KEY_MAX];
	struct gs_etcd_kvs specs, nodes, leader;
	struct json_object *svcs, *arr;
	int64_t desired = 0;
	size_t i, plen;
	int err;

	gs_fleet_services_dir(gs_etcd_url(e)->prefix, dir, sizeof(dir));
	err = gs_etcd_get(e, dir, true, &specs);
	if (err)
		return err;
	gs_fleet_nodes_dir(gs_etcd_url(e)->prefix, dir, sizeof(dir));
	err = gs_etcd_get(e, dir, true, &nodes);
	if (err) {
		gs_etcd_kvs_free(&specs);
		return err;
	}
	*out = json_object_new_object();
	json_object_object_add(*out, "prefix", json_object_new_string(gs_etcd_url(e)->prefix));
	json_object_object_add(*out, "revision", json_object_new_int64(nodes.revision));

	svcs = json_object_new_array();
	gs_fleet_services_dir(gs_etcd_url(e)->prefix, dir, sizeof(dir));
	plen = strlen(dir);
	for (i = 0; i < specs.n; i++) {
		struct json_object *s = json_object_new_object(), *st;

		json_object_object_add(s, "key", json_object_new_string(specs.kv[i].key + plen));
		json_object_object_add(s, "revision",
				       json_object_new_int64(specs.kv[i].mod_revision));
		/* A decision state is shown as the leader wrote it. */
		st = strstr(specs.kv[i].key + plen, "/state")
			     ? json_tokener_parse(specs.kv[i].value)
			     : NULL;
		if (st)
			json_object_object_add(s, "state", st);
		json_object_array_add(svcs, s);
		if (specs.kv[i].mod_revision > desired)
			desired = specs.kv[i].mod_revision;
	}
	json_object_object_add(*out, "desired_revision", json_object_new_int64(desired));
	json_object_object_add(*out, "services", svcs);

	arr = json_object_new_array();
	for (i = 0; i < nodes.n; i++) {
		struct json_object *n = json_tokener_parse(nodes.kv[i].value), *v;
		int64_t applied;

		if (!n || !json_object_is_type(n, json_type_object)) {
			json_object_put(n);
			continue;
		}
		applied = json_object_object_get_ex(n, "applied_revision", &v)
				  ? json_object_get_int64(v)
				  : 0;
		json_object_object_add(
			n, "lag",
			json_object_new_int64(applied >= desired ? 0 : desired - applied));
		json_object_array_add(arr, n);
	}
	json_object_object_add(*out, "nodes", arr);
	snprintf(dir, sizeof(dir), "%s/leader", gs_etcd_url(e)->prefix);
	if (!gs_etcd_get(e, dir, false, &leader)) {
		json_object_object_add(*out, "leader",
				       leader.n ? json_object_new_string(leader.kv[0].value)
						: NULL);
		gs_etcd_kvs_free(&leader);
	}
	gs_etcd_kvs_free(&specs);
	gs_etcd_kvs_free(&nodes);
	return 0;
}

void gs_fleet_state_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len)
{
	service_key(prefix, k, "state", out, len);
}

int gs_fleet_key_service(const char *prefix, const char *key, struct gs_service_key *k,
			 const char **leaf)
{
	char dir[GS_FLEET_KEY_MAX], ep[GS_ENDPOINT_STRLEN + 1], proto[8];
	const char *p, *slash, *slash2;
	uint16_t port;

	gs_fleet_services_dir(prefix, dir, sizeof(dir));
	if (strncmp(key, dir, strlen(dir)) != 0)
		return -EINVAL;
	p = key + strlen(dir);
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(proto))
		return -EINVAL;
	memcpy(proto, p, (size_t)(slash - p));
	proto[slash - p] = '\0';
	slash2 = strchr(slash + 1, '/');
	if (!slash2 || (size_t)(slash2 - slash - 1) >= sizeof(ep))
		return -EINVAL;
	memcpy(ep, slash + 1, (size_t)(slash2 - slash - 1));
	ep[slash2 - slash - 1] = '\0';
	memset(k, 0, sizeof(*k));
	if (gs_parse_proto(proto, &k->proto) || gs_parse_endpoint(ep, false, &k->vip, &port))
		return -EINVAL;
	k->port = htons(port);
	*leaf = slash2 + 1;
	return 0;
}

struct json_object *gs_fleet_state_json(const struct gs_fleet_state *st)
{
	struct json_object *o = json_object_new_object(), *r;

	json_object_object_add(o, "share_ppm", json_object_new_int64(st->share_ppm));
	json_object_object_add(o, "rolled_back", json_object_new_boolean(st->rolled_back));
	json_object_object_add(o, "reason", json_object_new_string(st->reason));
	json_object_object_add(o, "by", json_object_new_string(st->by));
	if (st->has_rollout) {
		const struct gs_rollout_state *rs = &st->rollout;

		r = json_object_new_object();
		json_object_object_add(r, "generation", json_object_new_uint64(rs->generation));
		json_object_object_add(r, "step", json_object_new_int64(rs->step));
		json_object_object_add(r, "phase", json_object_new_int(rs->phase));
		json_object_object_add(r, "step_started_unix_ns",
				       json_object_new_uint64(rs->step_started_unix_ns));
		json_object_object_add(r, "changed_unix_ns",
				       json_object_new_uint64(rs->changed_unix_ns));
		json_object_object_add(r, "extended_ms", json_object_new_int64(rs->extended_ms));
		json_object_object_add(r, "promote_seq_seen",
				       json_object_new_int64(rs->promote_seq_seen));
		json_object_object_add(r, "resume_seq_seen",
				       json_object_new_int64(rs->resume_seq_seen));
		json_object_object_add(r, "last_verdict", json_object_new_int(rs->last_verdict));
		json_object_object_add(r, "reason", json_object_new_string(rs->reason));
		json_object_object_add(o, "rollout", r);
	}
	return o;
}

static uint64_t u64_of(struct json_object *o, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(o, name, &v) ? json_object_get_uint64(v) : 0;
}

static void str_of(struct json_object *o, const char *name, char *out, size_t len)
{
	struct json_object *v;

	snprintf(out, len, "%s",
		 json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "");
}

int gs_fleet_state_parse(const char *text, struct gs_fleet_state *st)
{
	struct json_object *o = json_tokener_parse(text), *r, *v;

	memset(st, 0, sizeof(*st));
	if (!o || !json_object_is_type(o, json_type_object) ||
	    u64_of(o, "share_ppm") > GS_PPM_MAX) {
		json_object_put(o);
		return gs_fail(EPROTO, "store: a service state that is not one");
	}
	st->share_ppm = (uint32_t)u64_of(o, "share_ppm");
	st->rolled_back =
		json_object_object_get_ex(o, "rolled_back", &v) && json_object_get_boolean(v);
	str_of(o, "reason", st->reason, sizeof(st->reason));
	str_of(o, "by", st->by, sizeof(st->by));
	if (json_object_object_get_ex(o, "rollout", &r)) {
		struct gs_rollout_state *rs = &st->rollout;

		st->has_rollout = true;
		rs->generation = u64_of(r, "generation");
		rs->step = (uint32_t)u64_of(r, "step");
		rs->phase = (uint8_t)u64_of(r, "phase");
		rs->step_started_unix_ns = u64_of(r, "step_started_unix_ns");
		rs->changed_unix_ns = u64_of(r, "changed_unix_ns");
		rs->extended_ms = (uint32_t)u64_of(r, "extended_ms");
		rs->promote_seq_seen = (uint32_t)u64_of(r, "promote_seq_seen");
		rs->resume_seq_seen = (uint32_t)u64_of(r, "resume_seq_seen");
		rs->last_verdict = (uint8_t)u64_of(r, "last_verdict");
		str_of(r, "reason", rs->reason, sizeof(rs->reason));
	}
	json_object_put(o);
	return 0;
}

bool gs_fleet_state_same(const struct gs_fleet_state *a, const struct gs_fleet_state *b)
{
	const struct gs_rollout_state *x = &a->rollout, *y = &b->rollout;

	if (a->share_ppm != b->share_ppm || a->rolled_back != b->rolled_back ||
	    strcmp(a->reason, b->reason) != 0 || a->has_rollout != b->has_rollout)
		return false;
	if (!a->has_rollout)
		return true;
	return x->generation == y->generation && x->step == y->step && x->phase == y->phase &&
	       x->step_started_unix_ns == y->step_started_unix_ns &&
	       x->changed_unix_ns == y->changed_unix_ns && x->extended_ms == y->extended_ms &&
	       x->promote_seq_seen == y->promote_seq_seen &&
	       x->resume_seq_seen == y->resume_seq_seen && x->last_verdict == y->last_verdict &&
	       !strcmp(x->reason, y->reason);
}

int gs_fleet_seed(struct gs_etcd *e, uint32_t *seed)
{
	char key[GS_FLEET_KEY_MAX], text[16];
	struct gs_etcd_kvs kvs;
	struct gs_etcd_cmp cmp;
	struct gs_etcd_op op;
	uint32_t fresh = 0;
	bool ok;
	int err, tries;

	snprintf(key, sizeof(key), "%s/seed", gs_etcd_url(e)->prefix);
	for (tries = 0; tries < 2; tries++) {
		err = gs_etcd_get(e, key, false, &kvs);
		if (err)
			return err;
		if (kvs.n) {
			char *end;
			unsigned long v = strtoul(kvs.kv[0].value, &end, 10);

			err = *end || v == 0 || v > UINT32_MAX
				      ? gs_fail(EPROTO, "store: %s is not a seed", key)
				      : 0;
			*seed = (uint32_t)v;
			gs_etcd_kvs_free(&kvs);
			return err;
		}
		gs_etcd_kvs_free(&kvs);
		while (!fresh)
			if (getrandom(&fresh, sizeof(fresh), 0) != sizeof(fresh))
				return gs_fail(errno, "getrandom: %s", strerror(errno));
		snprintf(text, sizeof(text), "%u", fresh);
		cmp = (struct gs_etcd_cmp){key, 0};
		op = (struct gs_etcd_op){GS_ETCD_PUT, key, text, strlen(text), 0};
		err = gs_etcd_txn(e, &cmp, 1, &op, 1, &ok, NULL);
		if (err)
			return err;
		if (ok) {
			*seed = fresh;
			return 0;
		}
		/* Someone made it first: read theirs. */
	}
	return gs_fail(EAGAIN, "store: %s keeps changing", key);
}

void gs_fleet_ops_key(const char *prefix, const struct gs_service_key *k, char *out, size_t len)
{
	service_key(prefix, k, "ops", out, len);
}

int gs_fleet_state_get(struct gs_etcd *e, const struct gs_service_key *k, struct gs_fleet_state *st,
		       int64_t *mod_revision)
{
	char key[GS_FLEET_KEY_MAX];
	struct gs_etcd_kvs kvs;
	int err;

	memset(st, 0, sizeof(*st));
	*mod_revision = 0;
	gs_fleet_state_key(gs_etcd_url(e)->prefix, k, key, sizeof(key));
	err = gs_etcd_get(e, key, false, &kvs);
	if (err)
		return err;
	if (kvs.n) {
		err = gs_fleet_state_parse(kvs.kv[0].value, st);
		*mod_revision = kvs.kv[0].mod_revision;
		st->mod_revision = *mod_revision;
	}
	gs_etcd_kvs_free(&kvs);
	return err;
}

int gs_fleet_state_put_if(struct gs_etcd *e, const struct gs_service_key *k,
			  const struct gs_fleet_state *st, int64_t mod_revision, int64_t *revision)
{
	char key[GS_FLEET_KEY_MAX];
	struct json_object *o = gs_fleet_state_json(st);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	struct gs_etcd_cmp cmp;
	struct gs_etcd_op op;
	bool ok;
	int err;

	gs_fleet_state_key(gs_etcd_url(e)->prefix, k, key, sizeof(key));
	cmp = (struct gs_etcd_cmp){key, mod_revision};
	op = (struct gs_etcd_op){GS_ETCD_PUT, key, text, strlen(text), 0};
	err = gs_etcd_txn(e, &cmp, 1, &op, 1, &ok, revision);
	json_object_put(o);
	if (!err && !ok)
		err = gs_fail(ECANCELED,
			      "%s changed in the store while this command ran: nothing "
			      "written",
			      key);
	return err;
}

struct json_object *gs_fleet_ops_json(const struct gs_fleet_ops *ops)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "generation", json_object_new_uint64(ops->generation));
	json_object_object_add(o, "paused", json_object_new_boolean(ops->paused));
	json_object_object_add(o, "aborted", json_object_new_boolean(ops->aborted));
	json_object_object_add(o, "promote_seq", json_object_new_int64(ops->promote_seq));
	json_object_object_add(o, "promote_to", json_object_new_int64(ops->promote_to));
	json_object_object_add(o, "resume_seq", json_object_new_int64(ops->resume_seq));
	return o;
}

int gs_fleet_ops_parse(const char *text, struct gs_fleet_ops *ops)
{
	struct json_object *o = json_tokener_parse(text), *v;

	memset(ops, 0, sizeof(*ops));
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return gs_fail(EPROTO, "store: rollout commands that are not JSON");
	}
	ops->paused = json_object_object_get_ex(o, "paused", &v) && json_object_get_boolean(v);
	ops->aborted = json_object_object_get_ex(o, "aborted", &v) && json_object_get_boolean(v);
	ops->generation = u64_of(o, "generation");
	ops->promote_seq = (uint32_t)u64_of(o, "promote_seq");
	ops->promote_to = (uint32_t)u64_of(o, "promote_to");
	ops->resume_seq = (uint32_t)u64_of(o, "resume_seq");
	json_object_put(o);
	return 0;
}

void gs_fleet_backends_dir(const char *prefix, char *out, size_t len)
{
	snprintf(out, len, "%s/backends/", prefix);
}

void gs_fleet_backend_key(const char *prefix, uint8_t proto, const union gs_addr *addr,
			  uint16_t port, char *out, size_t len)
{
	char ep[GS_ENDPOINT_STRLEN];

	gs_format_endpoint(addr, port, ep, sizeof(ep));
	snprintf(out, len, "%s/backends/%s/%s", prefix, gs_proto_name(proto), ep);
}

/* Whether labels (a JSON object of strings) hold every KEY=VALUE of sel. */
static bool labels_match(struct json_object *labels, const char *sel)
{
	char buf[GS_SELECTOR_LEN], *save = NULL, *pair;
	struct json_object *v;

	snprintf(buf, sizeof(buf), "%s", sel);
	for (pair = strtok_r(buf, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(pair, '=');

		if (!eq)
			return false;
		*eq = '\0';
		if (!json_object_object_get_ex(labels, pair, &v) ||
		    strcmp(json_object_get_string(v), eq + 1) != 0)
			return false;
	}
	return true;
}

int gs_fleet_resolve(const char *prefix, const struct gs_etcd_kvs *registered,
		     struct gs_rollout_file *rf, char *signature, size_t len)
{
	char dir[GS_FLEET_KEY_MAX], want[16];
	size_t i, off = 0, plen;
	uint32_t s, j, n = rf->nbackends;
	struct gs_rollout_backend *more;

	if (signature && len)
		signature[0] = '\0';
	if (!rf->nselectors)
		return 0;
	more = realloc(rf->backends, (n + registered->n + 1) * sizeof(*more));
	if (!more)
		return gs_fail(ENOMEM, "out of memory");
	rf->backends = more;
	gs_fleet_backends_dir(prefix, dir, sizeof(dir));
	snprintf(want, sizeof(want), "%s/", gs_proto_name(rf->service.proto));
	plen = strlen(dir);
	for (i = 0; i < registered->n; i++) {
		const char *key = registered->kv[i].key;
		struct json_object *o, *labels;
		struct gs_rollout_backend b = {0};
		bool dup = false;

		if (strncmp(key, dir, plen) != 0 || strncmp(key + plen, want, strlen(want)) != 0 ||
		    gs_parse_endpoint(key + plen + strlen(want), false, &b.addr, &b.port) ||
		    gs_addr_is_v4(&b.addr) != gs_addr_is_v4(&rf->service.vip))
			continue;
		o = json_tokener_parse(registered->kv[i].value);
		if (!o || !json_object_object_get_ex(o, "labels", &labels)) {
			json_object_put(o);
			continue;
		}
		for (s = 0; s < rf->nselectors; s++)
			if (labels_match(labels, rf->selectors[s].text))
				break;
		json_object_put(o);
		if (s == rf->nselectors)
			continue;
		for (j = 0; j < rf->nbackends; j++)
			dup = dup || (!memcmp(&rf->backends[j].addr, &b.addr, sizeof(b.addr)) &&
				      rf->backends[j].port == b.port);
		if (dup)
			continue;
		b.group = rf->selectors[s].group;
		b.weight = rf->selectors[s].weight;
		rf->backends[rf->nbackends++] = b;
		if (signature && off < len)
			off += (size_t)snprintf(signature + off, len - off, "%s %u %u;", key + plen,
						b.group, b.weight);
	}
	rf->nselectors = 0;
	return 0;
}
