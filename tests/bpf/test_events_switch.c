// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The events switch (config flag GS_CFG_NO_EVENTS, issue 6): with it set the
 * data path writes no ring-buffer record, while backend_stats and the latency
 * histograms count exactly as with events on; cleared, records come back.
 */
#include "check.h"
#include "fixture.h"
#include "scenario.h"

#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#define MAX_EVENTS 64

static const char http_200[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void config_set(struct fx *fx, uint32_t flags)
{
	struct gs_config cfg = {.flags = flags};
	uint32_t key = 0;

	CHECK_EQ(bpf_map_update_elem(bpf_map__fd(fx->skel->maps.config), &key, &cfg, BPF_ANY), 0,
		 "config update");
}

static void send_reply(const struct scenario *sc, uint32_t backend_id,
		       const struct pkt_spec *client, uint8_t tcp_flags, const char *payload)
{
	struct pkt_spec reply = sc_reply_pkt(sc, backend_id, client, tcp_flags);
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len, out_len;

	reply.payload = payload;
	reply.payload_len = payload ? strlen(payload) : 0;
	len = pkt_build(&reply, in);
	CHECK_EQ(fx_run_tc(sc->fx, in, len, out, &out_len), TC_ACT_OK, "reply verdict TC_ACT_OK");
}

/*
 * One whole connection that touches every event kind a healthy and a broken
 * backend give: SYN, SYN-ACK (connect), request, response (TTFB + status),
 * then a backend RST (reset). Returns its backend.
 */
static uint32_t connection(const struct scenario *sc, uint16_t sport)
{
	struct pkt_spec syn = sc_client_pkt(sc, sport, PKT_SYN);
	struct pkt_spec req = sc_client_pkt(sc, sport, PKT_PSH | PKT_ACK);
	uint32_t id = sc_forward(sc, &syn);

	send_reply(sc, id, &syn, PKT_SYN | PKT_ACK, NULL);
	CHECK_EQ(sc_forward(sc, &req), id, "request keeps the backend");
	send_reply(sc, id, &syn, PKT_PSH | PKT_ACK, http_200);
	send_reply(sc, id, &syn, PKT_RST, NULL);
	return id;
}

/* A SYN sent twice with no answer: one connect timeout. */
static uint32_t timed_out(const struct scenario *sc, uint16_t sport)
{
	struct pkt_spec syn = sc_client_pkt(sc, sport, PKT_SYN);
	uint32_t id = sc_forward(sc, &syn);

	CHECK_EQ(sc_forward(sc, &syn), id, "retransmitted SYN keeps the backend");
	return id;
}

struct tally {
	uint64_t connects, responses, resets, timeouts, http_2xx;
	uint64_t connect_samples, ttfb_samples;
};

static struct tally tally_of(struct fx *fx, const struct scenario *sc)
{
	const uint32_t ids[] = {sc->stable[0], sc->stable[1], sc->canary[0]};
	struct tally t = {0};
	size_t i;

	for (i = 0; i < 3; i++) {
		struct gs_backend_stats bs = fx_backend_stats(fx, ids[i]);
		struct gs_hist conn = fx_hist(fx, ids[i], GS_HIST_CONNECT);
		struct gs_hist ttfb = fx_hist(fx, ids[i], GS_HIST_TTFB);

		t.connects += bs.connects;
		t.responses += bs.responses;
		t.resets += bs.resets;
		t.timeouts += bs.conn_timeouts;
		t.http_2xx += bs.http_2xx;
		t.connect_samples += fx_hist_total(&conn);
		t.ttfb_samples += fx_hist_total(&ttfb);
	}
	return t;
}

static void check_tally(const struct tally *t, uint64_t conns, uint64_t timeouts)
{
	CHECK_EQ(t->connects, conns, "connects");
	CHECK_EQ(t->responses, conns, "responses");
	CHECK_EQ(t->http_2xx, conns, "2xx");
	CHECK_EQ(t->resets, conns, "resets");
	CHECK_EQ(t->timeouts, timeouts, "connect timeouts");
	CHECK_EQ(t->connect_samples, conns, "connect latency samples");
	CHECK_EQ(t->ttfb_samples, conns, "time-to-first-byte samples");
}

static void events_off_writes_no_record_counters_move(void **state)
{
	struct gs_event events[MAX_EVENTS];
	struct fx *fx = *state;
	struct scenario sc;
	struct tally t;
	uint16_t i;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	config_set(fx, GS_CFG_NO_EVENTS);
	for (i = 0; i < 8; i++)
		connection(&sc, 41000 + i);
	timed_out(&sc, 42000);

	CHECK_EQ(fx_events_drain(fx, events, MAX_EVENTS), 0, "events off: no ring record");
	CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS), 0, "events off: none counted as written");
	CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS_DROPPED), 0, "events off: none counted as dropped");
	t = tally_of(fx, &sc);
	check_tally(&t, 8, 1);
}

static void events_on_again_writes_records(void **state)
{
	struct gs_event events[MAX_EVENTS];
	struct fx *fx = *state;
	struct scenario sc;
	struct tally t;
	uint32_t id;
	size_t n, i;

	sc_setup(&sc, fx, true, IPPROTO_TCP, GS_HASH_FLOW);
	config_set(fx, GS_CFG_NO_EVENTS);
	connection(&sc, 43000);
	CHECK_EQ(fx_events_drain(fx, events, MAX_EVENTS), 0, "off: no record");

	config_set(fx, 0);
	id = connection(&sc, 43001);
	timed_out(&sc, 43002);
	n = fx_events_drain(fx, events, MAX_EVENTS);
	CHECK_EQ(n, 4, "on: connect, response, reset, timeout");
	CHECK_EQ(events[0].type, GS_EV_CONNECT, "first record: connect");
	CHECK_EQ(events[1].type, GS_EV_RESPONSE, "second record: response");
	CHECK_EQ(events[1].value, 200, "response status");
	CHECK_EQ(events[2].type, GS_EV_RESET, "third record: reset");
	CHECK_EQ(events[3].type, GS_EV_TIMEOUT, "fourth record: timeout");
	for (i = 0; i < 3; i++)
		CHECK_EQ(events[i].backend_id, id, "records name the connection's backend");
	CHECK_EQ(fx_counter(fx, GS_CNT_EVENTS), 4, "on: four counted as written");
	t = tally_of(fx, &sc);
	check_tally(&t, 2, 1);
}

/* Only its own bit turns events off: the fast-path switch leaves them on. */
static void other_switch_keeps_events(void **state)
{
	struct gs_event events[MAX_EVENTS];
	struct fx *fx = *state;
	struct scenario sc;

	sc_setup(&sc, fx, false, IPPROTO_TCP, GS_HASH_FLOW);
	config_set(fx, GS_CFG_NO_FAST_PATH);
	connection(&sc, 44000);
	CHECK_EQ(fx_events_drain(fx, events, MAX_EVENTS), 3, "connect, response, reset");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(events_off_writes_no_record_counters_move),
		FX_TEST(events_on_again_writes_records),
		FX_TEST(other_switch_keeps_events),
	};

	return cmocka_run_group_tests_name("bpf_events_switch", tests, NULL, NULL);
}
