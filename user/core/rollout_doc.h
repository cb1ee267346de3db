/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A rollout file as libcyaml leaves it: every value still the text the
 * operator wrote (NULL when left out), for rollout_check.c to judge.
 * Private to rollout_file.c and rollout_check.c.
 */
#ifndef GS_ROLLOUT_DOC_H
#define GS_ROLLOUT_DOC_H

#include "yaml_lines.h"

/* rollout_file.h's; named only, so that this header does not close a loop
 * with rollout_file.c, which includes it. */
struct gs_rollout_file;

struct doc_backend {
	char *address, *selector, *group, *weight;
};

struct doc_override {
	char *cidr, *group;
};

struct doc_downstream {
	char *target, *protocol, *max_latency_ratio, *latency_margin, *max_error_rate;
	char *max_calls_ratio, *max_churn_ratio;
};

struct doc_analysis {
	char *alpha, *min_samples, *max_error_rate, *min_error_ratio, *max_latency_ratio;
	char *latency_margin, *hard_fail_connects, *max_extension, *udp_answer_timeout;
	struct doc_downstream *downstream;
	unsigned int downstream_count;
};

struct doc_step {
	char *percent, *bake;
};

struct doc {
	char *name, *service, *proto, *hash;
	struct doc_backend *backends;
	unsigned int backends_count;
	struct doc_override *overrides;
	unsigned int overrides_count;
	struct doc_analysis *analysis;
	struct doc_step *steps;
	unsigned int steps_count;
};

/* Every value parsed into out; one "name:LINE: FIELD: ..." message if one
 * is wrong. lines places the messages. */
int gs_rollout_doc_check(const char *name, const struct gs_yaml_lines *lines, const struct doc *d,
			 struct gs_rollout_file *out);

#endif
