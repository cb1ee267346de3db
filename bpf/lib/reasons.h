/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Why a packet was left alone. Each reason is the negative of the forward
 * path's counter for it, so the XDP exit counts any reason with one map index
 * and no table to keep in step with enum gs_counter. The reply path counts
 * only GS_R_BAD_HEADER (as GS_CNT_REV_BAD_HEADER): the rest is not its traffic.
 */
#ifndef GS_BPF_REASONS_H
#define GS_BPF_REASONS_H

#include "graysplit.h"

enum gs_reason {
	GS_OK = 0,
	GS_R_NOT_IP = -GS_CNT_PASS_NOT_IP,
	GS_R_VLAN = -GS_CNT_PASS_VLAN,
	GS_R_FRAGMENT = -GS_CNT_PASS_FRAGMENT,
	GS_R_NOT_L4 = -GS_CNT_PASS_NOT_L4,
	GS_R_NO_SERVICE = -GS_CNT_PASS_NO_SERVICE,
	GS_R_BAD_HEADER = -GS_CNT_BAD_HEADER,
	GS_R_NO_BACKEND = -GS_CNT_NO_BACKEND,
	/* Backend of the other address family: a userspace bug, no counter of
	 * its own, so it is counted with the malformed packets. */
	GS_R_FAMILY_MISMATCH = -GS_CNT_BAD_HEADER,
};

#endif
