// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rules of a rollout's walk, in the order they win: a new generation
 * starts at step 1; the operator's abort; a failed canary; the operator's
 * promote, resume and pause; a share that is not the step's (set again);
 * then the bake: over and analysis passed -> the next step, inconclusive ->
 * a longer bake up to max_extension, then a pause that says why. Both
 * versions failing (a platform fault) is no verdict on the canary: it holds
 * the walk as inconclusive does, and neither promotes nor fails it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "rollout_walk.h"

const char *gs_walk_action_name(enum gs_walk_action a)
{
	switch (a) {
	case GS_WALK_NONE:
		return "none";
	case GS_WALK_ENTER:
	case GS_WALK_PROMOTE:
		return "promote";
	case GS_WALK_EXTEND:
		return "extend";
	case GS_WALK_PAUSE:
		return "pause";
	case GS_WALK_COMPLETE:
		return "complete";
	case GS_WALK_ABORT:
		return "abort";
	case GS_WALK_FAIL:
		return "fail_back";
	case GS_WALK_RESUME:
		return "resume";
	}
	return "unknown";
}

uint32_t gs_walk_max_extension_ms(const struct gs_rollout *spec, uint32_t step)
{
	if (spec->analysis.max_extension_ms)
		return spec->analysis.max_extension_ms;
	return step < GS_MAX_STEPS ? spec->steps[step].bake_ms : 0;
}

static bool failed(enum gs_verdict v)
{
	return v == GS_VERDICT_FAIL || v == GS_VERDICT_HARD_FAIL;
}

/* The reason of the step, its format checked like printf's. */
__attribute__((format(printf, 2, 3))) static void say(struct gs_walk_result *out, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): as in error.c */
	vsnprintf(out->state.reason, sizeof(out->state.reason), fmt, ap);
	va_end(ap);
}

static void change(struct gs_walk_result *out, enum gs_walk_action action,
		   enum gs_rollout_phase phase, uint64_t now)
{
	out->action = action;
	out->state_changed = true;
	out->state.phase = (uint8_t)phase;
	out->state.changed_unix_ns = now;
}

/* Step `to` with its share, its bake from now, no extension. */
static void enter(struct gs_walk_result *out, const struct gs_rollout *spec, uint32_t to,
		  enum gs_walk_action action, enum gs_rollout_phase phase, uint64_t now)
{
	change(out, action, phase, now);
	out->state.step = to;
	out->state.step_started_unix_ns = now;
	out->state.extended_ms = 0;
	out->set_share = true;
	out->share_ppm = spec->steps[to].canary_ppm;
}

static double pct(uint32_t ppm)
{
	return gs_ppm_to_percent(ppm);
}

static double secs(uint64_t ms)
{
	return (double)ms / 1000.0;
}

/* The current step is done (why says how): the next one, or completed. */
static void advance(struct gs_walk_result *out, const struct gs_rollout *spec, uint32_t step,
		    uint64_t now, const char *why)
{
	uint32_t n = spec->nsteps;

	if (step + 1 >= n) {
		change(out, GS_WALK_COMPLETE, GS_RO_COMPLETED, now);
		say(out, "%s; step %u/%u was the last: rollout %s completed at %g%%", why, step + 1,
		    n, spec->name, pct(spec->steps[step].canary_ppm));
		return;
	}
	enter(out, spec, step + 1, GS_WALK_ENTER, GS_RO_PROGRESSING, now);
	say(out, "%s: step %u/%u -> %u/%u (%g%% -> %g%%)", why, step + 1, n, step + 2, n,
	    pct(spec->steps[step].canary_ppm), pct(spec->steps[step + 1].canary_ppm));
}

/* The bake of a progressing step: over or not, and what the analysis says. */
static void bake(const struct gs_rollout_view *view, const struct gs_walk_input *in,
		 struct gs_walk_result *out)
{
	const struct gs_rollout *spec = &view->spec;
	struct gs_rollout_state *st = &out->state;
	uint32_t step = st->step, ppm = spec->steps[step].canary_ppm;
	uint64_t bake_ms = spec->steps[step].bake_ms, needed = bake_ms + st->extended_ms;
	uint64_t elapsed = 0, ext, max_ext = gs_walk_max_extension_ms(spec, step);
	char why[GS_REASON_LEN];
	bool both = in->verdict == GS_VERDICT_BOTH_FAILING;
	const char *what = both ? "canary and stable both failing (not the canary's fault)"
				: "analysis inconclusive";
	const char *still =
		both ? "canary and stable still both failing" : "analysis still inconclusive";

	if (in->now_unix_ns > st->step_started_unix_ns)
		elapsed = (in->now_unix_ns - st->step_started_unix_ns) / 1000000ull;
	if (step + 1 == spec->nsteps && ppm == GS_PPM_MAX) {
		change(out, GS_WALK_COMPLETE, GS_RO_COMPLETED, in->now_unix_ns);
		say(out,
		    "step %u/%u is at 100%%: no stable traffic is left to compare with, so the "
		    "last step completes once entered: rollout %s completed",
		    step + 1, spec->nsteps, spec->name);
		return;
	}
	if (!bake_ms) {
		snprintf(why, sizeof(why), "step %u/%u has no bake", step + 1, spec->nsteps);
		advance(out, spec, step, in->now_unix_ns, why);
		return;
	}
	if (elapsed < needed)
		return;
	if (!ppm) {
		snprintf(why, sizeof(why), "bake %.1f s done at 0%%: no canary traffic to analyse",
			 secs(needed));
		advance(out, spec, step, in->now_unix_ns, why);
		return;
	}
	if (in->verdict == GS_VERDICT_PASS && in->enough_samples) {
		snprintf(why, sizeof(why),
			 "bake %.1f s done at %g%%, analysis passed (%llu canary samples)",
			 secs(elapsed), pct(ppm), (unsigned long long)in->canary_samples);
		advance(out, spec, step, in->now_unix_ns, why);
		return;
	}
	if (in->settling)
		return;
	if (st->extended_ms < max_ext) {
		ext = bake_ms / 4 > in->window_ms ? bake_ms / 4 : in->window_ms;
		if (!ext)
			ext = 1000;
		if (st->extended_ms + ext > max_ext)
			ext = max_ext - st->extended_ms;
		change(out, GS_WALK_EXTEND, GS_RO_PROGRESSING, in->now_unix_ns);
		st->extended_ms += (uint32_t)ext;
		say(out,
		    "%s after %.1f s at %g%% (%llu of %u canary samples): bake "
		    "of step %u/%u extended by %.1f s (%.1f of at most %.1f s)",
		    what, secs(elapsed), pct(ppm), (unsigned long long)in->canary_samples,
		    in->min_samples, step + 1, spec->nsteps, secs(ext), secs(st->extended_ms),
		    secs(max_ext));
		return;
	}
	change(out, GS_WALK_PAUSE, GS_RO_PAUSED, in->now_unix_ns);
	say(out,
	    "%s after %.1f s at %g%% (%llu of %u canary samples) and the "
	    "bake's extension of %.1f s is used up: paused at step %u/%u (resume or promote)",
	    still, secs(elapsed), pct(ppm), (unsigned long long)in->canary_samples, in->min_samples,
	    secs(max_ext), step + 1, spec->nsteps);
}

void gs_walk_step(const struct gs_rollout_view *view, const struct gs_walk_input *in,
		  struct gs_walk_result *out)
{
	const struct gs_rollout *spec = &view->spec;
	struct gs_rollout_state *st = &out->state;
	uint32_t n = spec->nsteps, to, ppm;
	enum gs_rollout_phase phase;

	memset(out, 0, sizeof(*out));
	out->from_ppm = in->share_ppm;
	if (!view->present)
		return;
	if (!view->picked_up) {
		/* A new generation: operator requests made before it count
		 * no more, the walk begins at step 1. */
		st->generation = spec->generation;
		st->promote_seq_seen = spec->promote_seq;
		st->resume_seq_seen = spec->resume_seq;
		st->last_verdict = (uint8_t)in->verdict;
		if (spec->aborted) {
			change(out, GS_WALK_ABORT, GS_RO_ABORTED, in->now_unix_ns);
			out->set_share = in->share_ppm != 0;
			say(out, "rollout %s aborted by the operator before it began", spec->name);
			return;
		}
		enter(out, spec, 0, GS_WALK_ENTER, spec->paused ? GS_RO_PAUSED : GS_RO_PROGRESSING,
		      in->now_unix_ns);
		say(out, "rollout %s (%u steps) begins: step 1/%u at %g%%%s", spec->name, n, n,
		    pct(spec->steps[0].canary_ppm), spec->paused ? ", paused by the operator" : "");
		return;
	}
	*st = view->state;
	phase = (enum gs_rollout_phase)st->phase;
	if (st->last_verdict != (uint8_t)in->verdict) {
		st->last_verdict = (uint8_t)in->verdict;
		out->state_changed = true;
	}
	ppm = spec->steps[st->step].canary_ppm;
	if (phase == GS_RO_COMPLETED || phase == GS_RO_ABORTED)
		return;
	if (spec->aborted) {
		change(out, GS_WALK_ABORT, GS_RO_ABORTED, in->now_unix_ns);
		out->set_share = in->share_ppm != 0;
		say(out, "rollout %s aborted by the operator at step %u/%u (%g%%): share 0%%",
		    spec->name, st->step + 1, n, pct(ppm));
		return;
	}
	if (phase == GS_RO_FAILED)
		return;
	if (in->rolled_back || failed(in->verdict)) {
		change(out, GS_WALK_FAIL, GS_RO_FAILED, in->now_unix_ns);
		out->set_share = !in->rolled_back;
		say(out, "rollout %s failed at step %u/%u (%g%%): %s", spec->name, st->step + 1, n,
		    pct(ppm),
		    in->fail_reason && in->fail_reason[0] ? in->fail_reason : "canary failed");
		return;
	}
	if (spec->promote_seq != st->promote_seq_seen) {
		to = spec->promote_to < n ? spec->promote_to : n - 1;
		st->promote_seq_seen = spec->promote_seq;
		enter(out, spec, to, GS_WALK_PROMOTE,
		      spec->paused ? GS_RO_PAUSED : GS_RO_PROGRESSING, in->now_unix_ns);
		say(out,
		    "promoted by the operator: step %u/%u -> %u/%u (%g%% -> %g%%), bake and "
		    "analysis "
		    "skipped",
		    view->state.step + 1, n, to + 1, n, pct(ppm), pct(spec->steps[to].canary_ppm));
		return;
	}
	if (spec->resume_seq != st->resume_seq_seen) {
		st->resume_seq_seen = spec->resume_seq;
		out->state_changed = true;
		if (!spec->paused) {
			change(out, GS_WALK_RESUME, GS_RO_PROGRESSING, in->now_unix_ns);
			st->step_started_unix_ns = in->now_unix_ns;
			st->extended_ms = 0;
			say(out,
			    "resumed by the operator at step %u/%u (%g%%): its bake of %.1f s "
			    "starts again",
			    st->step + 1, n, pct(ppm), secs(spec->steps[st->step].bake_ms));
			return;
		}
	}
	if (spec->paused) {
		if (phase != GS_RO_PAUSED) {
			change(out, GS_WALK_PAUSE, GS_RO_PAUSED, in->now_unix_ns);
			say(out, "paused by the operator at step %u/%u (%g%%)", st->step + 1, n,
			    pct(ppm));
		}
		return;
	}
	/* Paused for an inconclusive analysis: until the operator's word. */
	if (phase == GS_RO_PAUSED)
		return;
	if (in->share_ppm != ppm) {
		enter(out, spec, st->step, GS_WALK_ENTER, GS_RO_PROGRESSING, in->now_unix_ns);
		say(out,
		    "the share was %g%%, step %u/%u's is %g%%: set again, its bake starts again",
		    pct(in->share_ppm), st->step + 1, n, pct(ppm));
		return;
	}
	bake(view, in, out);
}
