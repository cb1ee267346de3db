/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A standard service for the tests: two stable backends and one canary, and
 * the prediction of where a flow goes, made with include/gs_hash.h exactly as
 * the data path makes it.
 */
#ifndef GS_TEST_SCENARIO_H
#define GS_TEST_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "fixture.h"
#include "packet.h"

struct scenario {
	struct fx *fx;
	uint32_t service_id;
	bool v6;
	uint8_t proto;
	uint8_t hash_mode;
	const char *vip;
	uint16_t vport;
	const char *client; /* default client address */
	uint32_t stable[2];
	uint32_t canary[1];
};

/* Service 7 with backends 10, 11 (stable) and 20 (canary), split 0. */
void sc_setup(struct scenario *sc, struct fx *fx, bool v6, uint8_t proto, uint8_t hash_mode);
/* The same service on another port (53: a DNS service). */
void sc_setup_port(struct scenario *sc, struct fx *fx, bool v6, uint8_t proto, uint8_t hash_mode,
		   uint16_t vport);

/* A client packet to the VIP from the default client. */
struct pkt_spec sc_client_pkt(const struct scenario *sc, uint16_t sport, uint8_t tcp_flags);

/* The reply of backend_id to a client packet, as the backend sends it. */
struct pkt_spec sc_reply_pkt(const struct scenario *sc, uint32_t backend_id,
			     const struct pkt_spec *client, uint8_t tcp_flags);

/* Group and backend the data path must choose for a client packet. */
uint8_t sc_predict_group(const struct scenario *sc, const struct pkt_spec *client,
			 uint32_t canary_ppm);
uint32_t sc_predict_backend(const struct scenario *sc, const struct pkt_spec *client,
			    uint8_t group);

/* The flow key of a client packet. */
struct gs_flow_key sc_flow_key(const struct pkt_spec *client);

/*
 * Send a client packet through gs_xdp_fwd and check it came out XDP_PASS,
 * DNATed to a backend with correct checksums and nothing else changed.
 * Returns the backend id it went to.
 */
uint32_t sc_forward(const struct scenario *sc, const struct pkt_spec *client);

#endif
