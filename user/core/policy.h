/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fail-back decision for one service, from one window of counts for each
 * group: canary against the concurrent stable baseline. Pure: no maps, no
 * clock, so every branch is table-tested.
 */
#ifndef GS_POLICY_H
#define GS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "graysplit.h"
#include "stats.h"

/*
 * How long a UDP flow's first datagram may wait for its answer before the
 * flow counts as unanswered: far above a healthy answer (DNS on a LAN: a
 * millisecond; a resolver's cache miss: tens to a few hundred), well under
 * a stub resolver's own timeout (1-5 s), and short enough that a canary
 * answering nothing is judged within a second. At most 3000 (the slots the
 * data path keeps: graysplit.h).
 */
#define GS_UDP_ANSWER_MS_DEFAULT 500u
#define GS_UDP_ANSWER_MS_MAX	 3000u

struct gs_policy_cfg {
	double alpha;		     /* fail when a Bayes factor exceeds 1/alpha */
	uint32_t min_samples;	     /* units (flows, responses) the canary needs first */
	double max_error_rate;	     /* a canary error rate at or below this never fails */
	double min_error_ratio;	     /* ... nor one below this multiple of stable's */
	double max_latency_ratio;    /* canary p95 must exceed stable p95 * this ... */
	uint64_t latency_margin_us;  /* ... and stable p95 + this */
	uint32_t hard_fail_connects; /* consecutive canary connect failures */
	/* Stable must be healthy for the canary to be blamed (policy.c): */
	double min_stable_success;    /* stable connects that succeed, at least */
	uint32_t min_stable_attempts; /* ... of at least this many attempts */
	double max_stable_error_rate; /* stable's rate of the deciding kind, below */
	/* UDP services: a flow's first datagram unanswered this long is a
	 * failed "connect" (user/core/collect.c); it and an ICMP unreachable are
	 * what the connect tests and the streak count there. */
	bool udp;
	uint32_t udp_answer_ms;
};

void gs_policy_defaults(struct gs_policy_cfg *cfg);

/* One group's counts over the window (differences of the kernel's counters). */
struct gs_group_window {
	uint64_t new_flows;
	uint64_t connects;
	uint64_t conn_refused;
	uint64_t conn_timeouts;
	uint64_t resets;
	uint64_t responses;
	uint64_t http_5xx;
	uint64_t dns_fail;	  /* DNS answers SERVFAIL or REFUSED */
	struct gs_hist64 connect; /* connect latency, us */
	struct gs_hist64 ttfb;	  /* time to first byte, us */
};

struct gs_policy_input {
	struct gs_group_window canary;
	struct gs_group_window stable;
	/* Canary connect failures (refused or timed out) since its last
	 * successful connect, from the event stream, in order. */
	uint32_t canary_fail_streak;
	/* Stable's connect outcomes over the same span: since the streak's
	 * first failure, from the same event stream (0 and 0 without one). */
	uint32_t stable_span_connects; /* handshakes done */
	uint32_t stable_span_failures; /* refused or timed out */
	/* Stable's recent counts, to judge its health now when the windows
	 * above are the totals since the split (a past outage in them must
	 * not hold a fail for long); NULL: judge on stable above. */
	const struct gs_group_window *stable_now;
};

enum gs_verdict {
	GS_VERDICT_INCONCLUSIVE = 0, /* too few samples to say */
	GS_VERDICT_PASS = 1,
	GS_VERDICT_FAIL = 2,	  /* a sequential test says canary is worse */
	GS_VERDICT_HARD_FAIL = 3, /* the canary does not take connections */
	/* The canary fails, but stable fails as badly over the same span: a
	 * platform fault, not the canary's; no fail-back, no promotion. */
	GS_VERDICT_BOTH_FAILING = 4,
};

#define GS_VERDICT_LAST GS_VERDICT_BOTH_FAILING

/* Which signal decided, for the reason and the metrics. */
enum gs_signal {
	GS_SIGNAL_NONE = 0,
	GS_SIGNAL_CONNECT_ERRORS, /* refused + timed out + reset, per flow */
	GS_SIGNAL_HTTP_5XX,	  /* 5xx, per response */
	GS_SIGNAL_CONNECT_LATENCY,
	GS_SIGNAL_TTFB,
	GS_SIGNAL_CONNECT_STREAK,
	GS_SIGNAL_DNS_ERRORS, /* SERVFAIL + REFUSED, per answer (the 5xx test on DNS) */
	/* A dependency's, from the backend hosts' downstream watch (downstream.h): */
	GS_SIGNAL_DOWNSTREAM_ERRORS,
	GS_SIGNAL_DOWNSTREAM_LATENCY,
	GS_SIGNAL_DOWNSTREAM_CALLS,
	GS_SIGNAL_DOWNSTREAM_CHURN,
};

struct gs_decision {
	enum gs_verdict verdict;
	enum gs_signal signal;
	/* The figures behind it, also for the JSON log. */
	double canary_error_rate, stable_error_rate; /* of the deciding error kind */
	double rho;				     /* canary share of the unit */
	double log_bf;				     /* of the deciding test */
	double canary_p95_us, stable_p95_us;	     /* of the deciding latency */
	uint64_t canary_samples, stable_samples;
	char reason[GS_REASON_LEN]; /* one line with the numbers */
};

const char *gs_verdict_name(enum gs_verdict v); /* "pass", "fail", ... */
const char *gs_signal_name(enum gs_signal s);

void gs_policy_decide(const struct gs_policy_cfg *cfg, const struct gs_policy_input *in,
		      struct gs_decision *out);

/*
 * The two always-valid tests every decision is built of (the front path's
 * here, a dependency's in downstream.c): one test's inputs and outcome,
 * kept for the reason line.
 */
struct gs_test_eval {
	int signal; /* the caller's: enum gs_signal, enum gs_dep_signal */
	bool latency;
	bool enough; /* sample floors met: the test may decide */
	bool effect; /* effect floors met: the test may fail */
	bool fail;
	double log_bf;
	/* rate tests: x events of units, per group */
	uint64_t x_c, units_c, x_s, units_s;
	double rate_c, rate_s, rho, p0;
	/* latency tests */
	double p95_c, p95_s, threshold;
	uint64_t above, n_c, n_s;
};

/*
 * Events per unit, canary against stable: with both alike each event lands
 * on the canary with its share rho of the units; the null is "canary at
 * most k times stable's rate" (policy.c says why). It may fail once the
 * canary has min_samples units, its rate is above floor and at least k
 * times stable's, and the log Bayes factor passes log_threshold.
 */
void gs_rate_test(uint64_t x_c, uint64_t units_c, uint64_t x_s, uint64_t units_s, double k,
		  double floor, uint32_t min_samples, double log_threshold, struct gs_test_eval *t);
/*
 * Latency: the canary's samples above stable's p95 times ratio (and plus
 * margin_us), against the 5% they would be if it were as fast.
 */
void gs_latency_test(const struct gs_hist64 *c, const struct gs_hist64 *s, double ratio,
		     uint64_t margin_us, uint32_t min_samples, double log_threshold,
		     struct gs_test_eval *t);

#endif
