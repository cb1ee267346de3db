/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The whole backends map in one read: what the Maglev tables are built
 * from (table.c), what a service removal (service.c) and the journal
 * (journal.c) go through, and what status shows. Apart from backend.h,
 * which itself needs services and tables, so that none of those loops
 * back to it.
 */
#ifndef GS_BACKENDS_READ_H
#define GS_BACKENDS_READ_H

#include "graysplit.h"
#include "maps.h"

/* The whole backends map, GS_MAX_BACKENDS entries, into all. */
int gs_backends_read(struct gs_maps *m, struct gs_backend *all);

#endif
