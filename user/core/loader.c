// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "backend_addrs.h"
#include "config.h"
#include "error.h"
#include "graysplit.h"
#include "graysplit.skel.h"
#include "link_facts.h"
#include "loader.h"
#include "map_iter.h"
#include "maps.h"
#include "netns.h"
#include "tc.h"
#include "txports.h"

const char *gs_xdp_mode_name(uint32_t xdp_flags)
{
	if (!xdp_flags)
		return "none";
	if (xdp_flags & XDP_FLAGS_SKB_MODE)
		return "generic";
	if (xdp_flags & XDP_FLAGS_HW_MODE)
		return "offload";
	return "native";
}

static bool pinned(const char *pin_dir, const char *name)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", pin_dir, name) >= (int)sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* Every map and both programs: attach can reuse them without loading. */
static bool instance_complete(const char *pin_dir)
{
	int i;

	for (i = 0; i < GS_MAP_COUNT; i++)
		if (!pinned(pin_dir, gs_map_names[i]))
			return false;
	return pinned(pin_dir, GS_PIN_PROG_XDP) && pinned(pin_dir, GS_PIN_PROG_TC) &&
	       pinned(pin_dir, GS_PIN_PROG_DEP_IN) && pinned(pin_dir, GS_PIN_PROG_DEP_OUT);
}

bool gs_instance_absent(const char *pin_dir)
{
	int i;

	for (i = 0; i < GS_MAP_COUNT; i++)
		if (pinned(pin_dir, gs_map_names[i]))
			return false;
	return true;
}

static int pinned_info(const char *path, struct bpf_map_info *info)
{
	uint32_t len = sizeof(*info);
	int fd, err = 0;

	memset(info, 0, sizeof(*info));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		err = -errno;
	close(fd);
	return err;
}

static int pinned_max_entries(const char *path, uint32_t *max_entries)
{
	struct bpf_map_info info;
	int err = pinned_info(path, &info);

	if (!err)
		*max_entries = info.max_entries;
	return err;
}

/* The kernel makes every devmap read-only to programs (BPF_F_RDONLY_PROG)
 * by itself but refuses the flag at creation: a pinned one shows a flag the
 * object does not ask for, and libbpf would not reuse it. Ask for what the
 * pin has. */
static int match_devmap_flags(struct bpf_map *map)
{
	struct bpf_map_info info;

	if (pinned_info(bpf_map__pin_path(map), &info) ||
	    (info.map_flags & ~BPF_F_RDONLY_PROG) != bpf_map__map_flags(map))
		return 0;
	return bpf_map__set_map_flags(map, info.map_flags);
}

static int prog_id_of(int fd, uint32_t *id)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

uint32_t gs_flow_table_entries(uint32_t flows)
{
	return flows & (flows - 1) ? flows : flows + 1;
}

/* A map already pinned keeps its size (libbpf would otherwise refuse to
 * reuse it); a new one gets size. */
static int size_map(struct bpf_map *map, uint32_t size)
{
	pinned_max_entries(bpf_map__pin_path(map), &size);
	return bpf_map__set_max_entries(map, size);
}

static int pin_program(struct bpf_program *prog, const char *pin_dir, const char *name)
{
	char path[PATH_MAX];
	int err;

	err = gs_pin_path(path, sizeof(path), pin_dir, name);
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return gs_fail(errno, "cannot replace %s: %s", path, strerror(errno));
	err = bpf_program__pin(prog, path);
	if (err)
		return gs_fail(-err, "cannot pin program at %s: %s", path, strerror(-err));
	return 0;
}

/* The pin directory and any missing parent, like mkdir -p. */
static int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t i;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return gs_fail(ENAMETOOLONG, "pin directory name too long");
	for (i = 1; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return gs_fail(errno, "cannot create %s: %s", path, strerror(errno));
		path[i] = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return gs_fail(errno, "cannot create pin directory %s: %s", path, strerror(errno));
	return 0;
}

/*
 * The watch programs (bpf/lib/watch.h) hooked and their links pinned next
 * to the maps, replacing the links of an earlier load: from here on they
 * guard the data path without any process of ours running. One whose hook
 * this kernel lacks was not loaded (gs_skel_open) and is skipped; status
 * says which are there.
 */
static int attach_watch(struct graysplit_bpf *skel, const char *pin_dir)
{
	struct bpf_program *progs[] = {
		skel->progs.gs_watch_devmap_xmit,
		skel->progs.gs_watch_redirect_err,
		skel->progs.gs_watch_nf_drop,
	};
	char path[PATH_MAX], name[64];
	struct bpf_link *link;
	size_t i;
	int err;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		snprintf(name, sizeof(name), GS_PIN_LINK_WATCH_PREFIX "%s",
			 bpf_program__name(progs[i]) + strlen("gs_watch_"));
		err = gs_pin_path(path, sizeof(path), pin_dir, name);
		if (err)
			return err;
		if (!bpf_program__autoload(progs[i])) {
			unlink(path);
			continue;
		}
		link = bpf_program__attach(progs[i]);
		err = libbpf_get_error(link);
		if (err)
			return gs_fail(-err, "cannot hook the watch program %s: %s",
				       bpf_program__name(progs[i]), strerror(-err));
		if (unlink(path) && errno != ENOENT)
			err = -errno;
		if (!err)
			err = bpf_link__pin(link, path);
		bpf_link__destroy(link);
		if (err)
			return gs_fail(-err, "cannot pin the watch link at %s: %s", path,
				       strerror(-err));
	}
	return 0;
}

/* Ring-buffer size of a new instance, 0: the build's (GS_RINGBUF_SIZE). */
static uint32_t ring_bytes;

void gs_loader_set_ring_bytes(uint32_t bytes)
{
	ring_bytes = bytes;
}

int gs_load(const char *pin_dir, uint32_t flows, struct graysplit_bpf **out)
{
	char path[PATH_MAX];
	struct graysplit_bpf *skel;
	struct bpf_map *map;
	int err;

	err = mkdir_p(pin_dir);
	if (err)
		return err;
	skel = gs_skel_open();
	if (!skel)
		return gs_fail(errno, "cannot open the BPF object: %s", strerror(errno));
	bpf_object__for_each_map(map, skel->obj)
	{
		err = gs_pin_path(path, sizeof(path), pin_dir, bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err) {
			if (err != -ENAMETOOLONG)
				gs_set_error("cannot set pin path %s: %s", path, strerror(-err));
			goto fail;
		}
	}
	err = size_map(skel->maps.flows, gs_flow_table_entries(flows));
	/* The same rule for the ring: a pinned one keeps its size. */
	if (!err && ring_bytes)
		err = size_map(skel->maps.events, ring_bytes);
	if (!err)
		err = match_devmap_flags(skel->maps.tx_ports);
	if (err) {
		gs_set_error("cannot size the flow table or the ring buffer: %s", strerror(-err));
		goto fail;
	}
	err = graysplit_bpf__load(skel);
	if (err) {
		gs_set_error("cannot load the BPF object with maps pinned at %s: %s (incompatible "
			     "maps from another build? 'graysplit --pin-dir %s detach --all' "
			     "removes them; GRAYSPLIT_DEBUG=1 shows libbpf's log)",
			     pin_dir, strerror(-err), pin_dir);
		goto fail;
	}
	err = pin_program(skel->progs.gs_xdp_fwd, pin_dir, GS_PIN_PROG_XDP);
	if (!err)
		err = pin_program(skel->progs.gs_tc_reply, pin_dir, GS_PIN_PROG_TC);
	if (!err)
		err = pin_program(skel->progs.gs_tc_dep_in, pin_dir, GS_PIN_PROG_DEP_IN);
	if (!err)
		err = pin_program(skel->progs.gs_tc_dep_out, pin_dir, GS_PIN_PROG_DEP_OUT);
	if (!err)
		err = attach_watch(skel, pin_dir);
	if (err)
		goto fail;
	*out = skel;
	return 0;
fail:
	graysplit_bpf__destroy(skel);
	return err;
}

/* The four programs an interface may get, as fds for attaching. */
enum { PROG_XDP, PROG_TC, PROG_DEP_IN, PROG_DEP_OUT, PROG_COUNT };

static const char *const prog_pins[PROG_COUNT] = {GS_PIN_PROG_XDP, GS_PIN_PROG_TC,
						  GS_PIN_PROG_DEP_IN, GS_PIN_PROG_DEP_OUT};

static void close_programs(int *fds)
{
	int i;

	for (i = 0; i < PROG_COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Program fds for attaching: the pinned ones if the instance is complete,
 * so every interface shares one program instance; else load and pin. */
static int get_programs(const char *pin_dir, uint32_t flows, int *fds)
{
	struct graysplit_bpf *skel = NULL;
	char path[PATH_MAX];
	int err, i, ok = 0;

	for (i = 0; i < PROG_COUNT; i++)
		fds[i] = -1;
	if (instance_complete(pin_dir)) {
		for (i = 0; i < PROG_COUNT; i++) {
			gs_pin_path(path, sizeof(path), pin_dir, prog_pins[i]);
			fds[i] = bpf_obj_get(path);
			ok += fds[i] >= 0;
		}
		if (ok == PROG_COUNT)
			return 0;
		close_programs(fds);
	}
	err = gs_load(pin_dir, flows, &skel);
	if (err || !skel)
		return err ? err : -EINVAL;
	fds[PROG_XDP] = dup(bpf_program__fd(skel->progs.gs_xdp_fwd));
	fds[PROG_TC] = dup(bpf_program__fd(skel->progs.gs_tc_reply));
	fds[PROG_DEP_IN] = dup(bpf_program__fd(skel->progs.gs_tc_dep_in));
	fds[PROG_DEP_OUT] = dup(bpf_program__fd(skel->progs.gs_tc_dep_out));
	graysplit_bpf__destroy(skel);
	for (i = 0; i < PROG_COUNT; i++) {
		if (fds[i] < 0) {
			err = errno;
			close_programs(fds);
			return gs_fail(err, "dup: %s", strerror(err));
		}
	}
	return 0;
}

static int xdp_link_path(char *buf, size_t len, const char *pin_dir, const char *ifname)
{
	char name[sizeof(GS_PIN_LINK_XDP_PREFIX) + IFNAMSIZ];

	snprintf(name, sizeof(name), GS_PIN_LINK_XDP_PREFIX "%s", ifname);
	return gs_pin_path(buf, len, pin_dir, name);
}

/* Force the link off its interface even if some other process still holds
 * it, then drop the pin: XDP is detached when this returns. */
static void xdp_unpin_link(const char *path)
{
	int fd = bpf_obj_get(path);

	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
}

static uint32_t xdp_current_flags(int ifindex, uint32_t fallback)
{
	struct bpf_xdp_query_opts query = {.sz = sizeof(struct bpf_xdp_query_opts)};

	if (bpf_xdp_query(ifindex, 0, &query))
		return fallback;
	if (query.attach_mode == XDP_ATTACHED_SKB)
		return XDP_FLAGS_SKB_MODE;
	if (query.attach_mode == XDP_ATTACHED_DRV)
		return XDP_FLAGS_DRV_MODE;
	return fallback;
}

/* The kernel refuses XDP on a device whose upper device (the bridge of a
 * port, the bond of a slave) has an XDP program, with EEXIST, as if the
 * device had one itself. Say so, naming the upper device. */
static bool upper_has_xdp(int ifindex, char *upper, size_t len)
{
	struct gs_link_facts f, u;

	if (gs_link_facts_read((uint32_t)ifindex, &f, false) || !f.master ||
	    gs_link_facts_read(f.master, &u, false) || u.xdp == GS_XDP_NONE)
		return false;
	snprintf(upper, len, "%s", u.name);
	return true;
}

/*
 * XDP through a bpf_link pinned next to the maps: the link, not this
 * process, keeps the program attached. Native mode first; generic (skb)
 * mode if the driver has no XDP support.
 */
static int attach_xdp(const char *pin_dir, const char *ifname, int ifindex, int prog_fd,
		      uint32_t *xdp_flags, bool *created)
{
	static const uint32_t modes[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
	struct bpf_link_create_opts opts = {.sz = sizeof(struct bpf_link_create_opts)};
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info), prog_id = 0;
	char path[PATH_MAX], upper[IFNAMSIZ];
	int fd, err, native_err = 0;
	size_t i;

	*created = false;
	err = xdp_link_path(path, sizeof(path), pin_dir, ifname);
	if (err)
		return err;
	err = prog_id_of(prog_fd, &prog_id);
	if (err)
		return gs_fail(-err, "cannot query the XDP program: %s", strerror(-err));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_XDP &&
		    info.xdp.ifindex == (uint32_t)ifindex) {
			/* Already attached: at most move it to the program
			 * pinned now. */
			if (info.prog_id != prog_id && bpf_link_update(fd, prog_fd, NULL)) {
				err = errno;
				close(fd);
				return gs_fail(err, "cannot update the XDP link of %s: %s", ifname,
					       strerror(err));
			}
			close(fd);
			*xdp_flags = xdp_current_flags(ifindex, XDP_FLAGS_DRV_MODE);
			return 0;
		}
		/* A link of an interface that is gone or was re-created. */
		close(fd);
		xdp_unpin_link(path);
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		opts.flags = modes[i];
		fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
		if (fd >= 0)
			break;
		if (!native_err)
			native_err = errno;
	}
	if (fd < 0) {
		err = native_err;
		if (err == EEXIST && upper_has_xdp(ifindex, upper, sizeof(upper)))
			return gs_fail(err,
				       "cannot attach XDP to %s: its upper device %s has an XDP "
				       "program, and the kernel allows none below it (attach %s "
				       "before %s)",
				       ifname, upper, ifname, upper);
		if (err == EBUSY || err == EEXIST)
			return gs_fail(err, "another XDP program is already attached to %s",
				       ifname);
		return gs_fail(err, "cannot attach XDP to %s: %s", ifname, strerror(err));
	}
	if (bpf_obj_pin(fd, path)) {
		err = errno;
		close(fd);
		return gs_fail(err, "cannot pin the XDP link at %s: %s", path, strerror(err));
	}
	close(fd);
	*xdp_flags = modes[i];
	*created = true;
	return 0;
}

struct ns_clash {
	const char *netns;
	const char *ifname;
	char other[GS_NETNS_NAME_MAX + 1];
	bool found;
};

static int find_ns_clash(const void *key, const void *value, void *ctx)
{
	const struct gs_iface_key *k = key;
	struct ns_clash *c = ctx;

	(void)value;
	if (strncmp(k->ifname, c->ifname, sizeof(k->ifname)) != 0 ||
	    strncmp(k->netns, c->netns, sizeof(k->netns)) == 0)
		return 0;
	snprintf(c->other, sizeof(c->other), "%.*s", (int)sizeof(k->netns), k->netns);
	c->found = true;
	return 1;
}

static void iface_key(struct gs_iface_key *key, const char *netns, const char *ifname)
{
	memset(key, 0, sizeof(*key));
	snprintf(key->netns, sizeof(key->netns), "%s", netns ? netns : "");
	snprintf(key->ifname, sizeof(key->ifname), "%s", ifname);
}

static const char *in_netns(const char *netns, char *buf, size_t len)
{
	if (!netns || !netns[0])
		return "";
	snprintf(buf, len, " in network namespace '%s'", netns);
	return buf;
}

static int unpin_all(const char *pin_dir);

/*
 * The fast path's redirect targets after a change of the recorded
 * interfaces (txports.h says which). Best effort: a target that cannot be
 * written only sends packets the kernel's way, counted as fast_no_txport.
 */
static void sync_ports(const struct gs_maps *maps, const char *netns, uint32_t forgive)
{
	struct gs_ports *ports = calloc(1, sizeof(*ports));
	int i;

	if (!ports || gs_ports_read(maps, netns, false, ports))
		goto out;
	for (i = 0; i < ports->n; i++)
		ports->port[i].forgive = forgive && ports->port[i].ifindex == forgive;
	gs_ports_apply(maps, ports);
out:
	free(ports);
}

/* Tell the watch programs which namespace is this instance's, and take
 * note of the netfilter drops seen so far: attach checks the ruleset
 * itself (conntrack_check.h), so the fast path may try again. And the next
 * hop cache's life in this kernel's ticks. */
static int record_netns(const struct gs_maps *maps)
{
	uint32_t slot = GS_TX_SLOT_NETNS;
	struct gs_tx_health h0 = {0};
	struct gs_config cfg;
	int err = gs_config_read(maps, &cfg);

	if (err)
		return err;
	bpf_map_lookup_elem(maps->tx_health, &slot, &h0);
	cfg.netns_ino = gs_netns_ino();
	cfg.nf_dropped_ack = h0.nf_dropped;
	/* The kernel's tick rate does not change: found once per instance
	 * (near 300 s of uptime it takes a quarter second to count). */
	if (!cfg.fib_ttl_ticks)
		cfg.fib_ttl_ticks = gs_fib_ttl_ticks();
	return gs_config_write(maps, &cfg);
}

/* An interface graysplit runs on stays so: --egress-only does not take
 * its programs away (detach does). */
static int egress_only_check(const struct gs_maps *maps, const char *netns, const char *ifname,
			     char *where, size_t len)
{
	struct gs_iface_key key;
	struct gs_iface value;

	iface_key(&key, netns, ifname);
	if (!bpf_map_lookup_elem(maps->ifaces, &key, &value) && value.xdp_flags)
		return gs_fail(EEXIST,
			       "interface '%s'%s is attached with graysplit's programs: "
			       "'detach' it first to make it egress only",
			       ifname, in_netns(netns, where, len));
	return 0;
}

/*
 * A backend host's interface: the downstream watch at tc ingress and
 * egress, nothing else. Several namespaces may share the instance (on the
 * test bed, one per backend): nothing of it depends on an ifindex.
 */
static int attach_backend(const char *ifname, int ifindex, const int *fds, bool *in_created,
			  bool *out_created)
{
	int err;

	err = gs_tc_attach_at(ifname, ifindex, fds[PROG_DEP_OUT], false, out_created);
	if (err)
		return err;
	err = gs_tc_attach_at(ifname, ifindex, fds[PROG_DEP_IN], true, in_created);
	if (err && *out_created)
		gs_tc_detach_backend(ifindex);
	return err;
}

int gs_attach(const char *pin_dir, const char *netns, const char *ifname, uint32_t flows,
	      bool egress_only, uint32_t role)
{
	bool fresh, xdp_created = false, tc_created = false, in_created = false;
	struct ns_clash clash = {.netns = netns ? netns : "", .ifname = ifname};
	char path[PATH_MAX], where[GS_NETNS_NAME_MAX + 32];
	int fds[PROG_COUNT] = {-1, -1, -1, -1}, ifindex, err;
	struct gs_iface_key key;
	struct gs_iface value = {};
	struct gs_maps maps;

	gs_maps_init(&maps);

	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/'))
		return gs_fail(EINVAL, "invalid interface name '%s'", ifname);
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return gs_fail(ENODEV, "no interface '%s'%s", ifname,
			       in_netns(netns, where, sizeof(where)));
	err = gs_check_bpffs(pin_dir);
	if (err)
		return err;
	fresh = gs_instance_absent(pin_dir);
	err = get_programs(pin_dir, flows, fds);
	if (err)
		goto out;
	err = gs_maps_open(pin_dir, &maps);
	if (err)
		goto out;
	iface_key(&key, netns, ifname);
	if (!bpf_map_lookup_elem(maps.ifaces, &key, &value) && value.role != role) {
		err = gs_fail(EEXIST, "interface '%s'%s is attached as a %s: detach it first",
			      ifname, in_netns(netns, where, sizeof(where)),
			      value.role == GS_ROLE_BACKEND ? "backend host" : "front");
		goto out;
	}
	memset(&value, 0, sizeof(value));
	value.role = role;
	if (role == GS_ROLE_BACKEND) {
		err = attach_backend(ifname, ifindex, fds, &in_created, &tc_created);
		if (err)
			goto out;
		goto record;
	}
	err = gs_map_foreach(maps.ifaces, sizeof(struct gs_iface_key), sizeof(struct gs_iface),
			     find_ns_clash, &clash);
	if (err > 0) {
		err = gs_fail(EEXIST,
			      "interface '%s' is already attached%s under %s: use one --pin-dir "
			      "per namespace",
			      ifname, in_netns(clash.other, where, sizeof(where)), pin_dir);
		goto out;
	}
	if (egress_only) {
		err = egress_only_check(&maps, netns, ifname, where, sizeof(where));
		if (err)
			goto out;
	} else {
		err = attach_xdp(pin_dir, ifname, ifindex, fds[PROG_XDP], &value.xdp_flags,
				 &xdp_created);
		if (err)
			goto out;
		err = gs_tc_attach(ifname, ifindex, fds[PROG_TC], &tc_created);
		if (err)
			goto undo_xdp;
	}
	err = record_netns(&maps);
	if (err)
		goto undo_tc;
record:
	value.ifindex = ifindex;
	if (bpf_map_update_elem(maps.ifaces, &key, &value, BPF_ANY)) {
		err = gs_fail(errno, "cannot record interface %s: %s", ifname, strerror(errno));
		goto undo_tc;
	}
	/* Naming an interface again is the operator's word that its past
	 * redirect errors are dealt with. */
	if (role != GS_ROLE_BACKEND)
		sync_ports(&maps, netns, ifindex);
	goto out;
undo_tc:
	if (role == GS_ROLE_BACKEND && (tc_created || in_created))
		gs_tc_detach_backend(ifindex);
	else if (tc_created)
		gs_tc_detach(ifindex);
undo_xdp:
	if (xdp_created && !xdp_link_path(path, sizeof(path), pin_dir, ifname))
		xdp_unpin_link(path);
out:
	gs_maps_close(&maps);
	close_programs(fds);
	/* A failed first attach leaves no instance behind. */
	if (err && fresh)
		unpin_all(pin_dir);
	return err;
}

/* Detach one interface; we are in its namespace, or it is gone. One
 * attached --egress-only (xdp_flags 0) has no programs to take away. */
static void detach_iface(const char *pin_dir, const char *ifname, const struct gs_iface *v)
{
	char path[PATH_MAX];
	int ifindex;

	if (v->role == GS_ROLE_BACKEND) {
		ifindex = if_nametoindex(ifname);
		if (ifindex)
			gs_tc_detach_backend(ifindex);
		return;
	}
	if (!v->xdp_flags)
		return;

	if (!xdp_link_path(path, sizeof(path), pin_dir, ifname))
		xdp_unpin_link(path);
	ifindex = if_nametoindex(ifname);
	if (ifindex)
		gs_tc_detach(ifindex);
}

int gs_detach(const char *pin_dir, const char *netns, const char *ifname)
{
	char where[GS_NETNS_NAME_MAX + 32];
	struct gs_iface_key key;
	struct gs_iface value;
	struct gs_maps maps;
	int err;

	err = gs_maps_open(pin_dir, &maps);
	if (err)
		return err;
	iface_key(&key, netns, ifname);
	if (strlen(ifname) >= IFNAMSIZ || bpf_map_lookup_elem(maps.ifaces, &key, &value)) {
		if (strlen(ifname) >= IFNAMSIZ || !if_nametoindex(ifname))
			err = gs_fail(ENODEV, "no interface '%s'%s", ifname,
				      in_netns(netns, where, sizeof(where)));
		else
			err = gs_fail(ENOENT, "interface '%s'%s is not attached (pin directory %s)",
				      ifname, in_netns(netns, where, sizeof(where)), pin_dir);
		goto out;
	}
	detach_iface(pin_dir, ifname, &value);
	if (bpf_map_delete_elem(maps.ifaces, &key) && errno != ENOENT)
		err = gs_fail(errno, "cannot forget interface %s: %s", ifname, strerror(errno));
	sync_ports(&maps, netns, 0);
out:
	gs_maps_close(&maps);
	return err;
}

struct iface_list {
	struct gs_iface_key keys[GS_MAX_IFACES];
	struct gs_iface values[GS_MAX_IFACES];
	int n;
};

static int collect_iface(const void *key, const void *value, void *ctx)
{
	struct iface_list *list = ctx;

	if (list->n < GS_MAX_IFACES) {
		memcpy(&list->keys[list->n], key, sizeof(list->keys[0]));
		memcpy(&list->values[list->n], value, sizeof(list->values[0]));
		list->n++;
	}
	return 0;
}

static bool is_link_pin(const char *name)
{
	return !strncmp(name, GS_PIN_LINK_XDP_PREFIX, sizeof(GS_PIN_LINK_XDP_PREFIX) - 1);
}

static bool is_watch_pin(const char *name)
{
	return !strncmp(name, GS_PIN_LINK_WATCH_PREFIX, sizeof(GS_PIN_LINK_WATCH_PREFIX) - 1);
}

/* Remove every pin this tool makes, then the directory. Links go first so
 * no interface keeps a program that is about to lose its maps' pins. */
static int unpin_all(const char *pin_dir)
{
	/* Maps an earlier build pinned and this one has not: an instance
	 * that build left is removed whole too. */
	static const char *const gone[] = {"rev_flows"};
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	size_t i;

	dir = opendir(pin_dir);
	if (!dir)
		return errno == ENOENT
			       ? 0
			       : gs_fail(errno, "cannot open %s: %s", pin_dir, strerror(errno));
	while ((de = readdir(dir))) {
		if (gs_pin_path(path, sizeof(path), pin_dir, de->d_name))
			continue;
		if (is_link_pin(de->d_name))
			xdp_unpin_link(path);
		else if (is_watch_pin(de->d_name))
			unlink(path);
	}
	closedir(dir);
	for (i = 0; i < PROG_COUNT; i++)
		if (!gs_pin_path(path, sizeof(path), pin_dir, prog_pins[i]))
			unlink(path);
	for (i = 0; i < GS_MAP_COUNT; i++)
		if (!gs_pin_path(path, sizeof(path), pin_dir, gs_map_names[i]))
			unlink(path);
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (!gs_pin_path(path, sizeof(path), pin_dir, gone[i]))
			unlink(path);
	if (rmdir(pin_dir) && errno != ENOENT)
		return gs_fail(errno, "unpinned everything, but cannot remove %s: %s", pin_dir,
			       strerror(errno));
	return 0;
}

int gs_detach_all(const char *pin_dir)
{
	struct iface_list *list;
	char path[PATH_MAX];
	struct stat st;
	int fd, err, i;

	err = gs_check_bpffs(pin_dir);
	if (err)
		return err;
	if (stat(pin_dir, &st) && errno == ENOENT)
		return 0;
	list = calloc(1, sizeof(*list));
	if (!list)
		return gs_fail(ENOMEM, "out of memory");
	err = gs_pin_path(path, sizeof(path), pin_dir, GS_MAP_IFACES);
	fd = err ? -1 : bpf_obj_get(path);
	if (fd >= 0) {
		gs_map_foreach(fd, sizeof(struct gs_iface_key), sizeof(struct gs_iface),
			       collect_iface, list);
		for (i = 0; i < list->n; i++) {
			struct gs_iface_key *key = &list->keys[i];
			char netns[sizeof(key->netns) + 1];
			char ifname[sizeof(key->ifname) + 1];

			snprintf(netns, sizeof(netns), "%.*s", (int)sizeof(key->netns), key->netns);
			snprintf(ifname, sizeof(ifname), "%.*s", (int)sizeof(key->ifname),
				 key->ifname);
			if (gs_netns_enter(netns)) {
				/* The namespace is gone, and its interfaces
				 * with it: only the pin is left to remove. */
				if (!xdp_link_path(path, sizeof(path), pin_dir, ifname))
					xdp_unpin_link(path);
			} else {
				detach_iface(pin_dir, ifname, &list->values[i]);
			}
			bpf_map_delete_elem(fd, key);
		}
		close(fd);
		err = gs_netns_enter(NULL);
	}
	free(list);
	if (err)
		return err;
	return unpin_all(pin_dir);
}

int gs_reload(const char *pin_dir, const char *netns, uint32_t flows)
{
	struct graysplit_bpf *skel = NULL;
	struct iface_list *list = NULL;
	char message[512] = "";
	struct gs_maps maps;
	int err, i, first_err = 0;

	err = gs_maps_open(pin_dir, &maps);
	if (err)
		return err;
	list = calloc(1, sizeof(*list));
	if (!list) {
		gs_maps_close(&maps);
		return gs_fail(ENOMEM, "out of memory");
	}
	gs_map_foreach(maps.ifaces, sizeof(struct gs_iface_key), sizeof(struct gs_iface),
		       collect_iface, list);
	gs_maps_close(&maps);
	/* A build the verifier rejects fails here, with the old programs
	 * still pinned and attached. */
	err = gs_load(pin_dir, flows, &skel);
	if (err)
		goto out;
	graysplit_bpf__destroy(skel);
	/* backend_addrs as this build writes it (an older one left the
	 * backend ids out): the reply path of the new programs reads them. */
	if (!gs_maps_open(pin_dir, &maps)) {
		err = gs_backend_addrs_sync(&maps);
		gs_maps_close(&maps);
		if (err)
			goto out;
	}
	/* Attaching again moves each interface onto the pinned programs. */
	for (i = 0; i < list->n; i++) {
		struct gs_iface_key *key = &list->keys[i];
		char ns[sizeof(key->netns) + 1], ifname[sizeof(key->ifname) + 1];

		snprintf(ns, sizeof(ns), "%.*s", (int)sizeof(key->netns), key->netns);
		snprintf(ifname, sizeof(ifname), "%.*s", (int)sizeof(key->ifname), key->ifname);
		err = gs_netns_enter(ns);
		if (!err)
			err = gs_attach(pin_dir, ns, ifname, flows, !list->values[i].xdp_flags,
					list->values[i].role);
		if (err && !first_err) {
			first_err = err;
			snprintf(message, sizeof(message), "%s", gs_last_error());
		}
	}
	err = gs_netns_enter(netns);
	if (first_err) {
		err = first_err;
		gs_set_error("%s", message);
	}
out:
	free(list);
	return err;
}
