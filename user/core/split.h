/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A service's canary share (ops.h).
 */
#ifndef GS_SPLIT_H
#define GS_SPLIT_H

#include <stdint.h>

#include "graysplit.h"
#include "maps.h"

/* One 4-byte store. Also returns a rolled-back service to active. */
int gs_split_set(struct gs_maps *m, const struct gs_service_key *svc, uint32_t canary_ppm);

#endif
