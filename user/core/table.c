// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "backends_read.h"
#include "error.h"
#include "maglev.h"
#include "table.h"

/* The bytes that seed a backend's Maglev permutation: address then port,
 * adjacent in struct gs_backend, so a backend keeps its preferences
 * whatever slot id it lands in. */
#define GS_BACKEND_KEY_LEN (sizeof(union gs_addr) + sizeof(__u16))
_Static_assert(__builtin_offsetof(struct gs_backend, port) == sizeof(union gs_addr),
	       "gs_backend: port must follow addr");

/*
 * An empty table map. It borrows the u32 type from the backends map's BTF
 * (whose key is a u32), so `bpftool map dump` prints slots and backend ids
 * as numbers; without BTF it still works, in hex.
 */
static int table_map_new(int backends_fd)
{
	struct bpf_map_create_opts opts = {.sz = sizeof(struct bpf_map_create_opts)};
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int fd = -1, btf_fd = -1;

	if (!bpf_obj_get_info_by_fd(backends_fd, &info, &len) && info.btf_id &&
	    info.btf_key_type_id)
		btf_fd = bpf_btf_get_fd_by_id(info.btf_id);
	if (btf_fd >= 0) {
		opts.btf_fd = btf_fd;
		opts.btf_key_type_id = info.btf_key_type_id;
		opts.btf_value_type_id = info.btf_key_type_id;
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gs_maglev", sizeof(__u32), sizeof(__u32),
				    GS_MAGLEV_SIZE, &opts);
		close(btf_fd);
	}
	if (fd < 0)
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gs_maglev", sizeof(__u32), sizeof(__u32),
				    GS_MAGLEV_SIZE, NULL);
	return fd < 0 ? -errno : fd;
}

/* A fresh inner map filled with table; returns its fd. */
static int table_map_create(int backends_fd, const uint32_t *table)
{
	struct bpf_map_batch_opts opts = {.sz = sizeof(struct bpf_map_batch_opts)};
	uint32_t *keys, count = GS_MAGLEV_SIZE, i;
	int fd, err = 0;

	fd = table_map_new(backends_fd);
	if (fd < 0)
		return fd;
	keys = malloc(GS_MAGLEV_SIZE * sizeof(*keys));
	if (!keys) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; i < GS_MAGLEV_SIZE; i++)
		keys[i] = i;
	if (bpf_map_update_batch(fd, keys, table, &count, &opts)) {
		/* No batch support: slot by slot. */
		for (i = 0; i < GS_MAGLEV_SIZE && !err; i++)
			if (bpf_map_update_elem(fd, &keys[i], &table[i], BPF_ANY))
				err = -errno;
	}
	free(keys);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int gs_table_publish(struct gs_maps *m, uint32_t service_id, uint8_t group)
{
	return gs_table_publish_without(m, service_id, group, GS_MAX_BACKENDS);
}

int gs_table_publish_without(struct gs_maps *m, uint32_t service_id, uint8_t group,
			     uint32_t skip_id)
{
	struct maglev_backend *members = NULL;
	struct gs_backend *all = NULL;
	uint32_t *table = NULL, id, slot;
	size_t n = 0;
	int err, fd;

	if (service_id >= GS_MAX_SERVICES || group >= GS_GROUPS)
		return gs_fail(EINVAL, "invalid table %u/%u", service_id, group);
	slot = service_id * GS_GROUPS + group;
	all = calloc(GS_MAX_BACKENDS, sizeof(*all));
	members = calloc(GS_MAX_BACKENDS, sizeof(*members));
	if (!all || !members) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = gs_backends_read(m, all);
	if (err)
		goto out;
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		const struct gs_backend *b = &all[id];

		if (id == skip_id || b->state != GS_BACKEND_ACTIVE || b->service_id != service_id ||
		    b->group != group)
			continue;
		members[n].id = id;
		members[n].weight = b->weight ? b->weight : 1;
		members[n].key = &b->addr;
		members[n].key_len = GS_BACKEND_KEY_LEN;
		n++;
	}
	if (!n) {
		/* An empty group has no table: the data path then sends
		 * everything to the other group. */
		if (bpf_map_delete_elem(m->maglev, &slot) && errno != ENOENT)
			err = gs_fail(errno, "cannot remove Maglev table %u: %s", slot,
				      strerror(errno));
		goto out;
	}
	table = malloc(GS_MAGLEV_SIZE * sizeof(*table));
	if (!table) {
		err = gs_fail(ENOMEM, "out of memory");
		goto out;
	}
	err = maglev_build(members, n, table, GS_MAGLEV_SIZE);
	if (err) {
		err = gs_fail(-err, "cannot build the Maglev table: %s", strerror(-err));
		goto out;
	}
	fd = table_map_create(m->backends, table);
	if (fd < 0) {
		err = gs_fail(-fd, "cannot create a Maglev table map: %s", strerror(-fd));
		goto out;
	}
	/* The publish: one slot update, seen whole by the next packet. */
	if (bpf_map_update_elem(m->maglev, &slot, &fd, BPF_ANY))
		err = gs_fail(errno, "cannot publish Maglev table %u: %s", slot, strerror(errno));
	close(fd);
out:
	free(all);
	free(members);
	free(table);
	return err;
}
