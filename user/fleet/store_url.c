// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "store_url.h"

#define SCHEME "etcd://"

/* The host part of HOST:PORT or [V6]:PORT into host (no brackets), the
 * port checked as 1..65535. */
static int split_hostport(const char *hp, char *host, size_t hostsz)
{
	const char *colon, *end;
	char *stop;
	unsigned long port;
	size_t n;

	if (hp[0] == '[') {
		end = strchr(hp, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		n = (size_t)(end - hp - 1);
		colon = end + 1;
		hp++;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || strchr(hp, ':') != colon)
			return -EINVAL;
		n = (size_t)(colon - hp);
	}
	if (n == 0 || n >= hostsz)
		return -EINVAL;
	memcpy(host, hp, n);
	host[n] = '\0';
	if (!colon[1])
		return -EINVAL;
	port = strtoul(colon + 1, &stop, 10);
	if (*stop || port == 0 || port > 65535 || colon[1] == '+' || colon[1] == '-')
		return -EINVAL;
	return 0;
}

bool gs_store_host_is_loopback(const char *hostport)
{
	char host[GS_STORE_HOST_MAX];
	struct in6_addr a6;
	struct in_addr a4;

	if (split_hostport(hostport, host, sizeof(host)))
		return false;
	if (!strcasecmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static bool prefix_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '/';
}

static int parse_prefix(const char *s, struct gs_store_url *out)
{
	size_t n = strlen(s);
	const char *p;

	/* s starts at the slash after the last endpoint. */
	while (n > 1 && s[n - 1] == '/')
		n--;
	if (n <= 1)
		return gs_fail(EINVAL, "store: the URL needs a prefix (etcd://HOST:PORT/PREFIX)");
	if (n >= sizeof(out->prefix))
		return gs_fail(EINVAL, "store: prefix longer than %zu bytes",
			       sizeof(out->prefix) - 1);
	for (p = s; p < s + n; p++) {
		if (!prefix_char_ok(*p))
			return gs_fail(EINVAL,
				       "store: prefix '%.*s': only letters, digits, '.', '_', '-' "
				       "and '/' between segments",
				       (int)n, s);
		if (*p == '/' && p + 1 < s + n && p[1] == '/')
			return gs_fail(EINVAL, "store: prefix '%.*s' has an empty segment", (int)n,
				       s);
	}
	memcpy(out->prefix, s, n);
	out->prefix[n] = '\0';
	return 0;
}

int gs_store_url_parse(const struct gs_store_opts *opts, struct gs_store_url *out)
{
	const char *url = opts->url ? opts->url : getenv("GRAYSPLIT_STORE");
	const char *p, *slash;
	char host[GS_STORE_HOST_MAX];
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	if (!url || !url[0]) {
		if (opts->cacert || opts->cert || opts->key || opts->insecure)
			return gs_fail(EINVAL, "store: --store-* options without a store "
					       "(--store URL or GRAYSPLIT_STORE)");
		return 0;
	}
	if (strncmp(url, SCHEME, strlen(SCHEME)) != 0)
		return gs_fail(EINVAL,
			       "store: '%s': expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX", url);
	p = url + strlen(SCHEME);
	slash = strchr(p, '/');
	if (!slash)
		return gs_fail(EINVAL, "store: '%s' has no /PREFIX", url);
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *end = comma ? comma : slash;
		size_t n = (size_t)(end - p);

		if (out->nhosts == GS_STORE_MAX_HOSTS)
			return gs_fail(EINVAL, "store: more than %d endpoints", GS_STORE_MAX_HOSTS);
		if (n == 0 || n >= GS_STORE_HOST_MAX)
			return gs_fail(EINVAL, "store: '%s': an empty or overlong endpoint", url);
		memcpy(out->hosts[out->nhosts], p, n);
		out->hosts[out->nhosts][n] = '\0';
		if (split_hostport(out->hosts[out->nhosts], host, sizeof(host)))
			return gs_fail(EINVAL,
				       "store: endpoint '%s': expected HOST:PORT or [V6]:PORT",
				       out->hosts[out->nhosts]);
		out->nhosts++;
		p = comma ? comma + 1 : slash;
		if (comma && p == slash)
			return gs_fail(EINVAL, "store: '%s': an empty or overlong endpoint", url);
	}
	err = parse_prefix(slash, out);
	if (err)
		return err;

	if ((opts->cert != NULL) != (opts->key != NULL))
		return gs_fail(EINVAL, "store: --store-cert and --store-key go together");
	if (opts->cert && !opts->cacert)
		return gs_fail(EINVAL, "store: a client certificate needs --store-cacert too");
	out->tls = opts->cacert != NULL;
	out->cacert = opts->cacert;
	out->cert = opts->cert;
	out->key = opts->key;
	if (!out->tls && !opts->insecure) {
		for (i = 0; i < out->nhosts; i++)
			if (!gs_store_host_is_loopback(out->hosts[i]))
				return gs_fail(
					EPERM,
					"store: plain HTTP to %s, which is not loopback: give "
					"--store-cacert (TLS) or --store-insecure",
					out->hosts[i]);
	}
	return 1;
}
