// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Weighted Maglev table construction (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI 2016, section 3.4).
 *
 * Each backend walks its own permutation of the slots, derived only from its
 * key, and claims the next free slot on each of its turns. Weights decide how
 * many turns a backend gets: in passes over the backends (sorted by key),
 * each earns its weight in credit per pass and takes one turn per max_weight
 * of credit, so slot counts follow the weights closely, while the
 * permutations keep the table stable when a backend comes or goes.
 *
 * The passes are not run one by one: backend i takes its k-th turn in pass
 * ceil((k - 1/2) * max_weight / w_i), so a heap ordered by (pass, position) hands
 * out the same turns in O(size * log n), even when one heavy backend among
 * thousands of light ones would make a literal pass loop take size * n steps.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graysplit.h"
#include "maglev.h"

#define MAGLEV_SEED_OFFSET 0x9e3779b97f4a7c15ull
#define MAGLEV_SEED_SKIP   0xc2b2ae3d27d4eb4full

struct maglev_entry {
	const struct maglev_backend *backend;
	const void *key;
	size_t key_len;
	uint64_t turns; /* slots placed so far */
	uint64_t pos;	/* current slot of its permutation */
	uint64_t skip;	/* permutation step, 1..size-1 */
};

/*
 * A turn is (pass << TURN_POS_BITS) | position in key order, so one integer
 * compare orders turns by pass, then by position within the pass.
 */
#define TURN_POS_BITS 13
_Static_assert(GS_MAX_BACKENDS <= 1u << TURN_POS_BITS, "backend positions fit a turn");

/* Min-heap of the next turn of every backend. */
struct turn_heap {
	uint64_t *turn;
	size_t len;
};

static void heap_sift_down(struct turn_heap *h, size_t i)
{
	uint64_t moving = h->turn[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->len)
			break;
		if (child + 1 < h->len && h->turn[child + 1] < h->turn[child])
			child++;
		if (moving <= h->turn[child])
			break;
		h->turn[i] = h->turn[child];
		i = child;
	}
	h->turn[i] = moving;
}

/* FNV-1a over the key, then the splitmix64 finaliser so every key bit
 * reaches every output bit before the reduction modulo the table size. */
static uint64_t key_hash(const void *key, size_t len, uint64_t seed)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= len;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct maglev_entry *a = pa, *b = pb;
	size_t common = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, common);

	if (c)
		return c;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return 0;
}

static bool is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (d = 3; (uint64_t)d * d <= n; d += 2) {
		if (n % d == 0)
			return false;
	}
	return true;
}

/*
 * The turn in which a backend of weight w takes its k-th slot (k >= 1). Every
 * backend starts with half a turn of credit, so its k-th turn comes in pass
 * ceil((k - 1/2) * max_weight / w): shares round to nearest rather than down,
 * which keeps a heavy backend from taking many slots before light ones get
 * their first (Sainte-Lague rather than d'Hondt apportionment). Passes beyond
 * size are never reached (the heaviest backend alone fills a slot per pass),
 * so they are clamped to keep the shift in range.
 */
static uint64_t next_turn(uint64_t k, uint64_t max_weight, uint64_t weight, uint32_t size,
			  size_t position)
{
	/* k <= size + 1 and weights < 2^16: the product fits 64 bits. */
	uint64_t half_turns = (2 * k - 1) * max_weight;
	uint64_t pass = (half_turns + 2 * weight - 1) / (2 * weight);

	if (pass > (uint64_t)size + 1)
		pass = (uint64_t)size + 1;
	return pass << TURN_POS_BITS | position;
}

int maglev_build(const struct maglev_backend *backends, size_t n, uint32_t *table, uint32_t size)
{
	struct turn_heap heap = {0};
	struct maglev_entry *entries;
	uint64_t max_weight = 0;
	uint32_t filled = 0, i;
	size_t b;

	if (!table || !is_prime(size))
		return gs_fail(EINVAL, "maglev: table size %u is not a prime", size);
	if (n > GS_MAX_BACKENDS || n >= size)
		return gs_fail(EINVAL, "maglev: %zu backends do not fit a table of %u", n, size);
	if (n && !backends)
		return gs_fail(EINVAL, "maglev: no backend list");
	for (b = 0; b < n; b++) {
		if (backends[b].weight == 0)
			return gs_fail(EINVAL, "maglev: backend %u has weight 0", backends[b].id);
		if (backends[b].id == GS_BACKEND_NONE)
			return gs_fail(EINVAL, "maglev: backend id %#x is reserved",
				       backends[b].id);
		if (backends[b].key_len && !backends[b].key)
			return gs_fail(EINVAL, "maglev: backend %u has no key", backends[b].id);
		if (backends[b].weight > max_weight)
			max_weight = backends[b].weight;
	}

	if (n == 0) {
		for (i = 0; i < size; i++)
			table[i] = GS_BACKEND_NONE;
		return 0;
	}

	entries = calloc(n, sizeof(*entries));
	heap.turn = calloc(n, sizeof(*heap.turn));
	if (!entries || !heap.turn) {
		free(entries);
		free(heap.turn);
		return gs_fail(ENOMEM, "maglev: out of memory");
	}
	for (b = 0; b < n; b++) {
		struct maglev_entry *e = &entries[b];

		e->backend = &backends[b];
		/* Without a key the id is the identity. */
		if (backends[b].key_len) {
			e->key = backends[b].key;
			e->key_len = backends[b].key_len;
		} else {
			e->key = &backends[b].id;
			e->key_len = sizeof(backends[b].id);
		}
	}

	/* Sorting by key makes the fill order, and so the table, independent
	 * of the order the caller listed the backends in. */
	qsort(entries, n, sizeof(*entries), entry_cmp);
	for (b = 0; b + 1 < n; b++) {
		if (entry_cmp(&entries[b], &entries[b + 1]) == 0) {
			uint32_t id = entries[b].backend->id;

			free(entries);
			free(heap.turn);
			return gs_fail(EINVAL, "maglev: backend %u has the same key as another",
				       id);
		}
	}
	for (b = 0; b < n; b++) {
		struct maglev_entry *e = &entries[b];

		e->pos = key_hash(e->key, e->key_len, MAGLEV_SEED_OFFSET) % size;
		e->skip = key_hash(e->key, e->key_len, MAGLEV_SEED_SKIP) % (size - 1) + 1;
		heap.turn[b] = next_turn(1, max_weight, e->backend->weight, size, b);
	}
	heap.len = n;
	for (b = n / 2; b-- > 0;)
		heap_sift_down(&heap, b);

	for (i = 0; i < size; i++)
		table[i] = GS_BACKEND_NONE;

	for (filled = 0; filled < size; filled++) {
		size_t position = heap.turn[0] & ((1u << TURN_POS_BITS) - 1);
		struct maglev_entry *e = &entries[position];

		while (table[e->pos] != GS_BACKEND_NONE) {
			e->pos += e->skip;
			if (e->pos >= size)
				e->pos -= size;
		}
		table[e->pos] = e->backend->id;
		e->turns++;
		heap.turn[0] =
			next_turn(e->turns + 1, max_weight, e->backend->weight, size, position);
		heap_sift_down(&heap, 0);
	}

	free(entries);
	free(heap.turn);
	return 0;
}
