/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The Maglev tables of a service's two groups (ops.h).
 */
#ifndef GS_TABLE_H
#define GS_TABLE_H

#include <stdint.h>

#include "maps.h"

/* Rebuild the Maglev table of (service, group) from the backends map and
 * publish it with one map-in-map slot update. */
int gs_table_publish(struct gs_maps *m, uint32_t service_id, uint8_t group);
/* The same, as if backend skip_id were not active (about to be drained). */
int gs_table_publish_without(struct gs_maps *m, uint32_t service_id, uint8_t group,
			     uint32_t skip_id);

#endif
