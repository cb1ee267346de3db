// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>

#include <bpf/bpf.h>

#include "error.h"
#include "service.h"
#include "split.h"

int gs_split_set(struct gs_maps *m, const struct gs_service_key *svc, uint32_t canary_ppm)
{
	struct gs_split split = {.canary_ppm = canary_ppm};
	struct gs_service service;
	int err;

	if (canary_ppm > GS_PPM_MAX)
		return gs_fail(ERANGE, "canary share %u ppm is above %u", canary_ppm, GS_PPM_MAX);
	err = gs_service_lookup(m, svc, &service);
	if (err)
		return err;
	/* The share alone is one aligned 4-byte value: a packet reads either
	 * the old share or the new one. */
	if (bpf_map_update_elem(m->split, &service.id, &split, BPF_ANY))
		return gs_fail(errno, "cannot write the split map: %s", strerror(errno));
	/* A person setting the share takes over from an automatic roll-back;
	 * the reason goes with it. */
	if (service.state == GS_SVC_ROLLED_BACK) {
		struct gs_svc_status cleared = {0};

		service.state = GS_SVC_ACTIVE;
		if (bpf_map_update_elem(m->services, svc, &service, BPF_EXIST))
			return gs_fail(errno, "cannot mark the service active: %s",
				       strerror(errno));
		if (bpf_map_update_elem(m->svc_status, &service.id, &cleared, BPF_ANY))
			return gs_fail(errno, "cannot clear the roll-back reason: %s",
				       strerror(errno));
	}
	return 0;
}
