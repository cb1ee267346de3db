// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The mixture sequential probability ratio test of sprt.h, in closed form:
 * with a Beta(a, b) prior restricted to p > p0,
 *
 *   BF = [B(a+x, b+n-x) / B(a, b)] * P(p > p0 | Beta(a+x, b+n-x))
 *        / P(p > p0 | Beta(a, b)) / [p0^x (1-p0)^(n-x)]
 *
 * and P(p > p0 | Beta(u, v)) = I_{1-p0}(v, u). Everything is kept in logs:
 * at n = 1e7 the terms are ~1e7 in size and their exponentials over- or
 * underflow long before the Bayes factor itself is extreme.
 */
#include <math.h>

#include "sprt.h"

/* Enough for the continued fraction near the distribution's centre, where
 * it needs O(sqrt(a + b)) terms: ~3e3 at a + b = 1e7. */
#define IBETA_MAX_TERMS 1000000
#define IBETA_EPS	1e-15
#define IBETA_TINY	1e-300

static double log_beta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/*
 * The continued fraction for I_x(a, b) (Abramowitz & Stegun 26.5.8),
 * evaluated front to back by the modified Lentz method; converges fast for
 * x < (a + 1) / (a + b + 2).
 */
static double ibeta_cf(double x, double a, double b)
{
	double c = 1.0, d, f, num, delta;
	int m;

	d = 1.0 - (a + b) * x / (a + 1.0);
	if (fabs(d) < IBETA_TINY)
		d = IBETA_TINY;
	d = 1.0 / d;
	f = d;
	for (m = 1; m <= IBETA_MAX_TERMS; m++) {
		/* even step: d_{2m} */
		num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		d = 1.0 + num * d;
		d = fabs(d) < IBETA_TINY ? 1.0 / IBETA_TINY : 1.0 / d;
		c = 1.0 + num / c;
		if (fabs(c) < IBETA_TINY)
			c = IBETA_TINY;
		f *= d * c;
		/* odd step: d_{2m+1} */
		num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		d = 1.0 + num * d;
		d = fabs(d) < IBETA_TINY ? 1.0 / IBETA_TINY : 1.0 / d;
		c = 1.0 + num / c;
		if (fabs(c) < IBETA_TINY)
			c = IBETA_TINY;
		delta = d * c;
		f *= delta;
		if (fabs(delta - 1.0) < IBETA_EPS)
			break;
	}
	return f;
}

/* log of x^a (1-x)^b / B(a, b), the factor in front of the fraction. */
static double log_front(double x, double a, double b)
{
	return a * log(x) + b * log1p(-x) - log_beta(a, b);
}

double gs_log_ibeta(double x, double a, double b)
{
	double lc;

	if (x <= 0.0)
		return -INFINITY;
	if (x >= 1.0)
		return 0.0;
	/* Below the switch point the fraction is direct and I may be tiny:
	 * stay in logs. Above it, I is at least ~1/2 and 1 - I_{1-x}(b, a)
	 * loses nothing to cancellation. */
	if (x < (a + 1.0) / (a + b + 2.0))
		return log_front(x, a, b) + log(ibeta_cf(x, a, b) / a);
	lc = log_front(1.0 - x, b, a) + log(ibeta_cf(1.0 - x, b, a) / b);
	return log1p(-exp(lc));
}

double gs_msprt_log_bf(uint64_t x, uint64_t n, double p0, double a, double b)
{
	double s, f, num, prior_mass, null;

	if (n == 0)
		return 0.0;
	if (x > n)
		x = n;
	s = (double)x;
	f = (double)(n - x);
	num = log_beta(a + s, b + f) - log_beta(a, b) + gs_log_ibeta(1.0 - p0, b + f, a + s);
	prior_mass = gs_log_ibeta(1.0 - p0, b, a);
	null = s * log(p0) + f * log1p(-p0);
	return num - prior_mass - null;
}
