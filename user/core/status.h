/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What `graysplit status` shows, built once as a json-c tree from the pinned
 * maps: services with their share, backends and overrides, the interfaces,
 * the flow table and the global counters. docs/observability.md, "`status
 * --json`", is the contract for the services part.
 */
#ifndef GS_STATUS_H
#define GS_STATUS_H

#include <json-c/json.h>

#include "maps.h"

/* The caller puts *out. */
/* pin_dir: for the watch links; netns: the one we are in ("" or NULL: ours). */
int gs_status_build(struct gs_maps *m, const char *pin_dir, const char *netns,
		    struct json_object **out);

/*
 * The downstream watch of instance dep (attach --role backend): its pairs,
 * and per (service, group, dependency) with front's backends (front may be
 * dep itself, or NULL: pairs only). The caller puts *out.
 */
int gs_status_downstream(struct gs_maps *dep, struct gs_maps *front, struct json_object **out);

#endif
