// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "error.h"
#include "map_iter.h"

#define GS_BATCH 4096

/* The kernel's "operation not supported" for an unimplemented map op. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

int gs_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, size_t key_size,
		    void *values, size_t value_size, uint32_t *count)
{
	/* Zeroed though the kernel writes what is read back: memcheck (3.19)
	 * does not model BPF_MAP_LOOKUP_BATCH and would take every entry for
	 * uninitialised memory (tests/bats/valgrind.bats). */
	memset(keys, 0, (size_t)*count * key_size);
	memset(values, 0, (size_t)*count * value_size);
	return bpf_map_lookup_batch(fd, in_batch, out_batch, keys, values, count, NULL);
}

static int foreach_by_key(int fd, size_t key_size, size_t value_size, gs_map_entry_fn fn, void *ctx)
{
	void *key = calloc(1, key_size), *next = calloc(1, key_size);
	void *value = calloc(1, value_size);
	void *prev = NULL;
	int err = 0;

	if (!key || !next || !value) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		/* The entry may have gone since get_next_key: skip it. */
		if (bpf_map_lookup_elem(fd, key, value))
			continue;
		err = fn(key, value, ctx);
		if (err)
			goto out;
	}
	if (errno != ENOENT)
		err = -errno;
out:
	free(key);
	free(next);
	free(value);
	return err;
}

int gs_map_foreach(int fd, size_t key_size, size_t value_size, gs_map_entry_fn fn, void *ctx)
{
	uint32_t count, i, cap = GS_BATCH;
	char *keys = NULL, *values = NULL;
	bool first = true;
	int err = 0, ret;
	/* The resume token is a u32 bucket for hash maps but a whole key for
	 * maps on the generic batch code (LPM trie): room for either. */
	size_t token_size = key_size > 8 ? key_size : 8;
	void *batch_in = calloc(1, token_size), *batch_out = calloc(1, token_size);

	if (!batch_in || !batch_out) {
		free(batch_in);
		free(batch_out);
		return -ENOMEM;
	}
	for (;;) {
		if (!keys) {
			keys = malloc((size_t)cap * key_size);
			values = malloc((size_t)cap * value_size);
			if (!keys || !values) {
				err = -ENOMEM;
				break;
			}
		}
		count = cap;
		ret = gs_lookup_batch(fd, first ? NULL : batch_in, batch_out, keys, key_size,
				      values, value_size, &count);
		if (ret && errno == ENOSPC && count == 0 && cap < (1u << 20)) {
			/* A hash bucket holds more entries than the batch. */
			cap *= 4;
			free(keys);
			free(values);
			keys = values = NULL;
			continue;
		}
		if (ret && errno != ENOENT) {
			if (first && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP ||
				      errno == ENOTSUPP)) {
				free(keys);
				free(values);
				free(batch_in);
				free(batch_out);
				return foreach_by_key(fd, key_size, value_size, fn, ctx);
			}
			err = -errno;
			break;
		}
		for (i = 0; i < count && !err; i++)
			err = fn(keys + (size_t)i * key_size, values + (size_t)i * value_size, ctx);
		if (err || ret)
			break;
		memcpy(batch_in, batch_out, token_size);
		first = false;
	}
	free(keys);
	free(values);
	free(batch_in);
	free(batch_out);
	return err;
}

int gs_array_read(int fd, uint32_t n, size_t value_size, void *values)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &i, (char *)values + i * value_size))
			return -errno;
	return 0;
}

int gs_ncpus(void)
{
	static int ncpus;

	if (!ncpus)
		ncpus = libbpf_num_possible_cpus();
	return ncpus;
}

int gs_percpu_sum(int fd, uint32_t key, uint64_t *sums, size_t nsums)
{
	int ncpus = gs_ncpus(), cpu;
	/* The kernel rounds each CPU's value up to 8 bytes. */
	size_t stride = nsums * sizeof(uint64_t);
	uint64_t *values;
	size_t i;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	values = calloc(ncpus, stride);
	if (!values)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, values)) {
		int err = -errno;

		free(values);
		return err;
	}
	memset(sums, 0, stride);
	for (cpu = 0; cpu < ncpus; cpu++)
		for (i = 0; i < nsums; i++)
			sums[i] += values[(size_t)cpu * nsums + i];
	free(values);
	return 0;
}
