// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <linux/netlink.h>
#include <sys/time.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "error.h"
#include "tc.h"

static int prog_id_of(int fd, uint32_t *id)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

int gs_tc_attach_at(const char *ifname, int ifindex, int prog_fd, bool ingress, bool *created)
{
	struct bpf_tc_hook hook = {
		.sz = sizeof(struct bpf_tc_hook),
		.ifindex = ifindex,
		.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS,
	};
	struct bpf_tc_opts query = {
		.sz = sizeof(struct bpf_tc_opts),
		.handle = GS_TC_HANDLE,
		.priority = GS_TC_PRIORITY,
	};
	struct bpf_tc_opts opts = {
		.sz = sizeof(struct bpf_tc_opts),
		.handle = GS_TC_HANDLE,
		.priority = GS_TC_PRIORITY,
		.prog_fd = prog_fd,
		.flags = BPF_TC_F_REPLACE,
	};
	uint32_t prog_id = 0;
	bool existed;
	int err;

	*created = false;
	err = prog_id_of(prog_fd, &prog_id);
	if (err)
		return gs_fail(-err, "cannot query the tc program: %s", strerror(-err));
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return gs_fail(-err, "cannot add a clsact qdisc to %s: %s", ifname, strerror(-err));
	existed = !bpf_tc_query(&hook, &query);
	/* Same program already there: attaching again changes nothing. */
	if (existed && query.prog_id == prog_id)
		return 0;
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		if (!existed)
			gs_tc_detach(ifindex);
		return gs_fail(-err, "cannot attach the tc %s program to %s: %s",
			       ingress ? "ingress" : "egress", ifname, strerror(-err));
	}
	*created = !existed;
	return 0;
}

int gs_tc_attach(const char *ifname, int ifindex, int prog_fd, bool *created)
{
	return gs_tc_attach_at(ifname, ifindex, prog_fd, false, created);
}

/* Number of filters (of anyone) under a clsact parent; < 0 on error. */
static int count_filters(int ifindex, uint32_t parent)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req = {
		.nh =
			{
				.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
				.nlmsg_type = RTM_GETTFILTER,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = 1,
			},
		.tc =
			{
				.tcm_family = AF_UNSPEC,
				.tcm_ifindex = ifindex,
				.tcm_parent = parent,
			},
	};
	char buf[16384] __attribute__((aligned(4)));
	int fd, count = 0, done = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* A dump the kernel never finishes is an error, not a hang. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){.tv_sec = 5},
		       sizeof(struct timeval)) ||
	    send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		count = -errno;
		goto out;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len < 0) {
			count = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if (len == 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				count = e->error ? e->error : count;
				done = 1;
				break;
			}
			if (nh->nlmsg_type == RTM_NEWTFILTER)
				count++;
		}
	}
out:
	close(fd);
	return count;
}

static void tc_detach(int ifindex, bool ingress_too)
{
	struct bpf_tc_hook hook = {
		.sz = sizeof(struct bpf_tc_hook),
		.ifindex = ifindex,
		.attach_point = BPF_TC_EGRESS,
	};
	struct bpf_tc_opts opts = {
		.sz = sizeof(struct bpf_tc_opts),
		.handle = GS_TC_HANDLE,
		.priority = GS_TC_PRIORITY,
	};

	bpf_tc_detach(&hook, &opts);
	/* Only where ours is there: libbpf 1.1 reads memory it never wrote
	 * when asked to detach a filter that is not (valgrind says so). */
	if (ingress_too) {
		hook.attach_point = BPF_TC_INGRESS;
		bpf_tc_detach(&hook, &opts);
	}
	/* Others' filters keep the qdisc; so does any doubt. */
	if (count_filters(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)) ||
	    count_filters(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)))
		return;
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
}

void gs_tc_detach(int ifindex)
{
	tc_detach(ifindex, false);
}

void gs_tc_detach_backend(int ifindex)
{
	tc_detach(ifindex, true);
}
