// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "error.h"
#include "override.h"
#include "parse.h"
#include "service.h"

void gs_format_cidr(const union gs_addr *client, uint32_t prefixlen128, char *buf, size_t len)
{
	char host[GS_ADDR_STRLEN];
	bool v4 = gs_addr_is_v4(client) && prefixlen128 >= 96;

	gs_format_addr(client, host, sizeof(host));
	snprintf(buf, len, "%s/%u", host, v4 ? prefixlen128 - 96 : prefixlen128);
}

/* Checks shared by add and del, then the LPM key. */
static int override_key(struct gs_maps *m, const struct gs_service_key *svc,
			const union gs_addr *client, uint32_t prefixlen128,
			struct gs_override_key *key, char *cidr, size_t len)
{
	char name[GS_SERVICE_STRLEN];
	struct gs_service service;
	bool v4 = gs_addr_is_v4(client);
	int err;

	gs_format_cidr(client, prefixlen128, cidr, len);
	if (prefixlen128 > 128 || (v4 && prefixlen128 < 96))
		return gs_fail(EINVAL, "invalid prefix length in %s", cidr);
	err = gs_service_lookup(m, svc, &service);
	if (err)
		return err;
	if (v4 != gs_addr_is_v4(&svc->vip)) {
		gs_format_service(svc, name, sizeof(name));
		return gs_fail(EAFNOSUPPORT, "override %s is %s but service %s is %s", cidr,
			       v4 ? "IPv4" : "IPv6", name, v4 ? "IPv6" : "IPv4");
	}
	memset(key, 0, sizeof(*key));
	key->prefixlen = 32 + prefixlen128;
	key->service_id = service.id;
	key->client = *client;
	return 0;
}

int gs_override_add(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128, uint8_t group)
{
	struct gs_override value = {.group = group};
	char cidr[GS_CIDR_STRLEN], name[GS_SERVICE_STRLEN];
	struct gs_override_key key;
	int err;

	if (group >= GS_GROUPS)
		return gs_fail(EINVAL, "invalid group %u", group);
	err = override_key(m, svc, client, prefixlen128, &key, cidr, sizeof(cidr));
	if (err)
		return err;
	/* BPF_NOEXIST on an LPM trie matches the exact prefix, not the
	 * longest match: a /24 inside an existing /16 is a new entry. */
	if (bpf_map_update_elem(m->overrides, &key, &value, BPF_NOEXIST)) {
		err = errno;
		gs_format_service(svc, name, sizeof(name));
		if (err == EEXIST)
			return gs_fail(EEXIST, "override %s already exists for service %s", cidr,
				       name);
		return gs_fail(err, "cannot add override %s: %s", cidr, strerror(err));
	}
	return 0;
}

int gs_override_del(struct gs_maps *m, const struct gs_service_key *svc,
		    const union gs_addr *client, uint32_t prefixlen128)
{
	char cidr[GS_CIDR_STRLEN], name[GS_SERVICE_STRLEN];
	struct gs_override_key key;
	int err;

	err = override_key(m, svc, client, prefixlen128, &key, cidr, sizeof(cidr));
	if (err)
		return err;
	if (bpf_map_delete_elem(m->overrides, &key)) {
		err = errno;
		gs_format_service(svc, name, sizeof(name));
		if (err == ENOENT)
			return gs_fail(ENOENT, "no override %s for service %s", cidr, name);
		return gs_fail(err, "cannot delete override %s: %s", cidr, strerror(err));
	}
	return 0;
}
