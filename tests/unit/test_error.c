// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The one error channel: whatever a message quotes (an option, an interface,
 * a file name the operator typed), it stays one printable line, and a
 * message longer than the buffer is cut, not overrun.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"

static void assert_printable(const char *msg)
{
	size_t i;

	for (i = 0; msg[i]; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
			fail_msg("byte %#x at %zu in: %s", (unsigned char)msg[i], i, msg);
}

static void test_control_bytes_become_question_marks(void **state)
{
	(void)state;
	/* Newline, escape sequence, tab, DEL, a C1 byte, UTF-8. */
	gs_set_error("no interface '%s'", "a\nb\x1b[2J\tc\x7f\x9b\xc3\xa9");
	assert_string_equal(gs_last_error(), "no interface 'a?b?[2J?c\?\?\?\?'");
}

static void test_format_characters_in_arguments_are_text(void **state)
{
	(void)state;
	gs_set_error("unknown option '%s'", "%s%n%x");
	assert_string_equal(gs_last_error(), "unknown option '%s%n%x'");
}

static void test_long_message_is_cut_and_printable(void **state)
{
	(void)state;
	size_t len = 65536;
	char *big = malloc(len + 1);
	const char *msg;

	assert_non_null(big);
	memset(big, '\n', len);
	big[len] = '\0';
	gs_set_error("cannot open %s: %s", big, "No such file or directory");
	msg = gs_last_error();
	assert_true(strlen(msg) < 512);
	assert_true(strlen(msg) > 100);
	assert_printable(msg);
	free(big);
}

static void test_plain_message_unchanged(void **state)
{
	(void)state;
	gs_set_error("%s", "split: missing PERCENT");
	assert_string_equal(gs_last_error(), "split: missing PERCENT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_bytes_become_question_marks),
		cmocka_unit_test(test_format_characters_in_arguments_are_text),
		cmocka_unit_test(test_long_message_is_cut_and_printable),
		cmocka_unit_test(test_plain_message_unchanged),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
