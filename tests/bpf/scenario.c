// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "scenario.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "gs_hash.h"

static const char *const stable_v4[] = {"10.1.0.1", "10.1.0.2"};
static const char *const canary_v4 = "10.2.0.1";
static const char *const stable_v6[] = {"fd01::1", "fd01::2"};
static const char *const canary_v6 = "fd02::1";

void sc_setup(struct scenario *sc, struct fx *fx, bool v6, uint8_t proto, uint8_t hash_mode)
{
	sc_setup_port(sc, fx, v6, proto, hash_mode, 80);
}

void sc_setup_port(struct scenario *sc, struct fx *fx, bool v6, uint8_t proto, uint8_t hash_mode,
		   uint16_t vport)
{
	memset(sc, 0, sizeof(*sc));
	sc->fx = fx;
	sc->service_id = 7;
	sc->v6 = v6;
	sc->proto = proto;
	sc->hash_mode = hash_mode;
	sc->vip = v6 ? "fd00::10" : "10.0.0.10";
	sc->vport = vport;
	sc->client = v6 ? "fd0c::5" : "192.168.1.5";
	sc->stable[0] = 10;
	sc->stable[1] = 11;
	sc->canary[0] = 20;

	fx_service_add(fx, sc->service_id, sc->vip, sc->vport, proto, hash_mode);
	fx_backend_add(fx, 10, sc->service_id, v6 ? stable_v6[0] : stable_v4[0], 8080,
		       GS_GROUP_STABLE);
	fx_backend_add(fx, 11, sc->service_id, v6 ? stable_v6[1] : stable_v4[1], 8081,
		       GS_GROUP_STABLE);
	fx_backend_add(fx, 20, sc->service_id, v6 ? canary_v6 : canary_v4, 9090, GS_GROUP_CANARY);
	fx_table_publish(fx, sc->service_id, GS_GROUP_STABLE, sc->stable, 2);
	fx_table_publish(fx, sc->service_id, GS_GROUP_CANARY, sc->canary, 1);
	fx_split_set(fx, sc->service_id, 0);
}

struct pkt_spec sc_client_pkt(const struct scenario *sc, uint16_t sport, uint8_t tcp_flags)
{
	static const char payload[] = "GET / HTTP/1.1\r\nHost: vip\r\n\r\n";
	struct pkt_spec spec = {
		.src = sc->client,
		.dst = sc->vip,
		.sport = sport,
		.dport = sc->vport,
		.proto = sc->proto,
		.tcp_flags = sc->proto == IPPROTO_TCP ? tcp_flags : 0,
	};

	/* Data rides on everything but the handshake, as it would. */
	if (sc->proto == IPPROTO_UDP || (tcp_flags & PKT_PSH)) {
		spec.payload = payload;
		spec.payload_len = sizeof(payload) - 1;
	}
	return spec;
}

struct pkt_spec sc_reply_pkt(const struct scenario *sc, uint32_t backend_id,
			     const struct pkt_spec *client, uint8_t tcp_flags)
{
	static const char payload[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static char addr_text[64];
	struct gs_backend backend = fx_backend_get(sc->fx, backend_id);
	struct pkt_spec spec = {
		.dst = client->src,
		.sport = ntohs(backend.port),
		.dport = client->sport,
		.proto = client->proto,
		.tcp_flags = client->proto == IPPROTO_TCP ? tcp_flags : 0,
		.payload = payload,
		.payload_len = sizeof(payload) - 1,
	};

	if (gs_addr_is_v4(&backend.addr))
		inet_ntop(AF_INET, &backend.addr.w[3], addr_text, sizeof(addr_text));
	else
		inet_ntop(AF_INET6, backend.addr.b, addr_text, sizeof(addr_text));
	spec.src = addr_text;
	return spec;
}

struct gs_flow_key sc_flow_key(const struct pkt_spec *client)
{
	struct gs_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src = pkt_addr(client->src);
	key.dst = pkt_addr(client->dst);
	key.sport = htons(client->sport);
	key.dport = htons(client->dport);
	key.proto = client->proto;
	return key;
}

static uint32_t sc_hash(const struct scenario *sc, const struct pkt_spec *client, uint32_t seed)
{
	struct gs_flow_key key = sc_flow_key(client);

	if (sc->hash_mode == GS_HASH_CLIENT)
		return gs_hash_addr(&key.src, seed);
	return gs_hash_flow(&key, seed);
}

uint8_t sc_predict_group(const struct scenario *sc, const struct pkt_spec *client,
			 uint32_t canary_ppm)
{
	return gs_is_canary(sc_hash(sc, client, GS_SEED_GROUP), canary_ppm) ? GS_GROUP_CANARY
									    : GS_GROUP_STABLE;
}

uint32_t sc_predict_backend(const struct scenario *sc, const struct pkt_spec *client, uint8_t group)
{
	uint32_t hash = sc_hash(sc, client, GS_SEED_BACKEND);

	if (group == GS_GROUP_CANARY)
		return fx_table_pick(sc->canary, 1, hash);
	return fx_table_pick(sc->stable, 2, hash);
}

/* Which backend (ids below 64, as the tests use) has this address and
 * port (network order), or NONE. */
static uint32_t sc_backend_at(const struct scenario *sc, const union gs_addr *addr, uint16_t port)
{
	uint32_t id;

	for (id = 0; id < 64; id++) {
		struct gs_backend backend = fx_backend_get(sc->fx, id);

		if (backend.state != GS_BACKEND_FREE &&
		    !memcmp(&backend.addr, addr, sizeof(*addr)) && backend.port == port)
			return id;
	}
	return GS_BACKEND_NONE;
}

uint32_t sc_forward(const struct scenario *sc, const struct pkt_spec *client)
{
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t in_len, out_len;
	struct pkt_view view;
	uint32_t verdict, backend_id;

	in_len = pkt_build(client, in);
	verdict = fx_run_xdp(sc->fx, in, in_len, out, &out_len);
	CHECK_EQ(verdict, XDP_PASS, "forward verdict is XDP_PASS");
	CHECK_TRUE(pkt_parse(out, out_len, &view), "rewritten frame parses");
	backend_id = sc_backend_at(sc, &view.dst, htons(view.dport));
	CHECK_NE(backend_id, GS_BACKEND_NONE, "dst ip:port is one of the service's backends");
	check_csums(out, out_len, "forward checksums recomputed from scratch");
	check_only_rewritten(in, in_len, out, out_len, true,
			     "forward frame differs only in dst ip, dst port, checksums");
	return backend_id;
}
