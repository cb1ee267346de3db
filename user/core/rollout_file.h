/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A rollout file (`graysplit apply -f FILE`): YAML mapped onto C structs by
 * libcyaml, then every value checked with the CLI's own parsers. A file is
 * either wholly valid or rejected with one message naming the file, the
 * line and the field: "rollout.yaml:14: steps[2].percent: invalid percent
 * '120': must be between 0 and 100".
 */
#ifndef GS_ROLLOUT_FILE_H
#define GS_ROLLOUT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"

/* Larger files are refused before parsing: a rollout is a page of text. */
#define GS_ROLLOUT_FILE_MAX (1u << 20)
/* Per file; far below the maps' limits, far above any real service. */
#define GS_ROLLOUT_MAX_BACKENDS	 GS_MAX_BACKENDS
#define GS_ROLLOUT_MAX_OVERRIDES 1024

struct gs_rollout_backend {
	union gs_addr addr;
	uint16_t port; /* host order; the service's port when the file gives none */
	uint16_t weight;
	uint8_t group; /* enum gs_group */
};

/*
 * backends: - selector: version=v1.2-beta   (fleet mode): every backend
 * registered in the store whose labels have all these values, in the group
 * and with the weight the entry gives; a node resolves it each time the
 * registered set changes. "KEY=VALUE[,KEY=VALUE...]", at most
 * GS_SELECTOR_LABELS pairs, keys and values of [A-Za-z0-9._/-].
 */
#define GS_SELECTOR_LEN	   128
#define GS_SELECTOR_LABELS 8

struct gs_rollout_selector {
	char text[GS_SELECTOR_LEN];
	uint8_t group;
	uint16_t weight;
};

/* 0 when text is a selector as above, else -EINVAL with the message set. */
int gs_selector_check(const char *text);

struct gs_rollout_override {
	union gs_addr client;
	uint32_t prefixlen128; /* on the 128-bit (v4-mapped) scale */
	uint8_t group;
};

struct gs_rollout_file {
	struct gs_service_key service;
	uint8_t hash_mode; /* enum gs_hash_mode */
	uint32_t nbackends, noverrides, nselectors;
	struct gs_rollout_backend *backends;
	struct gs_rollout_selector *selectors; /* resolved into backends by a fleet node */
	struct gs_rollout_override *overrides;
	/* name, nsteps, steps, analysis; the bookkeeping fields are zero */
	struct gs_rollout spec;
	/* Applied by a fleet node from its store: the same rollout never
	 * starts again here (a failed one stays failed); the fleet's state
	 * says where it is. */
	bool fleet;
};

/* The file's bytes (a NUL after *len of them), at most GS_ROLLOUT_FILE_MAX;
 * the caller frees *data. */
int gs_rollout_file_read(const char *path, char **data, size_t *len);

/* Read and check path. 0, or a negative errno with the message set. */
int gs_rollout_file_load(const char *path, struct gs_rollout_file *out);

/* The same from memory; name is what messages call the file. */
int gs_rollout_file_parse(const char *name, const char *data, size_t len,
			  struct gs_rollout_file *out);

void gs_rollout_file_free(struct gs_rollout_file *rf);

#endif
