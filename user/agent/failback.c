// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Cutting a canary off, and the audit line. The order matters: the share
 * goes to 0 first, in one write and without waiting for the CLI lock (a
 * person running a command must not delay the cut-off); the bookkeeping
 * (state, reason) follows under the lock, where the CLI's read-check-write
 * sequences cannot interleave with it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "clock.h"
#include "error.h"
#include "failback.h"
#include "lock.h"
#include "map_iter.h"
#include "output.h"
#include "parse.h"

/* Keys of flow-table entries of one service's canary, to reset. */
struct canary_flows {
	uint32_t service_id;
	struct gs_flow_key *keys;
	size_t n, cap;
	uint64_t open; /* of which connections not closing */
};

static int keep_key(struct canary_flows *f, const void *key)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		void *keys = realloc(f->keys, cap * sizeof(*f->keys));

		if (!keys)
			return -ENOMEM;
		f->keys = keys;
		f->cap = cap;
	}
	memcpy(&f->keys[f->n++], key, sizeof(*f->keys));
	return 0;
}

static int pick_flow(const void *key, const void *value, void *ctx)
{
	const struct gs_flow *flow = value;
	struct canary_flows *f = ctx;

	/* One reset by an earlier fail-back is gone already. */
	if (flow->service_id != f->service_id || flow->group != GS_GROUP_CANARY ||
	    (flow->flags & GS_FLOW_F_RESET))
		return 0;
	if (flow->state != GS_FLOW_CLOSING)
		f->open++;
	return keep_key(f, key);
}

/*
 * Mark the collected entries reset (GS_FLOW_F_RESET); one gone meanwhile
 * (evicted, or selected anew) is left alone. The entry is read and written
 * back whole: a flag the data path set in between is lost, which at worst
 * counts one of the connection's edges twice, on a flow about to end.
 */
static void reset_keys(int fd, const struct canary_flows *f)
{
	struct gs_flow flow;
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (bpf_map_lookup_elem(fd, &f->keys[i], &flow) ||
		    flow.service_id != f->service_id || flow.group != GS_GROUP_CANARY)
			continue;
		flow.flags |= GS_FLOW_F_RESET;
		bpf_map_update_elem(fd, &f->keys[i], &flow, BPF_EXIST);
	}
}

/*
 * The canary's flows are reset (finished ones too: harmless, and only open
 * ones are counted). To the forward path a reset entry is gone: the next
 * packet the client sends on each is selected anew with the share now 0
 * and reaches a stable backend that knows no such connection and answers
 * RST, which the reply path translates back to the client. The reply path
 * still finds the entry until then, on purpose: the canary's replies keep
 * reaching the client as from the VIP, and the ACKs they draw are what
 * carries a busy connection to that RST at once; an idle one learns it at
 * its next packet.
 */
static int reset_canary_flows(struct gs_maps *m, uint32_t service_id, uint64_t *ended)
{
	struct canary_flows f = {.service_id = service_id};
	int err;

	err = gs_map_foreach(m->flows, sizeof(struct gs_flow_key), sizeof(struct gs_flow),
			     pick_flow, &f);
	if (!err) {
		reset_keys(m->flows, &f);
		*ended = f.open;
	}
	free(f.keys);
	if (err)
		return gs_fail(-err, "cannot reset the canary's flows: %s", strerror(-err));
	return 0;
}

/* Under the CLI lock: the service must still be the one decided on. */
static int mark_rolled_back(struct gs_maps *m, const char *pin_dir,
			    const struct gs_service_key *key, uint32_t service_id,
			    const char *reason)
{
	struct gs_svc_status status = {0};
	struct gs_service svc;
	int lock_fd, err = 0;

	lock_fd = gs_lock_acquire(pin_dir);
	if (lock_fd < 0)
		return lock_fd;
	if (bpf_map_lookup_elem(m->services, key, &svc) || svc.id != service_id) {
		err = gs_fail(ESTALE, "the service was removed meanwhile");
		goto out;
	}
	status.changed_unix_ns = gs_realtime_ns();
	snprintf(status.reason, sizeof(status.reason), "%s", reason);
	if (bpf_map_update_elem(m->svc_status, &service_id, &status, BPF_ANY)) {
		err = gs_fail(errno, "cannot write svc_status: %s", strerror(errno));
		goto out;
	}
	svc.state = GS_SVC_ROLLED_BACK;
	if (bpf_map_update_elem(m->services, key, &svc, BPF_EXIST))
		err = gs_fail(errno, "cannot mark the service rolled back: %s", strerror(errno));
out:
	gs_lock_release(lock_fd);
	return err;
}

int gs_failback(struct gs_maps *m, const char *pin_dir, const struct gs_service_key *key,
		uint32_t service_id, const char *reason, bool reset_flows,
		struct gs_failback_result *res)
{
	struct gs_split old = {0}, zero = {.canary_ppm = 0};
	struct gs_service svc;
	int err;

	memset(res, 0, sizeof(*res));
	/* No lock, but the id must still be this service's: a service
	 * removed and another added since the last reading may hold it. */
	if (bpf_map_lookup_elem(m->services, key, &svc) || svc.id != service_id)
		return gs_fail(ESTALE, "the service was removed meanwhile");
	bpf_map_lookup_elem(m->split, &service_id, &old);
	if (bpf_map_update_elem(m->split, &service_id, &zero, BPF_ANY))
		return gs_fail(errno, "cannot write the split map: %s", strerror(errno));
	res->share_cut = true;
	res->old_ppm = old.canary_ppm;

	err = mark_rolled_back(m, pin_dir, key, service_id, reason);
	res->state_written = !err;
	if (reset_flows) {
		int reset_err = reset_canary_flows(m, service_id, &res->flows_ended);

		res->flows_reset = !reset_err;
		if (!err)
			err = reset_err;
	}
	return err;
}

void gs_failback_action(const struct gs_failback_result *res, char *buf, size_t len)
{
	int n = snprintf(buf, len, "canary_percent %g -> 0", gs_ppm_to_percent(res->old_ppm));

	if (res->flows_reset && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; reset %" PRIu64 " open canary flows",
			 res->flows_ended);
}

/* A number printed as fmt says (no 0.20000000000000001), or null for NaN
 * and infinities, which JSON has no words for. */
static struct json_object *json_number(double v, const char *fmt)
{
	char text[48];

	if (!isfinite(v))
		return NULL;
	snprintf(text, sizeof(text), fmt, v);
	return gs_json_decimal(v, text);
}

static struct json_object *json_ms(double us)
{
	return json_number(us / 1000.0, "%.3f");
}

static struct json_object *describe_group(const struct gs_group_window *g, double error_rate,
					  uint64_t samples, bool with_figures)
{
	struct json_object *obj = json_object_new_object();

	json_object_object_add(obj, "flows", json_object_new_uint64(g->new_flows));
	json_object_object_add(obj, "connects", json_object_new_uint64(g->connects));
	json_object_object_add(obj, "refused", json_object_new_uint64(g->conn_refused));
	json_object_object_add(obj, "timeouts", json_object_new_uint64(g->conn_timeouts));
	json_object_object_add(obj, "resets", json_object_new_uint64(g->resets));
	json_object_object_add(obj, "responses", json_object_new_uint64(g->responses));
	json_object_object_add(obj, "http_5xx", json_object_new_uint64(g->http_5xx));
	json_object_object_add(obj, "dns_fail", json_object_new_uint64(g->dns_fail));
	json_object_object_add(obj, "p95_connect_ms",
			       json_ms(gs_hist64_quantile(&g->connect, 0.95)));
	json_object_object_add(obj, "p95_ttfb_ms", json_ms(gs_hist64_quantile(&g->ttfb, 0.95)));
	if (with_figures) {
		json_object_object_add(obj, "error_rate", json_number(error_rate, "%.6g"));
		json_object_object_add(obj, "samples", json_object_new_uint64(samples));
	}
	return obj;
}

struct json_object *gs_audit_json(uint64_t unix_ns, const char *service,
				  const struct gs_decision *d, const struct gs_policy_input *in,
				  const char *action)
{
	struct json_object *obj = json_object_new_object();
	char when[GS_ISO_TIME_STRLEN];

	gs_format_iso_time(unix_ns, when, sizeof(when));
	json_object_object_add(obj, "time", json_object_new_string(when));
	json_object_object_add(obj, "service", json_object_new_string(service));
	json_object_object_add(obj, "verdict", json_object_new_string(gs_verdict_name(d->verdict)));
	json_object_object_add(obj, "signal", json_object_new_string(gs_signal_name(d->signal)));
	json_object_object_add(obj, "reason", json_object_new_string(d->reason));
	json_object_object_add(
		obj, "canary",
		describe_group(&in->canary, d->canary_error_rate, d->canary_samples, true));
	json_object_object_add(
		obj, "stable",
		describe_group(&in->stable, d->stable_error_rate, d->stable_samples, true));
	json_object_object_add(obj, "rho", json_number(d->rho, "%.4f"));
	json_object_object_add(obj, "log_bf", json_number(d->log_bf, "%.3f"));
	json_object_object_add(obj, "canary_p95_ms", json_ms(d->canary_p95_us));
	json_object_object_add(obj, "stable_p95_ms", json_ms(d->stable_p95_us));
	json_object_object_add(obj, "fail_streak", json_object_new_uint64(in->canary_fail_streak));
	/* Stable over the streak's span: what hard_fail and both_failing weigh. */
	json_object_object_add(obj, "stable_span_connects",
			       json_object_new_uint64(in->stable_span_connects));
	json_object_object_add(obj, "stable_span_failures",
			       json_object_new_uint64(in->stable_span_failures));
	json_object_object_add(obj, "action", action ? json_object_new_string(action) : NULL);
	return obj;
}

void gs_audit_print(FILE *out, FILE *log, struct json_object *obj)
{
	const char *line = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	fprintf(out, "%s\n", line);
	fflush(out);
	if (log) {
		fprintf(log, "%s\n", line);
		fflush(log);
	}
}

void gs_audit_write(FILE *out, FILE *log, uint64_t unix_ns, const char *service,
		    const struct gs_decision *d, const struct gs_policy_input *in,
		    const char *action)
{
	struct json_object *obj = gs_audit_json(unix_ns, service, d, in, action);

	gs_audit_print(out, log, obj);
	json_object_put(obj);
}
