// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "output.h"

static void print_value(FILE *out, struct json_object *value, int indent);

static bool is_container(struct json_object *value)
{
	return json_object_is_type(value, json_type_object) ||
	       json_object_is_type(value, json_type_array);
}

static bool is_empty(struct json_object *value)
{
	if (json_object_is_type(value, json_type_object))
		return json_object_object_length(value) == 0;
	if (json_object_is_type(value, json_type_array))
		return json_object_array_length(value) == 0;
	return false;
}

static void print_scalar(FILE *out, struct json_object *value)
{
	if (!value)
		fputs("-", out);
	else if (json_object_is_type(value, json_type_string))
		fputs(json_object_get_string(value)[0] ? json_object_get_string(value) : "-", out);
	else
		fputs(json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN), out);
}

/* "key: scalar", or "key:" and the container indented below it. */
static void print_member(FILE *out, const char *key, struct json_object *value, int indent)
{
	fprintf(out, "%*s%s:", indent, "", key);
	if (value && is_container(value)) {
		if (is_empty(value)) {
			fputs(" (none)\n", out);
			return;
		}
		fputc('\n', out);
		print_value(out, value, indent + 2);
		return;
	}
	fputc(' ', out);
	print_scalar(out, value);
	fputc('\n', out);
}

static void print_object(FILE *out, struct json_object *obj, int indent, bool first_inline)
{
	bool first = true;

	json_object_object_foreach(obj, key, value)
	{
		/* The first member of an array item sits after its "- ". */
		print_member(out, key, value, first && first_inline ? 0 : indent);
		first = false;
	}
}

static void print_value(FILE *out, struct json_object *value, int indent)
{
	size_t i, n;

	if (json_object_is_type(value, json_type_object)) {
		print_object(out, value, indent, false);
		return;
	}
	n = json_object_array_length(value);
	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(value, i);

		fprintf(out, "%*s- ", indent, "");
		if (item && json_object_is_type(item, json_type_object) && !is_empty(item)) {
			print_object(out, item, indent + 2, true);
		} else {
			print_scalar(out, item);
			fputc('\n', out);
		}
	}
}

void gs_output_print(FILE *out, struct json_object *tree, bool json, bool pretty)
{
	if (json) {
		int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
			    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
				    : JSON_C_TO_STRING_PLAIN);

		fprintf(out, "%s\n", json_object_to_json_string_ext(tree, flags));
		return;
	}
	if (is_container(tree))
		print_value(out, tree, 0);
	else {
		print_scalar(out, tree);
		fputc('\n', out);
	}
}

struct json_object *gs_json_decimal(double value, const char *text)
{
	return json_object_new_double_s(value, text);
}
