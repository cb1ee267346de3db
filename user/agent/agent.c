// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's loop: one epoll over the events ring buffer, a timerfd for the
 * interval, a signalfd for SIGINT/SIGTERM and, with --metrics, the HTTP
 * server's epoll fd; it sleeps until one of them has something. The data
 * path wakes the ring buffer on errors only, so a refused canary connect is
 * looked at when it happens; everything else waits for the tick.
 *
 * Per tick: re-read which services exist and their shares, read the counters
 * of the watched ones, push each group's interval counts into its window,
 * decide. A service is watched while its canary share is above 0 and it is
 * active; a new share (a new experiment) starts its windows afresh. Nothing
 * lives only here: killed and restarted, the agent finds everything it needs
 * in the pinned maps, and only the windows start empty.
 *
 * Rollouts: after the verdicts, every service with a rollout takes one step
 * of its walk (rollout_walk.c) on the current verdict, and the agent carries
 * the step's action out: the share, the rollout_state it alone writes, the
 * decision log and the audit line. Its wall-clock times in rollout_state are
 * what lets a restarted agent carry on where the killed one was.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "clock.h"
#include "collect.h"
#include "config.h"
#include "decisions.h"
#include "downstream_watch.h"
#include "error.h"
#include "failback.h"
#include "follow.h"
#include "pool.h"
#include "lock.h"
#include "map_iter.h"
#include "maps.h"
#include "metrics.h"
#include "names.h"
#include "ops.h"
#include "port_guard.h"
#include "parse.h"
#include "journal.h"
#include "rollout.h"
#include "rollout_walk.h"
#include "stopfd.h"
#include "store_url.h"
#include "window.h"

/* How often the agent checks that its instance still exists. */
#define GS_INSTANCE_CHECK_NS 1000000000ull

/* Per service id: what the agent keeps between ticks. */
struct watch {
	bool on;      /* windows allocated and fed */
	uint32_t ppm; /* the share the windows belong to */
	struct gs_window win[GS_GROUPS];
	struct gs_group_window *total; /* GS_GROUPS: every count since the share was set */
	uint32_t streak;	       /* canary connect failures in a row */
	uint32_t decided_streak;       /* ... when the last verdict was reached */
	uint32_t span_ok, span_failed; /* stable's connects since the streak began */
	bool holding;		       /* the last look said both_failing */
	bool urgent;		       /* an error event came since the last look */
	int last_verdict;	       /* -1: nothing printed yet */
	uint64_t last_look_ns;
	uint64_t since_ns;	    /* monotonic: the windows began (start or restart) */
	uint64_t canary_samples;    /* of the last verdict, for the rollout's reasons */
	uint32_t min_samples;	    /* ... and what it needed */
	char reason[GS_REASON_LEN]; /* ... and its reason */
};

struct agent {
	const char *pin_dir;
	const struct gs_agent_opts *opts;
	uint32_t slots;
	struct gs_maps maps;
	struct gs_collect collect;
	struct watch watch[GS_MAX_SERVICES];
	bool want[GS_MAX_SERVICES];
	struct gs_group_window (*delta)[GS_GROUPS]; /* GS_MAX_SERVICES */
	struct gs_policy_input *input;		    /* what the decision below was made on */
	struct gs_policy_input *input_other;	    /* the other test's input */
	struct gs_decision decision;
	FILE *log;
	struct ring_buffer *rb;
	uint64_t ticks;
	uint64_t next_check_ns;
	uint32_t services_map_id;
	bool events_changed;		       /* an event since the last look at urgent services */
	struct gs_rollout *rollouts;	       /* GS_MAX_SERVICES: this tick's specs */
	bool has_rollout[GS_MAX_SERVICES];     /* ... which ids have one */
	bool failed_back_now[GS_MAX_SERVICES]; /* cut off since the last walk */
	struct gs_metrics *metrics;	       /* NULL without --metrics */
	struct gs_port_guard ports;	       /* the fast path's redirect targets */
	struct gs_metrics_agent counts;
	/* Fleet mode (NULL without a store): this node's side of the store,
	 * its counts and, when it leads, everyone's. */
	struct gs_follow *follow;
	struct gs_pool *pool;
	uint64_t epoch;		/* wall clock at start: names this run's counts */
	uint64_t next_stats_ns; /* the next publish of this node's counts */
	uint64_t next_ds_ns;	/* ... and of its downstream watch's */
	struct gs_fleet_state
		*fleet; /* GS_MAX_SERVICES: the fleet's state as last mirrored or published */
	bool fleet_known[GS_MAX_SERVICES];
	/* --downstream: the backend hosts' watch, and the dependency the
	 * decision being reported is about ("" for the front path's). */
	struct gs_dswatch *ds;
	char dep_target[64];
};

/* The agent's policy, with the service's rollout's analysis over it
 * (0 in a field: the agent's own setting). */
static void policy_for(const struct agent *a, uint32_t id, struct gs_policy_cfg *cfg)
{
	const struct gs_rollout_analysis *an;

	*cfg = a->opts->policy;
	cfg->udp =
		a->collect.services[id].present && a->collect.services[id].key.proto == IPPROTO_UDP;
	if (!a->has_rollout[id])
		return;
	an = &a->rollouts[id].analysis;
	if (an->udp_answer_ms)
		cfg->udp_answer_ms = an->udp_answer_ms;
	if (an->alpha_ppm)
		cfg->alpha = an->alpha_ppm / 1e6;
	if (an->min_samples)
		cfg->min_samples = an->min_samples;
	if (an->max_error_rate_ppm)
		cfg->max_error_rate = an->max_error_rate_ppm / 1e6;
	if (an->min_error_ratio_milli)
		cfg->min_error_ratio = an->min_error_ratio_milli / 1000.0;
	if (an->max_latency_ratio_milli)
		cfg->max_latency_ratio = an->max_latency_ratio_milli / 1000.0;
	if (an->latency_margin_us)
		cfg->latency_margin_us = an->latency_margin_us;
	if (an->hard_fail_connects)
		cfg->hard_fail_connects = an->hard_fail_connects;
}

static void watch_stop(struct agent *a, uint32_t id)
{
	struct watch *w = &a->watch[id];
	int g;

	for (g = 0; g < GS_GROUPS; g++)
		gs_window_free(&w->win[g]);
	free(w->total);
	memset(w, 0, sizeof(*w));
	w->last_verdict = -1;
	a->want[id] = false;
	gs_collect_forget(&a->collect, id);
	gs_dswatch_forget(a->ds, id);
}

static int watch_start(struct agent *a, uint32_t id, uint32_t ppm)
{
	struct watch *w = &a->watch[id];
	int g, err = 0;

	memset(w, 0, sizeof(*w));
	for (g = 0; g < GS_GROUPS && !err; g++)
		err = gs_window_init(&w->win[g], a->slots);
	w->total = calloc(GS_GROUPS, sizeof(*w->total));
	if (!err && !w->total)
		err = gs_fail(ENOMEM, "out of memory");
	if (err) {
		for (g = 0; g < GS_GROUPS; g++)
			gs_window_free(&w->win[g]);
		free(w->total);
		w->total = NULL;
		return err;
	}
	w->on = true;
	w->ppm = ppm;
	w->last_verdict = -1;
	w->since_ns = gs_monotonic_ns();
	a->want[id] = true;
	return 0;
}

/* A new share is a new experiment: nothing before it counts. */
static void watch_restart(struct watch *w, uint32_t ppm)
{
	int g;

	for (g = 0; g < GS_GROUPS; g++)
		gs_window_reset(&w->win[g]);
	memset(w->total, 0, GS_GROUPS * sizeof(*w->total));
	w->ppm = ppm;
	w->streak = 0;
	w->span_ok = 0;
	w->span_failed = 0;
	w->holding = false;
	w->last_verdict = -1;
	w->since_ns = gs_monotonic_ns();
}

/* A connect's outcome, from an event: a TCP handshake, or a UDP flow's
 * first answer (a DNS answer on TCP comes after its handshake: no news). */
static bool connect_ok(const struct gs_event *ev)
{
	return ev->type == GS_EV_CONNECT || ev->type == GS_EV_ANSWER;
}

static bool connect_failed(const struct gs_event *ev)
{
	return ev->type == GS_EV_REFUSED || ev->type == GS_EV_TIMEOUT || ev->type == GS_EV_UNREACH;
}

/*
 * The canary's streak of failed connects, and stable's outcomes over the
 * same span, in the order they are learnt: events as the ring gives them,
 * UDP flows found unanswered as each tick judges them.
 */
static void streak_failures(struct watch *w, uint8_t group, uint64_t n)
{
	if (!n)
		return;
	if (group == GS_GROUP_CANARY) {
		/* A new streak: stable's span starts with it. */
		if (w->streak == 0)
			w->span_ok = w->span_failed = 0;
		w->streak += (uint32_t)(n > UINT32_MAX - w->streak ? UINT32_MAX - w->streak : n);
	} else if (w->streak > 0) {
		w->span_failed += (uint32_t)n;
	}
}

static void streak_ok(struct watch *w, uint8_t group)
{
	if (group == GS_GROUP_CANARY)
		w->streak = 0;
	else if (w->streak > 0)
		w->span_ok++;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct gs_event *ev = data;
	struct agent *a = ctx;
	struct watch *w;

	if (size < sizeof(*ev) || ev->service_id >= GS_MAX_SERVICES)
		return 0;
	w = &a->watch[ev->service_id];
	if (!w->on)
		return 0;
	if (connect_failed(ev))
		streak_failures(w, ev->group, 1);
	else if (connect_ok(ev))
		streak_ok(w, ev->group);
	if (gs_event_is_error(ev)) {
		w->urgent = true;
		a->events_changed = true;
	}
	return 0;
}

/* A decision-log failure must not stop the agent: it says so and goes on. */
static void append_decision(struct agent *a, uint64_t when, struct json_object *entry)
{
	if (gs_decision_append_at(a->pin_dir, when, entry))
		fprintf(stderr, "graysplit agent: %s\n", gs_last_error());
}

/* The rollout and step a decision-log line is about, if any. */
static void add_rollout(struct agent *a, uint32_t id, struct json_object *entry)
{
	struct gs_rollout_state st;
	char name[GS_ROLLOUT_NAMELEN + 1];

	if (!a->has_rollout[id])
		return;
	snprintf(name, sizeof(name), "%.*s", GS_ROLLOUT_NAMELEN, a->rollouts[id].name);
	json_object_object_add(entry, "rollout", json_object_new_string(name));
	if (!bpf_map_lookup_elem(a->maps.rollout_state, &id, &st) &&
	    st.generation == a->rollouts[id].generation) {
		json_object_object_add(entry, "step", json_object_new_int64(st.step + 1));
		json_object_object_add(entry, "steps",
				       json_object_new_int64(a->rollouts[id].nsteps));
	}
}

/*
 * when: wall-clock time of the decision, not of the line. The audit line as
 * it always was on stdout and --log; in the decision log the same object as
 * action "verdict" or "fail_back" by actor "agent", what it did as "effect".
 */
static void audit(struct agent *a, uint32_t id, uint64_t when, const char *action,
		  const struct gs_failback_result *cut)
{
	struct json_object *obj, *entry;
	char name[GS_SERVICE_STRLEN];

	gs_format_service(&a->collect.services[id].key, name, sizeof(name));
	obj = gs_audit_json(when, name, &a->decision, a->input, action);
	if (a->dep_target[0])
		json_object_object_add(obj, "dependency", json_object_new_string(a->dep_target));
	gs_audit_print(stdout, a->log, obj);
	entry = gs_decision_new("agent", name, cut && cut->share_cut ? "fail_back" : "verdict");
	json_object_object_foreach(obj, key, value)
	{
		if (strcmp(key, "action") != 0 && strcmp(key, "service") != 0)
			json_object_object_add(entry, key, json_object_get(value));
	}
	json_object_object_add(entry, "effect", action ? json_object_new_string(action) : NULL);
	if (cut && cut->share_cut)
		gs_decision_add_share(entry, cut->old_ppm, 0);
	add_rollout(a, id, entry);
	append_decision(a, when, entry);
	json_object_put(entry);
	json_object_put(obj);
}

/* Cut the canary off, say so, and stop watching: the service is rolled
 * back until a person sets a share again. */
static void fail_back(struct agent *a, uint32_t id, uint64_t when)
{
	const struct gs_collect_service *s = &a->collect.services[id];
	struct gs_failback_result res;
	char action[GS_REASON_LEN + 64];
	struct gs_split now = {0};
	size_t n;
	int err;

	/* A share set since the last tick is a new experiment: these windows
	 * are not its evidence (the tick starts them afresh). */
	if (bpf_map_lookup_elem(a->maps.split, &id, &now) || now.canary_ppm != a->watch[id].ppm)
		return;
	err = gs_failback(&a->maps, a->pin_dir, &s->key, id, a->decision.reason,
			  a->opts->on_fail == GS_ON_FAIL_RESET, &res);
	if (res.share_cut) {
		a->counts.fail_backs++;
		gs_failback_action(&res, action, sizeof(action));
		n = strlen(action);
		if (err)
			snprintf(action + n, sizeof(action) - n, "; but: %s", gs_last_error());
		audit(a, id, when, action, &res);
		a->failed_back_now[id] = true;
		watch_stop(a, id);
		return;
	}
	snprintf(action, sizeof(action), "none: %s", gs_last_error());
	audit(a, id, when, action, NULL);
}

/* The policy's input: window (sliding sums or totals) plus a partial interval. */
static void fill_input(struct gs_policy_input *in, const struct gs_group_window *canary,
		       const struct gs_group_window *stable, const struct gs_group_window *partial,
		       const struct watch *w)
{
	in->canary = *canary;
	in->stable = *stable;
	if (partial) {
		gs_group_window_merge(&in->canary, &partial[GS_GROUP_CANARY], 1);
		gs_group_window_merge(&in->stable, &partial[GS_GROUP_STABLE], 1);
	}
	in->canary_fail_streak = w->streak;
	in->stable_span_connects = w->streak ? w->span_ok : 0;
	in->stable_span_failures = w->streak ? w->span_failed : 0;
	in->stable_now = NULL;
}

static bool failed(enum gs_verdict v)
{
	return v == GS_VERDICT_FAIL || v == GS_VERDICT_HARD_FAIL;
}

/*
 * Who cuts the canary: a single node on its own evidence; in a fleet the
 * leader, on everyone's, and each node on its own only for a hard fail (a
 * streak of refused connects: the local guardrail, which waits for
 * nobody). A follower's other fails are its view of its own slice: the
 * leader decides on all of them.
 */
static bool fleet_may_cut(const struct agent *a, enum gs_verdict v)
{
	return !a->follow || gs_follow_leader(a->follow) || v == GS_VERDICT_HARD_FAIL;
}

/* "window 2 s: " or "since the split was set: " before a decision's reason. */
static void prefix_reason(struct gs_decision *d, const char *prefix)
{
	char reason[GS_REASON_LEN + 96];

	snprintf(reason, sizeof(reason), "%s: %s", prefix, d->reason);
	/* Cut to fit: the reason's numbers come first, the prefix is short. */
	memcpy(d->reason, reason, GS_REASON_LEN - 1);
	d->reason[GS_REASON_LEN - 1] = '\0';
}

/* "; share left at 20%" after a both_failing reason: the agent alone knows
 * the share it did not touch. */
static void note_share_kept(struct gs_decision *d, uint32_t ppm)
{
	char note[48];
	size_t n = strlen(d->reason), k;

	k = (size_t)snprintf(note, sizeof(note), "; share left at %g%%", gs_ppm_to_percent(ppm));
	/* The note must show: it replaces the reason's tail if need be. */
	if (n + k >= GS_REASON_LEN)
		n = GS_REASON_LEN - 1 - k;
	memcpy(d->reason + n, note, k + 1);
}

/*
 * Two tests, each at half the family's alpha, and either may fail the
 * canary: one on the sliding window, which reacts within a second to a
 * canary that breaks after being healthy for long; one on every count since
 * the share was set, which catches a small lasting regression a short window
 * is too noisy to see. Simulated (tests/unit/test_policy.c), the pair keeps
 * A/A false fail-backs at 0 in 200 hours where a 5 s window alone gave 3%.
 */
static void decide(struct agent *a, uint32_t id, const struct gs_group_window *partial,
		   bool print_anyway)
{
	struct gs_policy_cfg cfg;
	struct watch *w = &a->watch[id];
	struct gs_decision since_split;
	enum gs_verdict v;
	char prefix[64];
	uint64_t when;

	policy_for(a, id, &cfg);
	w->min_samples = cfg.min_samples;
	cfg.alpha /= 2;
	if (!partial)
		w->decided_streak = w->streak;
	fill_input(a->input_other, &w->total[GS_GROUP_CANARY], &w->total[GS_GROUP_STABLE], partial,
		   w);
	/* Stable's health is judged on the window: an outage long past must
	 * not turn the totals' fails into both_failing. */
	a->input_other->stable_now = &w->win[GS_GROUP_STABLE].sum;
	gs_policy_decide(&cfg, a->input_other, &since_split);
	fill_input(a->input, &w->win[GS_GROUP_CANARY].sum, &w->win[GS_GROUP_STABLE].sum, partial,
		   w);
	gs_policy_decide(&cfg, a->input, &a->decision);
	snprintf(prefix, sizeof(prefix), "window %.1f s", a->slots * a->opts->interval_ms / 1000.0);
	/* The window's both_failing stands: stable fails now, and its healthy
	 * past must not make the counts since the split blame the canary. */
	if (!failed(a->decision.verdict) && a->decision.verdict != GS_VERDICT_BOTH_FAILING &&
	    (failed(since_split.verdict) || since_split.verdict == GS_VERDICT_BOTH_FAILING ||
	     (a->decision.verdict == GS_VERDICT_INCONCLUSIVE &&
	      since_split.verdict == GS_VERDICT_PASS))) {
		struct gs_policy_input *in = a->input;

		a->decision = since_split;
		a->input = a->input_other;
		a->input_other = in;
		snprintf(prefix, sizeof(prefix), "since the split was set");
	}
	prefix_reason(&a->decision, prefix);
	when = gs_realtime_ns();
	v = a->decision.verdict;
	if (v == GS_VERDICT_BOTH_FAILING)
		note_share_kept(&a->decision, w->ppm);
	w->holding = v == GS_VERDICT_BOTH_FAILING;
	if ((unsigned int)v <= GS_VERDICT_LAST)
		a->counts.decisions[v]++;
	w->last_look_ns = gs_monotonic_ns();
	if (failed(v) && fleet_may_cut(a, v)) {
		fail_back(a, id, when);
		return;
	}
	/* A look between ticks only acts; the tick reports. */
	if (partial)
		return;
	if ((int)v != w->last_verdict || print_anyway)
		audit(a, id, when, NULL, NULL);
	w->last_verdict = (int)v;
	w->canary_samples = a->decision.canary_samples;
	snprintf(w->reason, sizeof(w->reason), "%s", a->decision.reason);
}

static enum gs_signal dep_signal(enum gs_dep_signal s)
{
	switch (s) {
	case GS_DEP_SIG_ERRORS:
		return GS_SIGNAL_DOWNSTREAM_ERRORS;
	case GS_DEP_SIG_LATENCY:
		return GS_SIGNAL_DOWNSTREAM_LATENCY;
	case GS_DEP_SIG_CALLS:
		return GS_SIGNAL_DOWNSTREAM_CALLS;
	case GS_DEP_SIG_CHURN:
		return GS_SIGNAL_DOWNSTREAM_CHURN;
	case GS_DEP_SIG_NONE:
		break;
	}
	return GS_SIGNAL_NONE;
}

/*
 * The dependencies of service id that its rollout guards (--downstream):
 * their windows take this tick's calls, and a canary that harms one is cut
 * as a front-path fail is (the leader alone in a fleet), the dependency in
 * the reason and in the line's "dependency". A changed verdict is reported
 * (both_degraded says why nothing was cut).
 */
static void decide_downstream(struct agent *a, uint32_t id)
{
	const struct gs_rollout *ro = a->has_rollout[id] ? &a->rollouts[id] : NULL;
	struct watch *w = &a->watch[id];
	struct gs_dswatch_result r;
	enum gs_verdict v;

	gs_dswatch_service(a->ds, id, &a->collect, w->ppm, ro, a->delta[id], &r);
	if (!r.fail && !r.report)
		return;
	memset(&a->decision, 0, sizeof(a->decision));
	memset(a->input, 0, sizeof(*a->input));
	v = r.dec.verdict == GS_DEP_FAIL	    ? GS_VERDICT_FAIL
	    : r.dec.verdict == GS_DEP_BOTH_DEGRADED ? GS_VERDICT_BOTH_FAILING
	    : r.dec.verdict == GS_DEP_PASS	    ? GS_VERDICT_PASS
						    : GS_VERDICT_INCONCLUSIVE;
	a->decision.verdict = v;
	a->decision.signal = dep_signal(r.dec.signal);
	a->decision.log_bf = r.dec.log_bf;
	a->decision.canary_p95_us = r.dec.canary_p95_us;
	a->decision.stable_p95_us = r.dec.stable_p95_us;
	a->decision.canary_error_rate = r.dec.canary_error_rate;
	a->decision.stable_error_rate = r.dec.stable_error_rate;
	snprintf(a->decision.reason, sizeof(a->decision.reason), "%s", r.dec.reason);
	snprintf(a->dep_target, sizeof(a->dep_target), "%s", r.target);
	if (r.fail && fleet_may_cut(a, v)) {
		a->counts.decisions[v]++;
		fail_back(a, id, gs_realtime_ns());
	} else if (r.report) {
		audit(a, id, gs_realtime_ns(), NULL, NULL);
	}
	a->dep_target[0] = '\0';
}

/* Looks between ticks, per service, at most one per this long (bounded work
 * under an error storm); a streak long enough for a hard fail never waits,
 * unless the last look held it as both_failing (an outage is an error storm). */
#define GS_LOOK_SPACING_NS 10000000ull

/* Error events: look at those services now, with the interval so far. */
static int look_at_urgent(struct agent *a)
{
	bool one[GS_MAX_SERVICES] = {false};
	uint64_t now = gs_monotonic_ns();
	struct gs_policy_cfg cfg;
	uint32_t id, hard;
	int err;

	a->events_changed = false;
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		struct watch *w = &a->watch[id];

		if (!w->on || !w->urgent)
			continue;
		policy_for(a, id, &cfg);
		hard = cfg.hard_fail_connects;
		/* A deferred look waits for the next error event or tick. */
		if (now - w->last_look_ns < GS_LOOK_SPACING_NS &&
		    !(hard && w->streak >= hard && !w->holding))
			continue;
		w->urgent = false;
		one[id] = true;
		err = gs_collect_read(&a->collect, one, false, a->delta);
		one[id] = false;
		if (err)
			return err;
		decide(a, id, a->delta[id], false);
	}
	return 0;
}

static int consume_events(struct agent *a)
{
	if (ring_buffer__consume(a->rb) < 0)
		return gs_fail(EIO, "cannot read the events ring buffer");
	return 0;
}

/* The services map this agent has open must still be the pinned one:
 * after detach --all, or a new attach, the agent's maps are orphans. */
static int check_instance(struct agent *a)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	char path[4096];
	int fd, err;

	err = gs_pin_path(path, sizeof(path), a->pin_dir, GS_MAP_SERVICES);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return gs_fail(ENOENT, "the instance at %s is gone (detached): agent stops",
			       a->pin_dir);
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (!err && info.id != a->services_map_id)
		return gs_fail(ESTALE,
			       "the instance at %s was replaced (detached and attached again): "
			       "start the agent anew",
			       a->pin_dir);
	return 0;
}

static int keep_rollout(const void *key, const void *value, void *ctx)
{
	uint32_t id = *(const uint32_t *)key;
	struct agent *a = ctx;

	if (id < GS_MAX_SERVICES) {
		memcpy(&a->rollouts[id], value, sizeof(a->rollouts[id]));
		a->has_rollout[id] = true;
	}
	return 0;
}

/* This tick's specs: one walk of the (small) rollouts map. */
static int read_rollouts(struct agent *a)
{
	int err;

	memset(a->has_rollout, 0, sizeof(a->has_rollout));
	err = gs_map_foreach(a->maps.rollouts, sizeof(uint32_t), sizeof(struct gs_rollout),
			     keep_rollout, a);
	if (err < 0)
		return gs_fail(-err, "cannot read the rollouts map: %s", strerror(-err));
	return 0;
}

/* The decision-log line and the audit line of one step of a walk. */
static void log_walk(struct agent *a, uint32_t id, const struct gs_walk_result *r)
{
	const struct gs_rollout *spec = &a->rollouts[id];
	char name[GS_SERVICE_STRLEN], ro[GS_ROLLOUT_NAMELEN + 1], when[GS_ISO_TIME_STRLEN];
	uint64_t now = r->state.changed_unix_ns;
	struct json_object *entry, *line;

	gs_format_service(&a->collect.services[id].key, name, sizeof(name));
	snprintf(ro, sizeof(ro), "%.*s", GS_ROLLOUT_NAMELEN, spec->name);
	entry = gs_decision_new("agent", name, gs_walk_action_name(r->action));
	json_object_object_add(entry, "rollout", json_object_new_string(ro));
	json_object_object_add(entry, "step", json_object_new_int64(r->state.step + 1));
	json_object_object_add(entry, "steps", json_object_new_int64(spec->nsteps));
	json_object_object_add(entry, "phase",
			       json_object_new_string(gs_rollout_phase_name(
				       (enum gs_rollout_phase)r->state.phase)));
	json_object_object_add(
		entry, "verdict",
		json_object_new_string(gs_verdict_name((enum gs_verdict)r->state.last_verdict)));
	if (r->set_share)
		gs_decision_add_share(entry, r->from_ppm, r->share_ppm);
	json_object_object_add(entry, "reason", json_object_new_string(r->state.reason));
	append_decision(a, now, entry);
	/* The audit line: the same, with its time first. */
	line = json_object_new_object();
	gs_format_iso_time(now, when, sizeof(when));
	json_object_object_add(line, "time", json_object_new_string(when));
	json_object_object_foreach(entry, key, value)
	{
		json_object_object_add(line, key, json_object_get(value));
	}
	gs_audit_print(stdout, a->log, line);
	json_object_put(line);
	json_object_put(entry);
}

/* The share a step sets: one 4-byte write. A new rollout on a service
 * failed back before is the operator's word that it is live again, as a
 * split is: then, under the CLI lock, gs_split_set also makes it active. */
static int set_share(struct agent *a, uint32_t id, uint32_t ppm, bool reactivate)
{
	struct gs_split split = {.canary_ppm = ppm};
	int lock_fd, err;

	if (!reactivate) {
		if (bpf_map_update_elem(a->maps.split, &id, &split, BPF_ANY))
			return gs_fail(errno, "cannot write the split map: %s", strerror(errno));
		return 0;
	}
	lock_fd = gs_lock_acquire(a->pin_dir);
	if (lock_fd < 0)
		return lock_fd;
	err = gs_split_set(&a->maps, &a->collect.services[id].key, ppm);
	gs_lock_release(lock_fd);
	return err;
}

/* The canary's cut-off a step of the walk asks for (the verdict failed
 * and no fail-back has happened yet): the fail-back every verdict gets. */
static int walk_fail_back(struct agent *a, uint32_t id, const char *reason)
{
	struct gs_failback_result res;
	int err;

	err = gs_failback(&a->maps, a->pin_dir, &a->collect.services[id].key, id, reason,
			  a->opts->on_fail == GS_ON_FAIL_RESET, &res);
	return res.share_cut ? 0 : err;
}

/* One step of the walk of service id's rollout, carried out. */
static int walk_one(struct agent *a, uint32_t id)
{
	const struct gs_collect_service *s = &a->collect.services[id];
	struct watch *w = &a->watch[id];
	struct gs_rollout_state state;
	struct gs_svc_status status = {0};
	struct gs_split split = {0};
	struct gs_rollout_view view;
	struct gs_walk_input in = {0};
	struct gs_walk_result r;
	struct gs_service svc;
	bool have_state, entering, fresh;
	int err = 0;

	/* The service as it is now: a fail-back may have marked it. */
	if (bpf_map_lookup_elem(a->maps.services, &s->key, &svc) || svc.id != id)
		return 0;
	have_state = !bpf_map_lookup_elem(a->maps.rollout_state, &id, &state);
	gs_rollout_view_make(&a->rollouts[id], have_state ? &state : NULL, &view);
	bpf_map_lookup_elem(a->maps.split, &id, &split);
	in.verdict = GS_VERDICT_INCONCLUSIVE;
	/* Only a verdict on the share set now is evidence about it. */
	if (w->on && w->ppm == split.canary_ppm && w->last_verdict >= 0) {
		in.verdict = (enum gs_verdict)w->last_verdict;
		in.canary_samples = w->canary_samples;
		in.fail_reason = w->reason;
	}
	in.enough_samples = in.verdict != GS_VERDICT_INCONCLUSIVE;
	in.min_samples = w->min_samples ? w->min_samples : a->opts->policy.min_samples;
	in.now_unix_ns = gs_realtime_ns();
	in.share_ppm = split.canary_ppm;
	in.rolled_back = svc.state == GS_SVC_ROLLED_BACK;
	in.window_ms = a->slots * a->opts->interval_ms;
	in.settling =
		w->on && gs_monotonic_ns() - w->since_ns < (uint64_t)in.window_ms * 1000000ull;
	if (in.rolled_back) {
		bpf_map_lookup_elem(a->maps.svc_status, &id, &status);
		status.reason[sizeof(status.reason) - 1] = '\0';
		in.fail_reason = status.reason;
	}
	fresh = !view.picked_up;
	/* A rollout applied anew to a failed-back service starts it again. */
	if (fresh)
		in.rolled_back = false;
	gs_walk_step(&view, &in, &r);
	entering = r.action == GS_WALK_ENTER || r.action == GS_WALK_PROMOTE;
	/* Into a step: its state first, so a restart in between sets the share
	 * again; out of the canary: the share first, the cut waits for nothing. */
	if (r.state_changed && entering &&
	    bpf_map_update_elem(a->maps.rollout_state, &id, &r.state, BPF_ANY))
		return gs_fail(errno, "cannot write rollout_state: %s", strerror(errno));
	if (r.set_share) {
		if (r.action == GS_WALK_FAIL)
			err = walk_fail_back(a, id, r.state.reason);
		else
			err = set_share(a, id, r.share_ppm,
					fresh && svc.state == GS_SVC_ROLLED_BACK);
		if (err)
			return err;
	}
	if (r.state_changed && !entering &&
	    bpf_map_update_elem(a->maps.rollout_state, &id, &r.state, BPF_ANY))
		return gs_fail(errno, "cannot write rollout_state: %s", strerror(errno));
	/* A fail-back this agent made has its line already. */
	if (r.action != GS_WALK_NONE && !(r.action == GS_WALK_FAIL && a->failed_back_now[id]))
		log_walk(a, id, &r);
	a->failed_back_now[id] = false;
	return 0;
}

/* A walk that cannot write its step says so and tries again next tick:
 * the agent keeps running, for the fail-backs matter more. */
static void walk_rollouts(struct agent *a)
{
	uint32_t id;

	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (a->has_rollout[id] && a->collect.services[id].present && walk_one(a, id))
			fprintf(stderr, "graysplit agent: rollout step: %s\n", gs_last_error());
}

/* ---- fleet mode ---- */

#define GS_FLEET_STATS_NS 200000000ull /* counts published 5 times a second */

/*
 * This tick's counts: into this node's totals, published every
 * GS_FLEET_STATS_NS; on the leader, every node's growth since its last
 * read replaces the local counts as what the windows are fed.
 */
static void fleet_counts(struct agent *a)
{
	char name[GS_SERVICE_STRLEN];
	struct gs_etcd_kvs stats;
	uint64_t now = gs_monotonic_ns();
	bool leader = gs_follow_leader(a->follow);
	uint32_t id;

	for (id = 0; id < GS_MAX_SERVICES; id++) {
		if (!a->watch[id].on)
			continue;
		gs_format_service(&a->collect.services[id].key, name, sizeof(name));
		gs_pool_add(a->pool, name, a->watch[id].ppm, a->delta[id]);
	}
	if (now >= a->next_stats_ns) {
		struct json_object *o = gs_pool_local_json(a->pool, a->epoch);

		a->next_stats_ns = now + GS_FLEET_STATS_NS;
		gs_follow_publish_stats(a->follow, o);
		json_object_put(o);
	}
	if (!leader)
		return;
	if (gs_follow_read_stats(a->follow, &stats)) {
		/* No pooled counts this tick: nothing is taken as evidence. */
		memset(a->delta, 0, sizeof(*a->delta) * GS_MAX_SERVICES);
		return;
	}
	gs_pool_ingest(a->pool, &stats);
	gs_etcd_kvs_free(&stats);
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		if (!a->watch[id].on)
			continue;
		gs_format_service(&a->collect.services[id].key, name, sizeof(name));
		gs_pool_take(a->pool, name, a->watch[id].ppm, a->delta[id]);
	}
}

/* What this node's maps say of service id, as the fleet's state. */
/*
 * The downstream watch in a fleet: this host's pairs to the store with the
 * counts (a backend host's agent is what has any); the leader judges on
 * every host's, pooled, instead of its own.
 */
static void fleet_downstream(struct agent *a)
{
	struct gs_etcd_kvs kvs;
	uint64_t now = gs_monotonic_ns();

	if (now >= a->next_ds_ns) {
		struct json_object *o = gs_dswatch_local_json(a->ds, a->epoch);

		a->next_ds_ns = now + GS_FLEET_STATS_NS;
		if (o)
			gs_follow_publish_downstream(a->follow, o);
		json_object_put(o);
	}
	if (!gs_follow_leader(a->follow))
		return;
	if (gs_follow_read_downstream(a->follow, &kvs)) {
		/* No pooled calls this tick: nothing is taken as evidence. */
		memset(&kvs, 0, sizeof(kvs));
		gs_dswatch_ingest(a->ds, &kvs);
		return;
	}
	gs_dswatch_ingest(a->ds, &kvs);
	gs_etcd_kvs_free(&kvs);
}

static bool local_state(struct agent *a, uint32_t id, struct gs_fleet_state *st)
{
	const struct gs_collect_service *s = &a->collect.services[id];
	struct gs_svc_status status = {0};
	struct gs_split split = {0};
	struct gs_service svc;

	memset(st, 0, sizeof(*st));
	if (bpf_map_lookup_elem(a->maps.services, &s->key, &svc) || svc.id != id)
		return false;
	bpf_map_lookup_elem(a->maps.split, &id, &split);
	st->share_ppm = split.canary_ppm;
	st->rolled_back = svc.state == GS_SVC_ROLLED_BACK;
	if (st->rolled_back && !bpf_map_lookup_elem(a->maps.svc_status, &id, &status)) {
		status.reason[sizeof(status.reason) - 1] = '\0';
		snprintf(st->reason, sizeof(st->reason), "%s", status.reason);
	}
	st->has_rollout = !bpf_map_lookup_elem(a->maps.rollout_state, &id, &st->rollout);
	return true;
}

/* The leader: every service of the store whose state here is not the one
 * the fleet has goes to the store. */
static void fleet_publish_states(struct agent *a)
{
	struct gs_fleet_state st;
	uint32_t id;

	for (id = 0; id < GS_MAX_SERVICES; id++) {
		const struct gs_collect_service *s = &a->collect.services[id];

		if (!s->present || !gs_follow_has_spec(a->follow, &s->key) ||
		    !local_state(a, id, &st))
			continue;
		if (a->fleet_known[id] && gs_fleet_state_same(&a->fleet[id], &st))
			continue;
		if (gs_follow_publish_state(a->follow, &s->key, &st)) {
			fprintf(stderr, "graysplit agent: fleet state: %s\n", gs_last_error());
			continue;
		}
		a->fleet[id] = st;
		a->fleet_known[id] = true;
	}
}

static void fleet_log(void *ctx, struct json_object *line)
{
	struct agent *a = ctx;

	gs_audit_print(stdout, a->log, line);
}

/*
 * A rollout's generation counts the applies of one instance, so nodes that
 * joined at different times count differently: a node takes the leader's
 * number for the rollout it runs too, so that the leader's walk state means
 * the same rollout here (and if this node leads one day, it goes on where
 * the fleet is rather than starting again).
 */
static int fleet_generation(struct agent *a, uint32_t id, uint64_t generation)
{
	struct gs_rollout r;

	if (bpf_map_lookup_elem(a->maps.rollouts, &id, &r) || r.generation == generation)
		return 0;
	r.generation = generation;
	if (bpf_map_update_elem(a->maps.rollouts, &id, &r, BPF_EXIST))
		return gs_fail(errno, "cannot write rollouts: %s", strerror(errno));
	return 0;
}

/*
 * Another node's decision for a service: the maps take it as this node's
 * own agent would have written it. A fail-back is one here too (share 0,
 * rolled back with the leader's reason, open flows as --on-fail says); a
 * share or a step is written as the walk writes it.
 */
static void fleet_mirror(void *ctx, const struct gs_service_key *k, const struct gs_fleet_state *st)
{
	struct agent *a = ctx;
	struct gs_failback_result res = {0};
	struct gs_fleet_state here;
	struct json_object *o;
	char name[GS_SERVICE_STRLEN], when[40];
	uint32_t id;
	int err = 0;

	gs_collect_topology(&a->collect);
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (a->collect.services[id].present &&
		    !memcmp(&a->collect.services[id].key, k, sizeof(*k)))
			break;
	if (id == GS_MAX_SERVICES || !local_state(a, id, &here))
		return;
	if (st->has_rollout)
		err = fleet_generation(a, id, st->rollout.generation);
	if (!err && st->has_rollout && !st->rolled_back &&
	    bpf_map_update_elem(a->maps.rollout_state, &id, &st->rollout, BPF_ANY))
		err = gs_fail(errno, "cannot write rollout_state: %s", strerror(errno));
	if (!err && st->rolled_back && !here.rolled_back) {
		err = gs_failback(&a->maps, a->pin_dir, k, id, st->reason,
				  a->opts->on_fail == GS_ON_FAIL_RESET, &res);
		if (res.share_cut) {
			a->counts.fail_backs++;
			watch_stop(a, id);
			err = 0;
		}
	} else if (!err && !st->rolled_back &&
		   (here.rolled_back || here.share_ppm != st->share_ppm)) {
		err = set_share(a, id, st->share_ppm, here.rolled_back);
	}
	if (!err && st->has_rollout && st->rolled_back &&
	    bpf_map_update_elem(a->maps.rollout_state, &id, &st->rollout, BPF_ANY))
		err = gs_fail(errno, "cannot write rollout_state: %s", strerror(errno));
	if (!err) {
		a->fleet[id] = *st;
		a->fleet_known[id] = true;
	}
	gs_format_service(k, name, sizeof(name));
	gs_format_iso_time(gs_realtime_ns(), when, sizeof(when));
	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "store", json_object_new_string("state"));
	json_object_object_add(o, "node", json_object_new_string(gs_follow_name(a->follow)));
	json_object_object_add(o, "service", json_object_new_string(name));
	json_object_object_add(o, "by", json_object_new_string(st->by));
	json_object_object_add(o, "revision", json_object_new_int64(st->mod_revision));
	json_object_object_add(o, "share_ppm", json_object_new_int64(st->share_ppm));
	json_object_object_add(o, "rolled_back", json_object_new_boolean(st->rolled_back));
	if (st->rolled_back)
		json_object_object_add(o, "reason", json_object_new_string(st->reason));
	if (res.share_cut) {
		char action[GS_REASON_LEN + 64];

		gs_failback_action(&res, action, sizeof(action));
		json_object_object_add(o, "action", json_object_new_string(action));
	}
	if (err)
		json_object_object_add(o, "error", json_object_new_string(gs_last_error()));
	gs_audit_print(stdout, a->log, o);
	json_object_put(o);
}

static int tick(struct agent *a)
{
	uint32_t id;
	int err, g, busy;
	bool changed;
	/* --once: the first tick only sets baselines; then a full window. */
	bool last = a->opts->once && a->ticks >= a->slots;

	/* Fleet mode: the lease, and the full read that is due now and then
	 * even when the watch said nothing. */
	if (a->follow)
		gs_follow_run(a->follow, gs_monotonic_ns());
	/* A CLI command that died half-way is repaired here too (once the
	 * lock is free), so no one waits for the next command; while one is
	 * writing, its rollout is not walked on a half-written state. */
	busy = gs_journal_check(a->pin_dir, &a->maps);
	if (busy < 0) {
		fprintf(stderr, "graysplit agent: %s\n", gs_last_error());
		busy = 1;
	}
	err = consume_events(a);
	if (!err)
		err = gs_collect_topology(&a->collect);
	if (!err)
		err = read_rollouts(a);
	if (err)
		return err;
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		const struct gs_collect_service *s = &a->collect.services[id];
		struct watch *w = &a->watch[id];
		bool should = s->present && s->value.state == GS_SVC_ACTIVE && s->canary_ppm > 0;

		if (w->on && !should)
			watch_stop(a, id);
		else if (!w->on && should)
			err = watch_start(a, id, s->canary_ppm);
		else if (w->on && w->ppm != s->canary_ppm)
			watch_restart(w, s->canary_ppm);
		if (err)
			return err;
	}
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		struct gs_policy_cfg cfg;

		if (!a->watch[id].on)
			continue;
		policy_for(a, id, &cfg);
		a->collect.udp_wait_ns[id] = cfg.udp ? (uint64_t)cfg.udp_answer_ms * 1000000ull : 0;
	}
	err = gs_collect_read(&a->collect, a->want, true, a->delta);
	if (!err && a->ds)
		err = gs_dswatch_read(a->ds);
	if (err)
		return err;
	if (a->follow)
		fleet_counts(a);
	if (a->follow && a->ds)
		fleet_downstream(a);
	if (a->ds)
		gs_dswatch_account(a->ds, &a->collect);
	for (id = 0; id < GS_MAX_SERVICES; id++) {
		struct watch *w = &a->watch[id];

		if (!w->on)
			continue;
		/* A UDP service's conn_timeouts are its flows this tick found
		 * unanswered (user/core/collect.c): failures for the streak. */
		if (a->collect.udp_wait_ns[id]) {
			streak_failures(w, GS_GROUP_CANARY,
					a->delta[id][GS_GROUP_CANARY].conn_timeouts);
			streak_failures(w, GS_GROUP_STABLE,
					a->delta[id][GS_GROUP_STABLE].conn_timeouts);
		}
		changed = false;
		for (g = 0; g < GS_GROUPS; g++) {
			if (gs_window_push(&w->win[g], &a->delta[id][g])) {
				gs_group_window_merge(&w->total[g], &a->delta[id][g], 1);
				changed = true;
			}
		}
		w->urgent = false;
		/* Same counts, same streak: the same verdict as last time. */
		if (changed || w->streak != w->decided_streak || w->last_verdict < 0 || last)
			decide(a, id, NULL, last);
		if (a->ds && a->watch[id].on)
			decide_downstream(a, id);
	}
	/* In a fleet only the leader walks: a lagging node never advances a
	 * step on its own. What it decided goes to the store. */
	if (!busy && (!a->follow || gs_follow_leader(a->follow))) {
		walk_rollouts(a);
		if (a->follow)
			fleet_publish_states(a);
	}
	gs_port_guard_tick(&a->ports, &a->maps, gs_monotonic_ns());
	a->ticks++;
	if (a->metrics)
		gs_metrics_tick(a->metrics);
	if (gs_monotonic_ns() >= a->next_check_ns) {
		a->next_check_ns = gs_monotonic_ns() + GS_INSTANCE_CHECK_NS;
		err = check_instance(a);
	}
	return err;
}

static int interval_timer(uint32_t interval_ms)
{
	struct itimerspec its = {
		.it_interval = {.tv_sec = interval_ms / 1000,
				.tv_nsec = (long)(interval_ms % 1000) * 1000000L},
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	its.it_value = its.it_interval;
	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int epoll_add(int efd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
}

static int loop(struct agent *a)
{
	int sfd = gs_stop_signals_fd(), tfd = interval_timer(a->opts->interval_ms);
	int efd = epoll_create1(EPOLL_CLOEXEC), rfd = ring_buffer__epoll_fd(a->rb);
	int mfd = a->metrics ? gs_metrics_fd(a->metrics) : -1;
	int ffd = a->follow ? gs_follow_fd(a->follow) : -1;
	struct epoll_event got[5];
	int err = 0, n, i;
	uint64_t expired;

	if (sfd < 0 || tfd < 0 || efd < 0 || epoll_add(efd, sfd) || epoll_add(efd, tfd) ||
	    epoll_add(efd, rfd) || (mfd >= 0 && epoll_add(efd, mfd)) ||
	    (ffd >= 0 && epoll_add(efd, ffd))) {
		err = gs_fail(errno, "cannot set up the agent's wait: %s", strerror(errno));
		goto out;
	}
	/* The first reading sets every backend's baseline. */
	err = tick(a);
	while (!err) {
		n = epoll_wait(efd, got, 5, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = gs_fail(errno, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n && !err; i++) {
			if (got[i].data.fd == sfd)
				goto out;
			if (got[i].data.fd == tfd) {
				if (read(tfd, &expired, sizeof(expired)) < 0 && errno != EAGAIN)
					err = gs_fail(errno, "timerfd: %s", strerror(errno));
				if (!err)
					err = tick(a);
				if (!err && a->opts->once && a->ticks > a->slots)
					goto out;
			} else if (got[i].data.fd == rfd) {
				err = consume_events(a);
			} else if (got[i].data.fd == mfd) {
				gs_metrics_run(a->metrics);
			} else if (got[i].data.fd == ffd) {
				gs_follow_run(a->follow, gs_monotonic_ns());
			}
		}
		if (!err && a->events_changed)
			err = look_at_urgent(a);
	}
out:
	if (efd >= 0)
		close(efd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

/* A scrape, between two of the loop's events: it re-reads the topology
 * into the agent's own view, as the next tick would. */
static int render_metrics(void *ctx, struct gs_prom_buf *out)
{
	struct agent *a = ctx;
	int err;

	err = gs_metrics_render(&a->collect, &a->counts, out);
	if (!err)
		gs_dswatch_metrics(a->ds, &a->collect, out);
	return err;
}

/*
 * The operator's rollout commands of the fleet into this node's rollouts
 * entry, as `rollout pause` and the others write it on a single node: the
 * leader's walk acts on them, the others wait for its state.
 */
static bool fleet_ops(void *ctx, const struct gs_service_key *k, const struct gs_fleet_ops *ops)
{
	struct agent *a = ctx;
	struct gs_service svc;
	struct gs_rollout r;
	int lock_fd;

	if (bpf_map_lookup_elem(a->maps.services, k, &svc) ||
	    bpf_map_lookup_elem(a->maps.rollouts, &svc.id, &r) || r.generation != ops->generation)
		return false;
	lock_fd = gs_lock_acquire(a->pin_dir);
	if (lock_fd < 0)
		return false;
	if (!bpf_map_lookup_elem(a->maps.rollouts, &svc.id, &r) &&
	    (r.paused != ops->paused || r.aborted != ops->aborted ||
	     r.promote_seq != ops->promote_seq || r.promote_to != ops->promote_to ||
	     r.resume_seq != ops->resume_seq)) {
		r.paused = ops->paused;
		r.aborted = ops->aborted;
		r.promote_seq = ops->promote_seq;
		r.promote_to = ops->promote_to;
		r.resume_seq = ops->resume_seq;
		if (bpf_map_update_elem(a->maps.rollouts, &svc.id, &r, BPF_EXIST))
			fprintf(stderr, "graysplit agent: fleet rollout commands: %s\n",
				strerror(errno));
	}
	gs_lock_release(lock_fd);
	return true;
}

/* The fleet's hash seed into config, under the lock (attach and config
 * change config too, read-modify-write). */
static void fleet_seed(void *ctx, uint32_t seed)
{
	struct agent *a = ctx;
	struct gs_config cfg;
	int lock_fd, err;

	lock_fd = gs_lock_acquire(a->pin_dir);
	if (lock_fd < 0) {
		fprintf(stderr, "graysplit agent: fleet seed: %s\n", gs_last_error());
		return;
	}
	err = gs_config_read(&a->maps, &cfg);
	if (!err && cfg.hash_seed != seed) {
		cfg.hash_seed = seed;
		err = gs_config_write(&a->maps, &cfg);
	}
	gs_lock_release(lock_fd);
	if (err)
		fprintf(stderr, "graysplit agent: fleet seed: %s\n", gs_last_error());
}

/* Fleet mode: the store's services into the maps before the first tick,
 * then whenever the watch says they changed. */
static int follow_start(struct agent *a)
{
	const struct gs_follow_hooks hooks = {fleet_log, fleet_mirror, fleet_ops, fleet_seed, a};
	struct gs_store_url url;
	int err = gs_store_url_parse(&a->opts->store, &url);

	if (err <= 0)
		return err;
	/* In a fleet every agent has the downstream watch: a backend host's
	 * own instance (attach --role backend) publishes what it counts, and
	 * the leader, whichever node it is, pools every host's. */
	if (!a->ds) {
		err = gs_dswatch_open(&a->ds, a->pin_dir, a->slots);
		if (err)
			return err;
	}
	a->pool = gs_pool_new();
	a->fleet = calloc(GS_MAX_SERVICES, sizeof(*a->fleet));
	if (!a->pool || !a->fleet)
		return gs_fail(ENOMEM, "out of memory");
	a->epoch = gs_realtime_ns();
	err = gs_follow_start(&url, a->pin_dir, a->opts->store.node_name, &hooks, &a->follow);
	if (!err)
		gs_follow_run(a->follow, gs_monotonic_ns());
	return err;
}

static int setup(struct agent *a)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), id;
	int err;

	for (id = 0; id < GS_MAX_SERVICES; id++)
		a->watch[id].last_verdict = -1;
	a->slots = (a->opts->window_ms + a->opts->interval_ms - 1) / a->opts->interval_ms;
	a->delta = calloc(GS_MAX_SERVICES, sizeof(*a->delta));
	a->input = calloc(1, sizeof(*a->input));
	a->input_other = calloc(1, sizeof(*a->input_other));
	a->rollouts = calloc(GS_MAX_SERVICES, sizeof(*a->rollouts));
	if (!a->delta || !a->input || !a->input_other || !a->rollouts)
		return gs_fail(ENOMEM, "out of memory");
	if (a->opts->log_path) {
		a->log = fopen(a->opts->log_path, "ae");
		if (!a->log)
			return gs_fail(errno, "cannot open --log %s: %s", a->opts->log_path,
				       strerror(errno));
	}
	err = gs_maps_open(a->pin_dir, &a->maps);
	if (err)
		return err;
	if (bpf_obj_get_info_by_fd(a->maps.services, &info, &len))
		return gs_fail(errno, "cannot inspect the services map: %s", strerror(errno));
	a->services_map_id = info.id;
	a->next_check_ns = gs_monotonic_ns() + GS_INSTANCE_CHECK_NS;
	err = gs_collect_init(&a->collect, &a->maps);
	if (err)
		return err;
	/* The agent alone judges UDP flows unanswered (and counts them). */
	a->collect.judge_udp = true;
	if (a->opts->downstream) {
		err = gs_dswatch_open(&a->ds, a->opts->downstream, a->slots);
		if (err)
			return err;
	}
	a->rb = ring_buffer__new(a->maps.events, handle_event, a, NULL);
	if (!a->rb)
		return gs_fail(errno, "cannot open the events ring buffer: %s", strerror(errno));
	if (a->opts->metrics) {
		err = gs_metrics_start(&a->opts->metrics_addr, a->opts->metrics_port,
				       render_metrics, a, &a->metrics);
		if (err)
			return err;
	}
	return follow_start(a);
}

static void teardown(struct agent *a)
{
	uint32_t id;
	int g;

	for (id = 0; id < GS_MAX_SERVICES; id++) {
		for (g = 0; g < GS_GROUPS; g++)
			gs_window_free(&a->watch[id].win[g]);
		free(a->watch[id].total);
	}
	gs_follow_stop(a->follow);
	gs_pool_free(a->pool);
	free(a->fleet);
	gs_metrics_stop(a->metrics);
	gs_dswatch_close(a->ds);
	ring_buffer__free(a->rb);
	gs_collect_free(&a->collect);
	gs_maps_close(&a->maps);
	if (a->log)
		fclose(a->log);
	free(a->delta);
	free(a->input);
	free(a->input_other);
	free(a->rollouts);
}

int gs_agent_run(const char *pin_dir, const char *netns, const struct gs_agent_opts *opts)
{
	struct agent *a = calloc(1, sizeof(*a));
	int lock_fd, err;

	if (!a)
		return gs_fail(ENOMEM, "out of memory");
	a->pin_dir = pin_dir;
	a->opts = opts;
	gs_port_guard_init(&a->ports, pin_dir, netns);
	gs_maps_init(&a->maps);
	lock_fd = gs_lock_consumer(pin_dir, "agent");
	if (lock_fd < 0) {
		free(a);
		return lock_fd;
	}
	err = setup(a);
	if (!err)
		err = loop(a);
	teardown(a);
	gs_lock_consumer_release(pin_dir, lock_fd);
	free(a);
	return err;
}
