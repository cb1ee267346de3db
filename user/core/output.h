/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One description, two renderings: a command builds a json-c tree once and
 * prints it as JSON (--json) or as indented text, so the two never drift.
 */
#ifndef GS_OUTPUT_H
#define GS_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

/* JSON on one line (pretty: indented), or "key: value" text. */
void gs_output_print(FILE *out, struct json_object *tree, bool json, bool pretty);

/* A JSON number that prints exactly as text says, e.g. "12.5" or "10.0". */
struct json_object *gs_json_decimal(double value, const char *text);

#endif
