// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Per-backend signals (issue 3): crafted connections through both programs,
 * then what backend_stats, the latency histograms and the events ring say.
 */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "gs_hist.h"

#define FX_TEST(fn)	  cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
#define FX_TEST_SMALL(fn) cmocka_unit_test_setup_teardown(fn, fx_setup_small_ring, fx_teardown)

#define MAX_EVENTS 256

static const char http_503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

/*
 * A backend's packet to the client, with this payload (NULL: none) and
 * padding bytes of '0' after the IP packet, as Ethernet pads a short frame.
 */
static void send_reply_padded(const struct scenario *sc, uint32_t backend_id,
			      const struct pkt_spec *client, uint8_t tcp_flags, const char *payload,
			      size_t padding)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct pkt_spec reply = sc_reply_pkt(sc, backend_id, client, tcp_flags);
	size_t len, out_len;

	reply.payload = payload;
	reply.payload_len = payload ? strlen(payload) : 0;
	len = pkt_build(&reply, in);
	memset(in + len, '0', padding);
	len += padding;
	CHECK_EQ(fx_run_tc(sc->fx, in, len, out, &out_len), TC_ACT_OK, "reply verdict TC_ACT_OK");
}

static void send_reply(const struct scenario *sc, uint32_t backend_id,
		       const struct pkt_spec *client, uint8_t tcp_flags, const char *payload)
{
	send_reply_padded(sc, backend_id, client, tcp_flags, payload, 0);
}

/* A client packet (payload when PKT_PSH, see sc_client_pkt) through XDP. */
static uint32_t send_client(const struct scenario *sc, uint16_t sport, uint8_t tcp_flags)
{
	struct pkt_spec pkt = sc_client_pkt(sc, sport, tcp_flags);

	return sc_forward(sc, &pkt);
}

/* SYN, SYN-ACK, ACK: an accepted connection; returns its backend. */
static uint32_t handshake(const struct scenario *sc, uint16_t sport)
{
	struct pkt_spec syn = sc_client_pkt(sc, sport, PKT_SYN);
	uint32_t id = sc_forward(sc, &syn);

	send_reply(sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	CHECK_EQ(send_client(sc, sport, PKT_ACK), id, "ACK keeps the backend");
	return id;
}

static struct gs_flow flow_of(const struct scenario *sc, const struct pkt_spec *client)
{
	struct gs_flow_key key = sc_flow_key(client);
	struct gs_flow flow;

	CHECK_EQ(fx_flow_get(sc->fx, &key, &flow), 0, "flow entry exists");
	return flow;
}

static uint64_t hist_total(struct fx *fx, uint32_t backend_id, enum gs_hist_kind kind)
{
	struct gs_hist hist = fx_hist(fx, backend_id, kind);

	return fx_hist_total(&hist);
}

/* The one bucket holding samples; fails unless exactly one sample. */
static uint32_t only_bucket(struct fx *fx, uint32_t backend_id, enum gs_hist_kind kind)
{
	struct gs_hist hist = fx_hist(fx, backend_id, kind);
	uint32_t b, found = GS_HIST_BUCKETS;

	CHECK_EQ(fx_hist_total(&hist), 1, "exactly one sample in the histogram");
	for (b = 0; b < GS_HIST_BUCKETS; b++)
		if (hist.bucket[b])
			found = b;
	return found;
}

/* The event of a sequence: exactly one, of this type, from this backend. */
static struct gs_event one_event(const struct scenario *sc, uint8_t type, uint32_t backend_id)
{
	struct gs_event events[MAX_EVENTS];
	struct gs_backend backend = fx_backend_get(sc->fx, backend_id);

	CHECK_EQ(fx_events_drain(sc->fx, events, MAX_EVENTS), 1, "exactly one event");
	CHECK_EQ(events[0].type, type, "event type");
	CHECK_EQ(events[0].backend_id, backend_id, "event backend id");
	CHECK_EQ(events[0].service_id, sc->service_id, "event service id");
	CHECK_EQ(events[0].group, backend.group, "event group is the backend's");
	CHECK_NE(events[0].ts_ns, 0, "event has a timestamp");
	return events[0];
}

static void check_no_event(struct fx *fx, const char *what)
{
	struct gs_event events[MAX_EVENTS];

	CHECK_EQ(fx_events_drain(fx, events, MAX_EVENTS), 0, what);
}

/* Read and forget what a sequence's setup emitted. */
static void discard_events(struct fx *fx)
{
	struct gs_event events[MAX_EVENTS];

	fx_events_drain(fx, events, MAX_EVENTS);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void check_synack_one_connect_sample(struct fx *fx, bool v6)
{
	struct gs_backend_stats bs;
	struct pkt_spec syn;
	struct scenario sc;
	struct gs_event ev;
	uint32_t id;

	sc_setup(&sc, fx, v6, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	CHECK_EQ(hist_total(fx, id, GS_HIST_CONNECT), 0, "no sample before the SYN-ACK");
	send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);

	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.connects, 1, "connects");
	CHECK_EQ(bs.conn_refused + bs.conn_timeouts + bs.resets + bs.responses, 0,
		 "nothing else counted");
	ev = one_event(&sc, GS_EV_CONNECT, id);
	CHECK_EQ(only_bucket(fx, id, GS_HIST_CONNECT), gs_hist_bucket(ev.value),
		 "the sample is in the bucket of the event's latency");
	CHECK_EQ(hist_total(fx, id, GS_HIST_TTFB), 0, "no time-to-first-byte sample");
	CHECK_TRUE(flow_of(&sc, &syn).rev_flags & GS_REV_F_SYNACK, "flow entry marks SYN-ACK");

	send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	CHECK_EQ(fx_backend_stats(fx, id).connects, 1, "retransmitted SYN-ACK: connects stays");
	CHECK_EQ(hist_total(fx, id, GS_HIST_CONNECT), 1, "retransmitted SYN-ACK: no sample");
	check_no_event(fx, "retransmitted SYN-ACK: no event");
	CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS), 1, "GS_CNT_EVENTS");
	CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS_DROPPED), 0, "GS_CNT_EVENTS_DROPPED");
}

static void signals_v4_synack_one_connect_sample(void **state)
{
	check_synack_one_connect_sample(*state, false);
}

static void signals_v6_synack_one_connect_sample(void **state)
{
	check_synack_one_connect_sample(*state, true);
}

static void signals_selection_fills_flow_entry(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct gs_flow flow;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	flow = flow_of(&sc, &syn);
	CHECK_EQ(flow.service_id, sc.service_id, "flow service_id");
	CHECK_EQ(flow.backend_id, id, "flow backend_id");
	CHECK_EQ(flow.group, GS_GROUP_CANARY, "flow group");
	CHECK_NE(flow.created_ns, 0, "flow created_ns: the first SYN's time");
	CHECK_EQ(flow.rev_flags, 0, "flow rev_flags");
	CHECK_EQ(flow.req_ns, 0, "flow req_ns");
}

static void signals_retransmitted_syn_is_one_timeout(void **state)
{
	struct gs_flow first, later;
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	struct gs_event ev;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	first = flow_of(&sc, &syn);
	CHECK_EQ(fx_backend_stats(fx, id).conn_timeouts, 0, "first SYN is no timeout");
	check_no_event(fx, "first SYN: no event");

	sleep_ms(20);
	CHECK_EQ(sc_forward(&sc, &syn), id, "retransmitted SYN keeps the backend");
	CHECK_EQ(fx_backend_stats(fx, id).conn_timeouts, 1, "retransmitted SYN: one timeout");
	one_event(&sc, GS_EV_TIMEOUT, id);
	later = flow_of(&sc, &syn);
	CHECK_TRUE(later.flags & GS_FLOW_F_SYN_RETRANSMIT, "flow marks the retransmission");

	CHECK_EQ(sc_forward(&sc, &syn), id, "third SYN keeps the backend");
	CHECK_EQ(fx_backend_stats(fx, id).conn_timeouts, 1, "third SYN: still one timeout");
	check_no_event(fx, "third SYN: no event");
	later = flow_of(&sc, &syn);
	CHECK_EQ(later.created_ns, first.created_ns, "flow keeps created_ns: the first SYN's time");

	send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	ev = one_event(&sc, GS_EV_CONNECT, id);
	CHECK_TRUE(ev.value >= 20000, "connect latency runs from the first SYN (>= 20 ms)");
	CHECK_TRUE(only_bucket(fx, id, GS_HIST_CONNECT) >= gs_hist_bucket(20000),
		   "histogram sample >= 20 ms");
	CHECK_EQ(fx_backend_stats(fx, id).connects, 1, "connects");
}

static void signals_syn_after_synack_is_no_timeout(void **state)
{
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	CHECK_EQ(sc_forward(&sc, &syn), id, "SYN again after the SYN-ACK keeps the backend");
	CHECK_EQ(fx_backend_stats(fx, id).conn_timeouts, 0,
		 "the backend answered: the lost SYN-ACK is no timeout");
	one_event(&sc, GS_EV_CONNECT, id);
}

static void signals_rst_answering_syn_is_refused(void **state)
{
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	send_reply(&sc, id, &syn, PKT_RST | PKT_ACK, NULL);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.conn_refused, 1, "conn_refused");
	CHECK_EQ(bs.resets, 0, "not a reset");
	CHECK_EQ(bs.connects, 0, "no connect");
	one_event(&sc, GS_EV_REFUSED, id);
	CHECK_EQ(hist_total(fx, id, GS_HIST_CONNECT), 0, "no connect sample");

	send_reply(&sc, id, &syn, PKT_RST | PKT_ACK, NULL);
	CHECK_EQ(fx_backend_stats(fx, id).conn_refused, 1, "second RST: still one refused");
	check_no_event(fx, "second RST: no event");
}

static void signals_rst_after_synack_is_reset(void **state)
{
	struct gs_event events[MAX_EVENTS];
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = handshake(&sc, 40000);
	CHECK_EQ(fx_events_drain(fx, events, MAX_EVENTS), 1, "the connect event");
	send_reply(&sc, id, &syn, PKT_RST | PKT_ACK, NULL);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.resets, 1, "resets");
	CHECK_EQ(bs.conn_refused, 0, "not refused");
	CHECK_EQ(bs.connects, 1, "the connect before it");
	one_event(&sc, GS_EV_RESET, id);
	send_reply(&sc, id, &syn, PKT_RST, NULL);
	CHECK_EQ(fx_backend_stats(fx, id).resets, 1, "second RST: still one reset");
	check_no_event(fx, "second RST: no event");
}

/* The first response's status counted by class, and one TTFB sample. */
struct response_case {
	const char *payload;
	uint32_t status; /* 0: not an HTTP/1.x status line */
};

static uint64_t class_count(const struct gs_backend_stats *bs, uint32_t cls)
{
	const uint64_t counts[] = {
		0, bs->http_1xx, bs->http_2xx, bs->http_3xx, bs->http_4xx, bs->http_5xx};

	return cls < 6 ? counts[cls] : 0;
}

static void check_response(struct fx *fx, const struct response_case *rc)
{
	struct gs_backend_stats bs;
	struct pkt_spec syn;
	struct scenario sc;
	struct gs_event ev;
	uint32_t id, cls;
	uint64_t req_ns;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = handshake(&sc, 40000);
	discard_events(fx);
	CHECK_EQ(flow_of(&sc, &syn).req_ns, 0, "no request yet");
	send_client(&sc, 40000, PKT_PSH | PKT_ACK);
	req_ns = flow_of(&sc, &syn).req_ns;
	CHECK_NE(req_ns, 0, "request payload sets req_ns");
	send_client(&sc, 40000, PKT_PSH | PKT_ACK);
	CHECK_EQ(flow_of(&sc, &syn).req_ns, req_ns, "second request packet keeps req_ns");

	send_reply(&sc, id, &syn, PKT_PSH | PKT_ACK, rc->payload);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 1, "responses");
	for (cls = 1; cls <= 5; cls++)
		CHECK_EQ(class_count(&bs, cls), rc->status / 100 == cls ? 1 : 0,
			 "http class counters");
	ev = one_event(&sc, GS_EV_RESPONSE, id);
	CHECK_EQ(ev.value, rc->status, "event value is the HTTP status");
	CHECK_EQ(only_bucket(fx, id, GS_HIST_TTFB), gs_hist_bucket(ev.value2),
		 "one TTFB sample, in the bucket of the event's TTFB");
	CHECK_TRUE(flow_of(&sc, &syn).rev_flags & GS_REV_F_RESPONSE, "flow entry marks it");

	send_reply(&sc, id, &syn, PKT_PSH | PKT_ACK, http_503);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 1, "second response packet: responses stays");
	CHECK_EQ(bs.http_5xx, rc->status / 100 == 5 ? 1 : 0, "second response packet: no class");
	CHECK_EQ(hist_total(fx, id, GS_HIST_TTFB), 1, "second response packet: no sample");
	check_no_event(fx, "second response packet: no event");
}

static void signals_http_503_is_one_5xx(void **state)
{
	const struct response_case rc = {http_503, 503};

	check_response(*state, &rc);
}

static void signals_http_200_is_one_2xx(void **state)
{
	const struct response_case rc = {"HTTP/1.1 200 OK\r\n\r\n", 200};

	check_response(*state, &rc);
}

static void signals_http_404_is_one_4xx(void **state)
{
	const struct response_case rc = {"HTTP/1.0 404 Not Found\r\n\r\n", 404};

	check_response(*state, &rc);
}

static void signals_http_1xx_and_3xx_counted(void **state)
{
	const struct response_case rc1 = {"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101};
	const struct response_case rc3 = {"HTTP/1.1 302 Found\r\n\r\n", 302};

	check_response(*state, &rc1);
	fx_teardown(state);
	CHECK_EQ(fx_setup(state), 0, "fresh fixture");
	check_response(*state, &rc3);
}

static void signals_non_http_response_has_no_class(void **state)
{
	static const char *const payloads[] = {
		"SSH-2.0-OpenSSH_9.2\r\n",   "HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.1 600 Nope\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",   "HTTP/1.1 20", /* 11 bytes: too short for a status */
		"http/1.1 200 OK\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		const struct response_case rc = {payloads[i], 0};

		if (i) {
			fx_teardown(state);
			CHECK_EQ(fx_setup(state), 0, "fresh fixture");
		}
		check_response(*state, &rc);
	}
}

static void signals_reply_payload_before_request_no_ttfb(void **state)
{
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = handshake(&sc, 40000);
	discard_events(fx);
	send_reply(&sc, id, &syn, PKT_PSH | PKT_ACK, "220 smtp.example ESMTP\r\n");
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 0, "a greeting before any request is no response");
	CHECK_EQ(hist_total(fx, id, GS_HIST_TTFB), 0, "no TTFB sample");
	check_no_event(fx, "no event");

	/* The answer to the first request is then the response measured. */
	send_client(&sc, 40000, PKT_PSH | PKT_ACK);
	send_reply(&sc, id, &syn, PKT_PSH | PKT_ACK, http_503);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 1, "answer to the first request counted");
	CHECK_EQ(bs.http_5xx, 1, "its status");
	one_event(&sc, GS_EV_RESPONSE, id);
}

/* A flow picked up mid-stream (entry evicted) measures no handshake or
 * response it never saw; a later RST is a reset, not a refusal. */
static void signals_flow_recovered_mid_stream_measures_nothing(void **state)
{
	struct pkt_spec syn;
	struct gs_backend_stats bs;
	struct gs_flow_key key;
	struct fx *fx = *state;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = sc_forward(&sc, &syn);
	key = sc_flow_key(&syn);
	fx_flow_del(fx, &key);

	CHECK_EQ(send_client(&sc, 40000, PKT_PSH | PKT_ACK), id, "recovered on the same backend");
	CHECK_EQ(fx_counter(fx, GS_CNT_FLOW_MISSING), 1, "counted as missing");
	send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	send_reply(&sc, id, &syn, PKT_PSH | PKT_ACK, http_503);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.connects, 0, "no connect measured mid-stream");
	CHECK_EQ(bs.responses + bs.http_5xx, 0, "no response measured mid-stream");
	send_reply(&sc, id, &syn, PKT_RST, NULL);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.resets, 1, "RST mid-stream is a reset");
	CHECK_EQ(bs.conn_refused, 0, "not a refusal");
	one_event(&sc, GS_EV_RESET, id);
}

/* The events of a sequence, all of one type: how many. */
static size_t events_of(struct fx *fx, uint8_t type, struct gs_event *events)
{
	size_t n = fx_events_drain(fx, events, MAX_EVENTS), i;

	for (i = 0; i < n; i++)
		CHECK_EQ(events[i].type, type, "event type");
	return n;
}

/* A UDP flow's first answer is its "connect" and its response, timed from
 * its first datagram; a non-DNS answer has no class; later datagrams of
 * the flow observe nothing more. */
static void signals_udp_first_answer_is_one_connect(void **state)
{
	struct gs_event events[MAX_EVENTS];
	struct gs_backend_stats bs;
	struct gs_udp_slot slot;
	struct gs_flow flow;
	struct fx *fx = *state;
	struct pkt_spec req;
	struct scenario sc;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_UDP, GS_HASH_FLOW);
	req = sc_client_pkt(&sc, 40000, 0);
	id = sc_forward(&sc, &req);
	sc_forward(&sc, &req);
	flow = flow_of(&sc, &req);
	CHECK_EQ(flow.rev_flags, 0, "a new UDP flow has nothing seen");
	send_reply(&sc, id, &req, 0, http_503);
	send_reply(&sc, id, &req, 0, http_503);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.new_flows, 1, "UDP new flow");
	CHECK_EQ(bs.packets, 2, "UDP packets");
	CHECK_EQ(bs.rx_packets, 2, "UDP reply packets");
	CHECK_EQ(bs.connects, 1, "the first answer is the flow's connect");
	CHECK_EQ(bs.responses, 1, "... and its one response");
	CHECK_EQ(bs.http_5xx + bs.dns_answers, 0, "UDP on port 80 has no answer class");
	CHECK_EQ(hist_total(fx, id, GS_HIST_TTFB), 1, "one time-to-answer sample");
	CHECK_EQ(hist_total(fx, id, GS_HIST_CONNECT), 0, "no handshake to time");
	CHECK_EQ(events_of(fx, GS_EV_ANSWER, events), 1, "one answer event");
	CHECK_EQ(events[0].value2, 0, "no DNS header read");
	CHECK_EQ(events[0].backend_id, id, "event backend");
	slot = fx_udp_slot(fx, id, flow.created_ns);
	CHECK_EQ(slot.started, 1, "one flow started in its slot");
	CHECK_EQ(slot.answered, 1, "... and answered");
}

/* Flows that get no answer stay started and unanswered in their slot:
 * what the agent counts once the slot is older than the answer bound. */
static void signals_udp_unanswered_flows_stay_in_their_slot(void **state)
{
	uint64_t epochs[4], started = 0, answered = 0;
	struct pkt_spec req[4];
	struct fx *fx = *state;
	struct gs_udp_slot slot;
	struct scenario sc;
	uint32_t id[4];
	int i, j, n = 0;

	sc_setup(&sc, fx, false, IPPROTO_UDP, GS_HASH_FLOW);
	/* All on one backend: the canary alone (100%). */
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	for (i = 0; i < 4; i++) {
		req[i] = sc_client_pkt(&sc, (uint16_t)(41000 + i), 0);
		id[i] = sc_forward(&sc, &req[i]);
		CHECK_EQ(id[i], sc.canary[0], "all to the canary");
	}
	send_reply(&sc, id[0], &req[0], 0, "pong");
	/* Each distinct start slot once (a slot edge may fall between). */
	for (i = 0; i < 4; i++) {
		uint64_t e = flow_of(&sc, &req[i]).created_ns >> GS_UDP_SLOT_SHIFT;

		for (j = 0; j < n && epochs[j] != e; j++)
			;
		if (j == n)
			epochs[n++] = e;
	}
	for (j = 0; j < n; j++) {
		slot = fx_udp_slot(fx, sc.canary[0], epochs[j] << GS_UDP_SLOT_SHIFT);
		started += slot.started;
		answered += slot.answered;
	}
	CHECK_EQ(started, 4, "four flows started");
	CHECK_EQ(answered, 1, "one answered, three left for the agent to judge");
	CHECK_EQ(fx_backend_stats(fx, sc.canary[0]).conn_timeouts, 0,
		 "the data path itself counts no UDP timeout");
}

/* A DNS header (RFC 1035 4.1.1) as a server answers: QR set, this RCODE,
 * one question of "a." type A. Over TCP with its two-byte length first. */
static size_t dns_answer(uint8_t *buf, uint8_t rcode, bool query, bool tcp)
{
	static const uint8_t question[] = {1, 'a', 0, 0, 1, 0, 1};
	size_t off = tcp ? 2 : 0, len = 12 + sizeof(question);

	memset(buf, 0, off + len);
	buf[off + 0] = 0x12;
	buf[off + 1] = 0x34;
	buf[off + 2] = query ? 0x01 : 0x81;	/* QR, RD */
	buf[off + 3] = (uint8_t)(0x80 | rcode); /* RA, RCODE */
	buf[off + 5] = 1;			/* QDCOUNT */
	memcpy(buf + off + 12, question, sizeof(question));
	if (tcp) {
		buf[0] = 0;
		buf[1] = (uint8_t)len;
	}
	return off + len;
}

static void send_reply_bytes(const struct scenario *sc, uint32_t backend_id,
			     const struct pkt_spec *client, uint8_t tcp_flags,
			     const uint8_t *payload, size_t payload_len)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	struct pkt_spec reply = sc_reply_pkt(sc, backend_id, client, tcp_flags);
	size_t len, out_len;

	reply.payload = payload;
	reply.payload_len = payload_len;
	len = pkt_build(&reply, in);
	CHECK_EQ(fx_run_tc(sc->fx, in, len, out, &out_len), TC_ACT_OK, "reply verdict TC_ACT_OK");
}

/* DNS on UDP port 53: every answer's RCODE is read; SERVFAIL and REFUSED
 * are counted apart, NXDOMAIN is an ordinary answer. */
static void check_dns_udp_rcodes(struct fx *fx, bool v6)
{
	static const uint8_t rcodes[] = {0, 2, 5, 3, 2};
	struct gs_event events[MAX_EVENTS];
	struct gs_backend_stats bs = {0}, one;
	uint8_t payload[64];
	struct pkt_spec req;
	struct scenario sc;
	size_t i, n;
	uint32_t id;

	sc_setup_port(&sc, fx, v6, IPPROTO_UDP, GS_HASH_FLOW, 53);
	for (i = 0; i < sizeof(rcodes); i++) {
		req = sc_client_pkt(&sc, (uint16_t)(42000 + i), 0);
		id = sc_forward(&sc, &req);
		send_reply_bytes(&sc, id, &req, 0, payload,
				 dns_answer(payload, rcodes[i], false, false));
	}
	for (id = 0; id < 32; id++) {
		if (id != sc.stable[0] && id != sc.stable[1] && id != sc.canary[0])
			continue;
		one = fx_backend_stats(fx, id);
		bs.responses += one.responses;
		bs.dns_answers += one.dns_answers;
		bs.dns_servfail += one.dns_servfail;
		bs.dns_refused += one.dns_refused;
		bs.http_5xx += one.http_5xx;
	}
	CHECK_EQ(bs.responses, 5, "five answers");
	CHECK_EQ(bs.dns_answers, 5, "five DNS headers read");
	CHECK_EQ(bs.dns_servfail, 2, "two SERVFAIL");
	CHECK_EQ(bs.dns_refused, 1, "one REFUSED");
	CHECK_EQ(bs.http_5xx, 0, "no HTTP class");
	n = events_of(fx, GS_EV_ANSWER, events);
	CHECK_EQ(n, 5, "an answer event each");
	for (i = 0; i < n; i++)
		CHECK_EQ(events[i].value2, (uint32_t)rcodes[i] + 1, "event carries RCODE + 1");
}

static void signals_dns_udp_rcodes_v4(void **state)
{
	check_dns_udp_rcodes(*state, false);
}

static void signals_dns_udp_rcodes_v6(void **state)
{
	check_dns_udp_rcodes(*state, true);
}

/* A datagram without QR, or shorter than the fixed header, from a DNS
 * port is an answer without a DNS class. */
static void signals_dns_not_an_answer_has_no_class(void **state)
{
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	uint8_t payload[64];
	struct pkt_spec req;
	struct scenario sc;
	uint32_t id;

	sc_setup_port(&sc, fx, false, IPPROTO_UDP, GS_HASH_FLOW, 53);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	req = sc_client_pkt(&sc, 43000, 0);
	id = sc_forward(&sc, &req);
	send_reply_bytes(&sc, id, &req, 0, payload, dns_answer(payload, 2, true, false));
	req = sc_client_pkt(&sc, 43001, 0);
	id = sc_forward(&sc, &req);
	dns_answer(payload, 2, false, false);
	send_reply_bytes(&sc, id, &req, 0, payload, 11);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 2, "two answers");
	CHECK_EQ(bs.dns_answers + bs.dns_servfail, 0, "neither is a DNS answer");
}

/* DNS over TCP: the RCODE after the two-byte length; the response is no
 * HTTP response. */
static void signals_dns_tcp_refused(void **state)
{
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	struct pkt_spec syn;
	uint8_t payload[64];
	struct scenario sc;
	struct gs_event ev;
	uint32_t id;

	sc_setup_port(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW, 53);
	syn = sc_client_pkt(&sc, 44000, PKT_SYN);
	id = handshake(&sc, 44000);
	discard_events(fx);
	send_client(&sc, 44000, PKT_PSH | PKT_ACK);
	send_reply_bytes(&sc, id, &syn, PKT_PSH | PKT_ACK, payload,
			 dns_answer(payload, 5, false, true));
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 1, "one response");
	CHECK_EQ(bs.dns_answers, 1, "a DNS answer");
	CHECK_EQ(bs.dns_refused, 1, "REFUSED");
	CHECK_EQ(bs.http_5xx, 0, "not HTTP");
	ev = one_event(&sc, GS_EV_ANSWER, id);
	CHECK_EQ(ev.value2, 6, "RCODE 5 + 1");
}

/* A status line cut short is no status, even when the frame's padding
 * would complete it ("HTTP/1.1 20" + "0"). */
static void signals_status_not_read_past_payload(void **state)
{
	struct gs_backend_stats bs;
	struct fx *fx = *state;
	struct pkt_spec syn;
	struct scenario sc;
	struct gs_event ev;
	uint32_t id;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn = sc_client_pkt(&sc, 40000, PKT_SYN);
	id = handshake(&sc, 40000);
	discard_events(fx);
	send_client(&sc, 40000, PKT_PSH | PKT_ACK);
	send_reply_padded(&sc, id, &syn, PKT_PSH | PKT_ACK, "HTTP/1.1 20", 6);
	bs = fx_backend_stats(fx, id);
	CHECK_EQ(bs.responses, 1, "a response");
	CHECK_EQ(bs.http_2xx, 0, "no status read from the padding");
	ev = one_event(&sc, GS_EV_RESPONSE, id);
	CHECK_EQ(ev.value, 0, "event carries no status");
}

/* Two flows, one on a stable backend and one on the canary: every count
 * lands on its own backend and nowhere else. */
static void signals_counted_per_backend(void **state)
{
	struct gs_backend_stats st, ca, other;
	struct gs_event events[MAX_EVENTS];
	struct pkt_spec syn_st, syn_ca;
	struct fx *fx = *state;
	uint32_t id_st, id_ca, other_id;
	struct scenario sc;
	size_t n, i;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	syn_st = sc_client_pkt(&sc, 40000, PKT_SYN);
	id_st = handshake(&sc, 40000);
	fx_split_set(fx, sc.service_id, GS_PPM_MAX);
	syn_ca = sc_client_pkt(&sc, 40001, PKT_SYN);
	id_ca = handshake(&sc, 40001);
	CHECK_EQ(fx_backend_get(fx, id_st).group, GS_GROUP_STABLE, "first flow on stable");
	CHECK_EQ(id_ca, sc.canary[0], "second flow on the canary");
	other_id = id_st == sc.stable[0] ? sc.stable[1] : sc.stable[0];

	send_client(&sc, 40000, PKT_PSH | PKT_ACK);
	send_client(&sc, 40001, PKT_PSH | PKT_ACK);
	send_reply(&sc, id_st, &syn_st, PKT_PSH | PKT_ACK, "HTTP/1.1 200 OK\r\n\r\n");
	send_reply(&sc, id_ca, &syn_ca, PKT_PSH | PKT_ACK, http_503);
	send_reply(&sc, id_ca, &syn_ca, PKT_RST, NULL);

	st = fx_backend_stats(fx, id_st);
	ca = fx_backend_stats(fx, id_ca);
	other = fx_backend_stats(fx, other_id);
	CHECK_EQ(st.connects, 1, "stable connects");
	CHECK_EQ(st.responses, 1, "stable responses");
	CHECK_EQ(st.http_2xx, 1, "stable 2xx");
	CHECK_EQ(st.http_5xx + st.resets, 0, "no canary errors on stable");
	CHECK_EQ(ca.connects, 1, "canary connects");
	CHECK_EQ(ca.responses, 1, "canary responses");
	CHECK_EQ(ca.http_5xx, 1, "canary 5xx");
	CHECK_EQ(ca.resets, 1, "canary resets");
	CHECK_EQ(ca.http_2xx, 0, "no stable answers on the canary");
	CHECK_EQ(other.connects + other.responses + other.new_flows, 0, "idle backend untouched");
	CHECK_EQ(hist_total(fx, id_st, GS_HIST_CONNECT), 1, "stable connect sample");
	CHECK_EQ(hist_total(fx, id_ca, GS_HIST_CONNECT), 1, "canary connect sample");
	CHECK_EQ(hist_total(fx, id_st, GS_HIST_TTFB), 1, "stable TTFB sample");
	CHECK_EQ(hist_total(fx, id_ca, GS_HIST_TTFB), 1, "canary TTFB sample");
	CHECK_EQ(hist_total(fx, other_id, GS_HIST_CONNECT) + hist_total(fx, other_id, GS_HIST_TTFB),
		 0, "idle backend has no samples");

	n = fx_events_drain(fx, events, MAX_EVENTS);
	CHECK_EQ(n, 5, "2 connects, 2 responses, 1 reset");
	for (i = 0; i < n; i++) {
		uint8_t want = events[i].backend_id == id_ca ? GS_GROUP_CANARY : GS_GROUP_STABLE;

		CHECK_TRUE(events[i].backend_id == id_st || events[i].backend_id == id_ca,
			   "event from one of the two backends");
		CHECK_EQ(events[i].group, want, "event group matches its backend");
		if (events[i].type == GS_EV_RESPONSE)
			CHECK_EQ(events[i].value, events[i].backend_id == id_ca ? 503 : 200,
				 "response status on its backend");
		if (events[i].type == GS_EV_RESET)
			CHECK_EQ(events[i].backend_id, id_ca, "reset from the canary");
	}
}

/* More connects than the small ring holds: the ring drops, counters do not. */
static void signals_full_ring_counts_drops_keeps_counters(void **state)
{
	struct gs_event events[MAX_EVENTS];
	uint64_t connects = 0, samples = 0, sent, dropped;
	struct fx *fx = *state;
	struct scenario sc;
	const uint16_t flows = 150;
	uint32_t ids[3];
	uint16_t i;
	size_t n, k;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	for (i = 0; i < flows; i++) {
		struct pkt_spec syn = sc_client_pkt(&sc, 30000 + i, PKT_SYN);
		uint32_t id = sc_forward(&sc, &syn);

		send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	}
	ids[0] = sc.stable[0];
	ids[1] = sc.stable[1];
	ids[2] = sc.canary[0];
	for (k = 0; k < 3; k++) {
		connects += fx_backend_stats(fx, ids[k]).connects;
		samples += hist_total(fx, ids[k], GS_HIST_CONNECT);
	}
	CHECK_EQ(connects, flows, "connects exact despite the full ring");
	CHECK_EQ(samples, flows, "histogram samples exact despite the full ring");
	sent = fx_counter(fx, GS_CNT_EVENTS);
	dropped = fx_counter(fx, GS_CNT_EVENTS_DROPPED);
	CHECK_TRUE(dropped > 0, "events_dropped counts the overflow");
	CHECK_EQ(sent + dropped, flows, "every event either written or counted as dropped");
	n = fx_events_drain(fx, events, MAX_EVENTS);
	CHECK_EQ(n, sent, "the reader gets exactly the events counted as written");
	CHECK_TRUE(n * (sizeof(struct gs_event) + 8) <= FX_RING_SMALL, "ring held what it could");

	/* Once read, the ring takes events again. */
	{
		struct pkt_spec syn = sc_client_pkt(&sc, 20000, PKT_SYN);
		uint32_t id = sc_forward(&sc, &syn);

		send_reply(&sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
		one_event(&sc, GS_EV_CONNECT, id);
		CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS_DROPPED), dropped, "no new drop");
	}
}

/* Wake-ups: a reader sleeping in epoll (ring_buffer__poll) is not woken by
 * latency samples, is woken by an error even behind un-read samples, and
 * by any event once the ring is a quarter full. */
struct wake_count {
	size_t n;
};

static int count_event(void *ctx, void *data, size_t size)
{
	struct wake_count *wc = ctx;

	(void)data;
	(void)size;
	wc->n++;
	return 0;
}

static void connect_one(const struct scenario *sc, uint16_t sport, uint8_t reply_flags)
{
	struct pkt_spec syn = sc_client_pkt(sc, sport, PKT_SYN);
	uint32_t id = sc_forward(sc, &syn);

	send_reply(sc, id, &syn, reply_flags, NULL);
}

static void signals_samples_do_not_wake_errors_and_fill_do(void **state)
{
	const size_t record = sizeof(struct gs_event) + 8; /* BPF_RINGBUF_HDR_SZ */
	const size_t quarter = (FX_RING_SMALL / 4 + record - 1) / record;
	struct wake_count wc = {0};
	struct fx *fx = *state;
	struct ring_buffer *rb;
	struct scenario sc;
	uint16_t sport = 30000;
	size_t i;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	rb = ring_buffer__new(bpf_map__fd(fx->skel->maps.events), count_event, &wc, NULL);
	CHECK_TRUE(rb != NULL, "ring_buffer__new");

	connect_one(&sc, sport++, PKT_SYN | PKT_ACK);
	CHECK_EQ(ring_buffer__poll(rb, 50), 0, "a connect sample does not wake the reader");
	connect_one(&sc, sport++, PKT_RST | PKT_ACK);
	CHECK_EQ(ring_buffer__poll(rb, 1000), 2, "a refusal wakes it, behind the sample");
	/* epoll is level-triggered: a woken reader's next wait looks at the
	 * ring again whatever happens. Only after it found the ring empty is
	 * it asleep, waiting for a wake-up. */
	CHECK_EQ(ring_buffer__poll(rb, 0), 0, "reader caught up");

	/* Samples up to just under a quarter of the ring: no wake-up. */
	for (i = 0; i + 1 < quarter; i++)
		connect_one(&sc, sport++, PKT_SYN | PKT_ACK);
	CHECK_EQ(ring_buffer__poll(rb, 50), 0, "samples under the fill level sleep");
	connect_one(&sc, sport++, PKT_SYN | PKT_ACK);
	CHECK_EQ(ring_buffer__poll(rb, 1000), (int)quarter, "the fill level wakes the reader");
	CHECK_EQ(wc.n, quarter + 2, "every event read");
	ring_buffer__free(rb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(signals_v4_synack_one_connect_sample),
		FX_TEST(signals_v6_synack_one_connect_sample),
		FX_TEST(signals_selection_fills_flow_entry),
		FX_TEST(signals_retransmitted_syn_is_one_timeout),
		FX_TEST(signals_syn_after_synack_is_no_timeout),
		FX_TEST(signals_rst_answering_syn_is_refused),
		FX_TEST(signals_rst_after_synack_is_reset),
		FX_TEST(signals_http_503_is_one_5xx),
		FX_TEST(signals_http_200_is_one_2xx),
		FX_TEST(signals_http_404_is_one_4xx),
		FX_TEST(signals_http_1xx_and_3xx_counted),
		FX_TEST(signals_non_http_response_has_no_class),
		FX_TEST(signals_status_not_read_past_payload),
		FX_TEST(signals_reply_payload_before_request_no_ttfb),
		FX_TEST(signals_flow_recovered_mid_stream_measures_nothing),
		FX_TEST(signals_udp_first_answer_is_one_connect),
		FX_TEST(signals_udp_unanswered_flows_stay_in_their_slot),
		FX_TEST(signals_dns_udp_rcodes_v4),
		FX_TEST(signals_dns_udp_rcodes_v6),
		FX_TEST(signals_dns_not_an_answer_has_no_class),
		FX_TEST(signals_dns_tcp_refused),
		FX_TEST(signals_counted_per_backend),
		FX_TEST_SMALL(signals_full_ring_counts_drops_keeps_counters),
		FX_TEST_SMALL(signals_samples_do_not_wake_errors_and_fill_do),
	};

	return cmocka_run_group_tests_name("bpf_signals", tests, NULL, NULL);
}
