/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The pinned maps of one graysplit instance (one pin directory). Every
 * command but attach works on these alone: the state lives in the kernel,
 * not in the CLI process.
 */
#ifndef GS_MAPS_H
#define GS_MAPS_H

#include <stddef.h>

#define GS_DEFAULT_PIN_DIR "/sys/fs/bpf/graysplit"

/* Map names: the pinned file names, and the names in the BPF object. */
#define GS_MAP_SERVICES	     "services"
#define GS_MAP_SPLIT	     "split"
#define GS_MAP_BACKENDS	     "backends"
#define GS_MAP_MAGLEV	     "maglev"
#define GS_MAP_FLOWS	     "flows"
#define GS_MAP_BACKEND_ADDRS "backend_addrs"
#define GS_MAP_OVERRIDES     "overrides"
#define GS_MAP_STATS	     "stats"
#define GS_MAP_BACKEND_STATS "backend_stats"
#define GS_MAP_IFACES	     "ifaces"
#define GS_MAP_LATENCY	     "latency"
#define GS_MAP_EVENTS	     "events"
#define GS_MAP_SVC_STATUS    "svc_status"
#define GS_MAP_ROLLOUTS	     "rollouts"
#define GS_MAP_ROLLOUT_STATE "rollout_state"
#define GS_MAP_CONFIG	     "config"
#define GS_MAP_TX_PORTS	     "tx_ports"
#define GS_MAP_TX_HEALTH     "tx_health"
#define GS_MAP_UDP_SLOTS     "udp_slots"
#define GS_MAP_UNANSWERED    "unanswered"
#define GS_MAP_DEP_FLOWS     "dep_flows"
#define GS_MAP_DEP_SLOTS     "dep_slots"
#define GS_MAP_DEP_NEXT	     "dep_next"
#define GS_MAP_DEP_STATS     "dep_stats"
#define GS_MAP_DEP_LATENCY   "dep_latency"
#define GS_MAP_DEP_KINDS     "dep_kinds"

struct gs_maps {
	int services;
	int split;
	int backends;
	int maglev; /* ARRAY_OF_MAPS: service id * GS_GROUPS + group */
	int flows;
	int backend_addrs; /* (backend addr, port, proto) -> its services' VIP:ports */
	int overrides;
	int stats;
	int backend_stats;
	int ifaces;
	int latency;	   /* PERCPU_ARRAY: backend id * GS_HIST_KINDS + kind */
	int events;	   /* RINGBUF of struct gs_event */
	int svc_status;	   /* service id -> rollback reason */
	int rollouts;	   /* service id -> struct gs_rollout (CLI writes) */
	int rollout_state; /* service id -> struct gs_rollout_state (agent writes) */
	int config;	   /* key 0 -> struct gs_config (CLI writes) */
	int tx_ports;	   /* DEVMAP_HASH ifindex -> ifindex (attach, detach, agent write) */
	int tx_health;	   /* slot -> struct gs_tx_health (the kernel's watch writes) */
	int udp_slots;	   /* PERCPU_ARRAY backend id -> struct gs_udp_slots */
	int unanswered;	   /* backend id -> UDP flows unanswered (agent writes) */
	/* The downstream watch (backend role, include/graysplit.h): */
	int dep_flows;	 /* LRU_HASH connection -> struct gs_dep_flow */
	int dep_slots;	 /* HASH struct gs_dep_key -> slot */
	int dep_next;	 /* ARRAY of 1: next free slot */
	int dep_stats;	 /* PERCPU_ARRAY slot -> struct gs_dep_stats */
	int dep_latency; /* PERCPU_ARRAY slot * GS_DEP_HIST_KINDS + kind */
	int dep_kinds;	 /* HASH (address, port) -> protocol (CLI, agent write) */
};

/* Every map name above, in struct gs_maps order. */
#define GS_MAP_COUNT 26
extern const char *const gs_map_names[GS_MAP_COUNT];

/* Pinned programs: shared by every interface an instance is attached to. */
#define GS_PIN_PROG_XDP "prog_xdp"
#define GS_PIN_PROG_TC	"prog_tc"
/* The downstream watch of a backend host (attach --role backend). */
#define GS_PIN_PROG_DEP_IN  "prog_dep_in"
#define GS_PIN_PROG_DEP_OUT "prog_dep_out"
/* Pinned XDP link of one interface: GS_PIN_LINK_XDP_PREFIX + ifname. */
#define GS_PIN_LINK_XDP_PREFIX "link_xdp_"
/* Pinned links of the kernel-side watch programs: this prefix + program. */
#define GS_PIN_LINK_WATCH_PREFIX "link_watch_"

/* "pin_dir/name" into buf; -ENAMETOOLONG (with message) if it does not fit. */
int gs_pin_path(char *buf, size_t len, const char *pin_dir, const char *name);

/* Every fd -1, so gs_maps_close() of a partly opened set is safe. */
void gs_maps_init(struct gs_maps *maps);

/* Fails with a clear message if dir is not on a bpffs. */
int gs_check_bpffs(const char *dir);

/* Open every pinned map under pin_dir. -ENOENT with "not attached: run
 * 'graysplit attach IFACE' first" when the instance does not exist. */
int gs_maps_open(const char *pin_dir, struct gs_maps *maps);
void gs_maps_close(struct gs_maps *maps);

#endif
