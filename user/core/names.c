// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"
#include "names.h"

static const char *const counter_names[GS_CNT_MAX] = {
	[GS_CNT_PKTS] = "pkts",
	[GS_CNT_PASS_NOT_IP] = "pass_not_ip",
	[GS_CNT_PASS_VLAN] = "pass_vlan",
	[GS_CNT_PASS_FRAGMENT] = "pass_fragment",
	[GS_CNT_PASS_NOT_L4] = "pass_not_l4",
	[GS_CNT_PASS_NO_SERVICE] = "pass_no_service",
	[GS_CNT_BAD_HEADER] = "bad_header",
	[GS_CNT_NO_BACKEND] = "no_backend",
	[GS_CNT_FLOW_NEW] = "flow_new",
	[GS_CNT_FLOW_RESELECT] = "flow_reselect",
	[GS_CNT_FLOW_MISSING] = "flow_missing",
	[GS_CNT_FLOW_INSERT_FAIL] = "flow_insert_fail",
	[GS_CNT_FWD_REWRITTEN] = "fwd_rewritten",
	[GS_CNT_REV_REWRITTEN] = "rev_rewritten",
	[GS_CNT_REV_BAD_HEADER] = "rev_bad_header",
	[GS_CNT_EVENTS] = "events",
	[GS_CNT_EVENTS_DROPPED] = "events_dropped",
	[GS_CNT_FAST_REDIRECT] = "fast_redirect",
	[GS_CNT_FAST_NO_NEIGH] = "fast_no_neigh",
	[GS_CNT_FAST_NO_TXPORT] = "fast_no_txport",
	[GS_CNT_FAST_PARTIAL] = "fast_partial_csum",
	[GS_CNT_FAST_KERNEL] = "fast_kernel",
	[GS_CNT_FAST_OFF] = "fast_off",
	[GS_CNT_FAST_CONNTRACK] = "fast_conntrack",
	[GS_CNT_FAST_PORT_FAILING] = "fast_port_failing",
	[GS_CNT_FAST_CACHED] = "fast_cached",
	[GS_CNT_ICMP_TRANSLATED] = "icmp_translated",
	[GS_CNT_ICMP_NOT_OURS] = "icmp_not_ours",
	[GS_CNT_ICMP_BAD_QUOTE] = "icmp_bad_quote",
	[GS_CNT_ICMP_TO_BACKEND] = "icmp_to_backend",
	[GS_CNT_DEP_PAIRS_FULL] = "dep_pairs_full",
	[GS_CNT_DEP_FLOW_INSERT] = "dep_flow_insert_fail",
};

const char *gs_counter_name(unsigned int counter)
{
	return counter < GS_CNT_MAX ? counter_names[counter] : NULL;
}

/* RFC 1035 and RFC 6895's names of the RCODEs a header's 4 bits hold. */
const char *gs_dns_rcode_name(uint8_t rcode)
{
	static const char *const names[16] = {
		"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "DSOTYPENI",
	};

	return rcode < 16 && names[rcode] ? names[rcode] : "RCODE?";
}

const char *gs_event_type_name(uint8_t type)
{
	switch (type) {
	case GS_EV_CONNECT:
		return "connect";
	case GS_EV_REFUSED:
		return "refused";
	case GS_EV_TIMEOUT:
		return "timeout";
	case GS_EV_RESET:
		return "reset";
	case GS_EV_RESPONSE:
		return "response";
	case GS_EV_ANSWER:
		return "answer";
	case GS_EV_UNREACH:
		return "unreachable";
	default:
		return NULL;
	}
}

bool gs_event_is_error(const struct gs_event *ev)
{
	switch (ev->type) {
	case GS_EV_REFUSED:
	case GS_EV_TIMEOUT:
	case GS_EV_RESET:
	case GS_EV_UNREACH:
		return true;
	case GS_EV_RESPONSE:
		return ev->value >= 500 && ev->value <= 599;
	case GS_EV_ANSWER: /* value2: DNS RCODE + 1; SERVFAIL, REFUSED */
		return ev->value2 == 3 || ev->value2 == 6;
	default:
		return false;
	}
}
