// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "error.h"
#include "etcd.h"
#include "fleet.h"
#include "fleet_cli.h"
#include "parse.h"
#include "rollout_file.h"
#include "service.h"
#include "stopfd.h"

/* Who wrote a state: never a node's name ('@' is none of its characters),
 * so every node, the leader too, mirrors it. */
static void operator_name(char *out, size_t len)
{
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(out, len, "operator@%s", host);
}

/* The service's spec from the store, parsed: 0, or -ENOENT with a message. */
static int spec_get(struct gs_etcd *e, const struct gs_service_key *k, struct gs_rollout_file *rf)
{
	char key[GS_FLEET_KEY_MAX], svc[GS_SERVICE_STRLEN];
	struct gs_etcd_kvs kvs;
	int err;

	gs_fleet_spec_key(gs_etcd_url(e)->prefix, k, key, sizeof(key));
	err = gs_etcd_get(e, key, false, &kvs);
	if (err)
		return err;
	gs_format_service(k, svc, sizeof(svc));
	if (!kvs.n)
		err = gs_fail(ENOENT,
			      "no service %s in the store (graysplit apply --store -f FILE)", svc);
	else
		err = gs_rollout_file_parse(key, kvs.kv[0].value, kvs.kv[0].value_len, rf);
	gs_etcd_kvs_free(&kvs);
	return err;
}

/* The service must be in the store (its spec parses): 0, or the error. */
static int spec_require(struct gs_etcd *e, const struct gs_service_key *k)
{
	struct gs_rollout_file rf;
	int err = spec_get(e, k, &rf);

	if (!err)
		gs_rollout_file_free(&rf);
	return err;
}

static struct json_object *report_new(const struct gs_service_key *k, const char *action,
				      int64_t revision)
{
	struct json_object *o = json_object_new_object();
	char svc[GS_SERVICE_STRLEN];

	gs_format_service(k, svc, sizeof(svc));
	json_object_object_add(o, "service", json_object_new_string(svc));
	json_object_object_add(o, "action", json_object_new_string(action));
	json_object_object_add(o, "revision", json_object_new_int64(revision));
	return o;
}

int gs_fleet_split_cmd(const struct gs_store_url *url, const struct gs_service_key *k, uint32_t ppm,
		       struct json_object **report)
{
	struct gs_fleet_state st;
	struct gs_etcd *e;
	int64_t mod, rev = 0;
	int err;

	err = gs_etcd_open(url, &e);
	if (err)
		return err;
	err = spec_require(e, k);
	if (!err)
		err = gs_fleet_state_get(e, k, &st, &mod);
	if (!err) {
		/* As on one node: the share set, the service active again. */
		st.share_ppm = ppm;
		st.rolled_back = false;
		st.reason[0] = '\0';
		operator_name(st.by, sizeof(st.by));
		err = gs_fleet_state_put_if(e, k, &st, mod, &rev);
	}
	gs_etcd_close(e);
	if (err)
		return err;
	*report = report_new(k, "split", rev);
	json_object_object_add(*report, "canary_percent",
			       json_object_new_double(gs_ppm_to_percent(ppm)));
	return 0;
}

/*
 * The rollout as the fleet runs it: the spec from the store, the leader's
 * generation and walk (the state), the operator's commands of that
 * generation (earlier ones are void). *smod, *omod: the state's and the
 * commands' revisions, for a write conditioned on both.
 */
static int fleet_view(struct gs_etcd *e, const struct gs_service_key *k, struct gs_rollout *spec,
		      struct gs_fleet_state *st, int64_t *smod, int64_t *omod,
		      struct gs_rollout_view *v)
{
	char key[GS_FLEET_KEY_MAX], svc[GS_SERVICE_STRLEN];
	struct gs_fleet_ops ops = {0};
	struct gs_rollout_file rf;
	struct gs_etcd_kvs kvs;
	int err;

	*omod = 0;
	gs_format_service(k, svc, sizeof(svc));
	err = spec_get(e, k, &rf);
	if (err)
		return err;
	*spec = rf.spec;
	gs_rollout_file_free(&rf);
	err = gs_fleet_state_get(e, k, st, smod);
	gs_fleet_ops_key(gs_etcd_url(e)->prefix, k, key, sizeof(key));
	if (!err)
		err = gs_etcd_get(e, key, false, &kvs);
	if (err)
		return err;
	if (kvs.n) {
		err = gs_fleet_ops_parse(kvs.kv[0].value, &ops);
		*omod = kvs.kv[0].mod_revision;
	}
	gs_etcd_kvs_free(&kvs);
	if (!err && !st->has_rollout)
		err = gs_fail(
			EAGAIN,
			"the rollout %s of %s has not been picked up by a leader yet (are the "
			"nodes' agents running?)",
			spec->name, svc);
	if (err)
		return err;
	spec->generation = st->rollout.generation;
	if (ops.generation == spec->generation) {
		spec->paused = ops.paused;
		spec->aborted = ops.aborted;
		spec->promote_seq = ops.promote_seq;
		spec->promote_to = ops.promote_to;
		spec->resume_seq = ops.resume_seq;
	} else {
		/* Counters only go up: a node's last ones stay the floor. */
		spec->promote_seq = st->rollout.promote_seq_seen;
		spec->resume_seq = st->rollout.resume_seq_seen;
	}
	gs_rollout_view_make(spec, &st->rollout, v);
	return 0;
}

int gs_fleet_rollout_status(const struct gs_store_url *url, const struct gs_service_key *k,
			    struct gs_rollout_view *v)
{
	struct gs_fleet_state st;
	struct gs_rollout spec;
	int64_t smod, omod;
	struct gs_etcd *e;
	int err;

	err = gs_etcd_open(url, &e);
	if (err)
		return err;
	err = fleet_view(e, k, &spec, &st, &smod, &omod, v);
	gs_etcd_close(e);
	return err;
}

int gs_fleet_service_del_cmd(const struct gs_store_url *url, const struct gs_service_key *k,
			     struct json_object **report)
{
	char spec[GS_FLEET_KEY_MAX], state[GS_FLEET_KEY_MAX], ops[GS_FLEET_KEY_MAX];
	struct gs_etcd_op del[3];
	struct gs_etcd *e;
	int64_t rev = 0;
	bool ok = false;
	int err;

	err = gs_etcd_open(url, &e);
	if (err)
		return err;
	err = spec_require(e, k);
	if (!err) {
		gs_fleet_spec_key(url->prefix, k, spec, sizeof(spec));
		gs_fleet_state_key(url->prefix, k, state, sizeof(state));
		gs_fleet_ops_key(url->prefix, k, ops, sizeof(ops));
		del[0] = (struct gs_etcd_op){.kind = GS_ETCD_DELETE, .key = spec};
		del[1] = (struct gs_etcd_op){.kind = GS_ETCD_DELETE, .key = state};
		del[2] = (struct gs_etcd_op){.kind = GS_ETCD_DELETE, .key = ops};
		err = gs_etcd_txn(e, NULL, 0, del, 3, &ok, &rev);
	}
	gs_etcd_close(e);
	if (err)
		return err;
	*report = report_new(k, "delete", rev);
	return 0;
}

int gs_fleet_rollout_cmd(const struct gs_store_url *url, const struct gs_service_key *k,
			 enum gs_rollout_op op, struct json_object **report)
{
	char key[GS_FLEET_KEY_MAX], skey[GS_FLEET_KEY_MAX], svc[GS_SERVICE_STRLEN];
	char reason[GS_REASON_LEN];
	struct gs_fleet_ops ops = {0};
	struct gs_rollout_view v;
	struct gs_fleet_state st;
	struct gs_rollout spec;
	struct gs_etcd_cmp cmp[2];
	struct gs_etcd_op put;
	struct gs_etcd *e;
	struct json_object *o;
	int64_t smod = 0, omod = 0, rev = 0;
	uint32_t from_step = 0;
	const char *text;
	bool ok = false;
	int err;

	gs_format_service(k, svc, sizeof(svc));
	err = gs_etcd_open(url, &e);
	if (err)
		return err;
	err = fleet_view(e, k, &spec, &st, &smod, &omod, &v);
	if (err) {
		gs_etcd_close(e);
		return err;
	}
	err = gs_rollout_plan(&v, svc, op, &spec, &from_step, reason, sizeof(reason));
	if (err) {
		gs_etcd_close(e);
		return err;
	}
	ops = (struct gs_fleet_ops){.generation = spec.generation,
				    .paused = spec.paused,
				    .aborted = spec.aborted,
				    .promote_seq = spec.promote_seq,
				    .promote_to = spec.promote_to,
				    .resume_seq = spec.resume_seq};
	o = gs_fleet_ops_json(&ops);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	/* Planned on this state and these commands: both must still be so. */
	gs_fleet_ops_key(url->prefix, k, key, sizeof(key));
	gs_fleet_state_key(url->prefix, k, skey, sizeof(skey));
	cmp[0] = (struct gs_etcd_cmp){key, omod};
	cmp[1] = (struct gs_etcd_cmp){skey, smod};
	put = (struct gs_etcd_op){GS_ETCD_PUT, key, text, strlen(text), 0};
	err = gs_etcd_txn(e, cmp, 2, &put, 1, &ok, &rev);
	json_object_put(o);
	gs_etcd_close(e);
	if (!err && !ok)
		err = gs_fail(ECANCELED,
			      "the rollout of %s changed in the store while this command ran: "
			      "nothing written",
			      svc);
	if (err)
		return err;
	*report = report_new(k,
			     op == GS_RO_OP_PAUSE    ? "pause"
			     : op == GS_RO_OP_RESUME ? "resume"
			     : op == GS_RO_OP_ABORT  ? "abort"
						     : "promote",
			     rev);
	json_object_object_add(*report, "rollout", json_object_new_string(spec.name));
	json_object_object_add(*report, "step", json_object_new_int64(from_step + 1));
	json_object_object_add(*report, "reason", json_object_new_string(reason));
	return 0;
}

static struct json_object *labels_json(const char *labels)
{
	struct json_object *o = json_object_new_object();
	char buf[GS_SELECTOR_LEN], *save = NULL, *pair;

	snprintf(buf, sizeof(buf), "%s", labels);
	for (pair = strtok_r(buf, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(pair, '=');

		if (eq) {
			*eq = '\0';
			json_object_object_add(o, pair, json_object_new_string(eq + 1));
		}
	}
	return o;
}

/* Grant a lease and put the key under it. */
static int register_once(struct gs_etcd *e, const char *key, const char *text, uint32_t ttl_s,
			 int64_t *lease)
{
	int err = gs_etcd_lease_grant(e, ttl_s, lease);

	if (!err)
		err = gs_etcd_put(e, key, text, strlen(text), *lease);
	return err;
}

int gs_fleet_register_run(const struct gs_store_url *url, uint8_t proto, const union gs_addr *addr,
			  uint16_t port, const char *labels, uint32_t ttl_s)
{
	char key[GS_FLEET_KEY_MAX], ep[GS_ENDPOINT_STRLEN];
	struct json_object *o = json_object_new_object();
	uint64_t period_ms = ttl_s * 1000ull / 3;
	struct pollfd pfd;
	struct gs_etcd *e;
	int64_t lease = 0;
	const char *text;
	int err, sfd;

	gs_format_endpoint(addr, port, ep, sizeof(ep));
	json_object_object_add(o, "address", json_object_new_string(ep));
	json_object_object_add(o, "proto", json_object_new_string(gs_proto_name(proto)));
	json_object_object_add(o, "labels", labels_json(labels));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	gs_fleet_backend_key(url->prefix, proto, addr, port, key, sizeof(key));
	sfd = gs_stop_signals_fd();
	if (sfd < 0) {
		json_object_put(o);
		return sfd;
	}
	err = gs_etcd_open(url, &e);
	if (!err)
		err = register_once(e, key, text, ttl_s, &lease);
	if (err) {
		gs_etcd_close(e);
		json_object_put(o);
		close(sfd);
		return err;
	}
	printf("registered %s/%s %s under %s (lease %" PRIx64 ", %u s)\n", ep, gs_proto_name(proto),
	       labels, key, (uint64_t)lease, ttl_s);
	fflush(stdout);
	pfd = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (;;) {
		int n = poll(&pfd, 1, (int)(period_ms ? period_ms : 1));

		if (n > 0)
			break;
		if (n < 0 && errno != EINTR)
			break;
		/* Kept alive; taken anew when it ran out while the store was
		 * away; a store that does not answer is tried again next time. */
		err = lease ? gs_etcd_lease_keepalive(e, lease) : -ENOENT;
		if (err == -ENOENT) {
			lease = 0;
			if (!register_once(e, key, text, ttl_s, &lease))
				fprintf(stderr,
					"graysplit: register: registered again (lease %" PRIx64
					")\n",
					(uint64_t)lease);
			else
				lease = 0;
		}
	}
	/* Going away on purpose: every node drains it now, not at the TTL. */
	if (lease)
		gs_etcd_lease_revoke(e, lease);
	gs_etcd_close(e);
	json_object_put(o);
	close(sfd);
	return 0;
}
