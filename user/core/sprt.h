/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Always-valid sequential test on a binomial count (Lindon et al., "Rapid
 * regression detection in software deployments through sequential testing",
 * KDD 2022): a mixture sequential probability ratio test whose Bayes factor
 * may be checked after every interval; by Ville's inequality, under the null
 * it ever exceeds 1/alpha with probability at most alpha.
 */
#ifndef GS_SPRT_H
#define GS_SPRT_H

#include <stdint.h>

/*
 * log Bayes factor of "x of n successes, p > p0" against Binomial(n, p0),
 * with a Beta(a, b) mixture over p (one-sided: the prior is restricted to
 * p > p0, so fewer successes than expected never count as evidence).
 * 0 <= x <= n, 0 < p0 < 1, a, b > 0. Returns 0 for n == 0.
 */
double gs_msprt_log_bf(uint64_t x, uint64_t n, double p0, double a, double b);

/*
 * log I_x(a, b), the regularized incomplete beta function (the Beta(a, b)
 * distribution function at x), accurate in log space deep in both tails.
 * 0 <= x <= 1, a, b > 0; -inf at x == 0. Exposed for its tests.
 */
double gs_log_ibeta(double x, double a, double b);

#endif
