/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's half of keeping the fast path safe after attach: every
 * GS_PORT_GUARD_MS it judges the attached interfaces again (txports.h) and
 * makes tx_ports match, so a veth peer that lost GRO, a device that went
 * down, was moved or replaced, or one the kernel's watch saw refusing
 * frames leaves tx_ports, and one that can take frames again comes back;
 * a port kept out for unexplained refusals is tried again after a
 * hold-down (below); every GS_CONNTRACK_CHECK_MS it reads the namespace's ruleset for
 * conntrack (conntrack_check.h) and sets or clears GS_CFG_CONNTRACK. Each
 * change is a decision-log line and a line on stderr.
 *
 * The data path does not wait for this: the kernel's watch (bpf/lib/
 * watch.h) stops redirecting to a refusing port on its own. This is what
 * tidies tx_ports, says why, and puts a port back.
 */
#ifndef GS_PORT_GUARD_H
#define GS_PORT_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "maps.h"
#include "txports.h"

#define GS_PORT_GUARD_MS      250
#define GS_CONNTRACK_CHECK_MS 1000

/* A port the kernel saw refuse frames although its device looks able is
 * tried again after a hold-down: 5 s after its last refusal, doubling with
 * each new refusal up to 5 minutes; a port that has not refused for 10
 * minutes starts again at 5 s. What a retry can cost is one batch of
 * frames, which the watch stops at once. */
#define GS_PORT_HOLD_MIN_MS	 5000
#define GS_PORT_HOLD_MAX_MS	 300000
#define GS_PORT_STRIKES_RESET_MS 600000

struct gs_port_strikes {
	char ifname[16];
	uint32_t strikes;    /* refusal episodes, each doubling the hold */
	uint64_t refused_ns; /* the last one's time (the kernel's monotonic clock) */
};

struct gs_port_guard {
	const char *pin_dir;
	const char *netns;
	uint64_t ports_due_ns;
	uint64_t conntrack_due_ns;
	bool have_last;
	struct gs_ports last; /* as of the last look, after applying */
	struct gs_port_strikes strikes[GS_MAX_IFACES];
	uint64_t changes;     /* decision lines written */
	bool conntrack_blind; /* the last ruleset check failed (said once) */
};

void gs_port_guard_init(struct gs_port_guard *g, const char *pin_dir, const char *netns);

/* Look if due (now: CLOCK_MONOTONIC ns). Never fails the agent: a look
 * that cannot be done (the CLI holds the lock) waits for the next. */
void gs_port_guard_tick(struct gs_port_guard *g, const struct gs_maps *m, uint64_t now_ns);

#endif
