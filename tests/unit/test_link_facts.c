// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The fast path's rule for redirect targets (gs_tx_judge in
 * user/core/link_facts.c) on facts as the kernel reports them for kinds of
 * device, most of which the test machine cannot create: VLAN, bond,
 * ipvlan, Geneve, physical NICs with and without XDP transmit, veths on
 * kernels with and without the netdev family's xdp-features report, and a
 * device down or with graysplit's program in generic mode. Each row names
 * what it models; the reason's text is what status prints for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "link_facts.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What drivers with full native XDP report (BASIC, REDIRECT, NDO_XMIT). */
#define XDP_FULL (GS_XDP_ACT_BASIC | GS_XDP_ACT_REDIRECT | GS_XDP_ACT_NDO_XMIT)
/* Native XDP that can run a program and redirect out, but not take frames. */
#define XDP_NO_TX (GS_XDP_ACT_BASIC | GS_XDP_ACT_REDIRECT)
/* A veth whose peer has NAPI: the kernel adds NDO_XMIT (and its SG form). */
#define XDP_VETH_TX (XDP_FULL | GS_XDP_ACT_NDO_XMIT_SG)

struct judge_row {
	const char *name; /* what the facts model */
	struct gs_link_facts facts;
	enum gs_tx_why why;
	const char *text;
};

static const struct judge_row table[] = {
	/* Stacked and tunnel devices have no XDP of their own: the program
	 * can only run in generic mode there, whatever the report says. */
	{"VLAN: generic XDP only, no NDO_XMIT reported",
	 {.kind = "vlan", .up = true, .xdp = GS_XDP_SKB, .xdp_features_known = true},
	 GS_TX_GENERIC,
	 "generic XDP"},
	{"VLAN on a kernel without the xdp-features report",
	 {.kind = "vlan", .up = true, .xdp = GS_XDP_SKB},
	 GS_TX_GENERIC,
	 "generic XDP"},
	{"ipvlan: generic XDP only",
	 {.kind = "ipvlan", .up = true, .xdp = GS_XDP_SKB, .xdp_features_known = true},
	 GS_TX_GENERIC,
	 "generic XDP"},
	{"Geneve tunnel: generic XDP only",
	 {.kind = "geneve", .up = true, .xdp = GS_XDP_SKB, .xdp_features_known = true},
	 GS_TX_GENERIC,
	 "generic XDP"},
	/* A bond reports what all its slaves support. */
	{"bond over slaves with XDP transmit: native XDP, NDO_XMIT",
	 {.kind = "bond",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL},
	 GS_TX_TARGET,
	 ""},
	{"bond over slaves without XDP transmit: native XDP, no NDO_XMIT",
	 {.kind = "bond",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_NO_TX},
	 GS_TX_NO_XMIT,
	 "driver without XDP transmit"},
	/* veth, Linux 6.3+: the kernel sets NDO_XMIT from the peer's state. */
	{"veth, features reported, peer has NAPI: NDO_XMIT set",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_VETH_TX,
	  .peer_ifindex = 7,
	  .peer_elsewhere = true},
	 GS_TX_TARGET,
	 ""},
	{"veth, features reported, peer without NAPI: NDO_XMIT not set",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_NO_TX,
	  .peer_ifindex = 7,
	  .peer_elsewhere = true},
	 GS_TX_VETH_NO_NAPI,
	 "veth peer without NAPI"},
	{"veth, report without NDO_XMIT and peer GRO read at another moment: the report wins",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_NO_TX,
	  .peer_ifindex = 7,
	  .peer_known = true,
	  .peer_name = "eth0",
	  .peer_gro = true},
	 GS_TX_VETH_NO_NAPI,
	 "veth peer without NAPI"},
	/* veth before Linux 6.3: the peer's own state decides. */
	{"veth, old kernel, peer found with GRO on",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .peer_ifindex = 7,
	  .peer_elsewhere = true,
	  .peer_netns = "be1",
	  .peer_known = true,
	  .peer_name = "eth0",
	  .peer_gro = true},
	 GS_TX_TARGET,
	 ""},
	{"veth, old kernel, peer found running XDP",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .peer_ifindex = 7,
	  .peer_known = true,
	  .peer_name = "veth1",
	  .peer_xdp = true},
	 GS_TX_TARGET,
	 ""},
	{"veth, old kernel, peer found with neither GRO nor XDP",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .peer_ifindex = 7,
	  .peer_elsewhere = true,
	  .peer_netns = "be1",
	  .peer_known = true,
	  .peer_name = "eth0"},
	 GS_TX_VETH_NO_NAPI,
	 "veth peer without NAPI"},
	{"veth, old kernel, peer in a namespace not found",
	 {.kind = "veth", .up = true, .xdp = GS_XDP_DRV, .peer_ifindex = 7, .peer_elsewhere = true},
	 GS_TX_UNKNOWN,
	 "XDP transmit support unknown"},
	{"veth, old kernel, no peer reported",
	 {.kind = "veth", .up = true, .xdp = GS_XDP_DRV},
	 GS_TX_UNKNOWN,
	 "XDP transmit support unknown"},
	/* Physical NICs ("" kind). */
	{"NIC, native XDP with NDO_XMIT (ice, mlx5, i40e)",
	 {.kind = "",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL},
	 GS_TX_TARGET,
	 ""},
	{"NIC, native XDP without NDO_XMIT (driver without XDP transmit)",
	 {.kind = "",
	  .up = true,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_NO_TX},
	 GS_TX_NO_XMIT,
	 "driver without XDP transmit"},
	{"NIC on an old kernel: no report, native XDP",
	 {.kind = "", .up = true, .xdp = GS_XDP_DRV},
	 GS_TX_TARGET,
	 ""},
	{"NIC on an old kernel: no report, generic XDP",
	 {.kind = "", .up = true, .xdp = GS_XDP_SKB},
	 GS_TX_GENERIC,
	 "generic XDP"},
	/* Down wins over everything. */
	{"NIC with NDO_XMIT, down",
	 {.kind = "",
	  .up = false,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL},
	 GS_TX_DOWN,
	 "interface down"},
	{"veth with NDO_XMIT, down",
	 {.kind = "veth",
	  .up = false,
	  .xdp = GS_XDP_DRV,
	  .xdp_features_known = true,
	  .xdp_features = XDP_VETH_TX},
	 GS_TX_DOWN,
	 "interface down"},
	{"VLAN in generic mode, down",
	 {.kind = "vlan", .up = false, .xdp = GS_XDP_SKB, .xdp_features_known = true},
	 GS_TX_DOWN,
	 "interface down"},
	/* The driver could, but graysplit's program runs in generic mode. */
	{"NIC with NDO_XMIT, program attached in generic mode",
	 {.kind = "",
	  .up = true,
	  .xdp = GS_XDP_SKB,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL},
	 GS_TX_GENERIC,
	 "generic XDP"},
	/* Attached --egress-only: no program of graysplit's there, so no mode
	 * to go by; what the kernel reports of the device decides. */
	{"veth, egress only, peer with GRO (NDO_XMIT)",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_NONE,
	  .xdp_features_known = true,
	  .xdp_features = XDP_VETH_TX,
	  .egress_only = true},
	 GS_TX_TARGET,
	 ""},
	{"veth, egress only, peer without NAPI",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_NONE,
	  .xdp_features_known = true,
	  .xdp_features = XDP_NO_TX,
	  .egress_only = true},
	 GS_TX_VETH_NO_NAPI,
	 "veth peer without NAPI"},
	{"NIC, egress only, NDO_XMIT reported",
	 {.kind = "",
	  .up = true,
	  .xdp = GS_XDP_NONE,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL,
	  .egress_only = true},
	 GS_TX_TARGET,
	 ""},
	{"NIC on an old kernel, egress only: no report, no program to go by",
	 {.kind = "", .up = true, .xdp = GS_XDP_NONE, .egress_only = true},
	 GS_TX_UNKNOWN,
	 "XDP transmit support unknown"},
	{"NIC, no program of ours and not egress only (detached behind our back)",
	 {.kind = "",
	  .up = true,
	  .xdp = GS_XDP_NONE,
	  .xdp_features_known = true,
	  .xdp_features = XDP_FULL},
	 GS_TX_GENERIC,
	 "generic XDP"},
	{"veth with NDO_XMIT, program attached in generic mode",
	 {.kind = "veth",
	  .up = true,
	  .xdp = GS_XDP_SKB,
	  .xdp_features_known = true,
	  .xdp_features = XDP_VETH_TX,
	  .peer_ifindex = 7,
	  .peer_known = true,
	  .peer_gro = true},
	 GS_TX_GENERIC,
	 "generic XDP"},
};

static void test_link_facts_judge_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(table); i++) {
		const struct judge_row *row = &table[i];
		enum gs_tx_why got = gs_tx_judge(&row->facts);
		const char *text = gs_tx_why_text(got);

		print_message("# %s -> %s\n", row->name, got == GS_TX_TARGET ? "target" : text);
		if (got != row->why)
			fail_msg("%s: judged %d (\"%s\"), want %d (\"%s\")", row->name, got, text,
				 row->why, gs_tx_why_text(row->why));
		assert_string_equal(text, row->text);
	}
}

/* The rule reads the device's facts only: its name, index and MTU change
 * nothing. */
static void test_link_facts_judge_ignores_identity(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(table); i++) {
		struct gs_link_facts f = table[i].facts;

		f.ifindex = 4242;
		f.mtu = 9000;
		snprintf(f.name, sizeof(f.name), "x%zu", i);
		if (gs_tx_judge(&f) != table[i].why)
			fail_msg("%s: judged otherwise with another name, index and MTU",
				 table[i].name);
	}
}

/* Every reason has its own non-empty text, a target none, and a value out
 * of range "?". */
static void test_link_facts_why_texts(void **state)
{
	int i, j;

	(void)state;
	assert_string_equal(gs_tx_why_text(GS_TX_TARGET), "");
	for (i = GS_TX_TARGET + 1; i < GS_TX_WHY_MAX; i++) {
		const char *t = gs_tx_why_text((enum gs_tx_why)i);

		assert_non_null(t);
		if (!t[0] || !strcmp(t, "?"))
			fail_msg("reason %d has no text", i);
		for (j = GS_TX_TARGET + 1; j < i; j++)
			if (!strcmp(t, gs_tx_why_text((enum gs_tx_why)j)))
				fail_msg("reasons %d and %d share the text \"%s\"", j, i, t);
	}
	assert_string_equal(gs_tx_why_text(GS_TX_WHY_MAX), "?");
	assert_string_equal(gs_tx_why_text((enum gs_tx_why) - 1), "?");
	assert_string_equal(gs_tx_why_text(GS_TX_GENERIC), "generic XDP");
	assert_string_equal(gs_tx_why_text(GS_TX_VETH_NO_NAPI), "veth peer without NAPI");
	assert_string_equal(gs_tx_why_text(GS_TX_NO_XMIT), "driver without XDP transmit");
	assert_string_equal(gs_tx_why_text(GS_TX_UNKNOWN), "XDP transmit support unknown");
	assert_string_equal(gs_tx_why_text(GS_TX_DOWN), "interface down");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_facts_judge_table),
		cmocka_unit_test(test_link_facts_judge_ignores_identity),
		cmocka_unit_test(test_link_facts_why_texts),
	};

	return cmocka_run_group_tests_name("link_facts", tests, NULL, NULL);
}
