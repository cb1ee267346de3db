// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The rollout step machine, rule by rule: a new rollout starts at step 1,
 * a bake promotes only when over and passed, inconclusive extends then
 * pauses, failure fails, the operator's pause/resume/promote/abort, bake 0,
 * the last step, 100%, a share found changed; and a whole walk over time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "graysplit.h"
#include "rollout.h"
#include "rollout_walk.h"

#define MS 1000000ull /* ns */
#define T0 (1700000000ull * 1000 * MS)

static struct gs_rollout spec;

/* Before every test: 5%/2s, 20%/2s, 50%/2s, 100%. */
static int make_spec(void **state)
{
	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.generation = 7;
	spec.applied_unix_ns = T0;
	spec.nsteps = 4;
	spec.steps[0] = (struct gs_rollout_step){50000, 2000};
	spec.steps[1] = (struct gs_rollout_step){200000, 2000};
	spec.steps[2] = (struct gs_rollout_step){500000, 2000};
	spec.steps[3] = (struct gs_rollout_step){1000000, 0};
	snprintf(spec.name, sizeof(spec.name), "web-v2");
	return 0;
}

static struct gs_rollout_state at(uint32_t step, enum gs_rollout_phase phase, uint64_t started)
{
	struct gs_rollout_state st = {0};

	st.generation = spec.generation;
	st.step = step;
	st.phase = (uint8_t)phase;
	st.step_started_unix_ns = started;
	st.changed_unix_ns = started;
	st.last_verdict = GS_VERDICT_PASS;
	return st;
}

static struct gs_walk_input input(enum gs_verdict v, uint64_t now, uint32_t share)
{
	struct gs_walk_input in = {0};

	in.verdict = v;
	in.enough_samples = v != GS_VERDICT_INCONCLUSIVE;
	in.canary_samples = v == GS_VERDICT_INCONCLUSIVE ? 5 : 80;
	in.min_samples = 20;
	in.now_unix_ns = now;
	in.share_ppm = share;
	in.window_ms = 2000;
	in.fail_reason = "window 2.0 s: 5xx 100% vs 0%";
	return in;
}

static void walk(const struct gs_rollout_state *st, const struct gs_walk_input *in,
		 struct gs_walk_result *out)
{
	struct gs_rollout_view view;

	gs_rollout_view_make(&spec, st, &view);
	gs_walk_step(&view, in, out);
}

static void test_walk_new_generation_enters_step_1_and_sets_its_share(void **state)
{
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 5 * MS, 0);
	struct gs_rollout_state old = at(2, GS_RO_COMPLETED, T0 - 1000 * MS);
	struct gs_walk_result r;

	(void)state;
	old.generation = 6;
	spec.promote_seq = 3;
	walk(&old, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_true(r.set_share);
	assert_int_equal(r.share_ppm, 50000);
	assert_true(r.state_changed);
	assert_int_equal(r.state.generation, 7);
	assert_int_equal(r.state.step, 0);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	assert_int_equal(r.state.step_started_unix_ns, T0 + 5 * MS);
	/* A promote of before this generation is not acted on. */
	assert_int_equal(r.state.promote_seq_seen, 3);
	assert_non_null(strstr(r.state.reason, "step 1/4 at 5%"));
	walk(NULL, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
}

static void test_walk_bake_not_over_does_nothing_even_when_passing(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 1999 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	assert_false(r.set_share);
	assert_false(r.state_changed);
}

static void test_walk_bake_over_and_pass_promotes_to_next_step(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 2000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_true(r.set_share);
	assert_int_equal(r.share_ppm, 200000);
	assert_int_equal(r.from_ppm, 50000);
	assert_int_equal(r.state.step, 1);
	assert_int_equal(r.state.step_started_unix_ns, T0 + 2000 * MS);
	assert_int_equal(r.state.extended_ms, 0);
	assert_non_null(strstr(r.state.reason, "analysis passed (80 canary samples)"));
	assert_non_null(strstr(r.state.reason, "5% -> 20%"));
	assert_string_equal(gs_walk_action_name(r.action), "promote");
}

static void test_walk_pass_without_enough_samples_is_inconclusive(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 2000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	in.enough_samples = false;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_EXTEND);
}

/* Bake 2 s: extension max(2 s / 4, window 2 s) = 2 s, at most the bake. */
static void test_walk_inconclusive_extends_then_pauses_with_reason(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 2000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_EXTEND);
	assert_false(r.set_share);
	assert_int_equal(r.state.extended_ms, 2000);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	assert_int_equal(r.state.step_started_unix_ns, T0);
	assert_non_null(strstr(r.state.reason, "inconclusive after 2.0 s at 5% (5 of 20"));
	assert_non_null(strstr(r.state.reason, "extended by 2.0 s (2.0 of at most 2.0 s)"));

	/* Within the extension: nothing. */
	st = r.state;
	in.now_unix_ns = T0 + 3999 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);

	/* At its end, still inconclusive: paused, saying why. */
	in.now_unix_ns = T0 + 4000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_PAUSE);
	assert_int_equal(r.state.phase, GS_RO_PAUSED);
	assert_false(r.set_share);
	assert_non_null(strstr(r.state.reason, "still inconclusive after 4.0 s"));
	assert_non_null(strstr(r.state.reason, "paused at step 1/4"));

	/* Paused: time passing and even a pass promote nothing. */
	st = r.state;
	in = input(GS_VERDICT_PASS, T0 + 60000 * MS, 50000);
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
}

/* A restarted agent's windows are younger than one window: inconclusive
 * then is no evidence, so the bake's end waits; a pass still promotes. */
static void test_walk_settling_analysis_waits_instead_of_extending(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 9000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	in.settling = true;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	assert_int_equal(r.state.extended_ms, 0);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	in.settling = false;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_EXTEND);
	in = input(GS_VERDICT_PASS, T0 + 9000 * MS, 50000);
	in.settling = true;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
}

static void test_walk_extension_steps_are_a_quarter_bake_up_to_max_extension(void **state)
{
	struct gs_rollout_state st = at(1, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 40000 * MS, 200000);
	struct gs_walk_result r;
	int extends = 0;

	(void)state;
	spec.steps[1].bake_ms = 40000;
	spec.analysis.max_extension_ms = 25000;
	for (;;) {
		walk(&st, &in, &r);
		if (r.action != GS_WALK_EXTEND)
			break;
		extends++;
		st = r.state;
		in.now_unix_ns = T0 + (40000ull + st.extended_ms) * MS;
	}
	/* 10 s, 10 s, then the 5 s left. */
	assert_int_equal(extends, 3);
	assert_int_equal(st.extended_ms, 25000);
	assert_int_equal(r.action, GS_WALK_PAUSE);
	assert_int_equal(gs_walk_max_extension_ms(&spec, 1), 25000);
	spec.analysis.max_extension_ms = 0;
	assert_int_equal(gs_walk_max_extension_ms(&spec, 1), 40000);
}

static void test_walk_extended_bake_then_pass_promotes(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 3000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	st.extended_ms = 2000;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	in.now_unix_ns = T0 + 4000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_int_equal(r.state.step, 1);
	assert_int_equal(r.state.extended_ms, 0);
}

static void test_walk_fail_verdict_fails_even_mid_bake_and_when_paused(void **state)
{
	struct gs_rollout_state st = at(1, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_FAIL, T0 + 100 * MS, 200000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_FAIL);
	assert_true(r.set_share);
	assert_int_equal(r.state.phase, GS_RO_FAILED);
	assert_non_null(strstr(r.state.reason, "failed at step 2/4 (20%): window 2.0 s: 5xx"));
	assert_string_equal(gs_walk_action_name(r.action), "fail_back");

	spec.paused = 1;
	st = at(1, GS_RO_PAUSED, T0);
	in.verdict = GS_VERDICT_HARD_FAIL;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_FAIL);
	spec.paused = 0;

	/* Already cut off (the agent failed it back before a restart). */
	st = at(1, GS_RO_PROGRESSING, T0);
	in = input(GS_VERDICT_INCONCLUSIVE, T0 + 100 * MS, 0);
	in.rolled_back = true;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_FAIL);
	assert_false(r.set_share);

	/* Failed stays failed. */
	st = r.state;
	in.rolled_back = false;
	in.now_unix_ns = T0 + 60000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	assert_false(r.set_share);
}

/* A platform outage is no verdict on the canary: mid-bake nothing happens,
 * at the bake's end it extends (then pauses) like inconclusive, and it never
 * fails the rollout nor cuts the share. */
static void test_walk_both_failing_holds_without_fail_or_promotion(void **state)
{
	struct gs_rollout_state st = at(1, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_BOTH_FAILING, T0 + 500 * MS, 200000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	assert_false(r.set_share);
	assert_int_equal(r.state.last_verdict, GS_VERDICT_BOTH_FAILING);

	in.now_unix_ns = T0 + 2000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_EXTEND);
	assert_false(r.set_share);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	assert_int_equal(r.state.step, 1);
	assert_non_null(strstr(r.state.reason, "both failing"));

	/* The extension used up: paused, still not failed, share untouched. */
	st.extended_ms = 2000;
	in.now_unix_ns = T0 + 4000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_PAUSE);
	assert_int_equal(r.state.phase, GS_RO_PAUSED);
	assert_false(r.set_share);
	assert_non_null(strstr(r.state.reason, "still both failing"));
}

static void test_walk_operator_pause_stops_promotion_and_resume_restarts_bake(void **state)
{
	struct gs_rollout_state st = at(1, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 500 * MS, 200000);
	struct gs_walk_result r;

	(void)state;
	spec.paused = 1;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_PAUSE);
	assert_int_equal(r.state.phase, GS_RO_PAUSED);
	assert_non_null(strstr(r.state.reason, "paused by the operator at step 2/4 (20%)"));
	st = r.state;
	in.now_unix_ns = T0 + 10000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);

	/* Resume: progressing, the bake counts from now. */
	spec.paused = 0;
	spec.resume_seq = 1;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_RESUME);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	assert_int_equal(r.state.step_started_unix_ns, T0 + 10000 * MS);
	assert_int_equal(r.state.resume_seq_seen, 1);
	assert_false(r.set_share);
	st = r.state;
	in.now_unix_ns = T0 + 11999 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	in.now_unix_ns = T0 + 12000 * MS;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_int_equal(r.state.step, 2);
	spec.resume_seq = 0;
}

static void test_walk_resume_after_inconclusive_pause(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PAUSED, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 9000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	st.extended_ms = 2000;
	spec.resume_seq = 4;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_RESUME);
	assert_int_equal(r.state.extended_ms, 0);
	assert_int_equal(r.state.step_started_unix_ns, T0 + 9000 * MS);
	spec.resume_seq = 0;
}

static void test_walk_operator_promote_skips_bake_and_analysis(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0 + 100 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	spec.promote_seq = 1;
	spec.promote_to = 2;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_PROMOTE);
	assert_true(r.set_share);
	assert_int_equal(r.share_ppm, 500000);
	assert_int_equal(r.state.step, 2);
	assert_int_equal(r.state.promote_seq_seen, 1);
	assert_int_equal(r.state.phase, GS_RO_PROGRESSING);
	assert_non_null(strstr(r.state.reason, "step 1/4 -> 3/4 (5% -> 50%)"));
	/* Acted on once. */
	st = r.state;
	in.share_ppm = 500000;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	/* Past the end: to the last step. */
	spec.promote_seq = 2;
	spec.promote_to = 99;
	walk(&st, &in, &r);
	assert_int_equal(r.state.step, 3);
	spec.promote_seq = 0;
	spec.promote_to = 0;
}

static void test_walk_abort_cuts_share_and_stops(void **state)
{
	struct gs_rollout_state st = at(2, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 5000 * MS, 500000);
	struct gs_walk_result r;

	(void)state;
	spec.aborted = 1;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ABORT);
	assert_true(r.set_share);
	assert_int_equal(r.share_ppm, 0);
	assert_int_equal(r.state.phase, GS_RO_ABORTED);
	/* The CLI already cut the share: only the state changes. */
	in.share_ppm = 0;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ABORT);
	assert_false(r.set_share);
	st = r.state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
	spec.aborted = 0;
	/* Aborted stays aborted. */
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
}

static void test_walk_bake_0_promotes_at_once_without_analysis(void **state)
{
	struct gs_rollout_state st = at(0, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0, 50000);
	struct gs_walk_result r;

	(void)state;
	spec.steps[0].bake_ms = 0;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_int_equal(r.state.step, 1);
	assert_non_null(strstr(r.state.reason, "has no bake"));
	spec.steps[0].bake_ms = 2000;
}

static void test_walk_last_step_at_100_completes_once_entered(void **state)
{
	struct gs_rollout_state st = at(3, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_INCONCLUSIVE, T0, 1000000);
	struct gs_walk_result r;

	(void)state;
	spec.steps[3].bake_ms = 30000;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_COMPLETE);
	assert_int_equal(r.state.phase, GS_RO_COMPLETED);
	assert_false(r.set_share);
	assert_non_null(strstr(r.state.reason, "no stable traffic"));
	spec.steps[3].bake_ms = 0;
	st = r.state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_NONE);
}

static void test_walk_last_step_below_100_completes_after_bake_and_pass(void **state)
{
	struct gs_rollout_state st = at(2, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 2000 * MS, 500000);
	struct gs_walk_result r;

	(void)state;
	spec.nsteps = 3;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_COMPLETE);
	assert_false(r.set_share);
	assert_non_null(strstr(r.state.reason, "completed at 50%"));
	in.verdict = GS_VERDICT_INCONCLUSIVE;
	in.enough_samples = false;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_EXTEND);
	spec.nsteps = 4;
}

static void test_walk_share_found_changed_is_set_again(void **state)
{
	struct gs_rollout_state st = at(1, GS_RO_PROGRESSING, T0);
	struct gs_walk_input in = input(GS_VERDICT_PASS, T0 + 1000 * MS, 50000);
	struct gs_walk_result r;

	(void)state;
	walk(&st, &in, &r);
	assert_int_equal(r.action, GS_WALK_ENTER);
	assert_int_equal(r.state.step, 1);
	assert_int_equal(r.share_ppm, 200000);
	assert_int_equal(r.state.step_started_unix_ns, T0 + 1000 * MS);
}

/* The whole walk, a tick every 100 ms, healthy canary: enter each step in
 * order, each after its bake, and complete on reaching 100%. */
static void test_walk_healthy_rollout_walks_to_completed(void **state)
{
	struct gs_rollout_state st;
	struct gs_walk_input in;
	struct gs_walk_result r;
	uint64_t now = T0, entered[4] = {0};
	uint32_t share = 0;
	bool have = false, done = false;
	int i;

	(void)state;
	for (i = 0; i < 200 && !done; i++, now += 100 * MS) {
		in = input(GS_VERDICT_PASS, now, share);
		walk(have ? &st : NULL, &in, &r);
		if (r.set_share)
			share = r.share_ppm;
		if (r.state_changed) {
			st = r.state;
			have = true;
		}
		if (r.action == GS_WALK_ENTER)
			entered[r.state.step] = now;
		done = r.action == GS_WALK_COMPLETE;
	}
	assert_true(done);
	assert_int_equal(share, 1000000);
	assert_int_equal(entered[0], T0);
	assert_int_equal(entered[1] - entered[0], 2000 * MS);
	assert_int_equal(entered[2] - entered[1], 2000 * MS);
	assert_int_equal(entered[3] - entered[2], 2000 * MS);
	/* The next tick completes at 100%. */
	assert_int_equal(now - 100 * MS - entered[3], 100 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_walk_new_generation_enters_step_1_and_sets_its_share,
				       make_spec),
		cmocka_unit_test_setup(test_walk_bake_not_over_does_nothing_even_when_passing,
				       make_spec),
		cmocka_unit_test_setup(test_walk_bake_over_and_pass_promotes_to_next_step,
				       make_spec),
		cmocka_unit_test_setup(test_walk_pass_without_enough_samples_is_inconclusive,
				       make_spec),
		cmocka_unit_test_setup(test_walk_inconclusive_extends_then_pauses_with_reason,
				       make_spec),
		cmocka_unit_test_setup(test_walk_settling_analysis_waits_instead_of_extending,
				       make_spec),
		cmocka_unit_test_setup(
			test_walk_extension_steps_are_a_quarter_bake_up_to_max_extension,
			make_spec),
		cmocka_unit_test_setup(test_walk_extended_bake_then_pass_promotes, make_spec),
		cmocka_unit_test_setup(test_walk_fail_verdict_fails_even_mid_bake_and_when_paused,
				       make_spec),
		cmocka_unit_test_setup(
			test_walk_operator_pause_stops_promotion_and_resume_restarts_bake,
			make_spec),
		cmocka_unit_test_setup(test_walk_resume_after_inconclusive_pause, make_spec),
		cmocka_unit_test_setup(test_walk_both_failing_holds_without_fail_or_promotion,
				       make_spec),
		cmocka_unit_test_setup(test_walk_operator_promote_skips_bake_and_analysis,
				       make_spec),
		cmocka_unit_test_setup(test_walk_abort_cuts_share_and_stops, make_spec),
		cmocka_unit_test_setup(test_walk_bake_0_promotes_at_once_without_analysis,
				       make_spec),
		cmocka_unit_test_setup(test_walk_last_step_at_100_completes_once_entered,
				       make_spec),
		cmocka_unit_test_setup(test_walk_last_step_below_100_completes_after_bake_and_pass,
				       make_spec),
		cmocka_unit_test_setup(test_walk_share_found_changed_is_set_again, make_spec),
		cmocka_unit_test_setup(test_walk_healthy_rollout_walks_to_completed, make_spec),
	};

	return cmocka_run_group_tests_name("rollout_walk", tests, NULL, NULL);
}
