// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One forwarding-rate measurement through a node (scripts/bench-fwd.sh runs
 * it once per configuration and prints the figures): UDP frames of one flow
 * are generated in the client's namespace with BPF_PROG_RUN in live-frames
 * mode (fb_gen: out of the client's veth), cross whatever the node does with
 * them, and are counted and dropped by fb_sink on the backend's veth. Prints
 * one JSON object on stdout: frames sent, received, seconds, received/s.
 *
 *   fwd_bench --gen-ns NS --gen-if IF --src-mac MAC --dst-mac MAC
 *             --src IPV4 --dst IPV4 --port N --sink-ns NS --sink-if IF
 *             [--seconds S] [--size BYTES]
 *
 * Exit status 77 (EXIT_CANNOT_RUN), with "cannot run here: REASON" on
 * stderr, when the kernel refuses live-frames mode itself (a sandbox or a
 * kernel without it); 1 on any other error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd_bench.skel.h"
#include "packet.h"

#define HDR_LEN	  42 /* eth + IPv4 + UDP */
#define FRAME_MAX 1514
/* Frames per BPF_PROG_RUN call; the kernel sends them in batches of 64. */
#define CHUNK (1u << 16)
/* The exit status for "this environment cannot run the measurement", as
 * automake's test drivers use it, so callers can skip rather than fail. */
#define EXIT_CANNOT_RUN 77
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", seen by user space */
#endif

struct opts {
	const char *gen_ns, *gen_if, *sink_ns, *sink_if;
	uint8_t src_mac[6], dst_mac[6];
	struct in_addr src, dst;
	uint16_t port;
	double seconds;
	unsigned int size;
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "fwd_bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static void enter_ns(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		die("cannot enter network namespace %s", name);
	close(fd);
}

static void parse_mac(const char *text, uint8_t *mac)
{
	unsigned int b[6];
	int i;

	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		die("bad MAC %s", text);
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->seconds = 2;
	o->size = 60;
	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--gen-ns"))
			o->gen_ns = v;
		else if (!strcmp(k, "--gen-if"))
			o->gen_if = v;
		else if (!strcmp(k, "--sink-ns"))
			o->sink_ns = v;
		else if (!strcmp(k, "--sink-if"))
			o->sink_if = v;
		else if (!strcmp(k, "--src-mac"))
			parse_mac(v, o->src_mac);
		else if (!strcmp(k, "--dst-mac"))
			parse_mac(v, o->dst_mac);
		else if (!strcmp(k, "--src") && inet_pton(AF_INET, v, &o->src) == 1)
			continue;
		else if (!strcmp(k, "--dst") && inet_pton(AF_INET, v, &o->dst) == 1)
			continue;
		else if (!strcmp(k, "--port"))
			o->port = (uint16_t)atoi(v);
		else if (!strcmp(k, "--seconds"))
			o->seconds = atof(v);
		else if (!strcmp(k, "--size"))
			o->size = (unsigned int)atoi(v);
		else
			die("bad option or value: %s", k);
	}
	if (i != argc || !o->gen_ns || !o->gen_if || !o->sink_ns || !o->sink_if || !o->port ||
	    !o->src.s_addr || !o->dst.s_addr || o->seconds <= 0 || o->size < 60 ||
	    o->size > FRAME_MAX)
		die("%s", "usage: fwd_bench --gen-ns NS --gen-if IF --src-mac MAC --dst-mac MAC "
			  "--src IPV4 --dst IPV4 --port N --sink-ns NS --sink-if IF [--seconds S] "
			  "[--size 60..1514]");
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A UDP datagram of o->size bytes on the wire (without FCS), with full
 * checksums, as a NIC would deliver it. */
static void build_frame(const struct opts *o, uint8_t *f)
{
	uint8_t *ip = f + 14, *udp = f + 34;
	size_t udp_len = o->size - 34;

	memset(f, 0, o->size);
	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, o->src_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(o->size - 14));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &o->src, 4);
	memcpy(ip + 16, &o->dst, 4);
	put16(udp, 40000);
	put16(udp + 2, o->port);
	put16(udp + 4, (uint16_t)udp_len);
	pkt_fix_csums(f, o->size);
}

static uint64_t rx_count(const struct fwd_bench *skel)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t values[1024], sum = 0;
	uint32_t zero = 0;
	int i;

	if (ncpus < 1 || ncpus > 1024 ||
	    bpf_map__lookup_elem(skel->maps.fb_rx, &zero, sizeof(zero), values,
				 sizeof(uint64_t) * (size_t)ncpus, 0))
		die("%s", "cannot read the sink's counter");
	for (i = 0; i < ncpus; i++)
		sum += values[i];
	return sum;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n frames out of the generator's interface; returns how many went. The
 * first call is the probe: if the kernel refuses live-frames mode there
 * (not permitted or not supported), the environment cannot run this. */
static uint64_t send_frames(int prog_fd, uint32_t ifindex, const uint8_t *frame, unsigned int size,
			    uint32_t n, int probe)
{
	struct xdp_md ctx = {.data_end = size, .ingress_ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = size, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = n, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

	if (bpf_prog_test_run_opts(prog_fd, &run)) {
		if (probe && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOTSUPP)) {
			fprintf(stderr,
				"fwd_bench: cannot run here: BPF_PROG_RUN (live frames): %s\n",
				strerror(errno));
			exit(EXIT_CANNOT_RUN);
		}
		die("BPF_PROG_RUN (live frames): %s", strerror(errno));
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t frame[FRAME_MAX];
	struct bpf_link *sink_link;
	struct fwd_bench *skel;
	uint64_t sent = 0, rx0, rx1;
	uint32_t gen_ifindex;
	int sink_ifindex;
	double t0, t1;
	struct opts o;

	parse_args(argc, argv, &o);
	build_frame(&o, frame);
	if (pkt_csum_error(frame, o.size))
		die("the frame built is wrong: %s", pkt_csum_error(frame, o.size));

	skel = fwd_bench__open();
	if (!skel)
		die("%s", "cannot open the BPF object");
	memcpy((void *)skel->rodata->fb_hdr, frame, HDR_LEN);
	skel->rodata->fb_port = htons(o.port);
	if (fwd_bench__load(skel))
		die("%s", "cannot load the BPF programs");

	enter_ns(o.sink_ns);
	sink_ifindex = (int)if_nametoindex(o.sink_if);
	if (!sink_ifindex)
		die("no interface %s in the sink's namespace", o.sink_if);
	/* A link: it goes with this process, whatever happens to it. */
	sink_link = bpf_program__attach_xdp(skel->progs.fb_sink, sink_ifindex);
	if (!sink_link)
		die("cannot attach the sink to %s", o.sink_if);

	enter_ns(o.gen_ns);
	gen_ifindex = if_nametoindex(o.gen_if);
	if (!gen_ifindex)
		die("no interface %s in the generator's namespace", o.gen_if);

	/* A few frames first: the node resolves the backend's MAC. */
	send_frames(bpf_program__fd(skel->progs.fb_gen), gen_ifindex, frame, o.size, 64, 1);
	usleep(100000);

	rx0 = rx_count(skel);
	t0 = now();
	do {
		sent += send_frames(bpf_program__fd(skel->progs.fb_gen), gen_ifindex, frame, o.size,
				    CHUNK, 0);
		t1 = now();
	} while (t1 - t0 < o.seconds);
	/* What is still in flight arrives within microseconds. */
	usleep(20000);
	rx1 = rx_count(skel);

	printf("{\"sent\": %llu, \"received\": %llu, \"seconds\": %.3f, \"pps\": %.0f}\n",
	       (unsigned long long)sent, (unsigned long long)(rx1 - rx0), t1 - t0,
	       (double)(rx1 - rx0) / (t1 - t0));
	bpf_link__destroy(sink_link);
	fwd_bench__destroy(skel);
	return 0;
}
