// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The one caller of bpftool's generated open(). Kept in its own file so that
 * `make lint` can leave it out: inlined into a caller, the generated error
 * paths make clang's analyzer report leaks that libbpf's destroy() rules out.
 */
#include <bpf/libbpf.h>

#include "graysplit.skel.h"
#include "loader.h"

/* Whether the running kernel has the tracepoint a watch program hooks. */
static bool kernel_has(const char *name, enum bpf_attach_type type)
{
	return libbpf_find_vmlinux_btf_id(name, type) >= 0;
}

struct graysplit_bpf *gs_skel_open(void)
{
	struct graysplit_bpf *skel = graysplit_bpf__open();
	const struct {
		struct bpf_program *prog;
		const char *target;
		enum bpf_attach_type type;
	} watch[] = {
		{skel ? skel->progs.gs_watch_devmap_xmit : NULL, "xdp_devmap_xmit",
		 BPF_TRACE_RAW_TP},
		{skel ? skel->progs.gs_watch_redirect_err : NULL, "xdp_redirect_err",
		 BPF_TRACE_RAW_TP},
		{skel ? skel->progs.gs_watch_nf_drop : NULL, "kfree_skb", BPF_TRACE_RAW_TP},
	};
	size_t i;

	if (!skel)
		return NULL;
	/* A watch whose hook this kernel lacks is left out rather than
	 * failing the whole object; gs_watch_attach() reports it missing. */
	for (i = 0; i < sizeof(watch) / sizeof(watch[0]); i++)
		if (!kernel_has(watch[i].target, watch[i].type))
			bpf_program__set_autoload(watch[i].prog, false);
	return skel;
}
