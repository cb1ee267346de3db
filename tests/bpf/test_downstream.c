// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The downstream watch (bpf/lib/downstream.h): crafted TCP connections a
 * backend opens to a dependency, through gs_tc_dep_out (tc egress of the
 * backend host: what the backend sends) and gs_tc_dep_in (tc ingress: what
 * comes back), then what dep_slots, dep_flows, dep_stats and dep_latency
 * say. Every frame must come out TC_ACT_OK and byte for byte as it went in:
 * the watch only looks.
 *
 * The programs time with bpf_ktime_get_ns() and a test run gives real
 * times, so latency is checked by sample counts, never by value.
 */
#include "check.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <string.h>

#include <bpf/libbpf.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#define BACKEND	 "10.1.0.2"
#define DEP	 "10.2.0.5"
#define DEP_PORT 5432
/* The backend's ephemeral port of its connection to the dependency. */
#define BPORT 41000

/* One connection as the backend opens it: backend:bport -> dep:dport. */
struct conn {
	const char *backend;
	const char *dep;
	uint16_t bport;
	uint16_t dport;
};

static const struct conn pg = {BACKEND, DEP, BPORT, DEP_PORT};

/* A string literal as payload, without its terminating NUL (answers of
 * binary protocols hold NULs of their own). */
#define LIT(s) s, sizeof(s) - 1

static const char pg_query[] = "Q\0\0\0\x0dSELECT 1\0";
/* ErrorResponse: 'E', length, fields (severity, code, message). */
static const char pg_error[] = "E\0\0\0\x2aSERROR\0C42P01\0Mrelation does not exist\0\0";
/* RowDescription, the start of an ordinary answer. */
static const char pg_rows[] =
	"T\0\0\0\x21\0\x01?column?\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0";

/*
 * One frame through a watch program: TC_ACT_OK and the frame unchanged, as
 * for any frame the watch sees.
 */
static void run_frame(struct fx *fx, bool egress, const uint8_t *in, size_t len, const char *what)
{
	uint8_t out[PKT_MAX];
	size_t out_len = 0;
	uint32_t ret;

	ret = egress ? fx_run_dep_out(fx, in, len, out, &out_len)
		     : fx_run_dep_in(fx, in, len, out, &out_len);
	CHECK_EQ(ret, TC_ACT_OK, what);
	check_unchanged(in, len, out, out_len, what);
}

static struct pkt_spec seg_spec(const struct conn *c, bool egress, uint8_t flags,
				const void *payload, size_t payload_len)
{
	struct pkt_spec s = {
		.src = egress ? c->backend : c->dep,
		.dst = egress ? c->dep : c->backend,
		.sport = egress ? c->bport : c->dport,
		.dport = egress ? c->dport : c->bport,
		.proto = IPPROTO_TCP,
		.tcp_flags = flags,
		.payload = payload,
		.payload_len = payload_len,
	};

	return s;
}

/* A segment of the connection, sent by the backend (egress) or to it. */
static void seg(struct fx *fx, const struct conn *c, bool egress, uint8_t flags,
		const void *payload, size_t payload_len)
{
	struct pkt_spec s = seg_spec(c, egress, flags, payload, payload_len);
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(&s, in);

	run_frame(fx, egress, in, len, egress ? "egress segment" : "ingress segment");
}

static void out_seg(struct fx *fx, const struct conn *c, uint8_t flags, const void *p, size_t n)
{
	seg(fx, c, true, flags, p, n);
}

static void in_seg(struct fx *fx, const struct conn *c, uint8_t flags, const void *p, size_t n)
{
	seg(fx, c, false, flags, p, n);
}

/* The connection's dep_flows key: as the backend sends. */
static struct gs_flow_key conn_key(const struct conn *c)
{
	struct gs_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src = pkt_addr(c->backend);
	key.dst = pkt_addr(c->dep);
	key.sport = htons(c->bport);
	key.dport = htons(c->dport);
	key.proto = IPPROTO_TCP;
	return key;
}

static struct gs_dep_flow flow_of(struct fx *fx, const struct conn *c)
{
	struct gs_flow_key key = conn_key(c);
	struct gs_dep_flow flow;

	CHECK_EQ(fx_dep_flow_get(fx, &key, &flow), 0, "dep_flows has the connection");
	return flow;
}

static bool has_flow(struct fx *fx, const struct conn *c)
{
	struct gs_flow_key key = conn_key(c);
	struct gs_dep_flow flow;

	return fx_dep_flow_get(fx, &key, &flow) == 0;
}

static uint32_t slot_of(struct fx *fx, const struct conn *c)
{
	uint32_t slot = GS_DEP_NONE;

	CHECK_EQ(fx_dep_slot(fx, c->backend, c->dep, c->dport, &slot), 0, "dep_slots has the pair");
	CHECK_TRUE(slot < GS_MAX_DEP_PAIRS, "the pair's slot is in range");
	return slot;
}

static bool has_slot(struct fx *fx, const struct conn *c)
{
	uint32_t slot;

	return fx_dep_slot(fx, c->backend, c->dep, c->dport, &slot) == 0;
}

static struct gs_dep_stats stats_of(struct fx *fx, const struct conn *c)
{
	return fx_dep_stats(fx, slot_of(fx, c));
}

static uint64_t samples(struct fx *fx, const struct conn *c, enum gs_dep_hist_kind kind)
{
	struct gs_hist hist = fx_dep_hist(fx, slot_of(fx, c), kind);

	return fx_hist_total(&hist);
}

/* SYN out, SYN-ACK back, ACK out: an established connection. */
static void handshake(struct fx *fx, const struct conn *c)
{
	out_seg(fx, c, PKT_SYN, NULL, 0);
	in_seg(fx, c, PKT_SYN | PKT_ACK, NULL, 0);
	out_seg(fx, c, PKT_ACK, NULL, 0);
}

/* Every field of a pair's dep_stats; a failure names the first that differs. */
static void check_stats(struct gs_dep_stats got_stats, const struct gs_dep_stats *want)
{
	const struct gs_dep_stats *got = &got_stats;

	CHECK_EQ(got->connects, want->connects, "connects");
	CHECK_EQ(got->established, want->established, "established");
	CHECK_EQ(got->refused, want->refused, "refused");
	CHECK_EQ(got->timeouts, want->timeouts, "timeouts");
	CHECK_EQ(got->resets, want->resets, "resets");
	CHECK_EQ(got->requests, want->requests, "requests");
	CHECK_EQ(got->calls, want->calls, "calls");
	CHECK_EQ(got->error_replies, want->error_replies, "error_replies");
	CHECK_EQ(got->closes, want->closes, "closes");
}

/* Nothing in any map of the watch: no pair, no connection, no slot taken,
 * slot 0's counters and histograms empty, no counter of the watch. */
static void check_nothing_tracked(struct fx *fx, const char *what)
{
	struct gs_dep_stats zero, st = fx_dep_stats(fx, 0);
	struct gs_hist h;
	unsigned char key[64];

	memset(&zero, 0, sizeof(zero));
	CHECK_TRUE(bpf_map__get_next_key(fx->skel->maps.dep_slots, NULL, key,
					 sizeof(struct gs_dep_key)) == -ENOENT,
		   what);
	CHECK_TRUE(bpf_map__get_next_key(fx->skel->maps.dep_flows, NULL, key,
					 sizeof(struct gs_flow_key)) == -ENOENT,
		   what);
	CHECK_EQ(fx_dep_next(fx), 0, what);
	CHECK_EQ(memcmp(&st, &zero, sizeof(st)), 0, what);
	h = fx_dep_hist(fx, 0, GS_DEP_HIST_CONNECT);
	CHECK_EQ(fx_hist_total(&h), 0, what);
	h = fx_dep_hist(fx, 0, GS_DEP_HIST_CALL);
	CHECK_EQ(fx_hist_total(&h), 0, what);
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 0, what);
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_FLOW_INSERT), 0, what);
}

/* An IPv4 frame's IP total length cut to its header + tcp_bytes of TCP,
 * its header checksum right again: the TCP header is what is short. */
static void ip4_cut(uint8_t *frame, size_t tcp_bytes)
{
	uint8_t *ip = frame + 14;
	uint16_t tot = (uint16_t)(20 + tcp_bytes), sum;

	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[10] = ip[11] = 0;
	sum = (uint16_t)~pkt_fold(pkt_sum_words(ip, 20, 0));
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
}

/* ---- connections -------------------------------------------------------- */

/*
 * The handshake: the backend's SYN is a connect and hands the pair its
 * first slot; the connection waits in SYN_SENT; the dependency's SYN-ACK
 * establishes it with one connect-latency sample. Each frame comes out as
 * it went in (run_frame).
 */
static void dep_handshake_counts_connect_and_latency(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;
	struct gs_dep_flow flow;

	CHECK_TRUE(!has_slot(fx, &pg), "no slot before the first SYN");
	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	CHECK_EQ(slot_of(fx, &pg), 0, "the first pair takes slot 0");
	CHECK_EQ(fx_dep_next(fx), 1, "dep_next moved on by one");
	flow = flow_of(fx, &pg);
	CHECK_EQ(flow.state, GS_DEP_SYN_SENT, "connection in SYN_SENT");
	CHECK_EQ(flow.phase, GS_DEP_IDLE, "no request yet");
	CHECK_EQ(flow.slot, 0, "the connection counts in its pair's slot");
	CHECK_EQ(flow.flags, 0, "no SYN retransmission");
	CHECK_NE(flow.syn_ns, 0, "the SYN's time kept");
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	check_stats(fx_dep_stats(fx, 0), &want);
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 0, "no connect sample before the SYN-ACK");

	in_seg(fx, &pg, PKT_SYN | PKT_ACK, NULL, 0);
	want.established = 1;
	check_stats(fx_dep_stats(fx, 0), &want);
	CHECK_EQ(flow_of(fx, &pg).state, GS_DEP_ESTABLISHED, "connection established");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 1, "one connect-latency sample");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 0, "no call sample");

	/* The handshake's last ACK, and a SYN-ACK again: nothing more. */
	out_seg(fx, &pg, PKT_ACK, NULL, 0);
	in_seg(fx, &pg, PKT_SYN | PKT_ACK, NULL, 0);
	check_stats(fx_dep_stats(fx, 0), &want);
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 1, "still one connect sample");
	CHECK_EQ(fx_dep_next(fx), 1, "the same pair takes no second slot");
	check_stats(fx_dep_stats(fx, 1), &(const struct gs_dep_stats){0});
}

/*
 * One pair per (backend, dependency, port): another connection of the same
 * pair counts in its slot; another backend, another dependency address or
 * port, each a slot of its own.
 */
static void dep_pairs_have_slots_of_their_own(void **state)
{
	struct fx *fx = *state;
	const struct conn again = {BACKEND, DEP, BPORT + 1, DEP_PORT};
	const struct conn other_backend = {"10.1.0.3", DEP, BPORT, DEP_PORT};
	const struct conn other_dep = {BACKEND, "10.2.0.6", BPORT, DEP_PORT};
	const struct conn other_port = {BACKEND, DEP, BPORT, 6379};
	uint32_t slots[4];

	handshake(fx, &pg);
	handshake(fx, &again);
	CHECK_EQ(slot_of(fx, &again), slot_of(fx, &pg), "same pair, same slot");
	CHECK_EQ(stats_of(fx, &pg).connects, 2, "two connects in the pair's slot");
	CHECK_EQ(stats_of(fx, &pg).established, 2, "two established");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 2, "two connect samples");
	handshake(fx, &other_backend);
	handshake(fx, &other_dep);
	handshake(fx, &other_port);
	slots[0] = slot_of(fx, &pg);
	slots[1] = slot_of(fx, &other_backend);
	slots[2] = slot_of(fx, &other_dep);
	slots[3] = slot_of(fx, &other_port);
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			CHECK_NE(slots[i], slots[j], "a slot per pair");
	CHECK_EQ(fx_dep_next(fx), 4, "four slots handed out");
	CHECK_EQ(stats_of(fx, &other_backend).connects, 1, "other backend: its own connect");
	CHECK_EQ(stats_of(fx, &other_dep).connects, 1, "other dependency: its own connect");
	CHECK_EQ(stats_of(fx, &other_port).connects, 1, "other port: its own connect");
	CHECK_EQ(stats_of(fx, &pg).connects, 2, "the first pair unchanged");
}

/* ---- requests and answers ------------------------------------------------ */

/*
 * A request is the backend's bytes after an answer (or the first after
 * the handshake), however many segments; a call is the first answer byte
 * to it, however many segments the answer takes. Pure ACKs either way
 * count nothing.
 */
static void dep_request_and_answer_count_once(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_flow flow;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	CHECK_EQ(stats_of(fx, &pg).requests, 1, "the first payload is a request");
	flow = flow_of(fx, &pg);
	CHECK_EQ(flow.phase, GS_DEP_REQUEST, "the connection waits for an answer");
	CHECK_NE(flow.req_ns, 0, "the request's time kept");
	CHECK_EQ(stats_of(fx, &pg).calls, 0, "no call before an answer");

	/* More of the same request, while waiting: the same request. */
	out_seg(fx, &pg, PKT_ACK, LIT("more of the query"));
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT("and the rest"));
	CHECK_EQ(stats_of(fx, &pg).requests, 1, "segments of one request: one request");
	/* The dependency's ACK of the request is no answer. */
	in_seg(fx, &pg, PKT_ACK, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).calls, 0, "a pure ACK is no answer");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 0, "no call sample for a pure ACK");

	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	CHECK_EQ(stats_of(fx, &pg).calls, 1, "the answer's first segment: one call");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 1, "one call-latency sample");
	CHECK_EQ(flow_of(fx, &pg).phase, GS_DEP_RESPONSE, "the connection is answered");

	/* The rest of the answer, and the backend's ACKs of it. */
	in_seg(fx, &pg, PKT_ACK,
	       LIT("D\0\0\0\x0b\0\x01\0\0\0\x01"
		   "1"));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT("C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I"));
	out_seg(fx, &pg, PKT_ACK, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).calls, 1, "segments of one answer: one call");
	CHECK_EQ(stats_of(fx, &pg).requests, 1, "an ACK of the answer is no request");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 1, "still one call sample");

	/* The next payload after the answer: a new request, a new call. */
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	CHECK_EQ(stats_of(fx, &pg).requests, 2, "the next payload after an answer: a request");
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	CHECK_EQ(stats_of(fx, &pg).calls, 2, "its answer: a second call");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 2, "two call samples");
	CHECK_EQ(stats_of(fx, &pg).error_replies, 0, "no error among them");
	CHECK_EQ(stats_of(fx, &pg).closes, 0, "the connection stays open");
	CHECK_TRUE(has_flow(fx, &pg), "and followed");
}

/* Bytes from the dependency before any request (a server that speaks
 * first): no call, no sample. */
static void dep_answer_without_request_is_no_call(void **state)
{
	struct fx *fx = *state;

	handshake(fx, &pg);
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT("greeting"));
	CHECK_EQ(stats_of(fx, &pg).calls, 0, "no call without a request");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 0, "no call sample");
	CHECK_EQ(flow_of(fx, &pg).phase, GS_DEP_IDLE, "still idle");
}

/* ---- protocol error replies ------------------------------------------------ */

/*
 * A connection to c (dep_kinds as the test set it), one request, one
 * answer: the call counts, and an error reply exactly when want_error.
 * The protocol is the one dep_kinds names at the SYN.
 */
static void check_answer(struct fx *fx, const struct conn *c, const void *answer, size_t len,
			 uint64_t want_error, uint8_t want_proto)
{
	handshake(fx, c);
	CHECK_EQ(flow_of(fx, c).proto, want_proto, "the connection's protocol, from dep_kinds");
	out_seg(fx, c, PKT_ACK | PKT_PSH, LIT("request"));
	in_seg(fx, c, PKT_ACK | PKT_PSH, answer, len);
	CHECK_EQ(stats_of(fx, c).calls, 1, "the answer is one call");
	CHECK_EQ(stats_of(fx, c).error_replies, want_error, "error replies");
	/* A later segment of the same answer is not looked at again. */
	in_seg(fx, c, PKT_ACK, answer, len);
	CHECK_EQ(stats_of(fx, c).error_replies, want_error, "error replies after more of it");
}

static void dep_postgres_error_response_is_error_reply(void **state)
{
	fx_dep_kind_set(*state, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	check_answer(*state, &pg, LIT(pg_error), 1, GS_DEP_PROTO_POSTGRES);
}

static void dep_postgres_row_description_is_no_error(void **state)
{
	fx_dep_kind_set(*state, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	check_answer(*state, &pg, LIT(pg_rows), 0, GS_DEP_PROTO_POSTGRES);
}

static void dep_redis_error_is_error_reply(void **state)
{
	const struct conn redis = {BACKEND, "10.2.0.7", BPORT, 6379};

	fx_dep_kind_set(*state, NULL, 6379, GS_DEP_PROTO_REDIS);
	check_answer(*state, &redis, LIT("-ERR unknown command 'FOO'\r\n"), 1, GS_DEP_PROTO_REDIS);
}

static void dep_redis_ok_is_no_error(void **state)
{
	const struct conn redis = {BACKEND, "10.2.0.7", BPORT, 6379};

	fx_dep_kind_set(*state, NULL, 6379, GS_DEP_PROTO_REDIS);
	check_answer(*state, &redis, LIT("+OK\r\n"), 0, GS_DEP_PROTO_REDIS);
	/* An 'E' means nothing to Redis. */
	out_seg(*state, &redis, PKT_ACK | PKT_PSH, LIT("GET k\r\n"));
	in_seg(*state, &redis, PKT_ACK | PKT_PSH, LIT("E"));
	CHECK_EQ(stats_of(*state, &redis).calls, 2, "a second call");
	CHECK_EQ(stats_of(*state, &redis).error_replies, 0, "'E' is no Redis error");
}

static void dep_http_503_is_error_reply(void **state)
{
	const struct conn http = {BACKEND, "10.2.0.8", BPORT, 8080};

	fx_dep_kind_set(*state, NULL, 8080, GS_DEP_PROTO_HTTP);
	check_answer(*state, &http, LIT("HTTP/1.1 503 Service Unavailable\r\n\r\n"), 1,
		     GS_DEP_PROTO_HTTP);
}

static void dep_http_200_is_no_error(void **state)
{
	const struct conn http = {BACKEND, "10.2.0.8", BPORT, 8080};

	fx_dep_kind_set(*state, NULL, 8080, GS_DEP_PROTO_HTTP);
	check_answer(*state, &http, LIT("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0,
		     GS_DEP_PROTO_HTTP);
	/* Nor a 4xx, nor a status line cut short before its code. */
	out_seg(*state, &http, PKT_ACK | PKT_PSH, LIT("GET / HTTP/1.1\r\n\r\n"));
	in_seg(*state, &http, PKT_ACK | PKT_PSH, LIT("HTTP/1.1 404 Not Found\r\n\r\n"));
	out_seg(*state, &http, PKT_ACK | PKT_PSH, LIT("GET / HTTP/1.1\r\n\r\n"));
	in_seg(*state, &http, PKT_ACK | PKT_PSH, LIT("HTTP/1.1 "));
	CHECK_EQ(stats_of(*state, &http).calls, 3, "three calls");
	CHECK_EQ(stats_of(*state, &http).error_replies, 0, "none of them an error");
}

/* A port no dep_kinds entry names: plain TCP, whatever the answer says
 * (here what would be errors for PostgreSQL, Redis and HTTP). */
static void dep_port_without_kind_counts_no_error_replies(void **state)
{
	struct fx *fx = *state;
	const struct conn plain = {BACKEND, DEP, BPORT, 5433};

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	check_answer(fx, &plain, LIT(pg_error), 0, GS_DEP_PROTO_TCP);
	out_seg(fx, &plain, PKT_ACK | PKT_PSH, LIT("request"));
	in_seg(fx, &plain, PKT_ACK | PKT_PSH, LIT("-ERR"));
	out_seg(fx, &plain, PKT_ACK | PKT_PSH, LIT("request"));
	in_seg(fx, &plain, PKT_ACK | PKT_PSH, LIT("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
	CHECK_EQ(stats_of(fx, &plain).calls, 3, "three calls");
	CHECK_EQ(stats_of(fx, &plain).error_replies, 0, "no error replies on plain TCP");
}

/* An entry for the dependency's own address wins over its port's. */
static void dep_address_entry_wins_over_port_entry(void **state)
{
	struct fx *fx = *state;

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	fx_dep_kind_set(fx, DEP, 5432, GS_DEP_PROTO_REDIS);
	check_answer(fx, &pg, LIT("-ERR"), 1, GS_DEP_PROTO_REDIS);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT("request"));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_error));
	CHECK_EQ(stats_of(fx, &pg).error_replies, 1, "'E' is no error for this one");
}

/* ---- how connections end -------------------------------------------------- */

/* An RST to the SYN: refused, and the connection is gone. */
static void dep_rst_to_syn_is_refused(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	in_seg(fx, &pg, PKT_RST | PKT_ACK, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.refused = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "the refused connection is no longer followed");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 0, "no connect sample");
	/* A second RST finds nothing to count. */
	in_seg(fx, &pg, PKT_RST | PKT_ACK, NULL, 0);
	check_stats(stats_of(fx, &pg), &want);
}

/* An RST from the dependency on an established connection: a reset. */
static void dep_rst_in_on_established_is_reset(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	in_seg(fx, &pg, PKT_RST, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.established = 1;
	want.requests = 1;
	want.resets = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "the reset connection is no longer followed");
}

/* An RST from the backend on an established connection: a reset too. */
static void dep_rst_out_on_established_is_reset(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_RST | PKT_ACK, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.established = 1;
	want.resets = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "the reset connection is no longer followed");
	/* The dependency's RST or data after it: nothing more. */
	in_seg(fx, &pg, PKT_RST, NULL, 0);
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	check_stats(stats_of(fx, &pg), &want);
}

/* The backend gives up on a connection still in SYN_SENT (its RST): a
 * close, neither refused nor reset. */
static void dep_rst_out_on_syn_sent_is_close_only(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	out_seg(fx, &pg, PKT_RST | PKT_ACK, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "no longer followed");
}

/* The backend's FIN: one close, the entry removed; the dependency's FIN
 * back finds nothing more to count. */
static void dep_fin_out_closes(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.established = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "the closed connection is no longer followed");
	in_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	out_seg(fx, &pg, PKT_ACK, NULL, 0);
	check_stats(stats_of(fx, &pg), &want);
}

/* The dependency's FIN (a server closing an idle connection): the same. */
static void dep_fin_in_closes(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	in_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.established = 1;
	want.requests = 1;
	want.calls = 1;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_TRUE(!has_flow(fx, &pg), "the closed connection is no longer followed");
	out_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	check_stats(stats_of(fx, &pg), &want);
}

/* ---- timeouts ---------------------------------------------------------------- */

/*
 * The same SYN again: the first went unanswered for the RTO, one timeout;
 * a third is the same timeout still, and the SYN-ACK that comes at last
 * establishes the connection.
 */
static void dep_syn_again_is_one_timeout(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;

	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).timeouts, 0, "no timeout on the first SYN");
	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).timeouts, 1, "the SYN again: one timeout");
	CHECK_EQ(flow_of(fx, &pg).flags & GS_DEP_F_SYN_RETX, GS_DEP_F_SYN_RETX,
		 "the retransmission is marked");
	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.timeouts = 1;
	check_stats(stats_of(fx, &pg), &want);
	in_seg(fx, &pg, PKT_SYN | PKT_ACK, NULL, 0);
	want.established = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 1,
		 "one connect sample, from the first SYN");
}

/*
 * A SYN on a tuple whose entry has waited in SYN_SENT longer than any
 * connect retries (75 s; Linux gives up after 63): the entry is one that
 * never got an answer and stayed, and the SYN a new connection, not a
 * timeout of the old one.
 */
static void dep_syn_after_stale_syn_sent_is_new_connection(void **state)
{
	struct fx *fx = *state;
	struct gs_flow_key key = conn_key(&pg);
	struct gs_dep_flow flow;

	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	flow = flow_of(fx, &pg);
	flow.syn_ns -= 80ull * 1000000000ull;
	CHECK_EQ(bpf_map__update_elem(fx->skel->maps.dep_flows, &key, sizeof(key), &flow,
				      sizeof(flow), BPF_EXIST),
		 0, "aged the entry");
	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).connects, 2, "a second connect");
	CHECK_EQ(stats_of(fx, &pg).timeouts, 0, "no timeout");
	CHECK_EQ(flow_of(fx, &pg).flags & GS_DEP_F_SYN_RETX, 0, "a fresh entry");
}

/* A SYN on the tuple of an established connection (its end never seen):
 * a new connection, not a timeout. */
static void dep_syn_on_established_tuple_is_new_connection(void **state)
{
	struct fx *fx = *state;

	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_SYN, NULL, 0);
	CHECK_EQ(stats_of(fx, &pg).connects, 2, "a second connect");
	CHECK_EQ(stats_of(fx, &pg).timeouts, 0, "no timeout");
	CHECK_EQ(flow_of(fx, &pg).state, GS_DEP_SYN_SENT, "the tuple's new connection waits");
}

/* ---- adoption ------------------------------------------------------------------ */

/*
 * A request on a connection opened before the watch (no SYN seen, no
 * entry) towards a port dep_kinds names: adopted as established, its
 * request counted and its answer a call, in the protocol dep_kinds names.
 */
static void dep_request_to_known_dependency_adopted(void **state)
{
	struct fx *fx = *state;
	struct gs_dep_stats want;
	struct gs_dep_flow flow;

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	flow = flow_of(fx, &pg);
	CHECK_EQ(flow.state, GS_DEP_ESTABLISHED, "adopted as established");
	CHECK_EQ(flow.phase, GS_DEP_REQUEST, "waiting for the answer");
	CHECK_EQ(flow.proto, GS_DEP_PROTO_POSTGRES, "in the port's protocol");
	memset(&want, 0, sizeof(want));
	want.requests = 1;
	check_stats(stats_of(fx, &pg), &want);
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_error));
	want.calls = 1;
	want.error_replies = 1;
	check_stats(stats_of(fx, &pg), &want);
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CALL), 1, "one call sample");
	CHECK_EQ(samples(fx, &pg, GS_DEP_HIST_CONNECT), 0, "no connect sample: none was seen");
	/* From here on the connection is followed as any other. */
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	out_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	want.requests = 2;
	want.calls = 2;
	want.closes = 1;
	check_stats(stats_of(fx, &pg), &want);
}

/*
 * What the backend sends without a SYN seen to a port no dep_kinds entry
 * names (its answer to its own client, from port 80 to the client's
 * ephemeral port), and the client's next request coming in: nothing
 * tracked, no slot taken, although the same packets to a known port would
 * be (the test above).
 */
static void dep_answer_to_client_not_tracked(void **state)
{
	struct fx *fx = *state;
	const struct conn client = {BACKEND, "10.9.9.9", 80, 40000};

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	fx_dep_kind_set(fx, NULL, 6379, GS_DEP_PROTO_REDIS);
	in_seg(fx, &client, PKT_ACK | PKT_PSH, LIT("GET / HTTP/1.1\r\n\r\n"));
	out_seg(fx, &client, PKT_ACK | PKT_PSH, LIT("HTTP/1.1 200 OK\r\n\r\n"));
	in_seg(fx, &client, PKT_ACK | PKT_PSH, LIT("GET / HTTP/1.1\r\n\r\n"));
	out_seg(fx, &client, PKT_ACK | PKT_PSH, LIT("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
	/* The backend as a server: the client's SYN in, the backend's SYN-ACK
	 * out: no connect of the backend's. */
	in_seg(fx, &client, PKT_SYN, NULL, 0);
	out_seg(fx, &client, PKT_SYN | PKT_ACK, NULL, 0);
	check_nothing_tracked(fx, "the backend's own clients are not followed");
}

/* Without a payload (an ACK, a FIN, an RST) nothing is adopted, even
 * towards a known dependency: no request to time. */
static void dep_no_adoption_without_payload(void **state)
{
	struct fx *fx = *state;

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	out_seg(fx, &pg, PKT_ACK, NULL, 0);
	out_seg(fx, &pg, PKT_FIN | PKT_ACK, NULL, 0);
	out_seg(fx, &pg, PKT_RST, NULL, 0);
	out_seg(fx, &pg, PKT_FIN | PKT_ACK | PKT_PSH, LIT("last bytes"));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_rows));
	check_nothing_tracked(fx, "nothing adopted without a request");
}

/* ---- the bound on pairs ---------------------------------------------------------- */

/*
 * GS_MAX_DEP_PAIRS pairs take every slot (ports 10000 + i of the
 * dependency); the next new pair counts GS_CNT_DEP_PAIRS_FULL and is not
 * followed, by SYN or by adoption; the pairs that have slots go on counting.
 */
static void dep_pairs_bounded(void **state)
{
	struct fx *fx = *state;
	struct conn c = pg, extra = {BACKEND, DEP, BPORT, 9999};
	uint32_t i, slot;

	for (i = 0; i < GS_MAX_DEP_PAIRS; i++) {
		c.dport = (uint16_t)(10000 + i);
		out_seg(fx, &c, PKT_SYN, NULL, 0);
		CHECK_EQ(fx_dep_slot(fx, c.backend, c.dep, c.dport, &slot), 0, "pair has a slot");
		CHECK_EQ(slot, i, "slots handed out in order");
	}
	CHECK_EQ(fx_dep_next(fx), GS_MAX_DEP_PAIRS, "every slot taken");
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 0, "no pair turned away yet");

	out_seg(fx, &extra, PKT_SYN, NULL, 0);
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 1, "the next new pair: PAIRS_FULL");
	CHECK_TRUE(!has_slot(fx, &extra), "no slot for it");
	CHECK_TRUE(!has_flow(fx, &extra), "its connection not followed");
	CHECK_EQ(fx_dep_next(fx), GS_MAX_DEP_PAIRS, "dep_next stays at the bound");
	in_seg(fx, &extra, PKT_SYN | PKT_ACK, NULL, 0);
	CHECK_TRUE(!has_flow(fx, &extra), "its SYN-ACK does not make it followed");

	/* Adoption of another new pair: turned away the same way. */
	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 2, "adoption: PAIRS_FULL");
	CHECK_TRUE(!has_slot(fx, &pg), "no slot for the adopted pair");
	CHECK_TRUE(!has_flow(fx, &pg), "nor followed");

	/* The first pair's connection goes on, and another of that pair. */
	c.dport = 10000;
	in_seg(fx, &c, PKT_SYN | PKT_ACK, NULL, 0);
	c.bport = BPORT + 1;
	handshake(fx, &c);
	CHECK_EQ(slot_of(fx, &c), 0, "the first pair keeps slot 0");
	CHECK_EQ(stats_of(fx, &c).connects, 2, "existing pair: its second connect counted");
	CHECK_EQ(stats_of(fx, &c).established, 2, "both established");
	out_seg(fx, &c, PKT_ACK | PKT_PSH, LIT("request"));
	in_seg(fx, &c, PKT_ACK | PKT_PSH, LIT("answer"));
	CHECK_EQ(stats_of(fx, &c).calls, 1, "existing pair: its call counted");
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 2, "existing pairs never count full");
	c.dport = 10000 + GS_MAX_DEP_PAIRS - 1;
	c.bport = BPORT;
	in_seg(fx, &c, PKT_SYN | PKT_ACK, NULL, 0);
	CHECK_EQ(stats_of(fx, &c).established, 1, "the last pair's handshake completes");
	CHECK_EQ(slot_of(fx, &c), GS_MAX_DEP_PAIRS - 1, "in the last slot");
}

/* ---- what the watch leaves alone ------------------------------------------------------ */

/*
 * Not TCP, or not a TCP header the watch can read: TC_ACT_OK, untouched,
 * nothing counted, both ways. The dependency's port is known and a
 * connection is waiting for its SYN-ACK, so each frame, were it taken for
 * TCP, would be adopted or end that connection.
 */
static void dep_not_tcp_or_malformed_untouched(void **state)
{
	struct fx *fx = *state;
	const struct conn waiting = {BACKEND, DEP, BPORT + 7, DEP_PORT};
	struct pkt_spec s;
	struct gs_dep_stats want;
	uint8_t frame[PKT_MAX];
	size_t len;

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	out_seg(fx, &waiting, PKT_SYN, NULL, 0);
	memset(&want, 0, sizeof(want));
	want.connects = 1;

	/* UDP with a payload, to and from the dependency's port. */
	s = seg_spec(&pg, true, 0, LIT(pg_query));
	s.proto = IPPROTO_UDP;
	len = pkt_build(&s, frame);
	run_frame(fx, true, frame, len, "UDP egress");
	s = seg_spec(&waiting, false, 0, LIT(pg_error));
	s.proto = IPPROTO_UDP;
	len = pkt_build(&s, frame);
	run_frame(fx, false, frame, len, "UDP ingress");

	/* A TCP header cut after its flags byte (14 of 20 bytes), IP length
	 * saying so: a payload segment out, an RST in. */
	s = seg_spec(&pg, true, PKT_ACK | PKT_PSH, NULL, 0);
	len = pkt_build(&s, frame);
	ip4_cut(frame, 14);
	run_frame(fx, true, frame, 14 + 20 + 14, "truncated TCP header, egress");
	s = seg_spec(&waiting, false, PKT_RST | PKT_ACK, NULL, 0);
	len = pkt_build(&s, frame);
	ip4_cut(frame, 14);
	run_frame(fx, false, frame, 14 + 20 + 14, "truncated TCP header, ingress");

	/* A TCP data offset longer than the segment: an RST in. */
	s = seg_spec(&waiting, false, PKT_RST | PKT_ACK, NULL, 0);
	len = pkt_build(&s, frame);
	frame[14 + 20 + 12] = 15 << 4;
	run_frame(fx, false, frame, len, "TCP data offset past the segment");

	/* An IP total length shorter than the IP header (the kernel's test
	 * run refuses a frame cut inside it): an RST in. */
	s = seg_spec(&waiting, false, PKT_RST | PKT_ACK, NULL, 0);
	len = pkt_build(&s, frame);
	frame[14 + 2] = 0;
	frame[14 + 3] = 16;
	run_frame(fx, false, frame, len, "IP total length inside the IP header");

	/* ARP: a request for the dependency's address, both ways. */
	memset(frame, 0, sizeof(frame));
	memcpy(frame, "\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x02\x08\x06", 14);
	memcpy(frame + 14, "\x00\x01\x08\x00\x06\x04\x00\x01", 8);
	memcpy(frame + 22, "\x02\x00\x00\x00\x00\x02\x0a\x01\x00\x02", 10);
	memcpy(frame + 38, "\x0a\x02\x00\x05", 4);
	run_frame(fx, true, frame, 60, "ARP egress");
	run_frame(fx, false, frame, 60, "ARP ingress");

	check_stats(stats_of(fx, &waiting), &want);
	CHECK_EQ(flow_of(fx, &waiting).state, GS_DEP_SYN_SENT,
		 "the waiting connection still waits");
	CHECK_TRUE(!has_flow(fx, &pg), "nothing adopted");
	CHECK_EQ(fx_dep_next(fx), 1, "no other slot taken");
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_FLOW_INSERT), 0, "no insert failure");
	CHECK_EQ(fx_counter(fx, GS_CNT_DEP_PAIRS_FULL), 0, "no pair turned away");
}

/* ---- IPv6 ------------------------------------------------------------------------------ */

/* The same watch over IPv6: handshake, a call answered with an error, FIN. */
static void dep_v6_handshake_and_call(void **state)
{
	struct fx *fx = *state;
	const struct conn c6 = {"fd01::2", "fd02::5", BPORT, DEP_PORT};
	const struct conn c4 = {"10.1.0.2", "10.2.0.5", BPORT, DEP_PORT};
	struct gs_dep_stats want;

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	out_seg(fx, &c6, PKT_SYN, NULL, 0);
	CHECK_EQ(flow_of(fx, &c6).state, GS_DEP_SYN_SENT, "IPv6 connection in SYN_SENT");
	in_seg(fx, &c6, PKT_SYN | PKT_ACK, NULL, 0);
	out_seg(fx, &c6, PKT_ACK, NULL, 0);
	CHECK_EQ(flow_of(fx, &c6).proto, GS_DEP_PROTO_POSTGRES, "port entry applies to IPv6");
	out_seg(fx, &c6, PKT_ACK | PKT_PSH, LIT(pg_query));
	in_seg(fx, &c6, PKT_ACK | PKT_PSH, LIT(pg_error));
	memset(&want, 0, sizeof(want));
	want.connects = 1;
	want.established = 1;
	want.requests = 1;
	want.calls = 1;
	want.error_replies = 1;
	check_stats(stats_of(fx, &c6), &want);
	CHECK_EQ(samples(fx, &c6, GS_DEP_HIST_CONNECT), 1, "one IPv6 connect sample");
	CHECK_EQ(samples(fx, &c6, GS_DEP_HIST_CALL), 1, "one IPv6 call sample");
	in_seg(fx, &c6, PKT_FIN | PKT_ACK, NULL, 0);
	want.closes = 1;
	check_stats(stats_of(fx, &c6), &want);
	CHECK_TRUE(!has_flow(fx, &c6), "IPv6 connection no longer followed");
	CHECK_TRUE(!has_slot(fx, &c4), "no IPv4 pair made of it");
}

/* ---- the fixture ----------------------------------------------------------------------- */

/*
 * fx_reset (run between tests) empties the watch's maps: dep_next (an
 * array whose value holds a bpf_spin_lock) back to slot 0, no pair, no
 * connection, counters and histograms zero, so the next test's first pair
 * takes slot 0 again.
 */
static void dep_fixture_reset_empties_the_watch(void **state)
{
	struct fx *fx = *state;
	const struct conn other = {BACKEND, "10.2.0.6", BPORT, DEP_PORT};

	fx_dep_kind_set(fx, NULL, 5432, GS_DEP_PROTO_POSTGRES);
	handshake(fx, &pg);
	out_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_query));
	in_seg(fx, &pg, PKT_ACK | PKT_PSH, LIT(pg_error));
	handshake(fx, &other);
	CHECK_EQ(fx_dep_next(fx), 2, "two slots taken");
	CHECK_EQ(fx_reset(fx), 0, "reset");
	check_nothing_tracked(fx, "after the reset");
	CHECK_EQ(bpf_map__get_next_key(fx->skel->maps.dep_kinds, NULL, (uint8_t[64]){0},
				       sizeof(struct gs_dep_kind_key)),
		 -ENOENT, "dep_kinds emptied");
	check_stats(fx_dep_stats(fx, 1), &(const struct gs_dep_stats){0});
	out_seg(fx, &other, PKT_SYN, NULL, 0);
	CHECK_EQ(slot_of(fx, &other), 0, "a pair after the reset takes slot 0 again");
	CHECK_EQ(fx_dep_next(fx), 1, "and dep_next counts from there");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(dep_handshake_counts_connect_and_latency),
		FX_TEST(dep_pairs_have_slots_of_their_own),
		FX_TEST(dep_request_and_answer_count_once),
		FX_TEST(dep_answer_without_request_is_no_call),
		FX_TEST(dep_postgres_error_response_is_error_reply),
		FX_TEST(dep_postgres_row_description_is_no_error),
		FX_TEST(dep_redis_error_is_error_reply),
		FX_TEST(dep_redis_ok_is_no_error),
		FX_TEST(dep_http_503_is_error_reply),
		FX_TEST(dep_http_200_is_no_error),
		FX_TEST(dep_port_without_kind_counts_no_error_replies),
		FX_TEST(dep_address_entry_wins_over_port_entry),
		FX_TEST(dep_rst_to_syn_is_refused),
		FX_TEST(dep_rst_in_on_established_is_reset),
		FX_TEST(dep_rst_out_on_established_is_reset),
		FX_TEST(dep_rst_out_on_syn_sent_is_close_only),
		FX_TEST(dep_fin_out_closes),
		FX_TEST(dep_fin_in_closes),
		FX_TEST(dep_syn_again_is_one_timeout),
		FX_TEST(dep_syn_on_established_tuple_is_new_connection),
		FX_TEST(dep_syn_after_stale_syn_sent_is_new_connection),
		FX_TEST(dep_request_to_known_dependency_adopted),
		FX_TEST(dep_answer_to_client_not_tracked),
		FX_TEST(dep_no_adoption_without_payload),
		FX_TEST(dep_pairs_bounded),
		FX_TEST(dep_not_tcp_or_malformed_untouched),
		FX_TEST(dep_v6_handshake_and_call),
		FX_TEST(dep_fixture_reset_empties_the_watch),
	};

	return cmocka_run_group_tests_name("bpf_downstream", tests, NULL, NULL);
}
