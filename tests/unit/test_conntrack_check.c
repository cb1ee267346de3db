// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Which nftables rulesets keep the fast path off: `nft -j list ruleset`
 * texts, as nftables 1.0.6 prints them, judged by gs_conntrack_in_ruleset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "conntrack_check.h"

static int judge(const char *text, char *why, size_t len)
{
	struct json_object *o = json_tokener_parse(text);
	int ret;

	assert_non_null(o);
	ret = gs_conntrack_in_ruleset(o, why, len);
	json_object_put(o);
	return ret;
}

#define META "{\"metainfo\": {\"version\": \"1.0.6\", \"json_schema_version\": 1}}"

static void test_empty_ruleset_has_no_conntrack(void **state)
{
	char why[160];

	(void)state;
	assert_int_equal(judge("{\"nftables\": [" META "]}", why, sizeof(why)), 0);
	assert_string_equal(why, "no nftables rule uses conntrack");
}

static void test_ct_state_match_is_conntrack(void **state)
{
	char why[160];

	(void)state;
	assert_int_equal(
		judge("{\"nftables\": [" META
		      ", {\"table\": {\"family\": \"inet\", \"name\": \"fw\"}},"
		      "{\"rule\": {\"family\": \"inet\", \"table\": \"fw\", \"chain\": \"forward\","
		      " \"handle\": 2, \"expr\": [{\"match\": {\"op\": \"in\", \"left\": {\"ct\":"
		      " {\"key\": \"state\"}}, \"right\": \"invalid\"}}, {\"counter\": "
		      "{\"packets\": 0,"
		      " \"bytes\": 0}}, {\"drop\": null}]}}]}",
		      why, sizeof(why)),
		1);
	assert_string_equal(why, "nftables table inet fw chain forward uses conntrack");
}

static void test_nat_and_iptables_nft_matches_are_conntrack(void **state)
{
	char why[160];

	(void)state;
	assert_int_equal(
		judge("{\"nftables\": [{\"rule\": {\"family\": \"ip\", \"table\": \"nat\","
		      " \"chain\": \"POSTROUTING\", \"expr\": [{\"masquerade\": null}]}}]}",
		      why, sizeof(why)),
		1);
	assert_int_equal(
		judge("{\"nftables\": [{\"rule\": {\"family\": \"ip\", \"table\": \"filter\","
		      " \"chain\": \"FORWARD\", \"expr\": [{\"xt\": {\"type\": \"match\","
		      " \"name\": \"conntrack\"}}, {\"drop\": null}]}}]}",
		      why, sizeof(why)),
		1);
	assert_string_equal(why, "nftables table ip filter chain FORWARD uses conntrack");
	assert_int_equal(judge("{\"nftables\": [{\"rule\": {\"family\": \"ip\", \"table\": \"nat\","
			       " \"chain\": \"PREROUTING\", \"expr\": [{\"dnat\": {\"addr\": "
			       "\"10.0.0.1\"}}]}}]}",
			       why, sizeof(why)),
			 1);
}

static void test_stateless_rules_are_not_conntrack(void **state)
{
	char why[160];

	(void)state;
	/* A port filter and an iptables-nft compat match that is not conntrack's. */
	assert_int_equal(judge("{\"nftables\": [" META ", {\"rule\": {\"family\": \"inet\","
			       " \"table\": \"fw\", \"chain\": \"input\", \"expr\": [{\"match\":"
			       " {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"tcp\","
			       " \"field\": \"dport\"}}, \"right\": 22}}, {\"accept\": null}]}},"
			       "{\"rule\": {\"family\": \"ip\", \"table\": \"filter\", \"chain\":"
			       " \"INPUT\", \"expr\": [{\"xt\": {\"type\": \"match\", \"name\":"
			       " \"comment\"}}]}}]}",
			       why, sizeof(why)),
			 0);
}

static void test_unexpected_shape_is_an_error(void **state)
{
	char why[160];

	(void)state;
	assert_int_equal(judge("{\"tables\": []}", why, sizeof(why)), -EPROTO);
	assert_int_equal(judge("{\"nftables\": {}}", why, sizeof(why)), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_ruleset_has_no_conntrack),
		cmocka_unit_test(test_ct_state_match_is_conntrack),
		cmocka_unit_test(test_nat_and_iptables_nft_matches_are_conntrack),
		cmocka_unit_test(test_stateless_rules_are_not_conntrack),
		cmocka_unit_test(test_unexpected_shape_is_an_error),
	};

	return cmocka_run_group_tests_name("conntrack_check", tests, NULL, NULL);
}
