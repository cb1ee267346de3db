/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The unit tests' random numbers: splitmix64, seeded by each test, so every
 * simulation and every random input is the same on every run.
 */
#ifndef GS_TEST_RNG_H
#define GS_TEST_RNG_H

#include <math.h>
#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 or 1 (log() stays finite). */
static inline double rng_unit(uint64_t *state)
{
	return ((double)(rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal, by Box-Muller. */
static inline double rng_normal(uint64_t *state)
{
	return sqrt(-2.0 * log(rng_unit(state))) * cos(2.0 * M_PI * rng_unit(state));
}

#endif
