/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Walking a whole map from userspace: in batches where the kernel offers
 * them (a million flows in a few hundred syscalls), key by key otherwise.
 */
#ifndef GS_MAP_ITER_H
#define GS_MAP_ITER_H

#include <stddef.h>
#include <stdint.h>

/* Called once per entry; a non-zero return stops the walk and is returned. */
typedef int (*gs_map_entry_fn)(const void *key, const void *value, void *ctx);

/* Every entry of a hash-like map (hash, LRU hash, LPM trie). Entries added
 * or removed meanwhile may be seen or not; none is seen twice in a batch
 * walk. Returns 0, the callback's non-zero value, or a negative errno. */
int gs_map_foreach(int fd, size_t key_size, size_t value_size, gs_map_entry_fn fn, void *ctx);

/* bpf_map_lookup_batch with *count entries of keys and values zeroed
 * first (value_size: one entry, all CPUs' copies for a per-CPU map). */
int gs_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, size_t key_size,
		    void *values, size_t value_size, uint32_t *count);

/* Read a whole array map of n entries into values (n * value_size). */
int gs_array_read(int fd, uint32_t n, size_t value_size, void *values);

/* Number of possible CPUs: per-CPU maps hold one value for each. */
int gs_ncpus(void);

/* Sum of every CPU's copy of a per-CPU array entry made of u64 counters. */
int gs_percpu_sum(int fd, uint32_t key, uint64_t *sums, size_t nsums);

#endif
