// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "error.h"
#include "etcd.h"
#include "netns.h"

/* The largest answer read: a full read of a fleet's prefix is a few
 * hundred keys of a few KiB. */
#define BODY_MAX (64u << 20)
/* Between two attempts of a broken watch. */
#define WATCH_RETRY_MS 200

struct buf {
	char *p;
	size_t len, cap;
};

struct gs_etcd {
	struct gs_store_url url;
	CURL *curl;
	size_t cur;	 /* the endpoint that answered last */
	long timeout_ms; /* per call and endpoint */
};

/* ---- base64 ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *gs_b64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = b64_chars[v >> 18 & 63];
		*o++ = b64_chars[v >> 12 & 63];
		*o++ = b64_chars[v >> 6 & 63];
		*o++ = b64_chars[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*o++ = b64_chars[v >> 18 & 63];
		*o++ = b64_chars[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_chars[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

char *gs_b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), i, pad = 0;
	unsigned char *out, *o;

	if (n % 4)
		return NULL;
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	for (i = 0; i < n; i += 4) {
		int v[4], k;
		bool last = i + 4 == n;

		for (k = 0; k < 4; k++) {
			bool padded = last && k >= 4 - (int)pad;

			v[k] = padded ? 0 : b64_value(s[i + k]);
			if (v[k] < 0) {
				free(out);
				return NULL;
			}
		}
		*o++ = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (!(last && pad == 2))
			*o++ = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (!(last && pad >= 1))
			*o++ = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	*o = '\0';
	*len = (size_t)(o - out);
	return (char *)out;
}

/* ---- HTTP ---- */

static size_t buf_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t n = size * nmemb;

	if (b->len + n + 1 > BODY_MAX)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* The store is reached from the namespace the command started in, not
 * from --netns, whose network is the data path's. */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	int fd;

	(void)ctx;
	(void)purpose;
	fd = gs_netns_origin_socket(a->family, a->socktype, a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static void setup_handle(CURL *c, const struct gs_store_url *u)
{
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)GS_ETCD_TIMEOUT_MS / 2);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, u->tls ? "https" : "http");
	if (u->tls) {
		curl_easy_setopt(c, CURLOPT_CAINFO, u->cacert);
		if (u->cert) {
			curl_easy_setopt(c, CURLOPT_SSLCERT, u->cert);
			curl_easy_setopt(c, CURLOPT_SSLKEY, u->key);
		}
	}
}

static void endpoint_url(const struct gs_store_url *u, size_t i, const char *path, char *out,
			 size_t outsz)
{
	snprintf(out, outsz, "%s://%s%s", u->tls ? "https" : "http", u->hosts[i], path);
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* curl_global_init is not thread-safe: once, before the first handle. */
static void curl_ready(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, global_init);
}

int gs_etcd_open(const struct gs_store_url *url, struct gs_etcd **out)
{
	struct gs_etcd *e;

	curl_ready();
	e = calloc(1, sizeof(*e));
	if (!e)
		return gs_fail(ENOMEM, "store: out of memory");
	e->url = *url;
	e->curl = curl_easy_init();
	if (!e->curl) {
		free(e);
		return gs_fail(ENOMEM, "store: curl_easy_init failed");
	}
	setup_handle(e->curl, &e->url);
	gs_etcd_set_timeout(e, GS_ETCD_TIMEOUT_MS);
	*out = e;
	return 0;
}

void gs_etcd_set_timeout(struct gs_etcd *e, uint32_t ms)
{
	e->timeout_ms = ms;
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ms);
}

void gs_etcd_close(struct gs_etcd *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	free(e);
}

const struct gs_store_url *gs_etcd_url(const struct gs_etcd *e)
{
	return &e->url;
}

/* The gateway's error body: {"error": "...", "code": N, "message": "..."}. */
static void error_text(const char *body, char *out, size_t outsz)
{
	struct json_object *j = body ? json_tokener_parse(body) : NULL, *m;

	if (j && (json_object_object_get_ex(j, "message", &m) ||
		  json_object_object_get_ex(j, "error", &m)))
		snprintf(out, outsz, "%s", json_object_get_string(m));
	else
		snprintf(out, outsz, "%.120s", body ? body : "");
	json_object_put(j);
}

/*
 * POST req to path on each endpoint in turn until one answers; *resp the
 * parsed answer. A transport failure moves on to the next endpoint; an
 * answer that is an error (HTTP status other than 200) is the store's
 * word and ends the call.
 */
static int call(struct gs_etcd *e, const char *path, struct json_object *req,
		struct json_object **resp)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char url[GS_STORE_HOST_MAX + 64], why[CURL_ERROR_SIZE] = "";
	struct buf b = {0};
	size_t tries;
	CURLcode rc = CURLE_OK;
	long status = 0;

	if (!e->url.nhosts)
		return gs_fail(EINVAL, "store: no endpoint");

	for (tries = 0; tries < e->url.nhosts; tries++) {
		size_t i = (e->cur + tries) % e->url.nhosts;

		b.len = 0;
		endpoint_url(&e->url, i, path, url, sizeof(url));
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, buf_write);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, why);
		why[0] = '\0';
		rc = curl_easy_perform(e->curl);
		if (rc != CURLE_OK)
			continue;
		e->cur = i;
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			char text[200];

			error_text(b.p, text, sizeof(text));
			free(b.p);
			return gs_fail(EIO, "store: %s%s: HTTP %ld: %s", e->url.hosts[i], path,
				       status, text);
		}
		*resp = json_tokener_parse(b.p ? b.p : "");
		free(b.p);
		if (!*resp)
			return gs_fail(EPROTO, "store: %s%s: an answer that is not JSON",
				       e->url.hosts[i], path);
		return 0;
	}
	free(b.p);
	return gs_fail(EHOSTUNREACH, "store: no endpoint answered (%s%s%s)",
		       e->url.hosts[(e->cur + e->url.nhosts - 1) % e->url.nhosts],
		       why[0] ? ": " : "", why[0] ? why : curl_easy_strerror(rc));
}

static int64_t get_i64(struct json_object *o, const char *name)
{
	struct json_object *v;

	/* int64 fields come as strings ("revision": "42"); json-c converts. */
	return json_object_object_get_ex(o, name, &v) ? json_object_get_int64(v) : 0;
}

static int64_t header_revision(struct json_object *resp)
{
	struct json_object *h;

	return json_object_object_get_ex(resp, "header", &h) ? get_i64(h, "revision") : 0;
}

static int add_b64(struct json_object *o, const char *name, const void *data, size_t len)
{
	char *enc = gs_b64_encode(data, len);

	if (!enc)
		return gs_fail(ENOMEM, "store: out of memory");
	json_object_object_add(o, name, json_object_new_string(enc));
	free(enc);
	return 0;
}

/* The first key after every key that starts with prefix. */
static char *prefix_end(const char *prefix, size_t *len)
{
	size_t n = strlen(prefix);
	char *end = malloc(n + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, n + 1);
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n == 0) { /* every key: the gateway's "\0" */
		end[0] = '\0';
		*len = 1;
		return end;
	}
	end[n - 1]++;
	*len = n;
	return end;
}

static int add_range(struct json_object *o, const char *key, bool prefix)
{
	char *end;
	size_t len;
	int err;

	err = add_b64(o, "key", key, strlen(key));
	if (err || !prefix)
		return err;
	end = prefix_end(key, &len);
	if (!end)
		return gs_fail(ENOMEM, "store: out of memory");
	err = add_b64(o, "range_end", end, len);
	free(end);
	return err;
}

static int kv_parse(struct json_object *j, struct gs_etcd_kv *kv)
{
	struct json_object *k, *v;
	size_t len;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_object_get_ex(j, "key", &k))
		return gs_fail(EPROTO, "store: a key-value without a key");
	kv->key = gs_b64_decode(json_object_get_string(k), &len);
	kv->value = json_object_object_get_ex(j, "value", &v)
			    ? gs_b64_decode(json_object_get_string(v), &kv->value_len)
			    : strdup("");
	if (!kv->key || !kv->value)
		return gs_fail(EPROTO, "store: a key or value that is not base64");
	kv->create_revision = get_i64(j, "create_revision");
	kv->mod_revision = get_i64(j, "mod_revision");
	kv->version = get_i64(j, "version");
	kv->lease = get_i64(j, "lease");
	return 0;
}

void gs_etcd_kvs_free(struct gs_etcd_kvs *kvs)
{
	size_t i;

	for (i = 0; i < kvs->n; i++) {
		free(kvs->kv[i].key);
		free(kvs->kv[i].value);
	}
	free(kvs->kv);
	memset(kvs, 0, sizeof(*kvs));
}

int gs_etcd_get(struct gs_etcd *e, const char *key, bool prefix, struct gs_etcd_kvs *out)
{
	struct json_object *req = json_object_new_object(), *resp = NULL, *kvs;
	size_t i, n;
	int err;

	memset(out, 0, sizeof(*out));
	err = add_range(req, key, prefix);
	if (!err)
		err = call(e, "/v3/kv/range", req, &resp);
	json_object_put(req);
	if (err)
		return err;
	out->revision = header_revision(resp);
	n = json_object_object_get_ex(resp, "kvs", &kvs) ? json_object_array_length(kvs) : 0;
	out->kv = calloc(n ? n : 1, sizeof(*out->kv));
	if (!out->kv) {
		json_object_put(resp);
		return gs_fail(ENOMEM, "store: out of memory");
	}
	for (i = 0; i < n && !err; i++) {
		err = kv_parse(json_object_array_get_idx(kvs, i), &out->kv[i]);
		out->n = i + 1;
	}
	json_object_put(resp);
	if (err)
		gs_etcd_kvs_free(out);
	return err;
}

static struct json_object *op_json(const struct gs_etcd_op *op)
{
	struct json_object *o = json_object_new_object(), *inner = json_object_new_object();

	if (op->kind == GS_ETCD_PUT) {
		add_b64(inner, "key", op->key, strlen(op->key));
		add_b64(inner, "value", op->value, op->value_len);
		if (op->lease)
			json_object_object_add(inner, "lease", json_object_new_int64(op->lease));
		json_object_object_add(o, "request_put", inner);
	} else {
		add_b64(inner, "key", op->key, strlen(op->key));
		json_object_object_add(o, "request_delete_range", inner);
	}
	return o;
}

int gs_etcd_txn(struct gs_etcd *e, const struct gs_etcd_cmp *cmps, size_t ncmps,
		const struct gs_etcd_op *ops, size_t nops, bool *succeeded, int64_t *revision)
{
	struct json_object *req = json_object_new_object(), *resp = NULL, *arr, *v;
	size_t i;
	int err;

	arr = json_object_new_array();
	for (i = 0; i < ncmps; i++) {
		struct json_object *c = json_object_new_object();

		add_b64(c, "key", cmps[i].key, strlen(cmps[i].key));
		json_object_object_add(c, "target", json_object_new_string("MOD"));
		json_object_object_add(c, "result", json_object_new_string("EQUAL"));
		json_object_object_add(c, "mod_revision",
				       json_object_new_int64(cmps[i].mod_revision));
		json_object_array_add(arr, c);
	}
	json_object_object_add(req, "compare", arr);
	arr = json_object_new_array();
	for (i = 0; i < nops; i++)
		json_object_array_add(arr, op_json(&ops[i]));
	json_object_object_add(req, "success", arr);
	err = call(e, "/v3/kv/txn", req, &resp);
	json_object_put(req);
	if (err)
		return err;
	/* A false "succeeded" is left out of the answer, like every default. */
	*succeeded = json_object_object_get_ex(resp, "succeeded", &v) && json_object_get_boolean(v);
	if (revision)
		*revision = header_revision(resp);
	json_object_put(resp);
	return 0;
}

int gs_etcd_put(struct gs_etcd *e, const char *key, const char *value, size_t len, int64_t lease)
{
	const struct gs_etcd_op op = {GS_ETCD_PUT, key, value, len, lease};
	bool ok;

	return gs_etcd_txn(e, NULL, 0, &op, 1, &ok, NULL);
}

int gs_etcd_delete(struct gs_etcd *e, const char *key, bool prefix)
{
	struct json_object *req = json_object_new_object(), *resp = NULL;
	int err = add_range(req, key, prefix);

	if (!err)
		err = call(e, "/v3/kv/deleterange", req, &resp);
	json_object_put(req);
	json_object_put(resp);
	return err;
}

int gs_etcd_lease_grant(struct gs_etcd *e, int64_t ttl_s, int64_t *id)
{
	struct json_object *req = json_object_new_object(), *resp = NULL;
	int err;

	json_object_object_add(req, "TTL", json_object_new_int64(ttl_s));
	err = call(e, "/v3/lease/grant", req, &resp);
	json_object_put(req);
	if (err)
		return err;
	*id = get_i64(resp, "ID");
	json_object_put(resp);
	return *id ? 0 : gs_fail(EPROTO, "store: a lease grant without an ID");
}

int gs_etcd_lease_keepalive(struct gs_etcd *e, int64_t id)
{
	struct json_object *req = json_object_new_object(), *resp = NULL, *r;
	int64_t ttl = 0;
	int err;

	json_object_object_add(req, "ID", json_object_new_int64(id));
	err = call(e, "/v3/lease/keepalive", req, &resp);
	json_object_put(req);
	if (err)
		return err;
	/* One message of the stream: {"result": {"ID": ..., "TTL": ...}};
	 * a lease that is gone answers without a TTL. */
	if (json_object_object_get_ex(resp, "result", &r))
		ttl = get_i64(r, "TTL");
	json_object_put(resp);
	return ttl > 0 ? 0 : gs_fail(ENOENT, "store: lease %" PRIx64 " expired", (uint64_t)id);
}

int gs_etcd_lease_revoke(struct gs_etcd *e, int64_t id)
{
	struct json_object *req = json_object_new_object(), *resp = NULL;
	int err;

	json_object_object_add(req, "ID", json_object_new_int64(id));
	err = call(e, "/v3/lease/revoke", req, &resp);
	json_object_put(req);
	json_object_put(resp);
	return err;
}

/* ---- watch ---- */

struct gs_etcd_watch {
	struct gs_store_url url;
	char *prefix;
	int efd;
	pthread_t thread;
	CURLM *multi;
	pthread_mutex_t lock;
	/* under lock */
	bool stop, up;
	int64_t revision; /* highest seen; the next stream starts after it */
	/* the thread's own */
	struct buf line;
};

static void watch_signal(struct gs_etcd_watch *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* The counter is far from full; nothing to do. */
	}
}

/* One message of the stream: {"result": {"header": ..., "events": [...],
 * "created": true, "canceled": true, "compact_revision": N}}. False when
 * the stream must end: etcd canceled the watch (its start was compacted
 * away): the next stream starts at the oldest revision kept, and the
 * reader, told, reads everything again anyway. */
static bool watch_message(struct gs_etcd_watch *w, const char *text)
{
	struct json_object *j = json_tokener_parse(text), *r, *evs, *v;
	bool go_on = true;
	int64_t rev = 0;
	size_t i, n;

	if (!j)
		return true;
	if (json_object_object_get_ex(j, "result", &r)) {
		if (json_object_object_get_ex(r, "canceled", &v) && json_object_get_boolean(v)) {
			int64_t compact = get_i64(r, "compact_revision");

			pthread_mutex_lock(&w->lock);
			if (compact - 1 > w->revision)
				w->revision = compact - 1;
			pthread_mutex_unlock(&w->lock);
			go_on = false;
		}
		rev = header_revision(r);
		n = json_object_object_get_ex(r, "events", &evs) ? json_object_array_length(evs)
								 : 0;
		for (i = 0; i < n; i++) {
			struct json_object *kv;
			int64_t m;

			if (json_object_object_get_ex(json_object_array_get_idx(evs, i), "kv",
						      &kv)) {
				m = get_i64(kv, "mod_revision");
				if (m > rev)
					rev = m;
			}
		}
		pthread_mutex_lock(&w->lock);
		if (rev > w->revision)
			w->revision = rev;
		w->up = true;
		pthread_mutex_unlock(&w->lock);
		watch_signal(w);
	}
	json_object_put(j);
	return go_on;
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct gs_etcd_watch *w = ctx;
	size_t n = size * nmemb;
	char *nl;

	if (buf_write(data, size, nmemb, &w->line) != n)
		return 0;
	/* The gateway ends each message with a newline. */
	while ((nl = memchr(w->line.p, '\n', w->line.len))) {
		bool go_on;

		*nl = '\0';
		go_on = watch_message(w, w->line.p);
		w->line.len -= (size_t)(nl + 1 - w->line.p);
		memmove(w->line.p, nl + 1, w->line.len);
		w->line.p[w->line.len] = '\0';
		if (!go_on)
			return 0;
	}
	return n;
}

static bool watch_stopping(struct gs_etcd_watch *w)
{
	bool stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

static void watch_set_up(struct gs_etcd_watch *w, bool up)
{
	bool changed;

	pthread_mutex_lock(&w->lock);
	changed = w->up != up;
	w->up = up;
	pthread_mutex_unlock(&w->lock);
	if (changed)
		watch_signal(w);
}

/* One stream on endpoint i from the revision after the last seen, until
 * it ends or the watch stops. */
static void watch_stream(struct gs_etcd_watch *w, CURL *c, size_t i)
{
	struct json_object *req = json_object_new_object(), *create = json_object_new_object();
	char url[GS_STORE_HOST_MAX + 64];
	int64_t from;
	int running = 1;

	pthread_mutex_lock(&w->lock);
	from = w->revision + 1;
	pthread_mutex_unlock(&w->lock);
	add_range(create, w->prefix, true);
	json_object_object_add(create, "start_revision", json_object_new_int64(from));
	json_object_object_add(req, "create_request", create);

	endpoint_url(&w->url, i, "/v3/watch", url, sizeof(url));
	curl_easy_reset(c);
	setup_handle(c, &w->url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS,
			 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	/* A dead peer is found by TCP keepalive, not a read timeout: a quiet
	 * watch is a normal watch. */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
	json_object_put(req);
	w->line.len = 0;

	curl_multi_add_handle(w->multi, c);
	while (running && !watch_stopping(w)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(w->multi, c);
}

static void *watch_main(void *arg)
{
	struct gs_etcd_watch *w = arg;
	CURL *c = curl_easy_init();
	size_t i = 0;

	while (c && !watch_stopping(w)) {
		watch_stream(w, c, i);
		watch_set_up(w, false);
		if (watch_stopping(w))
			break;
		i = (i + 1) % w->url.nhosts;
		curl_multi_poll(w->multi, NULL, 0, WATCH_RETRY_MS, NULL);
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* The thread takes no signal: SIGINT and SIGTERM are the agent's, read
 * from its signalfd, and a thread that let them through would die of them
 * with the whole process. */
static int start_thread(struct gs_etcd_watch *w)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, NULL, watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int gs_etcd_watch_start(const struct gs_store_url *url, const char *prefix, int64_t start_revision,
			struct gs_etcd_watch **out)
{
	struct gs_etcd_watch *w;

	curl_ready();
	w = calloc(1, sizeof(*w));
	if (!w)
		return gs_fail(ENOMEM, "store: out of memory");
	w->url = *url;
	w->prefix = strdup(prefix);
	w->revision = start_revision - 1;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->multi = curl_multi_init();
	pthread_mutex_init(&w->lock, NULL);
	if (!w->prefix || w->efd < 0 || !w->multi || start_thread(w)) {
		if (w->efd >= 0)
			close(w->efd);
		if (w->multi)
			curl_multi_cleanup(w->multi);
		pthread_mutex_destroy(&w->lock);
		free(w->prefix);
		free(w);
		return gs_fail(ENOMEM, "store: cannot start the watch");
	}
	*out = w;
	return 0;
}

int gs_etcd_watch_fd(const struct gs_etcd_watch *w)
{
	return w->efd;
}

void gs_etcd_watch_drain(struct gs_etcd_watch *w, int64_t *revision, bool *up)
{
	uint64_t n;

	if (read(w->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new; the state below is still right. */
	}
	pthread_mutex_lock(&w->lock);
	*revision = w->revision;
	*up = w->up;
	pthread_mutex_unlock(&w->lock);
}

void gs_etcd_watch_stop(struct gs_etcd_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	curl_multi_cleanup(w->multi);
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
	free(w->line.p);
	free(w->prefix);
	free(w);
}
