// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "conntrack_check.h"

/* Expressions and statements that make the kernel track connections. */
static const char *const ct_keys[] = {"ct",   "ct helper", "ct timeout", "ct expectation",
				      "dnat", "snat",	   "masquerade", "redirect",
				      "flow", "notrack",   NULL};

/* iptables-nft's compat matches that do the same. */
static const char *const xt_names[] = {"conntrack",  "state",	 "ctstate",  "DNAT", "SNAT",
				       "MASQUERADE", "REDIRECT", "CONNMARK", NULL};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

/* Any conntrack expression anywhere inside v. "notrack" counts: it is only
 * there because conntrack is. */
static int uses_ct(struct json_object *v)
{
	size_t i;

	if (json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v); i++)
			if (uses_ct(json_object_array_get_idx(v, i)))
				return 1;
		return 0;
	}
	if (!json_object_is_type(v, json_type_object))
		return 0;
	json_object_object_foreach(v, key, val)
	{
		if (in_list(ct_keys, key))
			return 1;
		if (!strcmp(key, "xt")) {
			struct json_object *name;

			if (json_object_object_get_ex(val, "name", &name) &&
			    in_list(xt_names, json_object_get_string(name)))
				return 1;
			continue;
		}
		if (uses_ct(val))
			return 1;
	}
	return 0;
}

static const char *field(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "?";
}

int gs_conntrack_in_ruleset(struct json_object *ruleset, char *why, size_t len)
{
	struct json_object *items, *item, *rule, *expr;
	size_t i;

	if (!json_object_object_get_ex(ruleset, "nftables", &items) ||
	    !json_object_is_type(items, json_type_array)) {
		snprintf(why, len, "the nftables ruleset is not in the expected form");
		return -EPROTO;
	}
	for (i = 0; i < json_object_array_length(items); i++) {
		item = json_object_array_get_idx(items, i);
		if (!json_object_object_get_ex(item, "rule", &rule) ||
		    !json_object_object_get_ex(rule, "expr", &expr) || !uses_ct(expr))
			continue;
		snprintf(why, len, "nftables table %s %s chain %s uses conntrack",
			 field(rule, "family"), field(rule, "table"), field(rule, "chain"));
		return 1;
	}
	snprintf(why, len, "no nftables rule uses conntrack");
	return 0;
}

int gs_conntrack_in_use(char *why, size_t len)
{
	struct json_object *ruleset;
	struct nft_ctx *nft;
	const char *out;
	int ret;

	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft) {
		snprintf(why, len, "cannot open nftables");
		return -ENOMEM;
	}
	nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_JSON);
	if (nft_ctx_buffer_output(nft) || nft_ctx_buffer_error(nft) ||
	    nft_run_cmd_from_buffer(nft, "list ruleset")) {
		snprintf(why, len, "cannot list the nftables ruleset");
		nft_ctx_free(nft);
		return -EIO;
	}
	out = nft_ctx_get_output_buffer(nft);
	ruleset = json_tokener_parse(out ? out : "");
	if (!ruleset) {
		snprintf(why, len, "cannot parse the nftables ruleset");
		ret = -EPROTO;
	} else {
		ret = gs_conntrack_in_ruleset(ruleset, why, len);
		json_object_put(ruleset);
	}
	nft_ctx_free(nft);
	return ret;
}
