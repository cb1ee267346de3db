/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the agent does about a verdict: cut the canary off (share 0, state
 * rolled_back, reason recorded), and the audit line every decision leaves on
 * stdout and in --log.
 */
#ifndef GS_FAILBACK_H
#define GS_FAILBACK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "graysplit.h"
#include "maps.h"
#include "policy.h"

struct gs_failback_result {
	bool share_cut;	      /* split[id] is 0 now */
	uint32_t old_ppm;     /* the share before the cut */
	bool state_written;   /* services and svc_status updated */
	bool flows_reset;     /* --on-fail reset ran */
	uint64_t flows_ended; /* open canary connections whose entries went */
};

/*
 * First the share: one 4-byte write of split[id], before anything else and
 * without the CLI lock, so the cut-off waits for nothing. Then, under the
 * lock, state rolled_back and svc_status[id] = {now, reason}. With
 * reset_flows, the canary's entries in flows go too (their connections
 * end with an RST from stable at their next packet). The
 * service must still have id service_id (else -ESTALE, nothing written).
 */
int gs_failback(struct gs_maps *m, const char *pin_dir, const struct gs_service_key *key,
		uint32_t service_id, const char *reason, bool reset_flows,
		struct gs_failback_result *res);

/* "canary_percent 20 -> 0" (and "; reset N open canary flows"). */
void gs_failback_action(const struct gs_failback_result *res, char *buf, size_t len);

/*
 * One JSON line: time, service, verdict, signal, reason, canary and stable
 * figures of the window, the test's numbers, and action (NULL: none) — to
 * out and, if log is not NULL, appended to log. Each line is flushed whole.
 */
/* The same line as a JSON object, for the caller to add to and put. */
struct json_object *gs_audit_json(uint64_t unix_ns, const char *service,
				  const struct gs_decision *d, const struct gs_policy_input *in,
				  const char *action);

/* An object as one flushed line to out, and to log if not NULL. */
void gs_audit_print(FILE *out, FILE *log, struct json_object *obj);

void gs_audit_write(FILE *out, FILE *log, uint64_t unix_ns, const char *service,
		    const struct gs_decision *d, const struct gs_policy_input *in,
		    const char *action);

#endif
