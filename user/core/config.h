/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The data path's switches (the pinned `config` map, one entry): read,
 * set, and shown by name. A switch is on unless its flag is set, so a new
 * instance has every feature on.
 */
#ifndef GS_CONFIG_H
#define GS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "graysplit.h"
#include "maps.h"

struct gs_switch {
	const char *name; /* as typed: "fast-path" */
	const char *key;  /* in JSON: "fast_path" */
	uint32_t flag;	  /* set = off */
	const char *what; /* one line for help and status */
};

/* How many switches there are: config takes at most this many pairs. */
#define GS_MAX_SWITCH_ARGS 2

/* Every switch, ending with a zeroed entry. */
extern const struct gs_switch gs_switches[];

/* The switch called name, or NULL with a one-line error naming the valid ones. */
const struct gs_switch *gs_switch_find(const char *name);

/* "on" or "off" into *on; else a one-line error. */
int gs_parse_on_off(const char *what, const char *arg, bool *on);

/* The next hop cache's life (GS_FIB_CACHE_TTL_NS) in this kernel's ticks,
 * for gs_config.fib_ttl_ticks. */
uint32_t gs_fib_ttl_ticks(void);

int gs_config_read(const struct gs_maps *m, struct gs_config *cfg);
int gs_config_write(const struct gs_maps *m, const struct gs_config *cfg);

/* Set the flags in set and clear those in clear, in one store, only if
 * that changes anything; the switches as they then are into *now. */
int gs_config_change(const struct gs_maps *m, uint32_t set, uint32_t clear, struct gs_config *now);

/* {"fast_path": true, "events": true} */
struct json_object *gs_config_json(const struct gs_config *cfg);

#endif
