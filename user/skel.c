// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The one caller of bpftool's generated open(). Kept in its own file so that
 * `make lint` can leave it out: inlined into a caller, the generated error
 * paths make clang's analyzer report leaks that libbpf's destroy() rules out.
 */
#include "graysplit.skel.h"
#include "loader.h"

struct graysplit_bpf *gs_skel_open(void)
{
	return graysplit_bpf__open();
}
