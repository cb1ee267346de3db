// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include "error.h"
#include "link_facts.h"

/* The netdev generic netlink family (linux/netdev.h of Linux 6.3+; the
 * build host's headers may predate it). */
#define GS_NETDEV_FAMILY	     "netdev"
#define GS_NETDEV_CMD_DEV_GET	     1
#define GS_NETDEV_A_DEV_IFINDEX	     1
#define GS_NETDEV_A_DEV_XDP_FEATURES 3

/* IFLA_OPERSTATE values (RFC 2863; linux/if.h clashes with net/if.h). */
#define GS_OPER_UNKNOWN 0
#define GS_OPER_UP	6

static const char *const why_text[GS_TX_WHY_MAX] = {
	[GS_TX_TARGET] = "",
	[GS_TX_GENERIC] = "generic XDP",
	[GS_TX_VETH_NO_NAPI] = "veth peer without NAPI",
	[GS_TX_NO_XMIT] = "driver without XDP transmit",
	[GS_TX_UNKNOWN] = "XDP transmit support unknown",
	[GS_TX_DOWN] = "interface down",
	[GS_TX_GONE] = "interface gone",
	[GS_TX_RENAMED] = "interface renamed or replaced",
	[GS_TX_OTHER_NS] = "other namespace",
	[GS_TX_CONNTRACK] = "conntrack in the ruleset",
	[GS_TX_NF_DROPS] = "netfilter dropped replies",
	[GS_TX_REDIRECT_ERRORS] = "redirect errors",
	[GS_TX_SWITCHED_OFF] = "fast path switched off",
	[GS_TX_SLOT_SHARED] = "health slot shared with another port",
};

const char *gs_tx_why_text(enum gs_tx_why why)
{
	return (unsigned int)why < GS_TX_WHY_MAX ? why_text[why] : "?";
}

enum gs_tx_why gs_tx_judge(const struct gs_link_facts *f)
{
	bool veth = !strcmp(f->kind, "veth");

	if (!f->up)
		return GS_TX_DOWN;
	/* Our program there in generic mode says the driver has no XDP of its
	 * own; its transmit side is no better. */
	if (!f->egress_only && f->xdp != GS_XDP_DRV)
		return GS_TX_GENERIC;
	if (f->xdp_features_known) {
		if (f->xdp_features & GS_XDP_ACT_NDO_XMIT)
			return GS_TX_TARGET;
		return veth ? GS_TX_VETH_NO_NAPI : GS_TX_NO_XMIT;
	}
	if (veth) {
		if (!f->peer_known)
			return GS_TX_UNKNOWN;
		return f->peer_xdp || f->peer_gro ? GS_TX_TARGET : GS_TX_VETH_NO_NAPI;
	}
	/* A kernel without the report: drivers then allocated their XDP
	 * transmit queues with the program, which runs here natively; with
	 * no program of ours there (egress only), nothing says they did. */
	return f->egress_only ? GS_TX_UNKNOWN : GS_TX_TARGET;
}

/* One request, its answers through cb; 0, or -errno from the kernel. */
static int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int portid = mnl_socket_get_portid(nl);
	uint32_t seq = nlh->nlmsg_seq;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (ret < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		ret = mnl_cb_run(buf, ret, seq, portid, cb, data);
		if (ret <= MNL_CB_STOP)
			return ret < 0 ? -errno : 0;
	}
}

/* The kernel answers a request at once; a reply that never comes (a lost
 * message, a device going away mid-request) must end in an error, never
 * in a command that hangs holding the instance's lock. */
#define GS_NETLINK_WAIT_S 5

static struct mnl_socket *nl_open(int bus)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	struct timeval tv = {.tv_sec = GS_NETLINK_WAIT_S};

	if (nl && (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
		   setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))) {
		mnl_socket_close(nl);
		return NULL;
	}
	return nl;
}

static int link_info_kind(const struct nlattr *info, struct gs_link_facts *f)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, info) if (mnl_attr_get_type(a) == IFLA_INFO_KIND &&
					      !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
		snprintf(f->kind, sizeof(f->kind), "%s", mnl_attr_get_str(a));
	return 0;
}

static void link_xdp(const struct nlattr *xdp, struct gs_link_facts *f)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, xdp) if (mnl_attr_get_type(a) == IFLA_XDP_ATTACHED &&
					     !mnl_attr_validate(a, MNL_TYPE_U8)) f->xdp =
		mnl_attr_get_u8(a);
}

struct link_answer {
	struct gs_link_facts *f;
	bool has_nsid;
	int32_t nsid;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_answer *ans = data;
	struct gs_link_facts *f = ans->f;
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	uint8_t operstate = GS_OPER_UNKNOWN;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	f->ifindex = ifi->ifi_index;
	mnl_attr_for_each(a, nlh, sizeof(*ifi))
	{
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				snprintf(f->name, sizeof(f->name), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_MTU:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				f->mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_OPERSTATE:
			if (!mnl_attr_validate(a, MNL_TYPE_U8))
				operstate = mnl_attr_get_u8(a);
			break;
		case IFLA_LINK:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				f->peer_ifindex = (int32_t)mnl_attr_get_u32(a);
			break;
		case IFLA_MASTER:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				f->master = mnl_attr_get_u32(a);
			break;
		case IFLA_LINK_NETNSID:
			if (!mnl_attr_validate(a, MNL_TYPE_U32)) {
				ans->has_nsid = true;
				ans->nsid = (int32_t)mnl_attr_get_u32(a);
			}
			break;
		case IFLA_LINKINFO:
			link_info_kind(a, f);
			break;
		case IFLA_XDP:
			link_xdp(a, f);
			break;
		}
	}
	/* UNKNOWN is what devices without a carrier notion report. */
	f->up = (ifi->ifi_flags & IFF_UP) &&
		(operstate == GS_OPER_UP || operstate == GS_OPER_UNKNOWN);
	return MNL_CB_OK;
}

static int get_link(struct mnl_socket *nl, uint32_t ifindex, struct link_answer *ans)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	return nl_talk(nl, nlh, link_cb, ans);
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh,
			  sizeof(struct genlmsghdr)) if (mnl_attr_get_type(a) ==
								 CTRL_ATTR_FAMILY_ID &&
							 !mnl_attr_validate(a, MNL_TYPE_U16)) *
		(uint16_t *)data = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int features_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gs_link_facts *f = data;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh,
			  sizeof(struct genlmsghdr)) if (mnl_attr_get_type(a) ==
								 GS_NETDEV_A_DEV_XDP_FEATURES &&
							 !mnl_attr_validate(a, MNL_TYPE_U64))
	{
		f->xdp_features = mnl_attr_get_u64(a);
		f->xdp_features_known = true;
	}
	return MNL_CB_OK;
}

/* Requests are built in a zeroed buffer: attribute padding goes out as it
 * is there. */
static struct nlmsghdr *genl_header(char *buf, uint16_t type, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, MNL_SOCKET_BUFFER_SIZE));
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	return nlh;
}

/* The kernel's XDP features of ifindex; leaves f unchanged where the
 * kernel has no netdev family (before 6.3). */
static void get_xdp_features(uint32_t ifindex, struct gs_link_facts *f)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = nl_open(NETLINK_GENERIC);
	struct nlmsghdr *nlh;
	uint16_t family = 0;

	if (!nl)
		return;
	nlh = genl_header(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, GS_NETDEV_FAMILY);
	if (!nl_talk(nl, nlh, family_cb, &family) && family) {
		nlh = genl_header(buf, family, GS_NETDEV_CMD_DEV_GET);
		mnl_attr_put_u32(nlh, GS_NETDEV_A_DEV_IFINDEX, ifindex);
		nl_talk(nl, nlh, features_cb, f);
	}
	mnl_socket_close(nl);
}

static bool gro_on(const char *ifname)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_GGRO};
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool on = false;

	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		on = ev.data != 0;
	close(fd);
	return on;
}

/* The peer's XDP and GRO, read in the namespace we are in. */
static void read_peer_here(struct mnl_socket *nl, struct gs_link_facts *f)
{
	struct gs_link_facts peer = {0};
	struct link_answer ans = {.f = &peer};

	if (get_link(nl, (uint32_t)f->peer_ifindex, &ans) || !peer.name[0])
		return;
	snprintf(f->peer_name, sizeof(f->peer_name), "%s", peer.name);
	f->peer_xdp = peer.xdp != GS_XDP_NONE;
	f->peer_gro = gro_on(peer.name);
	f->peer_known = true;
}

static int nsid_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh,
			  sizeof(struct rtgenmsg)) if (mnl_attr_get_type(a) == NETNSA_NSID &&
						       !mnl_attr_validate(a, MNL_TYPE_U32)) *
		(int32_t *)data = (int32_t)mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

/* The id this namespace gives the namespace open at fd; -1 when none. */
static int32_t nsid_of(struct mnl_socket *nl, int fd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
	struct rtgenmsg *rt;
	int32_t nsid = -1;

	nlh->nlmsg_type = RTM_GETNSID;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtgen_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, NETNSA_FD, (uint32_t)fd);
	if (nl_talk(nl, nlh, nsid_cb, &nsid))
		return -1;
	return nsid;
}

/* A peer in another namespace: find that namespace among the named ones
 * (ip netns), step in, read, step back. Unnamed namespaces (a container
 * runtime's) are not searched: the kernel's own report covers them. */
static void read_peer_elsewhere(struct mnl_socket *nl, int32_t nsid, struct gs_link_facts *f)
{
	int here = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	DIR *dir = opendir("/run/netns");
	struct dirent *de;

	if (here < 0 || !dir)
		goto out;
	while ((de = readdir(dir))) {
		char path[300];
		struct mnl_socket *there;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (nsid_of(nl, fd) != nsid || setns(fd, CLONE_NEWNET)) {
			close(fd);
			continue;
		}
		close(fd);
		there = nl_open(NETLINK_ROUTE);
		if (there) {
			read_peer_here(there, f);
			mnl_socket_close(there);
		}
		snprintf(f->peer_netns, sizeof(f->peer_netns), "%.*s",
			 (int)sizeof(f->peer_netns) - 1, de->d_name);
		/* Back home; failing that, nothing else here is right. */
		if (setns(here, CLONE_NEWNET))
			f->peer_known = false;
		break;
	}
out:
	if (dir)
		closedir(dir);
	if (here >= 0)
		close(here);
}

int gs_link_facts_read(uint32_t ifindex, struct gs_link_facts *f, bool peer)
{
	struct link_answer ans = {.f = f};
	struct mnl_socket *nl;
	int err;

	memset(f, 0, sizeof(*f));
	nl = nl_open(NETLINK_ROUTE);
	if (!nl)
		return gs_fail(errno, "cannot open rtnetlink: %s", strerror(errno));
	err = get_link(nl, ifindex, &ans);
	if (err == -ENODEV || (!err && !f->name[0])) {
		mnl_socket_close(nl);
		return -ENODEV;
	}
	if (err) {
		mnl_socket_close(nl);
		return gs_fail(-err, "cannot read interface %u: %s", ifindex, strerror(-err));
	}
	get_xdp_features(ifindex, f);
	/* The peer is the rule's only where the kernel has no report. */
	if (!strcmp(f->kind, "veth") && f->peer_ifindex > 0 && (peer || !f->xdp_features_known)) {
		f->peer_elsewhere = ans.has_nsid;
		if (ans.has_nsid)
			read_peer_elsewhere(nl, ans.nsid, f);
		else
			read_peer_here(nl, f);
	}
	mnl_socket_close(nl);
	return 0;
}

void gs_link_facts_describe(const struct gs_link_facts *f, char *buf, size_t len)
{
	const char *kind = f->kind[0] ? f->kind : "device";

	if (strcmp(f->kind, "veth") != 0) {
		snprintf(buf, len, "%s", kind);
		return;
	}
	if (!f->peer_known) {
		snprintf(buf, len, "veth, peer %s",
			 f->peer_elsewhere ? "in an unnamed namespace" : "unknown");
		return;
	}
	snprintf(buf, len, "veth, peer %s%s%s: GRO %s, %s", f->peer_name,
		 f->peer_netns[0] ? " in netns " : "", f->peer_netns, f->peer_gro ? "on" : "off",
		 f->peer_xdp ? "XDP" : "no XDP");
}
