/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Weighted Maglev lookup tables (Eisenbud et al., NSDI 2016), built in
 * userspace and published to the data path whole.
 */
#ifndef GS_MAGLEV_H
#define GS_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

struct maglev_backend {
	uint32_t id;	 /* what the table holds: a backend id */
	uint32_t weight; /* >= 1; share of slots proportional to it */
	/* Identity that seeds the permutation (e.g. address + port), so a
	 * backend keeps its preferences whatever id or position it has. */
	const void *key;
	size_t key_len;
};

/*
 * Fill table[0..size) with backend ids. size must be prime and larger than
 * n. With n == 0 every slot is GS_BACKEND_NONE. Returns 0, or -EINVAL /
 * -ENOMEM. Deterministic: the same backends (in any order) give the same
 * table.
 */
int maglev_build(const struct maglev_backend *backends, size_t n, uint32_t *table, uint32_t size);

#endif
