// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Fleet mode's store URL (user/fleet/store_url.c) and the base64 the etcd
 * gateway carries keys and values in (user/fleet/etcd.c): what is taken,
 * what is refused and why, without a store. The client itself is tested
 * against a real etcd in tests/bats/fleet.bats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "etcd.h"
#include "store_url.h"

static int parse(const char *url, struct gs_store_url *out)
{
	const struct gs_store_opts o = {.url = url};

	return gs_store_url_parse(&o, out);
}

static void test_url_taken(void **state)
{
	struct gs_store_url u;

	(void)state;
	assert_int_equal(parse("etcd://127.0.0.1:2379/graysplit", &u), 1);
	assert_int_equal(u.nhosts, 1);
	assert_string_equal(u.hosts[0], "127.0.0.1:2379");
	assert_string_equal(u.prefix, "/graysplit");
	assert_false(u.tls);

	assert_int_equal(parse("etcd://127.0.0.1:1,[::1]:2,localhost:3/a/b.c_d-e/", &u), 1);
	assert_int_equal(u.nhosts, 3);
	assert_string_equal(u.hosts[1], "[::1]:2");
	assert_string_equal(u.hosts[2], "localhost:3");
	assert_string_equal(u.prefix, "/a/b.c_d-e");
}

static void test_url_refused(void **state)
{
	static const char *const bad[] = {
		"http://127.0.0.1:2379/p",			/* scheme */
		"etcd://127.0.0.1:2379",			/* no prefix */
		"etcd://127.0.0.1:2379/",			/* empty prefix */
		"etcd://127.0.0.1/p",				/* no port */
		"etcd://127.0.0.1:0/p",				/* port 0 */
		"etcd://127.0.0.1:70000/p",			/* port too large */
		"etcd://127.0.0.1:-1/p",			/* signed port */
		"etcd://::1:2379/p",				/* v6 without brackets */
		"etcd://127.0.0.1:2379,/p",			/* empty endpoint */
		"etcd://127.0.0.1:2379/a//b",			/* empty segment */
		"etcd://127.0.0.1:2379/a b",			/* space */
		"etcd://127.0.0.1:2379/a\nb",			/* newline */
		"etcd://1:1,1:1,1:1,1:1,1:1,1:1,1:1,1:1,1:1/p", /* nine endpoints */
	};
	struct gs_store_url u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = parse(bad[i], &u);

		if (err >= 0)
			fail_msg("'%s' taken", bad[i]);
		assert_non_null(strstr(gs_last_error(), "store:"));
	}
}

/* Plain HTTP only to loopback; TLS or --store-insecure for anything else. */
static void test_plain_http_only_to_loopback(void **state)
{
	struct gs_store_opts o = {.url = "etcd://127.0.0.1:2379,10.0.0.5:2379/p"};
	struct gs_store_url u;

	(void)state;
	assert_int_equal(gs_store_url_parse(&o, &u), -EPERM);
	assert_non_null(strstr(gs_last_error(), "10.0.0.5:2379, which is not loopback"));
	o.insecure = true;
	assert_int_equal(gs_store_url_parse(&o, &u), 1);
	o.insecure = false;
	o.cacert = "/ca.pem";
	assert_int_equal(gs_store_url_parse(&o, &u), 1);
	assert_true(u.tls);
	o.cert = "/c.pem";
	assert_int_equal(gs_store_url_parse(&o, &u), -EINVAL);
	assert_non_null(strstr(gs_last_error(), "go together"));
	o.key = "/k.pem";
	assert_int_equal(gs_store_url_parse(&o, &u), 1);
	o.cacert = NULL;
	o.insecure = true;
	assert_int_equal(gs_store_url_parse(&o, &u), -EINVAL);

	assert_true(gs_store_host_is_loopback("127.3.4.5:1"));
	assert_true(gs_store_host_is_loopback("[::1]:1"));
	assert_true(gs_store_host_is_loopback("LocalHost:1"));
	assert_false(gs_store_host_is_loopback("128.0.0.1:1"));
	assert_false(gs_store_host_is_loopback("[::2]:1"));
	assert_false(gs_store_host_is_loopback("localhost.example:1"));
}

static void test_no_store(void **state)
{
	struct gs_store_opts o = {0};
	struct gs_store_url u;

	(void)state;
	unsetenv("GRAYSPLIT_STORE");
	assert_int_equal(gs_store_url_parse(&o, &u), 0);
	setenv("GRAYSPLIT_STORE", "etcd://[::1]:2379/env", 1);
	assert_int_equal(gs_store_url_parse(&o, &u), 1);
	assert_string_equal(u.prefix, "/env");
	/* The command line wins over the environment. */
	o.url = "etcd://127.0.0.1:1/cli";
	assert_int_equal(gs_store_url_parse(&o, &u), 1);
	assert_string_equal(u.prefix, "/cli");
	unsetenv("GRAYSPLIT_STORE");
	o.url = NULL;
	o.insecure = true;
	assert_int_equal(gs_store_url_parse(&o, &u), -EINVAL);
}

/* RFC 4648's test vectors, both ways, and bytes that are not text. */
static void test_base64(void **state)
{
	static const char *const vec[][2] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	static const unsigned char bytes[] = {0, 0xff, 0x10, 0x80, 0x7f};
	char *enc, *dec;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		enc = gs_b64_encode(vec[i][0], strlen(vec[i][0]));
		assert_string_equal(enc, vec[i][1]);
		dec = gs_b64_decode(enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], len);
		free(enc);
		free(dec);
	}
	enc = gs_b64_encode(bytes, sizeof(bytes));
	dec = gs_b64_decode(enc, &len);
	assert_int_equal(len, sizeof(bytes));
	assert_memory_equal(dec, bytes, len);
	free(enc);
	free(dec);
	assert_null(gs_b64_decode("Zm9", &len));
	assert_null(gs_b64_decode("Zm9v!A==", &len));
	assert_null(gs_b64_decode("Z===", &len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_taken),
		cmocka_unit_test(test_url_refused),
		cmocka_unit_test(test_plain_http_only_to_loopback),
		cmocka_unit_test(test_no_store),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
