// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The decision log: a line is whole JSON with time and unix_ns first and
 * actor cli unless named; lines of two writers never mix; past 4 MiB the
 * file moves to .1; the readable form carries step, shares and reason.
 * Writes under /run/graysplit with a pin directory of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "decisions.h"
#include "lock.h"

static char pin_dir[64], path[4096], old[4200];

static int fresh(void **state)
{
	(void)state;
	snprintf(pin_dir, sizeof(pin_dir), "/tmp/gs-unit-decisions-%d", (int)getpid());
	gs_state_path(pin_dir, GS_DECISIONS_SUFFIX, path, sizeof(path));
	snprintf(old, sizeof(old), "%s.1", path);
	unlink(path);
	unlink(old);
	return 0;
}

static int cleanup(void **state)
{
	(void)state;
	unlink(path);
	unlink(old);
	return 0;
}

/* Every line of the file, parsed; the count returned, lines freed by put. */
static size_t read_lines(const char *file, struct json_object **lines, size_t max)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;

	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		struct json_object *o = json_tokener_parse(line);

		assert_non_null(o);
		if (n < max)
			lines[n] = o;
		else
			json_object_put(o);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static void test_decisions_line_has_time_first_actor_and_mode_0600(void **state)
{
	struct json_object *e = gs_decision_new("agent", "10.77.0.10:80/tcp", "promote"), *got[2];
	struct json_object *bare = json_object_new_object();
	struct stat st;

	(void)state;
	gs_decision_add_share(e, 50000, 200000);
	json_object_object_add(e, "reason", json_object_new_string("bake 2.0 s done"));
	assert_int_equal(gs_decision_append(pin_dir, e), 0);
	json_object_object_add(bare, "action", json_object_new_string("split"));
	assert_int_equal(gs_decision_append_at(pin_dir, 1700000000123456789ull, bare), 0);
	assert_int_equal(read_lines(path, got, 2), 2);
	json_object_object_foreach(got[0], first, value)
	{
		(void)value;
		assert_string_equal(first, "time");
		break;
	}
	assert_string_equal(str(got[0], "actor"), "agent");
	assert_string_equal(str(got[0], "action"), "promote");
	assert_string_equal(str(got[0], "from_percent"), "5");
	assert_string_equal(str(got[0], "to_percent"), "20");
	assert_string_equal(str(got[1], "actor"), "cli");
	assert_string_equal(str(got[1], "time"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(str(got[1], "unix_ns"), "1700000000123456789");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	json_object_put(got[0]);
	json_object_put(got[1]);
	json_object_put(e);
	json_object_put(bare);
}

/* Two processes, 1000 lines each of ~1 KiB (under the rotation size):
 * every line parses. */
static void test_decisions_two_writers_never_mix_lines(void **state)
{
	char filler[1000];
	pid_t pid;
	int i, status;

	(void)state;
	memset(filler, 'x', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	pid = fork();
	assert_true(pid >= 0);
	for (i = 0; i < 1000; i++) {
		struct json_object *e = gs_decision_new("cli", "s", pid ? "a" : "b");

		json_object_object_add(e, "reason", json_object_new_string(filler));
		if (gs_decision_append(pin_dir, e)) {
			if (!pid)
				_exit(1);
			fail();
		}
		json_object_put(e);
	}
	if (!pid)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* read_lines fails on any line that is not whole JSON. */
	assert_int_equal(read_lines(path, NULL, 0), 2000);
}

static void test_decisions_rotate_past_4_mib_to_dot_1(void **state)
{
	char filler[4000];
	struct json_object *last[1];
	struct stat st;
	size_t n_old, n_new;
	int i;

	(void)state;
	memset(filler, 'y', sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	/* 1100 lines of ~4 KiB: past 4 MiB once. */
	for (i = 0; i < 1100; i++) {
		struct json_object *e = gs_decision_new("cli", "s", "split");

		json_object_object_add(e, "n", json_object_new_int(i));
		json_object_object_add(e, "reason", json_object_new_string(filler));
		assert_int_equal(gs_decision_append(pin_dir, e), 0);
		json_object_put(e);
	}
	assert_int_equal(stat(old, &st), 0);
	assert_true(st.st_size >= (off_t)GS_DECISIONS_MAX_BYTES);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < (off_t)GS_DECISIONS_MAX_BYTES);
	n_old = read_lines(old, NULL, 0);
	n_new = read_lines(path, last, 1);
	assert_int_equal(n_old + n_new, 1100);
	/* The new file begins where the old one ended. */
	assert_int_equal(json_object_get_int(json_object_object_get(last[0], "n")), (int)n_old);
	json_object_put(last[0]);
}

static void test_decisions_readable_line(void **state)
{
	struct json_object *e = json_tokener_parse(
		"{\"time\":\"2026-11-29T03:00:00.000Z\",\"unix_ns\":1,\"actor\":\"agent\","
		"\"service\":\"10.77.0.10:80/tcp\",\"action\":\"promote\",\"step\":2,\"steps\":4,"
		"\"verdict\":\"pass\",\"from_percent\":5,\"to_percent\":20,\"reason\":\"bake "
		"done\"}");
	char buf[512];

	(void)state;
	assert_non_null(e);
	gs_decision_format(e, buf, sizeof(buf));
	assert_string_equal(buf,
			    "2026-11-29T03:00:00.000Z 10.77.0.10:80/tcp agent promote step 2/4 "
			    "5% -> 20% verdict pass: bake done");
	json_object_put(e);
	e = json_tokener_parse("{\"action\":\"split\"}");
	gs_decision_format(e, buf, sizeof(buf));
	assert_string_equal(buf, "? ? ? split");
	json_object_put(e);
	/* One entry, one line, whatever a damaged log holds. */
	e = json_tokener_parse("{\"action\":\"x\",\"reason\":\"a\\nb\\u001b[2J\"}");
	gs_decision_format(e, buf, sizeof(buf));
	assert_string_equal(buf, "? ? ? x: a?b?[2J");
	json_object_put(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_decisions_line_has_time_first_actor_and_mode_0600, fresh, cleanup),
		cmocka_unit_test_setup_teardown(test_decisions_two_writers_never_mix_lines, fresh,
						cleanup),
		cmocka_unit_test_setup_teardown(test_decisions_rotate_past_4_mib_to_dot_1, fresh,
						cleanup),
		cmocka_unit_test(test_decisions_readable_line),
	};

	return cmocka_run_group_tests_name("decisions", tests, NULL, NULL);
}
