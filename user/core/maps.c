// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/magic.h>

#include "error.h"
#include "graysplit.h"
#include "maps.h"

const char *const gs_map_names[GS_MAP_COUNT] = {
	GS_MAP_SERVICES,      GS_MAP_SPLIT,	    GS_MAP_BACKENDS,	  GS_MAP_MAGLEV,
	GS_MAP_FLOWS,	      GS_MAP_BACKEND_ADDRS, GS_MAP_OVERRIDES,	  GS_MAP_STATS,
	GS_MAP_BACKEND_STATS, GS_MAP_IFACES,	    GS_MAP_LATENCY,	  GS_MAP_EVENTS,
	GS_MAP_SVC_STATUS,    GS_MAP_ROLLOUTS,	    GS_MAP_ROLLOUT_STATE, GS_MAP_CONFIG,
	GS_MAP_TX_PORTS,      GS_MAP_TX_HEALTH,	    GS_MAP_UDP_SLOTS,	  GS_MAP_UNANSWERED,
	GS_MAP_DEP_FLOWS,     GS_MAP_DEP_SLOTS,	    GS_MAP_DEP_NEXT,	  GS_MAP_DEP_STATS,
	GS_MAP_DEP_LATENCY,   GS_MAP_DEP_KINDS,
};

/* struct gs_maps is GS_MAP_COUNT ints in gs_map_names order. */
_Static_assert(sizeof(struct gs_maps) == GS_MAP_COUNT * sizeof(int),
	       "struct gs_maps and gs_map_names disagree");

/* What each pinned map must look like for this build to use it. */
static const struct {
	uint32_t type, key_size, value_size;
} map_layouts[GS_MAP_COUNT] = {
	{BPF_MAP_TYPE_HASH, sizeof(struct gs_service_key), sizeof(struct gs_service)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_split)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_backend)},
	{BPF_MAP_TYPE_ARRAY_OF_MAPS, sizeof(__u32), sizeof(__u32)},
	{BPF_MAP_TYPE_LRU_HASH, sizeof(struct gs_flow_key), sizeof(struct gs_flow)},
	{BPF_MAP_TYPE_HASH, sizeof(struct gs_backend_addr_key), sizeof(struct gs_backend_addr)},
	{BPF_MAP_TYPE_LPM_TRIE, sizeof(struct gs_override_key), sizeof(struct gs_override)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(__u64)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct gs_backend_stats)},
	{BPF_MAP_TYPE_HASH, sizeof(struct gs_iface_key), sizeof(struct gs_iface)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct gs_hist)},
	{BPF_MAP_TYPE_RINGBUF, 0, 0},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_svc_status)},
	{BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct gs_rollout)},
	{BPF_MAP_TYPE_HASH, sizeof(__u32), sizeof(struct gs_rollout_state)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_config)},
	{BPF_MAP_TYPE_DEVMAP_HASH, sizeof(__u32), sizeof(__u32)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_tx_health)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct gs_udp_slots)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(__u64)},
	{BPF_MAP_TYPE_LRU_HASH, sizeof(struct gs_flow_key), sizeof(struct gs_dep_flow)},
	{BPF_MAP_TYPE_HASH, sizeof(struct gs_dep_key), sizeof(__u32)},
	{BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct gs_dep_next)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct gs_dep_stats)},
	{BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct gs_hist)},
	{BPF_MAP_TYPE_HASH, sizeof(struct gs_dep_kind_key), sizeof(struct gs_dep_kind)},
};

/* A map pinned by an older or newer build would be read with the wrong
 * layout: refuse it rather than print or write garbage. */
static int check_layout(int fd, int i, const char *path, const char *pin_dir)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return gs_fail(errno, "cannot inspect pinned map %s: %s", path, strerror(errno));
	if (info.type == map_layouts[i].type && info.key_size == map_layouts[i].key_size &&
	    info.value_size == map_layouts[i].value_size)
		return 0;
	return gs_fail(EPROTO,
		       "pinned map %s does not match this build's layout: 'graysplit --pin-dir %s "
		       "detach --all' removes the old instance",
		       path, pin_dir);
}

static int *map_fd(struct gs_maps *maps, int i)
{
	return (int *)maps + i;
}

int gs_pin_path(char *buf, size_t len, const char *pin_dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", pin_dir, name);

	if (n < 0 || (size_t)n >= len)
		return gs_fail(ENAMETOOLONG, "path too long: %s/%s", pin_dir, name);
	return 0;
}

/*
 * A directory that does not exist yet is judged by its nearest existing
 * ancestor: that is the file system it will be created on.
 */
int gs_check_bpffs(const char *dir)
{
	char path[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	bool exists = true;

	if (!dir[0])
		return gs_fail(EINVAL, "empty pin directory");
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return gs_fail(ENAMETOOLONG, "pin directory name too long");
	for (;;) {
		char *slash;

		if (!statfs(path, &sfs))
			break;
		if (errno != ENOENT)
			return gs_fail(errno, "cannot check pin directory %s: %s", path,
				       strerror(errno));
		exists = false;
		slash = strrchr(path, '/');
		if (!slash) {
			snprintf(path, sizeof(path), ".");
		} else if (slash == path) {
			path[1] = '\0';
		} else {
			*slash = '\0';
		}
	}
	if (sfs.f_type != BPF_FS_MAGIC)
		return gs_fail(ENOTSUP,
			       "pin directory %s is not on a bpf filesystem: use a directory under "
			       "a bpffs mount such as /sys/fs/bpf",
			       dir);
	if (exists && (stat(dir, &st) || !S_ISDIR(st.st_mode)))
		return gs_fail(ENOTDIR, "pin directory %s is not a directory", dir);
	return 0;
}

void gs_maps_init(struct gs_maps *maps)
{
	for (int i = 0; i < GS_MAP_COUNT; i++)
		*map_fd(maps, i) = -1;
}

int gs_maps_open(const char *pin_dir, struct gs_maps *maps)
{
	char path[PATH_MAX];
	int i, err;

	gs_maps_init(maps);
	for (i = 0; i < GS_MAP_COUNT; i++) {
		err = gs_pin_path(path, sizeof(path), pin_dir, gs_map_names[i]);
		if (err)
			goto fail;
		*map_fd(maps, i) = bpf_obj_get(path);
		if (*map_fd(maps, i) < 0) {
			err = errno;
			if (err == ENOENT)
				gs_set_error(
					"no instance at %s: run 'graysplit attach IFACE' first",
					pin_dir);
			else
				gs_set_error("cannot open pinned map %s: %s", path, strerror(err));
			err = -err;
			goto fail;
		}
		err = check_layout(*map_fd(maps, i), i, path, pin_dir);
		if (err)
			goto fail;
	}
	return 0;
fail:
	gs_maps_close(maps);
	return err;
}

void gs_maps_close(struct gs_maps *maps)
{
	int i;

	for (i = 0; i < GS_MAP_COUNT; i++) {
		if (*map_fd(maps, i) >= 0)
			close(*map_fd(maps, i));
		*map_fd(maps, i) = -1;
	}
}
