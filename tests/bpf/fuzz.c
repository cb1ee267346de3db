// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fibnet.h"
#include "gs_hash.h"
#include "packet.h"

#define ETH_LEN 14

/* The shadow tables are cleared (after an entry-by-entry comparison with the
 * kernel's) long before the 4096-entry LRU maps could evict anything. */
#define FZ_TAB	     4096
#define FZ_TAB_LIMIT 1536

#define FZ_MAX_BACKENDS 3

static const char *const class_names[FZ_CLASSES] = {
	[FZ_VALID] = "valid",	  [FZ_NOSVC] = "no-service", [FZ_REPLY] = "reply",
	[FZ_SWEEP] = "sweep",	  [FZ_TRUNC] = "truncated",  [FZ_IHL] = "ihl",
	[FZ_TOTLEN] = "totlen",	  [FZ_V6PLEN] = "v6-paylen", [FZ_IPOPT] = "ip-options",
	[FZ_V6EXT] = "v6-ext",	  [FZ_DOFF] = "tcp-doff",    [FZ_FRAG] = "fragment",
	[FZ_VLAN] = "vlan",	  [FZ_CSUM] = "checksum",    [FZ_ICMP] = "icmp-error",
	[FZ_UDPLEN] = "udp-len",  [FZ_MAPPED] = "v4-mapped", [FZ_FLIP] = "byte-flip",
	[FZ_GARBAGE] = "garbage",
};

struct fz_backend {
	uint32_t id;
	const char *addr;
	uint16_t port;
	uint8_t group;
};

struct fz_service {
	uint32_t id;
	const char *vip;
	uint16_t port;
	uint8_t proto;
	uint8_t hash_mode;
	uint32_t canary_ppm;
	const char *override; /* one override prefix, or NULL */
	uint32_t override_len;
	uint8_t override_group;
	struct fz_backend backends[FZ_MAX_BACKENDS];
	size_t nbackends;
};

/* Both families and protocols, a backend on the VIP's own port, client hash,
 * overrides, one backend address:port serving two services, and a service
 * without backends. */
static const struct fz_service world[] = {
	{1,
	 "10.0.0.10",
	 80,
	 IPPROTO_TCP,
	 GS_HASH_FLOW,
	 300000,
	 "192.168.9.0",
	 24,
	 GS_GROUP_CANARY,
	 {{1, "10.1.0.1", 8080, GS_GROUP_STABLE},
	  {2, "10.1.0.2", 8081, GS_GROUP_STABLE},
	  {3, "10.2.0.1", 9090, GS_GROUP_CANARY}},
	 3},
	{2,
	 "10.0.0.10",
	 53,
	 IPPROTO_UDP,
	 GS_HASH_CLIENT,
	 500000,
	 NULL,
	 0,
	 0,
	 {{4, "10.1.1.1", 5353, GS_GROUP_STABLE},
	  {5, "10.1.1.2", 53, GS_GROUP_STABLE},
	  {6, "10.2.1.1", 5300, GS_GROUP_CANARY}},
	 3},
	{3,
	 "fd00::10",
	 80,
	 IPPROTO_TCP,
	 GS_HASH_FLOW,
	 250000,
	 "fd0c:9::",
	 64,
	 GS_GROUP_STABLE,
	 {{7, "fd01::1", 8080, GS_GROUP_STABLE},
	  {8, "fd01::2", 80, GS_GROUP_STABLE},
	  {9, "fd02::1", 9090, GS_GROUP_CANARY}},
	 3},
	{4,
	 "fd00::10",
	 53,
	 IPPROTO_UDP,
	 GS_HASH_FLOW,
	 GS_PPM_MAX,
	 NULL,
	 0,
	 0,
	 {{10, "fd01:1::1", 5353, GS_GROUP_STABLE}, {11, "fd02:1::1", 5300, GS_GROUP_CANARY}},
	 2},
	/* Backend 12 is backend 1 of service 1 again, the same address and
	 * port: the reply path tells their replies apart by the client's
	 * flow. */
	{6,
	 "10.0.0.30",
	 8080,
	 IPPROTO_TCP,
	 GS_HASH_FLOW,
	 0,
	 NULL,
	 0,
	 0,
	 {{12, "10.1.0.1", 8080, GS_GROUP_STABLE}},
	 1},
	/* Last: the service without backends. */
	{5, "10.0.0.20", 443, IPPROTO_TCP, GS_HASH_FLOW, 0, NULL, 0, 0, {{0}}, 0},
};

#define FZ_NSERVICES (sizeof(world) / sizeof(world[0]))

/* What the kernel's flow table holds, as the model expects it. */
struct fz_flow {
	bool used;
	bool evicted; /* deleted behind the paths' back, as the LRU may */
	struct gs_flow_key key;
	uint32_t backend_id;
	uint32_t service_id;
	uint8_t state;
	uint8_t group;
	/* The fast path's cached next hop, as the last lookup that filled it
	 * asked: only a frame with this tos and no longer may take it. */
	bool nh_cached;
	uint32_t nh_tos; /* as struct gs_flow's fib_tos */
	uint16_t nh_len;
};

/* The model's reading of a frame. */
struct fz_parse {
	int reason; /* 0, or the forward counter the frame is left alone under */
	bool v4;
	uint8_t proto;
	uint8_t tcp_flags;
	struct gs_flow_key key;
	size_t l4;     /* offset of the L4 header */
	size_t l4_len; /* IP payload length */
};

/* What must come out. */
struct fz_expect {
	bool rewrite;
	bool dst_side; /* DNAT (forward) or SNAT (reply) */
	bool redirect; /* forward: the fast path sends it to the next hop */
	union gs_addr addr;
	uint16_t port; /* network order */
	int64_t delta[GS_CNT_MAX];
	/* A redirect of a kept flow may take its next hop from the flow's
	 * cache (GS_CNT_FAST_CACHED) or ask the FIB and fill the cache; which
	 * one depends on the clock (the TTL), so the model allows either
	 * where the cache holds an answer to this frame's question, and
	 * learns from the counter which it was. */
	struct fz_flow *nh_flow; /* the kept flow of a redirect */
	bool may_cache;
	uint32_t nh_tos;
	uint16_t nh_len;
	/* An ICMP error put back: at the reply path its quote's destination
	 * goes back to the VIP (addr, port); at the forward path (to_backend)
	 * its destination and its quote's source go to the backend. */
	bool icmp;
	struct fz_icmp {
		bool v4;
		bool to_backend;
		uint8_t proto;
		size_t csum; /* the ICMP checksum */
		size_t ip;   /* the quoted IP header */
		size_t l4;   /* the quoted L4 header */
		size_t end;  /* end of the quote (of the outer datagram) */
	} q;
};

struct fz {
	struct fx *fx;
	struct fibnet net; /* forward frames come in on its fnin */
	bool fast_off;	   /* the config switch as last written */
	struct fz_stats *st;
	uint64_t seed;
	uint64_t rng;
	uint64_t index;
	struct fz_flow flows[FZ_TAB];
	size_t nflows;
	uint32_t flow_slots[FZ_TAB]; /* used slots of flows, to pick replies from */
	int ncpus;
	uint64_t *cnt_values;
	uint32_t *cnt_keys;
	uint64_t counters[GS_CNT_MAX];
	/* the frame under test */
	enum fz_class cls;
	bool reply;
	const struct fz_flow *base_flow; /* the flow a reply base was made from */
	uint8_t in[PKT_MAX];
	size_t in_len;
	uint8_t out[PKT_MAX];
	size_t out_len;
	uint32_t verdict;
	/* the truncation sweep in progress */
	uint8_t sweep[PKT_MAX];
	size_t sweep_len;
	size_t sweep_cut;
	bool sweep_reply;
	unsigned int sweep_base;
};

/* splitmix64: small, seedable, and the same everywhere. */
static uint64_t rnd(struct fz *z)
{
	uint64_t x = (z->rng += 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t below(struct fz *z, uint32_t n)
{
	return n ? (uint32_t)(rnd(z) % n) : 0;
}

static bool chance(struct fz *z, uint32_t percent)
{
	return below(z, 100) < percent;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Ones' complement sum, RFC 1071, big-endian words; the model's own. */
static uint32_t ocsum(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += rd16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t ofold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* ------------------------------------------------------------------ */
/* Failure report                                                      */

static void hexdump(const char *name, const uint8_t *p, size_t len, const uint8_t *other,
		    size_t other_len)
{
	size_t i;

	fprintf(stderr, "%s (%zu bytes, * = differs):\n", name, len);
	for (i = 0; i < len; i++) {
		bool diff = other && (i >= other_len || p[i] != other[i]);

		if (i % 16 == 0)
			fprintf(stderr, "  %04zx:", i);
		fprintf(stderr, " %02x%c", p[i], diff ? '*' : ' ');
		if (i % 16 == 15 || i + 1 == len)
			fprintf(stderr, "\n");
	}
}

static void fz_fail(struct fz *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fz_fail(struct fz *z, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"fuzz violation: seed %llu frame %llu class %s into %s (verdict %u): %s\n"
		"reproduce: test_fuzz_packets --seed %llu --frames %llu\n",
		(unsigned long long)z->seed, (unsigned long long)z->index, class_names[z->cls],
		z->reply ? "gs_tc_reply" : "gs_xdp_fwd", z->verdict, what,
		(unsigned long long)z->seed, (unsigned long long)z->index + 1);
	hexdump("input", z->in, z->in_len, z->out, z->out_len);
	hexdump("output", z->out, z->out_len, z->in, z->in_len);
	fail_msg("fuzz: seed %llu frame %llu: %s", (unsigned long long)z->seed,
		 (unsigned long long)z->index, what);
}

/* ------------------------------------------------------------------ */
/* World                                                               */

static void fz_world_setup(struct fx *fx)
{
	size_t s, b;

	for (s = 0; s < FZ_NSERVICES; s++) {
		const struct fz_service *svc = &world[s];
		uint32_t ids[GS_GROUPS][FZ_MAX_BACKENDS];
		size_t n[GS_GROUPS] = {0, 0};
		uint8_t g;

		fx_service_add(fx, svc->id, svc->vip, svc->port, svc->proto, svc->hash_mode);
		for (b = 0; b < svc->nbackends; b++) {
			const struct fz_backend *be = &svc->backends[b];

			fx_backend_add(fx, be->id, svc->id, be->addr, be->port, be->group);
			ids[be->group][n[be->group]++] = be->id;
		}
		for (g = 0; g < GS_GROUPS; g++)
			if (n[g])
				fx_table_publish(fx, svc->id, g, ids[g], n[g]);
		fx_split_set(fx, svc->id, svc->canary_ppm);
		if (svc->override)
			fx_override_add(fx, svc->id, svc->override, svc->override_len,
					svc->override_group);
	}
}

static const struct fz_service *service_of(const struct gs_flow_key *key)
{
	size_t s;

	for (s = 0; s < FZ_NSERVICES; s++) {
		union gs_addr vip = pkt_addr(world[s].vip);

		if (!memcmp(&vip, &key->dst, sizeof(vip)) && ntohs(key->dport) == world[s].port &&
		    key->proto == world[s].proto)
			return &world[s];
	}
	return NULL;
}

static const struct fz_backend *backend_by_id(uint32_t id)
{
	size_t s, b;

	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++)
			if (world[s].backends[b].id == id)
				return &world[s].backends[b];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Shadow flow tables                                                  */

static size_t slot_of(const struct gs_flow_key *key)
{
	return gs_hash_flow(key, 0x5eed) & (FZ_TAB - 1);
}

/* The flow of key (NULL if none, or evicted); add: the slot to write a new
 * selection into, an evicted one's included. */
static struct fz_flow *flow_find(struct fz *z, const struct gs_flow_key *key, bool add)
{
	size_t i = slot_of(key);

	while (z->flows[i].used) {
		if (!memcmp(&z->flows[i].key, key, sizeof(*key))) {
			if (!z->flows[i].evicted)
				return &z->flows[i];
			if (!add)
				return NULL;
			z->flows[i].evicted = false;
			return &z->flows[i];
		}
		i = (i + 1) & (FZ_TAB - 1);
	}
	if (!add)
		return NULL;
	z->flows[i].used = true;
	z->flows[i].key = *key;
	z->flow_slots[z->nflows++] = (uint32_t)i;
	return &z->flows[i];
}

/*
 * backend_addrs as the model reads the world: the VIP:ports of the services
 * whose backends have the address, port and protocol of the key's source,
 * in backend id order, each once (as gs_backend_addrs_sync lists them).
 */
static size_t model_backend_vips(const struct gs_flow_key *reply, const struct fz_service **out)
{
	const struct fz_service *by_id[GS_MAX_BACKENDS] = {0};
	size_t s, b, n = 0, k;
	uint32_t id;

	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++) {
			const struct fz_backend *be = &world[s].backends[b];
			union gs_addr addr = pkt_addr(be->addr);

			if (world[s].proto == reply->proto && htons(be->port) == reply->sport &&
			    !memcmp(&addr, &reply->src, sizeof(addr)))
				by_id[be->id] = &world[s];
		}
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		if (!by_id[id])
			continue;
		for (k = 0; k < n && out[k] != by_id[id]; k++)
			;
		if (k == n && n < GS_ADDR_SERVICES)
			out[n++] = by_id[id];
	}
	return n;
}

/*
 * The flow a reply (key as the backend sends it) belongs to: for each
 * service its source serves, the flow of the client's address and port to
 * that VIP:port, if that flow's backend is the reply's source. fk gets the
 * forward key found.
 */
static struct fz_flow *model_reply_flow(struct fz *z, const struct gs_flow_key *reply,
					struct gs_flow_key *fk)
{
	const struct fz_service *svcs[GS_ADDR_SERVICES + 1];
	size_t n = model_backend_vips(reply, svcs), i;

	for (i = 0; i < n; i++) {
		const struct fz_backend *be;
		struct fz_flow *flow;
		union gs_addr addr;

		memset(fk, 0, sizeof(*fk));
		fk->src = reply->dst;
		fk->dst = pkt_addr(svcs[i]->vip);
		fk->sport = reply->dport;
		fk->dport = htons(svcs[i]->port);
		fk->proto = reply->proto;
		flow = flow_find(z, fk, false);
		if (!flow)
			continue;
		be = backend_by_id(flow->backend_id);
		addr = pkt_addr(be->addr);
		if (htons(be->port) == reply->sport && !memcmp(&addr, &reply->src, sizeof(addr)))
			return flow;
	}
	return NULL;
}

/*
 * Compare every entry the model expects with the kernel's, deleting it, and
 * then require the kernel's flow table to be empty: the model knew every
 * entry (and none it evicted is back without the model putting it back).
 */
static void tables_check_and_clear(struct fz *z)
{
	int flows_fd = bpf_map__fd(z->fx->skel->maps.flows);
	struct gs_flow_key next;
	size_t i;

	for (i = 0; i < FZ_TAB; i++) {
		const struct fz_flow *f = &z->flows[i];
		struct gs_flow flow;

		if (!f->used)
			continue;
		if (f->evicted) {
			if (!bpf_map_lookup_elem(flows_fd, &f->key, &flow))
				fz_fail(z,
					"flow table: evicted entry of backend %u is back though "
					"the model did not put it back",
					flow.backend_id);
			continue;
		}
		if (bpf_map_lookup_and_delete_elem(flows_fd, &f->key, &flow))
			fz_fail(z, "flow table: entry the model expects is missing (%s)",
				strerror(errno));
		if (flow.backend_id != f->backend_id || flow.service_id != f->service_id ||
		    flow.state != f->state || flow.group != f->group)
			fz_fail(z,
				"flow table entry: backend %u service %u state %u group %u, "
				"model: %u %u %u %u",
				flow.backend_id, flow.service_id, flow.state, flow.group,
				f->backend_id, f->service_id, f->state, f->group);
	}
	if (!bpf_map_get_next_key(flows_fd, NULL, &next))
		fz_fail(z, "flow table holds an entry the model does not know");
	memset(z->flows, 0, sizeof(z->flows));
	z->nflows = 0;
	z->st->table_checks++;
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */

static void counters_read(struct fz *z, uint64_t *sum)
{
	int fd = bpf_map__fd(z->fx->skel->maps.stats);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t count = GS_CNT_MAX, out_batch, k;
	int cpu, err;

	err = bpf_map_lookup_batch(fd, NULL, &out_batch, z->cnt_keys, z->cnt_values, &count, &opts);
	if ((err && errno != ENOENT) || count != GS_CNT_MAX)
		fz_fail(z, "stats batch lookup: %d (%s), %u counters", err, strerror(errno), count);
	for (k = 0; k < GS_CNT_MAX; k++) {
		sum[z->cnt_keys[k]] = 0;
		for (cpu = 0; cpu < z->ncpus; cpu++)
			sum[z->cnt_keys[k]] += z->cnt_values[(size_t)k * z->ncpus + cpu];
	}
}

/* ------------------------------------------------------------------ */
/* Reference model                                                     */

static int model_l4(const uint8_t *f, struct fz_parse *p)
{
	const uint8_t *l4 = f + p->l4;

	if (p->proto == IPPROTO_TCP) {
		size_t doff;

		if (p->l4_len < 20)
			return GS_CNT_BAD_HEADER;
		doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > p->l4_len)
			return GS_CNT_BAD_HEADER;
		p->tcp_flags = l4[13];
	} else {
		size_t udp_len;

		if (p->l4_len < 8)
			return GS_CNT_BAD_HEADER;
		udp_len = rd16(l4 + 4);
		if (udp_len < 8 || udp_len > p->l4_len)
			return GS_CNT_BAD_HEADER;
		/* RFC 8200: a zero UDP checksum is invalid over IPv6. */
		if (!p->v4 && rd16(l4 + 6) == 0)
			return GS_CNT_BAD_HEADER;
	}
	memcpy(&p->key.sport, l4, 2);
	memcpy(&p->key.dport, l4 + 2, 2);
	p->key.proto = p->proto;
	return 0;
}

static void map_v4(union gs_addr *a, const uint8_t *v4)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	memcpy(&a->b[12], v4, 4);
}

/* The packet as RFC 791/8200/793/768 and bpf/lib/parse.h's rules read it. */
static int model_parse_inner(const uint8_t *f, size_t len, struct fz_parse *p)
{
	uint16_t ethertype;

	if (len < ETH_LEN)
		return GS_CNT_BAD_HEADER;
	ethertype = rd16(f + 12);
	if (ethertype == 0x8100 || ethertype == 0x88a8)
		return GS_CNT_PASS_VLAN;
	if (ethertype == 0x0800) {
		const uint8_t *ip = f + ETH_LEN;
		size_t hdr, tot;

		if (len < ETH_LEN + 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5)
			return GS_CNT_BAD_HEADER;
		hdr = (size_t)(ip[0] & 15) * 4;
		tot = rd16(ip + 2);
		/* Ethernet padding may follow the datagram; a shortfall may not. */
		if (tot < hdr || tot > len - ETH_LEN)
			return GS_CNT_BAD_HEADER;
		if (rd16(ip + 6) & 0x3fff)
			return GS_CNT_PASS_FRAGMENT;
		if (ip[9] != IPPROTO_TCP && ip[9] != IPPROTO_UDP)
			return GS_CNT_PASS_NOT_L4;
		p->v4 = true;
		p->proto = ip[9];
		map_v4(&p->key.src, ip + 12);
		map_v4(&p->key.dst, ip + 16);
		p->l4 = ETH_LEN + hdr;
		p->l4_len = tot - hdr;
		return model_l4(f, p);
	}
	if (ethertype == 0x86dd) {
		const uint8_t *ip = f + ETH_LEN;
		size_t plen;

		if (len < ETH_LEN + 40 || ip[0] >> 4 != 6)
			return GS_CNT_BAD_HEADER;
		plen = rd16(ip + 4);
		if (plen > len - ETH_LEN - 40)
			return GS_CNT_BAD_HEADER;
		/* Extension headers are the kernel's business. */
		if (ip[6] == 44)
			return GS_CNT_PASS_FRAGMENT;
		if (ip[6] != IPPROTO_TCP && ip[6] != IPPROTO_UDP)
			return GS_CNT_PASS_NOT_L4;
		p->v4 = false;
		p->proto = ip[6];
		memcpy(p->key.src.b, ip + 8, 16);
		memcpy(p->key.dst.b, ip + 24, 16);
		/* ::ffff:0:0/96 never appears on the wire (the kernel drops it as
		 * a source); such a key would alias an IPv4 flow's. */
		if (gs_addr_is_v4(&p->key.src) || gs_addr_is_v4(&p->key.dst))
			return GS_CNT_BAD_HEADER;
		p->l4 = ETH_LEN + 40;
		p->l4_len = plen;
		return model_l4(f, p);
	}
	return GS_CNT_PASS_NOT_IP;
}

static void model_parse(const uint8_t *f, size_t len, struct fz_parse *p)
{
	memset(p, 0, sizeof(*p));
	p->reason = model_parse_inner(f, len, p);
}

static bool in_prefix(const union gs_addr *a, const union gs_addr *prefix, uint32_t bits)
{
	uint32_t i;

	for (i = 0; i < bits; i++) {
		uint8_t mask = (uint8_t)(0x80 >> (i % 8));

		if ((a->b[i / 8] & mask) != (prefix->b[i / 8] & mask))
			return false;
	}
	return true;
}

/* Selection as bpf/lib/select.h describes it: override, else split by hash, then the
 * group's table; a group without a usable backend gives way to the other. */
static const struct fz_backend *model_select(const struct fz_service *svc,
					     const struct gs_flow_key *key, bool v4,
					     uint8_t *group_out)
{
	uint32_t gh, bh, ids[FZ_MAX_BACKENDS];
	uint8_t group, tries;
	size_t b, n;

	if (svc->hash_mode == GS_HASH_CLIENT) {
		gh = gs_hash_addr(&key->src, GS_SEED_GROUP);
		bh = gs_hash_addr(&key->src, GS_SEED_BACKEND);
	} else {
		gh = gs_hash_flow(key, GS_SEED_GROUP);
		bh = gs_hash_flow(key, GS_SEED_BACKEND);
	}
	group = gs_is_canary(gh, svc->canary_ppm) ? GS_GROUP_CANARY : GS_GROUP_STABLE;
	if (svc->override) {
		union gs_addr prefix = pkt_addr(svc->override);
		uint32_t bits = svc->override_len + (gs_addr_is_v4(&prefix) ? 96 : 0);

		if (in_prefix(&key->src, &prefix, bits))
			group = svc->override_group;
	}
	for (tries = 0; tries < GS_GROUPS; tries++, group ^= 1) {
		const struct fz_backend *be;
		union gs_addr addr;

		n = 0;
		for (b = 0; b < svc->nbackends; b++)
			if (svc->backends[b].group == group)
				ids[n++] = svc->backends[b].id;
		if (!n)
			continue;
		be = backend_by_id(fx_table_pick(ids, n, bh));
		addr = pkt_addr(be->addr);
		if (gs_addr_is_v4(&addr) != v4)
			continue;
		*group_out = group;
		return be;
	}
	return NULL;
}

static void rev_key_of(struct gs_flow_key *rk, const struct gs_flow_key *key,
		       const struct fz_backend *be)
{
	memset(rk, 0, sizeof(*rk));
	rk->src = pkt_addr(be->addr);
	rk->dst = key->src;
	rk->sport = htons(be->port);
	rk->dport = key->sport;
	rk->proto = key->proto;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Equal as ones' complement numbers: 0x0000 and 0xffff are both zero. */
static bool ones_equal(uint16_t a, uint16_t b)
{
	return a == b || ((a == 0 || a == 0xffff) && (b == 0 || b == 0xffff));
}

/* The L4 checksum field holds the folded pseudo-header sum alone, as a
 * sender that leaves the rest to offload writes it (the fast path must not
 * redirect such a frame: nobody would finish the sum). */
static uint16_t pseudo_fold(const uint8_t *f, bool v4, uint8_t proto, size_t l4_len)
{
	uint8_t pseudo[40];

	memset(pseudo, 0, sizeof(pseudo));
	if (v4) {
		memcpy(pseudo, f + ETH_LEN + 12, 8);
		pseudo[9] = proto;
		wr16(pseudo + 10, (uint16_t)l4_len);
		return ofold(ocsum(pseudo, 12, 0));
	}
	memcpy(pseudo, f + ETH_LEN + 8, 32);
	wr16(pseudo + 34, (uint16_t)l4_len);
	pseudo[39] = proto;
	return ofold(ocsum(pseudo, 40, 0));
}

static uint16_t l4_residue(const uint8_t *f, const struct fz_parse *p);

/* A partial checksum as the forward path must tell it (bpf/lib/nat.h): the
 * field is the pseudo-header sum and the whole does not verify as a full
 * checksum. A UDP length short of the IP payload is never a local sender's. */
static bool model_partial(const uint8_t *f, const struct fz_parse *p)
{
	uint16_t check = rd16(f + p->l4 + (p->proto == IPPROTO_TCP ? 16 : 6));

	if (p->proto == IPPROTO_UDP && (check == 0 || rd16(f + p->l4 + 4) != p->l4_len))
		return false;
	return ones_equal(check, pseudo_fold(f, p->v4, p->proto, p->l4_len)) &&
	       l4_residue(f, p) != 0xffff;
}

/* Multicast, link-local or loopback: addresses the kernel's IPv6 FIB
 * lookup for forwarding refuses (rt6_need_strict) as source or destination. */
static bool v6_strict(const uint8_t *a)
{
	static const uint8_t loopback[16] = {[15] = 1};

	return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       !memcmp(a, loopback, sizeof(loopback));
}

/* After a DNAT: which fast-path outcome, and whether the frame leaves as a
 * redirect. Routing is tests/bpf/fibnet.h's: the backends of 10.1/16 and
 * fd01::/16 sit behind fntx (tx_ports), those of 10.2/16 and fd02::/16
 * behind fnoth; only the .1 addresses have a neighbour. */
/* What the fast path's cache compares of the frame (lib/fastpath.h): its
 * IPv4 TOS or IPv6 flow info without the ECN bits, and its IP length. */
static void model_nh_question(const uint8_t *ip, bool v4, uint32_t *tos, uint16_t *len)
{
	if (v4) {
		*tos = ip[1] & 0xfcu;
		*len = rd16(ip + 2);
		return;
	}
	*tos = htonl((uint32_t)(ip[0] << 24 | ip[1] << 16 | ip[2] << 8 | ip[3]) & 0x0fcfffff);
	*len = (uint16_t)(40 + rd16(ip + 4));
}

static void model_fast(struct fz *z, const struct fz_parse *p, struct fz_expect *e,
		       struct fz_flow *kept)
{
	const uint8_t *ip = z->in + ETH_LEN;
	uint32_t outcome;

	/* The fuzzer writes only the config's GS_CFG_NO_FAST_PATH (nf_dropped_ack
	 * 0) and never tx_health, which nothing fills here (the watch programs
	 * are not attached): GS_CNT_FAST_CONNTRACK and GS_CNT_FAST_PORT_FAILING
	 * must not move, and run_and_check holds every counter to the model. */
	if (z->fast_off)
		outcome = GS_CNT_FAST_OFF;
	else if (model_partial(z->in, p))
		outcome = GS_CNT_FAST_PARTIAL;
	else if (p->v4 && ((ip[0] & 15) != 5 || ip[8] <= 1))
		outcome = GS_CNT_FAST_KERNEL;
	else if (!p->v4 && (ip[7] <= 1 || v6_strict(ip + 8) || v6_strict(e->addr.b)))
		outcome = GS_CNT_FAST_KERNEL;
	else if ((p->v4 ? rd16(ip + 2) : 40 + rd16(ip + 4)) > 1500)
		outcome = GS_CNT_FAST_KERNEL; /* the MTU of fntx and fnoth */
	else
		outcome = fn_route_outcome(&e->addr);
	e->delta[outcome] = 1;
	e->redirect = outcome == GS_CNT_FAST_REDIRECT;
	if (!e->redirect || !kept)
		return;
	e->nh_flow = kept;
	model_nh_question(ip, p->v4, &e->nh_tos, &e->nh_len);
	e->may_cache = kept->nh_cached && kept->nh_tos == e->nh_tos && e->nh_len <= kept->nh_len;
}

/*
 * After a frame ran: GS_CNT_FAST_CACHED moved by 1 only where the model
 * allows the cache to answer; a redirect of a kept flow that asked the FIB
 * must have left this frame's question and the FIB's answer in the
 * kernel's flow entry.
 */
static void check_nh_cache(struct fz *z, struct fz_expect *e, int64_t got)
{
	int flows_fd = bpf_map__fd(z->fx->skel->maps.flows);
	struct fz_flow *f = e->nh_flow;
	struct gs_flow flow;

	if (got < 0 || got > (e->may_cache ? 1 : 0))
		fz_fail(z, "fast_cached moved by %lld, the model allows %d", (long long)got,
			e->may_cache ? 1 : 0);
	e->delta[GS_CNT_FAST_CACHED] = got;
	if (!f || got)
		return;
	f->nh_cached = true;
	f->nh_tos = e->nh_tos;
	f->nh_len = e->nh_len;
	if (bpf_map_lookup_elem(flows_fd, &f->key, &flow))
		fz_fail(z, "flow entry of a redirected frame missing: %s", strerror(errno));
	if (!flow.fib_stamp || flow.fib_oif != z->net.tx_ifindex ||
	    flow.fib_iif != z->net.in_ifindex || flow.fib_tos != f->nh_tos ||
	    flow.fib_len != f->nh_len || memcmp(flow.fib_dmac, fn_nh_mac, 6) ||
	    memcmp(flow.fib_smac, fn_tx_mac, 6))
		fz_fail(z,
			"cached next hop: oif %u iif %u tos %08x len %u stamp %llu, want oif %u "
			"iif %u tos %08x len %u and the MACs of the neighbour and fntx",
			flow.fib_oif, flow.fib_iif, flow.fib_tos, flow.fib_len,
			(unsigned long long)flow.fib_stamp, z->net.tx_ifindex, z->net.in_ifindex,
			f->nh_tos, f->nh_len);
	z->st->nh_checked++;
}

static bool model_icmp(struct fz *z, const uint8_t *f, bool to_backend, struct fz_expect *e);

/* Forward: which backend the flow goes to, and how the shadow tables move. */
static void model_forward(struct fz *z, const struct fz_parse *p, struct fz_expect *e)
{
	bool tcp = p->proto == IPPROTO_TCP;
	bool syn = tcp && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	const struct fz_service *svc;
	const struct fz_backend *be;
	struct fz_flow *flow;
	union gs_addr addr;
	int action; /* the counter of a new selection, 0 to keep */
	uint8_t group = 0;

	e->delta[GS_CNT_PKTS] = 1;
	/* An ICMP error is counted by what became of it, not as "not L4". */
	if (p->reason == GS_CNT_PASS_NOT_L4 && model_icmp(z, z->in, true, e))
		return;
	if (p->reason) {
		e->delta[p->reason] = 1;
		return;
	}
	svc = service_of(&p->key);
	if (!svc) {
		e->delta[GS_CNT_PASS_NO_SERVICE] = 1;
		return;
	}
	flow = flow_find(z, &p->key, false);
	if (!flow)
		action = tcp && !syn ? GS_CNT_FLOW_MISSING : GS_CNT_FLOW_NEW;
	else if (!tcp)
		action = 0;
	else if (syn)
		action = flow->state == GS_FLOW_CLOSING ? GS_CNT_FLOW_RESELECT : 0;
	else {
		action = 0;
		if (p->tcp_flags & (TCP_FIN | TCP_RST))
			flow->state = GS_FLOW_CLOSING;
		else if (flow->state == GS_FLOW_SYN_SENT)
			flow->state = GS_FLOW_ESTABLISHED;
	}

	if (!action) {
		be = backend_by_id(flow->backend_id);
	} else {
		be = model_select(svc, &p->key, p->v4, &group);
		if (!be) {
			e->delta[GS_CNT_NO_BACKEND] = 1;
			return;
		}
		/* Rewritten in place, an entry selecting its own backend again
		 * keeps its next hop: the same question to the FIB. */
		if (!flow || flow->backend_id != be->id) {
			flow = flow_find(z, &p->key, true);
			flow->nh_cached = false;
		}
		flow->backend_id = be->id;
		flow->service_id = svc->id;
		flow->group = group;
		if (!tcp)
			flow->state = GS_FLOW_UDP;
		else if (syn)
			flow->state = GS_FLOW_SYN_SENT;
		else if (p->tcp_flags & (TCP_FIN | TCP_RST))
			flow->state = GS_FLOW_CLOSING;
		else
			flow->state = GS_FLOW_ESTABLISHED;
		e->delta[action] = 1;
	}
	addr = pkt_addr(be->addr);
	e->delta[GS_CNT_FWD_REWRITTEN] = 1;
	e->rewrite = true;
	e->dst_side = true;
	e->addr = addr;
	e->port = htons(be->port);
	/* A selecting frame's entry carries the next hop it was sent to. */
	model_fast(z, p, e, flow);
}

static void model_reply(struct fz *z, const struct fz_parse *p, struct fz_expect *e)
{
	struct gs_flow_key fk;
	struct fz_flow *flow;

	if (p->reason == GS_CNT_BAD_HEADER) {
		e->delta[GS_CNT_REV_BAD_HEADER] = 1;
		return;
	}
	if (p->reason == GS_CNT_PASS_NOT_L4)
		model_icmp(z, z->in, false, e);
	if (p->reason)
		return;
	flow = model_reply_flow(z, &p->key, &fk);
	if (!flow)
		return;
	e->delta[GS_CNT_REV_REWRITTEN] = 1;
	e->rewrite = true;
	e->dst_side = false;
	e->addr = fk.dst;
	e->port = fk.dport;
	/* The backend closed: the flow's next SYN selects anew. */
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_FIN | TCP_RST)))
		flow->state = GS_FLOW_CLOSING;
}

static bool icmp_error_type(bool v4, uint8_t type)
{
	if (v4)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* The service a backend belongs to in the world. */
static const struct fz_service *service_of_backend(uint32_t id)
{
	size_t s, b;

	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++)
			if (world[s].backends[b].id == id)
				return &world[s];
	return NULL;
}

/*
 * A frame a parser left as not TCP/UDP: is it an ICMP or ICMPv6 error (RFC
 * 792 / 4443 types)? If not, false and nothing expected of it here. If so,
 * true, and the one counter it must move:
 *  - at the reply path, an error whose quote is a TCP/UDP packet from a
 *    client to a backend, reversed a reply of a flow (model_reply_flow),
 *    goes back to the VIP;
 *  - at the forward path (to_backend), an error sent to the source of its
 *    quote, a reply from VIP:port to a client, whose reversed quote is a
 *    flow whose backend the forward path would still use goes on to that
 *    backend;
 *  - an error of the other direction (the quote, as it stands at the reply
 *    path or reversed at the forward path, a reply of a flow) is the other
 *    program's: no counter at the reply path, "not L4" at the forward path;
 *  - any other error passes untouched: quote too short, of a fragment or
 *    malformed (icmp_bad_quote), or of nothing ours (icmp_not_ours).
 */
static bool model_icmp(struct fz *z, const uint8_t *f, bool to_backend, struct fz_expect *e)
{
	struct fz_icmp q = {0};
	struct gs_flow_key key;
	const uint8_t *ip = f + ETH_LEN, *qip, *to;
	size_t alen;

	memset(&key, 0, sizeof(key));
	q.v4 = rd16(f + 12) == 0x0800;
	q.to_backend = to_backend;
	if (q.v4) {
		if (ip[9] != IPPROTO_ICMP)
			return false;
		q.csum = ETH_LEN + (size_t)(ip[0] & 15) * 4 + 2;
		q.end = ETH_LEN + rd16(ip + 2);
	} else {
		if (ip[6] != 58)
			return false;
		q.csum = ETH_LEN + 40 + 2;
		q.end = ETH_LEN + 40 + rd16(ip + 4);
	}
	if (q.csum + 6 > q.end || !icmp_error_type(q.v4, f[q.csum - 2]))
		return false;
	q.ip = q.csum + 6;
	qip = f + q.ip;
	if (q.v4) {
		if (q.ip + 20 > q.end || qip[0] >> 4 != 4 || (qip[0] & 15) < 5 ||
		    rd16(qip + 6) & 0x3fff) {
			e->delta[GS_CNT_ICMP_BAD_QUOTE] = 1;
			return true;
		}
		if (qip[9] != IPPROTO_TCP && qip[9] != IPPROTO_UDP) {
			e->delta[GS_CNT_ICMP_NOT_OURS] = 1;
			return true;
		}
		q.proto = qip[9];
		map_v4(&key.src, qip + 16);
		map_v4(&key.dst, qip + 12);
		q.l4 = q.ip + (size_t)(qip[0] & 15) * 4;
	} else {
		if (q.ip + 40 > q.end || qip[0] >> 4 != 6) {
			e->delta[GS_CNT_ICMP_BAD_QUOTE] = 1;
			return true;
		}
		if (qip[6] != IPPROTO_TCP && qip[6] != IPPROTO_UDP) {
			e->delta[GS_CNT_ICMP_NOT_OURS] = 1;
			return true;
		}
		q.proto = qip[6];
		memcpy(key.src.b, qip + 24, 16);
		memcpy(key.dst.b, qip + 8, 16);
		if (gs_addr_is_v4(&key.src) || gs_addr_is_v4(&key.dst)) {
			e->delta[GS_CNT_ICMP_NOT_OURS] = 1;
			return true;
		}
		q.l4 = q.ip + 40;
	}
	if (q.l4 + 8 > q.end) {
		e->delta[GS_CNT_ICMP_BAD_QUOTE] = 1;
		return true;
	}
	memcpy(&key.sport, f + q.l4 + 2, 2);
	memcpy(&key.dport, f + q.l4, 2);
	key.proto = q.proto;
	e->q = q;
	if (!to_backend) {
		struct gs_flow_key reply = key, fk;
		struct fz_flow *flow = model_reply_flow(z, &key, &fk);

		/* The quote as it stands a backend's reply: the error on its
		 * way to the backend, the forward path's. */
		reply.src = key.dst;
		reply.dst = key.src;
		reply.sport = key.dport;
		reply.dport = key.sport;
		if (!flow && model_reply_flow(z, &reply, &fk)) {
			z->st->icmp_other_way++;
			return true;
		}
		if (!flow || gs_addr_is_v4(&fk.dst) != q.v4) {
			e->delta[GS_CNT_ICMP_NOT_OURS] = 1;
			return true;
		}
		e->delta[GS_CNT_ICMP_TRANSLATED] = 1;
		e->addr = fk.dst;
		e->port = fk.dport;
	} else {
		const struct fz_flow *flow;
		const struct fz_backend *be = NULL;
		union gs_addr addr;

		/* The outer destination must be the quote's source. */
		alen = q.v4 ? 4 : 16;
		to = ip + (q.v4 ? 16 : 24);
		flow = memcmp(to, qip + (q.v4 ? 12 : 8), alen) ? NULL : flow_find(z, &key, false);
		if (flow && service_of_backend(flow->backend_id) == service_of(&key))
			be = backend_by_id(flow->backend_id);
		if (be)
			addr = pkt_addr(be->addr);
		if (!be || gs_addr_is_v4(&addr) != q.v4) {
			struct gs_flow_key fk;

			/* About a DNATed packet: the reply path's, and passed
			 * here as not L4. */
			if (model_reply_flow(z, &key, &fk)) {
				z->st->icmp_other_way++;
				return false;
			}
			e->delta[GS_CNT_ICMP_NOT_OURS] = 1;
			return true;
		}
		e->delta[GS_CNT_ICMP_TO_BACKEND] = 1;
		e->addr = addr;
		e->port = htons(be->port);
	}
	e->rewrite = true;
	e->icmp = true;
	return true;
}

/* ------------------------------------------------------------------ */
/* Output checks                                                       */

static uint16_t ip_residue(const uint8_t *f)
{
	uint16_t r = ofold(ocsum(f + ETH_LEN, (size_t)(f[ETH_LEN] & 15) * 4, 0));

	return r ? r : 0xffff;
}

/* Sum over pseudo-header and segment, checksum included: 0xffff when right. */
static uint16_t l4_residue(const uint8_t *f, const struct fz_parse *p)
{
	uint8_t pseudo[40];
	uint32_t sum;
	uint16_t r;

	memset(pseudo, 0, sizeof(pseudo));
	if (p->v4) {
		memcpy(pseudo, f + ETH_LEN + 12, 8);
		pseudo[9] = p->proto;
		wr16(pseudo + 10, (uint16_t)p->l4_len);
		sum = ocsum(pseudo, 12, 0);
	} else {
		memcpy(pseudo, f + ETH_LEN + 8, 32);
		wr16(pseudo + 34, (uint16_t)p->l4_len);
		pseudo[39] = p->proto;
		sum = ocsum(pseudo, 40, 0);
	}
	r = ofold(ocsum(f + p->l4, p->l4_len, sum));
	return r ? r : 0xffff;
}

static bool in_field(size_t i, size_t start, size_t len)
{
	return i >= start && i < start + len;
}

static void check_rewrite(struct fz *z, const struct fz_parse *p, const struct fz_expect *e)
{
	size_t addr_len = p->v4 ? 4 : 16;
	size_t addr_off = ETH_LEN + (p->v4 ? (e->dst_side ? 16 : 12) : (e->dst_side ? 24 : 8));
	size_t port_off = p->l4 + (e->dst_side ? 2 : 0);
	size_t csum_off = p->l4 + (p->proto == IPPROTO_TCP ? 16 : 6);
	const uint8_t *want_addr = p->v4 ? &e->addr.b[12] : e->addr.b;
	uint16_t in_check = rd16(z->in + csum_off), out_check = rd16(z->out + csum_off);
	size_t ttl_off = ETH_LEN + (p->v4 ? 8 : 7);
	size_t i;

	if (e->redirect) {
		if (memcmp(z->out, fn_nh_mac, 6) || memcmp(z->out + 6, fn_tx_mac, 6))
			fz_fail(z, "redirected frame: MACs are not the next hop's and fntx's");
		if (z->out[ttl_off] != (uint8_t)(z->in[ttl_off] - 1))
			fz_fail(z, "redirected frame: TTL / hop limit %u, want %u", z->out[ttl_off],
				z->in[ttl_off] - 1);
	}
	for (i = 0; i < z->in_len; i++) {
		if (z->in[i] == z->out[i] || in_field(i, addr_off, addr_len) ||
		    in_field(i, port_off, 2) || in_field(i, csum_off, 2) ||
		    (p->v4 && in_field(i, ETH_LEN + 10, 2)))
			continue;
		if (e->redirect && (i < 12 || i == ttl_off))
			continue;
		fz_fail(z, "byte %zu changed (0x%02x -> 0x%02x) outside the rewritten fields", i,
			z->in[i], z->out[i]);
	}
	if (memcmp(z->out + addr_off, want_addr, addr_len))
		fz_fail(z, "%s address is not the expected %s", e->dst_side ? "dst" : "src",
			e->dst_side ? "backend's" : "VIP");
	if (memcmp(z->out + port_off, &e->port, 2))
		fz_fail(z, "%s port %u, want %u", e->dst_side ? "dst" : "src",
			rd16(z->out + port_off), ntohs(e->port));
	/* A right checksum must stay right; a wrong one (fuzzed) must stay
	 * exactly as wrong: an update that only works on right ones is a bug. */
	if (p->v4 && ip_residue(z->in) != ip_residue(z->out))
		fz_fail(z, "IPv4 header checksum: residue 0x%04x in, 0x%04x out%s",
			ip_residue(z->in), ip_residue(z->out),
			ip_residue(z->in) == 0xffff ? " (was right)" : "");
	/* A partial checksum must stay the pseudo-header sum, of the new
	 * pseudo-header, for the offload to finish. */
	if (e->dst_side && model_partial(z->in, p)) {
		uint16_t want = pseudo_fold(z->out, p->v4, p->proto, p->l4_len);

		if (!ones_equal(out_check, want))
			fz_fail(z, "partial checksum 0x%04x in, 0x%04x out, want 0x%04x", in_check,
				out_check, want);
		z->st->csum_partial++;
		return;
	}
	/* Input right: the output verified from scratch by tests/bpf/packet.c. */
	if (!pkt_csum_error(z->in, z->in_len)) {
		const char *error = pkt_csum_error(z->out, z->out_len);

		if (error)
			fz_fail(z, "rewritten frame: %s", error);
		z->st->csum_right++;
	} else {
		z->st->csum_fuzzed++;
	}
	if (p->proto == IPPROTO_UDP && p->v4 && in_check == 0) {
		if (out_check != 0)
			fz_fail(z, "IPv4 UDP without checksum got one (0x%04x)", out_check);
		return;
	}
	if (p->proto == IPPROTO_UDP && out_check == 0)
		fz_fail(z, "UDP checksum came out 0 (means none / invalid)");
	if (l4_residue(z->in, p) != l4_residue(z->out, p))
		fz_fail(z, "%s checksum: residue 0x%04x in, 0x%04x out%s",
			p->proto == IPPROTO_TCP ? "TCP" : "UDP", l4_residue(z->in, p),
			l4_residue(z->out, p),
			l4_residue(z->in, p) == 0xffff ? " (was right)" : "");
}

/* Folded, with 0 and 0xffff the same number. */
static uint16_t onorm(uint32_t sum)
{
	uint16_t r = ofold(sum);

	return r ? r : 0xffff;
}

/* The ICMP message's sum from its type on, with the ICMPv6 pseudo-header
 * of the frame's own outer header: 0xffff when the checksum is right. */
static uint16_t icmp_residue(const uint8_t *f, const struct fz_icmp *q)
{
	uint32_t sum = 0;
	size_t len = q->end - (q->csum - 2);

	if (!q->v4) {
		uint8_t pseudo[40];

		memset(pseudo, 0, sizeof(pseudo));
		memcpy(pseudo, f + ETH_LEN + 8, 32);
		wr16(pseudo + 34, (uint16_t)len);
		pseudo[39] = 58;
		sum = ocsum(pseudo, 40, 0);
	}
	return onorm(ocsum(f + q->csum - 2, len, sum));
}

/*
 * The quoted packet's L4 residue (its pseudo-header and whole segment, the
 * checksum included) when the quote holds all of it as its IP header says;
 * false when it does not (then only the words that changed are summed).
 */
static bool quoted_l4_residue(const uint8_t *f, const struct fz_icmp *q, uint16_t *residue)
{
	const uint8_t *qip = f + q->ip;
	uint8_t pseudo[40];
	size_t seg, total;
	uint32_t sum;

	memset(pseudo, 0, sizeof(pseudo));
	if (q->v4) {
		total = rd16(qip + 2);
		if (total < (size_t)(qip[0] & 15) * 4)
			return false;
		seg = total - (size_t)(qip[0] & 15) * 4;
		memcpy(pseudo, qip + 12, 8);
		pseudo[9] = q->proto;
		wr16(pseudo + 10, (uint16_t)seg);
		sum = ocsum(pseudo, 12, 0);
	} else {
		seg = rd16(qip + 4);
		memcpy(pseudo, qip + 8, 32);
		wr16(pseudo + 34, (uint16_t)seg);
		pseudo[39] = q->proto;
		sum = ocsum(pseudo, 40, 0);
	}
	if (q->l4 + seg > q->end)
		return false;
	*residue = onorm(ocsum(f + q->l4, seg, sum));
	return true;
}

/*
 * An ICMP error put back: only the fields the model names changed (towards
 * the client the quote's destination address and port; towards the backend
 * the outer destination and the quote's source address and port) and the
 * checksums covering them; those fields hold the VIP's or the backend's
 * address and port; and every checksum, summed here from scratch, is
 * exactly as right (or as wrong) as it was: the ICMP checksum over the
 * message and the ICMPv6 pseudo-header, the outer and the quoted IPv4
 * headers', and the quoted L4 one where the quote holds it (over the whole
 * quoted segment when it is all there, else over the words that change:
 * pseudo-header address, port, field).
 */
static void check_icmp_rewrite(struct fz *z, const struct fz_expect *e)
{
	const struct fz_icmp *q = &e->q;
	bool back = q->to_backend;
	size_t alen = q->v4 ? 4 : 16;
	/* the quote's address and port that change, and the outer one */
	size_t qaddr = q->ip + (q->v4 ? (back ? 12 : 16) : (back ? 8 : 24));
	size_t qport = q->l4 + (back ? 0 : 2);
	size_t oaddr = ETH_LEN + (q->v4 ? 16 : 24);
	size_t l4c = q->l4 + (q->proto == IPPROTO_TCP ? 16 : 6), i;
	bool has_l4c = l4c + 2 <= q->end;
	const uint8_t *want = q->v4 ? &e->addr.b[12] : e->addr.b;
	uint16_t in_res, out_res;
	uint32_t in_sum, out_sum;

	for (i = 0; i < z->in_len; i++) {
		if (z->in[i] == z->out[i] || in_field(i, qaddr, alen) || in_field(i, qport, 2) ||
		    in_field(i, q->csum, 2) || (q->v4 && in_field(i, q->ip + 10, 2)) ||
		    (has_l4c && in_field(i, l4c, 2)))
			continue;
		if (back && (in_field(i, oaddr, alen) || (q->v4 && in_field(i, ETH_LEN + 10, 2))))
			continue;
		fz_fail(z,
			"ICMP error: byte %zu changed (0x%02x -> 0x%02x) outside the fields put "
			"back and their checksums",
			i, z->in[i], z->out[i]);
	}
	if (memcmp(z->out + qaddr, want, alen))
		fz_fail(z, "ICMP error: quoted %s is not the %s", back ? "source" : "destination",
			back ? "backend's" : "VIP");
	if (memcmp(z->out + qport, &e->port, 2))
		fz_fail(z, "ICMP error: quoted %s port %u, want %u", back ? "source" : "dst",
			rd16(z->out + qport), ntohs(e->port));
	if (back && memcmp(z->out + oaddr, want, alen))
		fz_fail(z, "ICMP error: destination is not the backend's address");
	if (icmp_residue(z->in, q) != icmp_residue(z->out, q))
		fz_fail(z, "ICMP checksum: residue 0x%04x in, 0x%04x out", icmp_residue(z->in, q),
			icmp_residue(z->out, q));
	if (q->v4 && ip_residue(z->in) != ip_residue(z->out))
		fz_fail(z, "outer IPv4 header checksum: residue 0x%04x in, 0x%04x out",
			ip_residue(z->in), ip_residue(z->out));
	if (q->v4) {
		size_t hl = (size_t)(z->in[q->ip] & 15) * 4;

		if (onorm(ocsum(z->in + q->ip, hl, 0)) != onorm(ocsum(z->out + q->ip, hl, 0)))
			fz_fail(z, "quoted IPv4 header checksum: residue changed");
	}
	if (!has_l4c)
		return;
	if (q->proto == IPPROTO_UDP && !rd16(z->in + l4c)) {
		if (rd16(z->out + l4c))
			fz_fail(z, "quoted UDP checksum 0 became 0x%04x", rd16(z->out + l4c));
		return;
	}
	if (q->proto == IPPROTO_UDP && !rd16(z->out + l4c))
		fz_fail(z, "quoted UDP checksum came out 0");
	if (quoted_l4_residue(z->in, q, &in_res)) {
		if (!quoted_l4_residue(z->out, q, &out_res) || in_res != out_res)
			fz_fail(z, "quoted packet's L4 checksum: residue 0x%04x in, 0x%04x out%s",
				in_res, out_res, in_res == 0xffff ? " (was right)" : "");
		z->st->icmp_whole_quotes++;
		return;
	}
	in_sum = ocsum(z->in + qaddr, alen, ocsum(z->in + qport, 2, ocsum(z->in + l4c, 2, 0)));
	out_sum = ocsum(z->out + qaddr, alen, ocsum(z->out + qport, 2, ocsum(z->out + l4c, 2, 0)));
	if (onorm(in_sum) != onorm(out_sum))
		fz_fail(z, "quoted L4 checksum not updated with address and port");
}

/*
 * The skb test run refuses an IPv4 or IPv6 frame shorter than the fixed IP
 * header (EINVAL): such a frame never reaches tc egress from the stack. The
 * same frame into XDP must run.
 */
static bool tc_refuses(const uint8_t *f, size_t len)
{
	uint16_t type = rd16(f + 12);

	return (type == 0x0800 && len < ETH_LEN + 20) || (type == 0x86dd && len < ETH_LEN + 40);
}

static void run_and_check(struct fz *z)
{
	struct fz_expect e;
	struct fz_parse p;
	uint64_t now[GS_CNT_MAX];
	uint32_t ok_verdict;
	int c, err;

	memset(&e, 0, sizeof(e));
	memset(z->out, 0, sizeof(z->out));
	z->out_len = 0;
	if (z->reply)
		err = fx_test_run(z->fx->tc_fd, z->in, z->in_len, z->out, &z->out_len, &z->verdict);
	else
		err = fn_run_xdp(z->fx, &z->net, z->in, z->in_len, z->out, &z->out_len,
				 &z->verdict);
	if (err == -EINVAL && z->reply && tc_refuses(z->in, z->in_len)) {
		z->st->refused++;
		return;
	}
	if (err)
		fz_fail(z, "BPF_PROG_TEST_RUN: %d (%s)", err, strerror(errno));
	/* The model moves its shadow tables only for a frame that ran. */
	model_parse(z->in, z->in_len, &p);
	if (z->reply)
		model_reply(z, &p, &e);
	else
		model_forward(z, &p, &e);

	ok_verdict = z->reply ? TC_ACT_OK : e.redirect ? XDP_REDIRECT : XDP_PASS;
	if (z->verdict != ok_verdict) {
		z->st->dropped++;
		fz_fail(z, "verdict %u, want %u", z->verdict, ok_verdict);
	}
	if (z->out_len != z->in_len)
		fz_fail(z, "length %zu out, %zu in", z->out_len, z->in_len);
	if (e.icmp) {
		check_icmp_rewrite(z, &e);
		if (e.q.to_backend)
			z->st->icmp_to_backend++;
		else
			z->st->icmp_translated++;
	} else if (e.rewrite) {
		check_rewrite(z, &p, &e);
		z->st->rewritten++;
	} else {
		if (memcmp(z->in, z->out, z->in_len))
			fz_fail(z, "frame the model says is not rewritten changed");
		z->st->untouched++;
		if (!z->reply) {
			for (c = 1; c < GS_CNT_MAX; c++)
				if (e.delta[c] && c != GS_CNT_PKTS)
					z->st->reason[c]++;
		}
	}

	counters_read(z, now);
	for (c = 0; c < GS_CNT_MAX; c++) {
		int64_t got = (int64_t)(now[c] - z->counters[c]);

		if (c == GS_CNT_EVENTS || c == GS_CNT_EVENTS_DROPPED)
			continue;
		if (c == GS_CNT_FAST_CACHED) {
			check_nh_cache(z, &e, got);
			continue;
		}
		if (got != e.delta[c])
			fz_fail(z, "counter %d moved by %lld, model: %lld", c, (long long)got,
				(long long)e.delta[c]);
	}
	for (c = 0; c < GS_CNT_MAX; c++)
		z->st->counted[c] += (uint64_t)e.delta[c];
	memcpy(z->counters, now, sizeof(now));
	if (z->nflows >= FZ_TAB_LIMIT)
		tables_check_and_clear(z);
}

/* ------------------------------------------------------------------ */
/* Generator                                                           */

static void addr_text(const union gs_addr *a, char *buf, size_t len)
{
	if (gs_addr_is_v4(a))
		inet_ntop(AF_INET, &a->b[12], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
}

static uint8_t random_tcp_flags(struct fz *z, bool reply)
{
	static const uint8_t fwd[] = {TCP_SYN,		 TCP_SYN,	    TCP_SYN,
				      TCP_ACK,		 TCP_ACK,	    TCP_ACK | 0x08,
				      TCP_ACK | 0x08,	 TCP_FIN | TCP_ACK, TCP_RST,
				      TCP_RST | TCP_ACK, TCP_SYN | TCP_ACK, TCP_SYN | TCP_FIN};
	static const uint8_t rep[] = {TCP_SYN | TCP_ACK, TCP_ACK, TCP_ACK | 0x08,   TCP_ACK | 0x08,
				      TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK};

	if (chance(z, 5))
		return (uint8_t)rnd(z);
	if (reply)
		return rep[below(z, sizeof(rep))];
	return fwd[below(z, sizeof(fwd))];
}

static size_t random_payload(struct fz *z, uint8_t *buf, bool reply)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: vip\r\n\r\n";
	static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
	size_t len = below(z, 4) ? below(z, 64) : below(z, 600), i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd(z);
	if (len > 40 && chance(z, 50)) {
		const char *text = reply ? resp : req;

		memcpy(buf, text, strlen(text));
		if (reply && chance(z, 70))
			buf[9] = (uint8_t)('1' + below(z, 5));
	}
	return len;
}

/* IPv4 options of random content (the programs never read them). */
static size_t add_ip_options(struct fz *z, uint8_t *f, size_t len)
{
	size_t hdr = (size_t)(f[ETH_LEN] & 15) * 4, room = 60 - hdr, add, i;
	uint8_t *opt = f + ETH_LEN + hdr;

	add = 4 * (1 + below(z, (uint32_t)room / 4));
	if (room < 4 || len + add > PKT_MAX)
		return len;
	memmove(opt + add, opt, len - ETH_LEN - hdr);
	for (i = 0; i < add; i++)
		opt[i] = chance(z, 50) ? 0x01 : (uint8_t)rnd(z);
	f[ETH_LEN] = (uint8_t)(0x40 | (hdr + add) / 4);
	wr16(f + ETH_LEN + 2, (uint16_t)(rd16(f + ETH_LEN + 2) + add));
	pkt_fix_csums(f, len + add);
	return len + add;
}

static size_t build(struct fz *z, const struct pkt_spec *spec, uint8_t *f)
{
	size_t len = pkt_build(spec, f);

	if (spec->src[0] != 'f' && chance(z, 10))
		len = add_ip_options(z, f, len);
	/* Ethernet padding past the IP datagram (the minimum frame, a NIC). */
	if (chance(z, 8)) {
		size_t pad = 1 + below(z, 40);

		while (pad-- && len < PKT_MAX)
			f[len++] = chance(z, 50) ? 0 : (uint8_t)rnd(z);
	}
	return len;
}

/* A forward frame from a pool client to a service (nosvc: to none). */
static size_t gen_forward(struct fz *z, uint8_t *f, bool nosvc)
{
	uint8_t payload[PKT_MAX];
	char src[64], dst[64];
	const struct fz_service *svc = &world[below(z, FZ_NSERVICES - 1)];
	bool v6 = svc->vip[0] == 'f';
	struct pkt_spec spec;
	uint32_t c = below(z, 12);

	if (v6)
		snprintf(src, sizeof(src), c < 8 ? "fd0c::%u" : "fd0c:9::%u", c % 8 + 1);
	else
		snprintf(src, sizeof(src), c < 8 ? "192.168.1.%u" : "192.168.9.%u", c % 8 + 1);
	snprintf(dst, sizeof(dst), "%s", svc->vip);
	memset(&spec, 0, sizeof(spec));
	spec.src = src;
	spec.dst = dst;
	spec.sport = (uint16_t)(40000 + below(z, 32));
	spec.dport = svc->port;
	spec.proto = svc->proto;
	if (nosvc) {
		switch (below(z, 5)) {
		case 0:
			spec.dport = (uint16_t)(svc->port + 1 + below(z, 1000));
			break;
		case 1:
			snprintf(dst, sizeof(dst), v6 ? "fd00::11" : "10.0.0.11");
			break;
		case 2:
			spec.proto = svc->proto == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP;
			break;
		case 3:
			snprintf(dst, sizeof(dst), "%s",
				 pkt_addr(src).b[0] ? "fd01::1" : "10.1.0.1");
			spec.dport = 8080;
			break;
		default: /* the service without backends */
			svc = &world[FZ_NSERVICES - 1];
			snprintf(src, sizeof(src), "192.168.1.%u", c + 1);
			snprintf(dst, sizeof(dst), "%s", svc->vip);
			spec.dport = svc->port;
			spec.proto = svc->proto;
			break;
		}
	}
	if (spec.proto == IPPROTO_TCP)
		spec.tcp_flags = random_tcp_flags(z, false);
	spec.udp_no_csum = !v6 && spec.proto == IPPROTO_UDP && chance(z, 10);
	spec.payload = payload;
	spec.payload_len = random_payload(z, payload, false);
	return build(z, &spec, f);
}

/* A random backend of the world whose address is of the family of a. */
static const struct fz_backend *backend_of_family(struct fz *z, const union gs_addr *a)
{
	const struct fz_backend *pool[FZ_NSERVICES * FZ_MAX_BACKENDS];
	size_t s, b, n = 0;

	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++) {
			union gs_addr addr = pkt_addr(world[s].backends[b].addr);

			if (gs_addr_is_v4(&addr) == gs_addr_is_v4(a))
				pool[n++] = &world[s].backends[b];
		}
	return n ? pool[below(z, (uint32_t)n)] : NULL;
}

/* A backend's reply to a flow the forward path created (an evicted one's
 * too: it must now go out untouched); now and then one from a port no flow
 * uses, or from another backend, which the reply path must not take for
 * the flow's. Returns 0 when there is no flow yet. */
static size_t gen_reply(struct fz *z, uint8_t *f)
{
	uint8_t payload[PKT_MAX];
	char src[64], dst[64];
	const struct fz_backend *be;
	const struct fz_flow *flow;
	struct pkt_spec spec;
	union gs_addr addr;

	if (!z->nflows)
		return 0;
	flow = &z->flows[z->flow_slots[below(z, (uint32_t)z->nflows)]];
	z->base_flow = flow;
	be = backend_by_id(flow->backend_id);
	if (chance(z, 10))
		be = backend_of_family(z, &flow->key.src);
	addr = pkt_addr(be->addr);
	addr_text(&addr, src, sizeof(src));
	addr_text(&flow->key.src, dst, sizeof(dst));
	memset(&spec, 0, sizeof(spec));
	spec.src = src;
	spec.dst = dst;
	spec.sport = be->port;
	spec.dport = ntohs(flow->key.sport);
	spec.proto = flow->key.proto;
	if (chance(z, 10))
		spec.sport = (uint16_t)(spec.sport + 1 + below(z, 100));
	if (spec.proto == IPPROTO_TCP)
		spec.tcp_flags = random_tcp_flags(z, true);
	spec.udp_no_csum = gs_addr_is_v4(&addr) && spec.proto == IPPROTO_UDP && chance(z, 10);
	spec.payload = payload;
	spec.payload_len = random_payload(z, payload, true);
	return build(z, &spec, f);
}

/* A base frame to mutate: a forward one, or a reply if a flow exists. */
static size_t gen_base(struct fz *z)
{
	size_t len = 0;

	z->reply = chance(z, 40);
	z->base_flow = NULL;
	if (z->reply)
		len = gen_reply(z, z->in);
	if (!len) {
		z->reply = false;
		len = gen_forward(z, z->in, chance(z, 15));
	}
	return len;
}

/* Where the L4 header of a base frame is (it parses as built). */
static size_t base_l4(const uint8_t *f, size_t len)
{
	struct pkt_view v;

	return pkt_parse(f, len, &v) ? v.l4_off : 0;
}

static bool is_v4(const uint8_t *f)
{
	return rd16(f + 12) == 0x0800;
}

static uint16_t near_or_random(struct fz *z, uint16_t v)
{
	if (chance(z, 30))
		return (uint16_t)rnd(z);
	return (uint16_t)(v + (int)below(z, 81) - 40);
}

static void set_checksum_field(struct fz *z, uint8_t *p)
{
	uint32_t pick = below(z, 3);

	wr16(p, pick == 0 ? 0 : pick == 1 ? 0xffff : (uint16_t)rnd(z));
}

/* Insert n bytes at off, moving the rest up. */
static size_t insert(uint8_t *f, size_t len, size_t off, const uint8_t *bytes, size_t n)
{
	if (len + n > PKT_MAX)
		return len;
	memmove(f + off + n, f + off, len - off);
	memcpy(f + off, bytes, n);
	return len + n;
}

static size_t mut_v6ext(struct fz *z, uint8_t *f, size_t len)
{
	static const uint8_t types[] = {0, 43, 60, 44, 51, 135, 139, 140, 59};
	uint8_t hdr[64], next = f[ETH_LEN + 6];
	size_t n = 1 + below(z, 4), i, total = 0;

	/* Built back to front: each header names the one after it. */
	for (i = 0; i < n; i++) {
		uint8_t type = i + 1 == n && chance(z, 30) ? 0 : types[below(z, sizeof(types))];
		size_t hlen = type == 44 ? 8 : 8 * (1 + below(z, 3)), k;

		if (len + hlen > PKT_MAX)
			break;
		for (k = 0; k < hlen; k++)
			hdr[k] = chance(z, 60) ? 0 : (uint8_t)rnd(z);
		hdr[0] = next;
		hdr[1] = type == 44   ? 0
			 : type == 51 ? (uint8_t)(hlen / 4 - 2)
				      : (uint8_t)(hlen / 8 - 1);
		len = insert(f, len, ETH_LEN + 40, hdr, hlen);
		total += hlen;
		next = type;
	}
	f[ETH_LEN + 6] = next;
	wr16(f + ETH_LEN + 4, (uint16_t)(rd16(f + ETH_LEN + 4) + total));
	return len;
}

/* Swap the quote's addresses and ports: the packet of the other direction
 * (the swap keeps every checksum of the quote right). */
static void swap_quote(uint8_t *quote, bool v4, size_t q4)
{
	size_t alen = v4 ? 4 : 16, a = v4 ? 12 : 8;
	uint8_t tmp[16];

	memcpy(tmp, quote + a, alen);
	memcpy(quote + a, quote + a + alen, alen);
	memcpy(quote + a + alen, tmp, alen);
	memcpy(tmp, quote + q4, 2);
	memcpy(quote + q4, quote + q4 + 2, 2);
	memcpy(quote + q4 + 2, tmp, 2);
}

/* A reply base made into the reply as the reply path sent it on: from the
 * VIP and its port, checksums right (a UDP checksum of 0 kept). */
static void snat_base(const struct fz_flow *flow, uint8_t *f, size_t len, bool v4, size_t l4)
{
	uint8_t proto = v4 ? f[ETH_LEN + 9] : f[ETH_LEN + 6];
	size_t check = l4 + (proto == IPPROTO_TCP ? 16 : 6);
	bool no_csum = proto == IPPROTO_UDP && !rd16(f + check);

	memcpy(f + ETH_LEN + (v4 ? 12 : 8), v4 ? &flow->key.dst.b[12] : flow->key.dst.b,
	       v4 ? 4 : 16);
	memcpy(f + l4, &flow->key.dport, 2);
	pkt_fix_csums(f, len);
	if (no_csum)
		wr16(f + check, 0);
}

/*
 * An ICMP error about the base frame's flow, sent toward the base's sender
 * side (a router answering it) or toward its destination. Of a reply base,
 * also the errors graysplit puts back: about the DNATed forward packet
 * (client -> backend, into the reply path: the client must see VIP:port in
 * the quote), or about the SNATed reply (VIP -> client, to the VIP, into
 * the forward path: the backend must get it); now and then a forged one,
 * of another port or address. A forward base's quote turned around is such
 * a reply too, of a flow that may or may not exist.
 */
static size_t mut_icmp(struct fz *z, uint8_t *f, size_t len)
{
	enum { AS_IS, DNATED, SNATED } kind = AS_IS;
	uint8_t quote[PKT_MAX], *ip = f + ETH_LEN;
	size_t l4 = base_l4(f, len), qlen, icmp, q4;
	bool v4 = is_v4(f), to_src;
	uint32_t sum, pick = below(z, 100);

	if (!l4)
		return len;
	q4 = l4 - ETH_LEN;
	if (z->reply && pick < 35)
		kind = DNATED;
	else if (z->reply && pick < 75 && z->base_flow)
		kind = SNATED;
	else if (!z->reply && pick < 50)
		kind = SNATED;
	if (kind == SNATED && z->reply)
		snat_base(z->base_flow, f, len, v4, l4);
	/* RFC 792 quotes 8 bytes of L4; RFC 1812 routers and ICMPv6 more. */
	qlen = q4 + 8;
	if (chance(z, 25)) /* the whole packet, as ICMPv6 quotes a small one */
		qlen = v4 ? rd16(ip + 2) : 40 + (size_t)rd16(ip + 4);
	else if (chance(z, 50))
		qlen += below(z, (uint32_t)(len - l4 - 8 + 1));
	else if (chance(z, 10)) /* too short to hold the ports */
		qlen -= 1 + below(z, 8);
	memcpy(quote, ip, qlen);
	if (v4 && chance(z, 5)) /* a quoted first fragment (MF) */
		quote[6] |= 0x20;
	if (kind == DNATED || (kind == SNATED && !z->reply))
		swap_quote(quote, v4, q4);
	/* A backend's error about the DNATed packet, coming in where
	 * graysplit is attached on the backend side: the reply path's. */
	if (kind == DNATED && chance(z, 30))
		z->reply = false;
	/* Forged: another client port, ... */
	if (kind != AS_IS && chance(z, 10))
		wr16(quote + q4 + (kind == DNATED ? 0 : 2),
		     (uint16_t)(rd16(quote + q4 + (kind == DNATED ? 0 : 2)) + 1));
	if (kind == SNATED) {
		uint32_t forge = below(z, 100);

		if (forge < 4) /* ... client address, */
			quote[(v4 ? 16 : 24) + (v4 ? 3 : 15)] ^= 1;
		else if (forge < 8) /* VIP port, */
			wr16(quote + q4, (uint16_t)(rd16(quote + q4) + 1));
		else if (forge < 12) /* VIP address */
			quote[(v4 ? 12 : 8) + (v4 ? 3 : 15)] ^= 1;
		/* The quote's checksums as a sender may have left them wrong:
		 * the update must carry the error exactly. */
		if (chance(z, 8) && qlen >= q4 + 18)
			set_checksum_field(z, quote + q4 +
						      (quote[v4 ? 9 : 6] == IPPROTO_TCP ? 16 : 6));
		if (v4 && chance(z, 5))
			set_checksum_field(z, quote + 10);
		z->reply = false; /* sent to the VIP: it arrives at the forward path */
	}
	/* To the quoted source (the VIP, for an error about a reply); now and
	 * then, or for the other kinds half the time, to its destination. */
	to_src = kind == SNATED ? !chance(z, 15) : chance(z, 50);
	if (v4) {
		static const uint8_t types[][2] = {{3, 1}, {3, 3}, {3, 4}, {11, 0}, {12, 0}};
		const uint8_t *t = types[below(z, 5)];

		/* outer: 20-byte header from a router */
		ip[0] = 0x45;
		memcpy(ip + 16, quote + (to_src ? 12 : 16), 4);
		memcpy(ip + 12, "\x0a\x63\x00\x01", 4);
		ip[6] = 0;
		ip[7] = 0;
		ip[9] = IPPROTO_ICMP;
		icmp = ETH_LEN + 20;
		f[icmp] = t[0];
		f[icmp + 1] = t[1];
		memset(f + icmp + 2, 0, 6);
		if (t[0] == 3 && t[1] == 4)
			wr16(f + icmp + 6, 1400);
		memcpy(f + icmp + 8, quote, qlen);
		len = icmp + 8 + qlen;
		wr16(ip + 2, (uint16_t)(len - ETH_LEN));
		sum = ocsum(f + icmp, len - icmp, 0);
		wr16(f + icmp + 2, (uint16_t)~ofold(sum));
		wr16(ip + 10, 0);
		wr16(ip + 10, (uint16_t)~ofold(ocsum(ip, 20, 0)));
	} else {
		static const uint8_t types[][2] = {{1, 4}, {1, 0}, {2, 0}, {3, 0}, {4, 1}};
		const uint8_t *t = types[below(z, 5)];
		uint8_t pseudo[40];

		memcpy(ip + 24, quote + (to_src ? 8 : 24), 16);
		memcpy(ip + 8, "\xfd\x63\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
		ip[6] = 58;
		icmp = ETH_LEN + 40;
		f[icmp] = t[0];
		f[icmp + 1] = t[1];
		memset(f + icmp + 2, 0, 6);
		if (t[0] == 2)
			wr16(f + icmp + 6, 1280);
		memcpy(f + icmp + 8, quote, qlen);
		len = icmp + 8 + qlen;
		wr16(ip + 4, (uint16_t)(len - icmp));
		memset(pseudo, 0, sizeof(pseudo));
		memcpy(pseudo, ip + 8, 32);
		wr16(pseudo + 34, (uint16_t)(len - icmp));
		pseudo[39] = 58;
		sum = ocsum(f + icmp, len - icmp, ocsum(pseudo, 40, 0));
		wr16(f + icmp + 2, (uint16_t)~ofold(sum));
	}
	/* A wrong ICMP checksum (or outer IPv4 one) must stay exactly as wrong. */
	if (chance(z, 4))
		set_checksum_field(z, f + icmp + 2);
	if (v4 && chance(z, 3))
		set_checksum_field(z, ip + 10);
	return len;
}

static size_t mut_flip(struct fz *z, uint8_t *f, size_t len)
{
	uint32_t n = 1 + below(z, 6), i;

	for (i = 0; i < n; i++) {
		size_t at = chance(z, 75) ? below(z, (uint32_t)(len < 80 ? len : 80))
					  : below(z, (uint32_t)len);

		if (chance(z, 50))
			f[at] ^= (uint8_t)(1u << below(z, 8));
		else
			f[at] = (uint8_t)rnd(z);
	}
	if (chance(z, 30))
		pkt_fix_csums(f, len);
	return len;
}

static size_t mut_garbage(struct fz *z, uint8_t *f)
{
	static const uint16_t types[] = {0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806};
	size_t len = ETH_LEN + below(z, 500), i;

	for (i = 0; i < len; i++)
		f[i] = (uint8_t)rnd(z);
	if (chance(z, 70)) {
		uint16_t type = types[below(z, 5)];

		wr16(f + 12, type);
		if (len > ETH_LEN && chance(z, 70))
			f[ETH_LEN] = (uint8_t)((type == 0x86dd ? 0x60 : 0x40) | (f[ETH_LEN] & 15));
		if (len > ETH_LEN + 9 && type == 0x0800 && chance(z, 60))
			f[ETH_LEN + 9] = chance(z, 50) ? IPPROTO_TCP : IPPROTO_UDP;
		if (len > ETH_LEN + 6 && type == 0x86dd && chance(z, 60))
			f[ETH_LEN + 6] = chance(z, 50) ? IPPROTO_TCP : IPPROTO_UDP;
	}
	return len;
}

/* The same flow as an IPv6 frame with v4-mapped addresses: its key is the
 * v4 flow's key, but it must never be rewritten as an IPv4 packet. */
static size_t mut_mapped(struct fz *z, uint8_t *f, size_t len)
{
	uint8_t l4[PKT_MAX], saddr[4], daddr[4], proto, *ip = f + ETH_LEN;
	size_t off = base_l4(f, len), l4_len;

	if (!is_v4(f) || !off)
		return len;
	l4_len = rd16(ip + 2) - (off - ETH_LEN);
	memcpy(l4, f + off, l4_len);
	memcpy(saddr, ip + 12, 4);
	memcpy(daddr, ip + 16, 4);
	proto = ip[9];
	wr16(f + 12, 0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	wr16(ip + 4, (uint16_t)l4_len);
	ip[6] = proto;
	ip[7] = 64;
	ip[18] = 0xff;
	ip[19] = 0xff;
	memcpy(ip + 20, saddr, 4);
	ip[34] = 0xff;
	ip[35] = 0xff;
	memcpy(ip + 36, daddr, 4);
	memcpy(ip + 40, l4, l4_len);
	len = ETH_LEN + 40 + l4_len;
	if (chance(z, 80))
		pkt_fix_csums(f, len);
	return len;
}

static size_t mutate(struct fz *z, enum fz_class cls, size_t len)
{
	uint8_t *f = z->in, *ip = f + ETH_LEN;
	size_t l4 = base_l4(f, len);
	bool v4 = is_v4(f);
	bool tcp = v4 ? ip[9] == IPPROTO_TCP : ip[6] == IPPROTO_TCP;

	switch (cls) {
	case FZ_TRUNC:
		return ETH_LEN + below(z, (uint32_t)(len - ETH_LEN));
	case FZ_IHL:
		if (v4) {
			ip[0] = (uint8_t)(0x40 | below(z, 16));
			if (chance(z, 30))
				ip[0] = (uint8_t)(below(z, 16) << 4 | (ip[0] & 15));
			return len;
		}
		ip[0] = (uint8_t)(below(z, 16) << 4 | (ip[0] & 15));
		return len;
	case FZ_TOTLEN:
		if (v4)
			wr16(ip + 2, near_or_random(z, rd16(ip + 2)));
		else
			wr16(ip + 4, near_or_random(z, rd16(ip + 4)));
		return len;
	case FZ_V6PLEN:
		if (v4)
			return mutate(z, FZ_TOTLEN, len);
		wr16(ip + 4, near_or_random(z, rd16(ip + 4)));
		return len;
	case FZ_IPOPT:
		return v4 ? add_ip_options(z, f, len) : mut_v6ext(z, f, len);
	case FZ_V6EXT:
		return v4 ? add_ip_options(z, f, len) : mut_v6ext(z, f, len);
	case FZ_DOFF:
		if (tcp && l4) {
			uint8_t doff =
				chance(z, 50) ? (uint8_t)below(z, 5) : (uint8_t)(6 + below(z, 10));

			f[l4 + 12] = (uint8_t)(doff << 4 | (f[l4 + 12] & 15));
			if (chance(z, 50))
				pkt_fix_csums(f, len);
		}
		return len;
	case FZ_FRAG:
		if (v4) {
			uint16_t frag = (uint16_t)(below(z, 2) << 13 | below(z, 4) << 14);

			if (chance(z, 50))
				frag |= (uint16_t)(1 + below(z, 0x1fff));
			else
				frag |= 0x2000;
			wr16(ip + 6, frag);
			pkt_fix_csums(f, len);
			return len;
		}
		{
			uint8_t hdr[8] = {
				ip[6], 0, (uint8_t)below(z, 256), (uint8_t)below(z, 256), 1, 2,
				3,     4};

			len = insert(f, len, ETH_LEN + 40, hdr, 8);
			ip[6] = 44;
			wr16(ip + 4, (uint16_t)(rd16(ip + 4) + 8));
			return len;
		}
	case FZ_VLAN: {
		uint8_t tag[8] = {0x81, 0x00, (uint8_t)below(z, 16), (uint8_t)rnd(z),
				  0x81, 0x00, (uint8_t)below(z, 16), (uint8_t)rnd(z)};
		size_t n = chance(z, 70) ? 4 : 8;

		if (chance(z, 40)) {
			tag[0] = 0x88;
			tag[1] = 0xa8;
		}
		/* the tag goes between the MACs and the inner ethertype */
		return insert(f, len, 12, tag, n);
	}
	case FZ_CSUM:
		if (l4) {
			uint32_t which = below(z, 3);

			if (v4 && which != 1)
				set_checksum_field(z, ip + 10);
			/* A third of them as a sender leaving the sum to
			 * offload writes it (CHECKSUM_PARTIAL). */
			if (which != 0 && chance(z, 33))
				wr16(f + l4 + (tcp ? 16 : 6),
				     pseudo_fold(f, v4, tcp ? IPPROTO_TCP : IPPROTO_UDP,
						 v4 ? rd16(ip + 2) - (size_t)(ip[0] & 15) * 4
						    : rd16(ip + 4)));
			else if (which != 0)
				set_checksum_field(z, f + l4 + (tcp ? 16 : 6));
		}
		return len;
	case FZ_ICMP:
		return mut_icmp(z, f, len);
	case FZ_UDPLEN:
		if (!tcp && l4)
			wr16(f + l4 + 4, near_or_random(z, rd16(f + l4 + 4)));
		else if (l4)
			return mutate(z, FZ_DOFF, len);
		return len;
	case FZ_MAPPED:
		return mut_mapped(z, f, len);
	case FZ_FLIP:
		return mut_flip(z, f, len);
	default:
		return len;
	}
}

/* The sweep: a forward frame of each kind in full, then cut at every offset
 * from the Ethernet header on; then a reply of its flow, likewise. */
static bool gen_sweep(struct fz *z)
{
	static const struct {
		uint32_t service;
		uint8_t flags;
		uint8_t ip_opt_len;
	} bases[] = {{0, TCP_SYN, 0}, {0, TCP_SYN, 8}, {1, 0, 0}, {2, TCP_SYN, 0}, {3, 0, 0}};

	for (;;) {
		if (z->sweep_len && z->sweep_cut < z->sweep_len) {
			memcpy(z->in, z->sweep, z->sweep_cut);
			z->in_len = z->sweep_cut++;
			z->reply = z->sweep_reply;
			return true;
		}
		if (z->sweep_len && !z->sweep_reply) {
			/* the reply of the flow just created */
			struct fz_parse p;
			struct gs_flow_key rk;
			const struct fz_flow *flow;
			char src[64], dst[64];
			struct pkt_spec spec;

			model_parse(z->sweep, z->sweep_len, &p);
			flow = flow_find(z, &p.key, false);
			if (!flow)
				fz_fail(z, "sweep: base frame made no flow");
			rev_key_of(&rk, &p.key, backend_by_id(flow->backend_id));
			addr_text(&rk.src, src, sizeof(src));
			addr_text(&rk.dst, dst, sizeof(dst));
			memset(&spec, 0, sizeof(spec));
			spec.src = src;
			spec.dst = dst;
			spec.sport = ntohs(rk.sport);
			spec.dport = ntohs(rk.dport);
			spec.proto = rk.proto;
			spec.tcp_flags = rk.proto == IPPROTO_TCP ? TCP_SYN | TCP_ACK : 0;
			spec.ip_opt_len = bases[z->sweep_base - 1].ip_opt_len;
			spec.payload = "HTTP/1.1 200 OK\r\n\r\n";
			spec.payload_len = 19;
			z->sweep_len = pkt_build(&spec, z->sweep);
			z->sweep_cut = ETH_LEN;
			z->sweep_reply = true;
			memcpy(z->in, z->sweep, z->sweep_len);
			z->in_len = z->sweep_len;
			return true;
		}
		if (z->sweep_base >= sizeof(bases) / sizeof(bases[0]))
			return false;
		{
			const struct fz_service *svc = &world[bases[z->sweep_base].service];
			struct pkt_spec spec;

			memset(&spec, 0, sizeof(spec));
			spec.src = svc->vip[0] == 'f' ? "fd0c::77" : "192.168.7.7";
			spec.dst = svc->vip;
			spec.sport = 50000;
			spec.dport = svc->port;
			spec.proto = svc->proto;
			spec.tcp_flags = bases[z->sweep_base].flags;
			spec.ip_opt_len = bases[z->sweep_base].ip_opt_len;
			spec.payload = "GET / HTTP/1.1\r\n\r\n";
			spec.payload_len = 18;
			z->sweep_len = pkt_build(&spec, z->sweep);
			z->sweep_cut = ETH_LEN;
			z->sweep_reply = false;
			z->sweep_base++;
			memcpy(z->in, z->sweep, z->sweep_len);
			z->in_len = z->sweep_len;
			z->reply = false;
			return true;
		}
	}
}

/*
 * The kernel's backend_addrs, as the fixture's sync wrote it from the world,
 * must be what the model reads the world as: for every backend, its key
 * lists the model's services in the model's order, and no other key is
 * there.
 */
static void check_backend_addrs(struct fz *z)
{
	int fd = bpf_map__fd(z->fx->skel->maps.backend_addrs);
	struct gs_backend_addr_key made[FZ_NSERVICES * FZ_MAX_BACKENDS], key, next;
	size_t s, b, i, n, keys = 0;
	int err;

	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++) {
			const struct fz_service *svcs[GS_ADDR_SERVICES];
			struct gs_flow_key reply;
			struct gs_backend_addr ba;

			memset(&reply, 0, sizeof(reply));
			reply.src = pkt_addr(world[s].backends[b].addr);
			reply.sport = htons(world[s].backends[b].port);
			reply.proto = world[s].proto;
			n = model_backend_vips(&reply, svcs);
			memset(&key, 0, sizeof(key));
			key.addr = reply.src;
			key.port = reply.sport;
			key.proto = reply.proto;
			if (bpf_map_lookup_elem(fd, &key, &ba))
				fz_fail(z, "backend_addrs: no entry for backend %u",
					world[s].backends[b].id);
			if (ba.count != n)
				fz_fail(z, "backend_addrs: backend %u lists %u services, model %zu",
					world[s].backends[b].id, ba.count, n);
			for (i = 0; i < n; i++) {
				union gs_addr vip = pkt_addr(svcs[i]->vip);

				if (memcmp(&ba.svc[i].vip, &vip, sizeof(vip)) ||
				    ba.svc[i].port != htons(svcs[i]->port))
					fz_fail(z, "backend_addrs: backend %u, service %zu differs",
						world[s].backends[b].id, i);
			}
		}
	/* The distinct keys the world makes. */
	for (s = 0; s < FZ_NSERVICES; s++)
		for (b = 0; b < world[s].nbackends; b++) {
			memset(&key, 0, sizeof(key));
			key.addr = pkt_addr(world[s].backends[b].addr);
			key.port = htons(world[s].backends[b].port);
			key.proto = world[s].proto;
			for (i = 0; i < keys && memcmp(&made[i], &key, sizeof(key)); i++)
				;
			if (i == keys)
				made[keys++] = key;
		}
	n = 0;
	for (err = bpf_map_get_next_key(fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		n++;
	}
	if (n != keys)
		fz_fail(z, "backend_addrs holds %zu entries, the world makes %zu", n, keys);
}

/* Now and then a flow entry disappears, as under LRU pressure: its
 * replies go out untouched, and its next forward packet selects anew. */
static void maybe_evict(struct fz *z)
{
	struct fz_flow *flow;

	/* Not under a forward sweep: its reply sweep needs the flow. */
	if (!z->nflows || below(z, 100) || (z->sweep_len && !z->sweep_reply))
		return;
	flow = &z->flows[z->flow_slots[below(z, (uint32_t)z->nflows)]];
	if (flow->evicted)
		return;
	fx_flow_del(z->fx, &flow->key);
	flow->evicted = true;
	z->st->evictions++;
}

/* Now and then the fast path is switched off, or on again. */
static void maybe_toggle_fast(struct fz *z)
{
	if (below(z, 1000) >= 2)
		return;
	z->fast_off = !z->fast_off;
	fn_fast_path_set(z->fx, !z->fast_off);
	if (z->fast_off)
		z->st->fast_toggles++;
}

static void generate(struct fz *z)
{
	static const enum fz_class mutations[] = {
		FZ_TRUNC, FZ_IHL,  FZ_TOTLEN, FZ_V6PLEN, FZ_IPOPT,  FZ_V6EXT,  FZ_DOFF,
		FZ_FRAG,  FZ_VLAN, FZ_CSUM,   FZ_ICMP,	 FZ_UDPLEN, FZ_MAPPED, FZ_FLIP,
	};
	uint32_t pick = below(z, 100);

	if (gen_sweep(z)) {
		z->cls = FZ_SWEEP;
		return;
	}
	if (pick < 20) {
		z->cls = FZ_VALID;
		z->reply = false;
		z->in_len = gen_forward(z, z->in, false);
	} else if (pick < 25) {
		z->cls = FZ_NOSVC;
		z->reply = false;
		z->in_len = gen_forward(z, z->in, true);
	} else if (pick < 40) {
		z->cls = FZ_REPLY;
		z->reply = true;
		z->in_len = gen_reply(z, z->in);
		if (!z->in_len) {
			z->cls = FZ_VALID;
			z->reply = false;
			z->in_len = gen_forward(z, z->in, false);
		}
	} else if (pick < 45) {
		z->cls = FZ_GARBAGE;
		z->reply = chance(z, 50);
		z->in_len = mut_garbage(z, z->in);
	} else {
		z->cls = mutations[below(z, sizeof(mutations) / sizeof(mutations[0]))];
		z->in_len = mutate(z, z->cls, gen_base(z));
	}
}

/* Static: a failing check longjmps out of fz_run, and nothing may leak. */
static struct fz fz_state;
#define FZ_MAX_CPUS 1024
static uint64_t fz_cnt_values[GS_CNT_MAX * FZ_MAX_CPUS];
static uint32_t fz_cnt_keys[GS_CNT_MAX];

void fz_run(struct fx *fx, uint64_t seed, uint64_t frames, struct fz_stats *stats)
{
	struct fz *z = &fz_state;
	struct timespec t0, t1;
	uint32_t k;

	memset(z, 0, sizeof(*z));
	memset(stats, 0, sizeof(*stats));
	z->fx = fx;
	z->st = stats;
	z->seed = seed;
	z->rng = seed;
	z->ncpus = libbpf_num_possible_cpus();
	if (z->ncpus < 1 || z->ncpus > FZ_MAX_CPUS)
		fail_msg("fuzz: %d possible CPUs", z->ncpus);
	z->cnt_values = fz_cnt_values;
	z->cnt_keys = fz_cnt_keys;
	for (k = 0; k < GS_CNT_MAX; k++)
		z->cnt_keys[k] = k;
	fz_world_setup(fx);
	check_backend_addrs(z);
	fn_setup(&z->net, fx);
	counters_read(z, z->counters);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (z->index = 0; z->index < frames; z->index++) {
		maybe_evict(z);
		maybe_toggle_fast(z);
		generate(z);
		stats->per_class[z->cls]++;
		if (z->reply)
			stats->reply++;
		else
			stats->fwd++;
		run_and_check(z);
	}
	tables_check_and_clear(z);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stats->frames = frames;
	stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

void fz_print_stats(const struct fz_stats *st, uint64_t seed)
{
	static const char *const reasons[GS_CNT_MAX] = {
		[GS_CNT_PASS_NOT_IP] = "not-ip",	 [GS_CNT_PASS_VLAN] = "vlan",
		[GS_CNT_PASS_FRAGMENT] = "fragment",	 [GS_CNT_PASS_NOT_L4] = "not-l4",
		[GS_CNT_PASS_NO_SERVICE] = "no-service", [GS_CNT_BAD_HEADER] = "bad-header",
		[GS_CNT_NO_BACKEND] = "no-backend",
	};
	int c;

	printf("# fuzz_packets: seed %llu, %llu frames in %.2f s (%.0f frames/s)\n",
	       (unsigned long long)seed, (unsigned long long)st->frames, st->seconds,
	       st->seconds > 0 ? (double)st->frames / st->seconds : 0.0);
	printf("# into gs_xdp_fwd %llu, into gs_tc_reply %llu\n", (unsigned long long)st->fwd,
	       (unsigned long long)st->reply);
	printf("# rewritten %llu, passed unchanged %llu, dropped %llu, refused by the tc test "
	       "run %llu; flow tables checked and emptied %llu times\n",
	       (unsigned long long)st->rewritten, (unsigned long long)st->untouched,
	       (unsigned long long)st->dropped, (unsigned long long)st->refused,
	       (unsigned long long)st->table_checks);
	printf("# rewritten with right checksums (verified from scratch) %llu, with fuzzed "
	       "checksums (error carried exactly) %llu, with partial checksums (kept the new "
	       "pseudo-header's sum) %llu\n",
	       (unsigned long long)st->csum_right, (unsigned long long)st->csum_fuzzed,
	       (unsigned long long)st->csum_partial);
	printf("# forward frames passed unchanged, by counter:");
	for (c = 0; c < GS_CNT_MAX; c++)
		if (reasons[c])
			printf(" %s %llu", reasons[c], (unsigned long long)st->reason[c]);
	printf("\n# ICMP errors (counters as the model predicted them): put back to the VIP at "
	       "the reply path %llu, sent on to the backend at the forward path %llu, not ours "
	       "%llu, bad quote %llu, of the other path %llu; rewrites checked %llu, %llu of them "
	       "against the whole quoted segment",
	       (unsigned long long)st->counted[GS_CNT_ICMP_TRANSLATED],
	       (unsigned long long)st->counted[GS_CNT_ICMP_TO_BACKEND],
	       (unsigned long long)st->counted[GS_CNT_ICMP_NOT_OURS],
	       (unsigned long long)st->counted[GS_CNT_ICMP_BAD_QUOTE],
	       (unsigned long long)st->icmp_other_way,
	       (unsigned long long)(st->icmp_translated + st->icmp_to_backend),
	       (unsigned long long)st->icmp_whole_quotes);
	printf("\n# flows: new %llu, re-selected %llu, picked up mid-stream %llu; entries "
	       "evicted %llu; reply rewritten %llu, reply bad header %llu (counters as the "
	       "model predicted them)",
	       (unsigned long long)st->counted[GS_CNT_FLOW_NEW],
	       (unsigned long long)st->counted[GS_CNT_FLOW_RESELECT],
	       (unsigned long long)st->counted[GS_CNT_FLOW_MISSING],
	       (unsigned long long)st->evictions,
	       (unsigned long long)st->counted[GS_CNT_REV_REWRITTEN],
	       (unsigned long long)st->counted[GS_CNT_REV_BAD_HEADER]);
	printf("\n# fast path (counters as the model predicted them): redirected %llu (next hop "
	       "from the flow's cache %llu, cache fills checked %llu), no "
	       "neighbour %llu, not in tx_ports %llu, partial checksum %llu, kernel's %llu, off "
	       "%llu (switched off %llu times)",
	       (unsigned long long)st->counted[GS_CNT_FAST_REDIRECT],
	       (unsigned long long)st->counted[GS_CNT_FAST_CACHED],
	       (unsigned long long)st->nh_checked,
	       (unsigned long long)st->counted[GS_CNT_FAST_NO_NEIGH],
	       (unsigned long long)st->counted[GS_CNT_FAST_NO_TXPORT],
	       (unsigned long long)st->counted[GS_CNT_FAST_PARTIAL],
	       (unsigned long long)st->counted[GS_CNT_FAST_KERNEL],
	       (unsigned long long)st->counted[GS_CNT_FAST_OFF],
	       (unsigned long long)st->fast_toggles);
	printf("\n# per class:");
	for (c = 0; c < FZ_CLASSES; c++)
		printf(" %s %llu", class_names[c], (unsigned long long)st->per_class[c]);
	printf("\n");
	fflush(stdout);
}
