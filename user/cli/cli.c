// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * graysplit: the CLI over one instance's pinned maps. Global options, then a
 * command found in a table by unique prefix; every error is one line
 * "graysplit: ..." on stderr, printed here and nowhere else.
 */
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "agent_flags.h"
#include "apply.h"
#include "cli.h"
#include "cmdline.h"
#include "clock.h"
#include "config.h"
#include "conntrack_check.h"
#include "decisions.h"
#include "decisions_print.h"
#include "downstream.h"
#include "error.h"
#include "etcd.h"
#include "events.h"
#include "fleet.h"
#include "fleet_cli.h"
#include "journal.h"
#include "loader.h"
#include "lock.h"
#include "maps.h"
#include "netns.h"
#include "ops.h"
#include "output.h"
#include "parse.h"
#include "rollout.h"
#include "rollout_cli.h"
#include "rollout_file.h"
#include "session.h"
#include "status.h"
#include "store_flags.h"
#include "store_url.h"
#include "top.h"

struct gs_ctx {
	char pin_dir[4096];
	const char *netns; /* NULL: the caller's namespace */
	bool json, pretty, debug;
	const char *cmd; /* "backend add", for messages */
};

/* A mutating command runs in a session (core/session.c): lock, maps,
 * journal, and the repair of a command that died half-way. */
static int session_begin(struct gs_ctx *ctx, struct gs_session *s)
{
	return gs_session_begin(ctx->pin_dir, s);
}

static int session_journal(struct gs_ctx *ctx, struct gs_session *s,
			   const struct gs_service_key *key)
{
	return gs_session_journal(s, key, ctx->cmd);
}

static int session_end(struct gs_session *s, int err)
{
	return gs_session_end(s, err);
}

/* VIP:PORT plus --proto into a services key. */
static int parse_service(const char *endpoint, const char *proto_name, struct gs_service_key *key)
{
	uint8_t proto = IPPROTO_TCP;
	union gs_addr vip;
	uint16_t port;
	int err;

	err = gs_parse_endpoint(endpoint, false, &vip, &port);
	if (err)
		return err;
	if (proto_name) {
		err = gs_parse_proto(proto_name, &proto);
		if (err)
			return err;
	}
	gs_service_key_init(key, &vip, port, proto);
	return 0;
}

static void iface_key_init(struct gs_iface_key *key, const char *netns, const char *ifname)
{
	memset(key, 0, sizeof(*key));
	snprintf(key->netns, sizeof(key->netns), "%s", netns ? netns : "");
	snprintf(key->ifname, sizeof(key->ifname), "%s", ifname);
}

/*
 * Attach every interface or none: if one fails, the ones this call attached
 * are detached again, and an instance this call created is removed whole.
 */
static int attach_all(struct gs_ctx *ctx, char **ifnames, int n, uint32_t flows, bool egress_only,
		      uint32_t role)
{
	bool *was_attached = calloc(n, sizeof(*was_attached));
	bool existed = false;
	char message[512];
	struct gs_maps maps;
	int err = 0, i, j;

	if (!was_attached)
		return gs_fail(ENOMEM, "out of memory");
	/* An instance whose maps this build cannot use (another build's
	 * layout) exists all the same: a failure here must not undo it. */
	existed = !gs_instance_absent(ctx->pin_dir);
	if (!gs_maps_open(ctx->pin_dir, &maps)) {
		for (i = 0; i < n; i++) {
			struct gs_iface_key key;
			struct gs_iface value;

			iface_key_init(&key, ctx->netns, ifnames[i]);
			was_attached[i] = !bpf_map_lookup_elem(maps.ifaces, &key, &value);
		}
		gs_maps_close(&maps);
	}
	for (i = 0; i < n && !err; i++)
		err = gs_attach(ctx->pin_dir, ctx->netns, ifnames[i], flows, egress_only, role);
	if (err) {
		/* Undoing must not replace the message of what failed. */
		snprintf(message, sizeof(message), "%s", gs_last_error());
		if (!existed) {
			gs_detach_all(ctx->pin_dir);
		} else {
			for (j = 0; j < i - 1; j++)
				if (!was_attached[j])
					gs_detach(ctx->pin_dir, ctx->netns, ifnames[j]);
		}
		gs_set_error("%s", message);
	}
	free(was_attached);
	return err;
}

/*
 * --flows and --ring-bytes size a new instance only: an existing flow table
 * or ring buffer keeps its size, and asking it for another one is an error
 * rather than ignored. Called under the lock.
 */
static int check_pinned_size(const char *pin_dir, bool ring, uint32_t want)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	struct gs_maps maps;
	int err = 0;

	if (gs_maps_open(pin_dir, &maps))
		return 0;
	if (!ring)
		want = gs_flow_table_entries(want);
	if (!bpf_obj_get_info_by_fd(ring ? maps.events : maps.flows, &info, &len) &&
	    info.max_entries != want)
		err = gs_fail(EEXIST,
			      "the %s at %s already has %u %s: %s sizes a new instance only "
			      "('detach --all' first to resize)",
			      ring ? "ring buffer" : "flow table", pin_dir, info.max_entries,
			      ring ? "bytes" : "entries", ring ? "--ring-bytes" : "--flows");
	gs_maps_close(&maps);
	return err;
}

/* Set and clear config flags (attach --no-fast-path; what the conntrack
 * check found). Under the lock. */
static int config_flags(const char *pin_dir, uint32_t set, uint32_t clear)
{
	struct gs_config cfg;
	struct gs_maps maps;
	int err;

	err = gs_maps_open(pin_dir, &maps);
	if (!err) {
		err = gs_config_change(&maps, set, clear, &cfg);
		gs_maps_close(&maps);
	}
	return err;
}

static int cmd_attach(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"IFACE"};
	const char *flows_arg = NULL, *ring_arg = NULL, *role_arg = NULL;
	bool reload = false, no_fast_path = false, egress_only = false;
	uint32_t role = GS_ROLE_FRONT;
	const struct gs_opt opts[] = {{"--flows", NULL, &flows_arg, NULL},
				      {"--role", NULL, &role_arg, NULL},
				      {"--ring-bytes", NULL, &ring_arg, NULL},
				      {"--reload", NULL, NULL, &reload},
				      {"--no-fast-path", NULL, NULL, &no_fast_path},
				      {"--egress-only", NULL, NULL, &egress_only},
				      {"--json", "-j", NULL, &ctx->json},
				      {0}};
	struct json_object *tree, *list;
	uint32_t flows = GS_DEFAULT_FLOWS, ring = 0;
	/* The conntrack check: 1 seen (fast path off), 0 not, < 0 unknown. */
	char ct_why[160] = "";
	int ct = 0;
	struct gs_config cfg = {};
	struct gs_session s;
	int err, n, i, lock_fd;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 1, -1, &n);
	if (err)
		return err;
	if (role_arg) {
		if (!strcmp(role_arg, "backend"))
			role = GS_ROLE_BACKEND;
		else if (strcmp(role_arg, "front") != 0)
			return gs_fail(EINVAL, "invalid role '%s': front or backend", role_arg);
	}
	if (role == GS_ROLE_BACKEND && (egress_only || no_fast_path))
		return gs_fail(EINVAL, "--role backend takes no --egress-only nor --no-fast-path");
	/* A backend host's instance splits nothing: its flow table is the
	 * least a new instance may have, unless asked otherwise. */
	if (role == GS_ROLE_BACKEND)
		flows = 16;
	if (flows_arg) {
		err = gs_parse_u32(flows_arg, 16, 1u << 28, "flow table size", &flows);
		if (err)
			return err;
	}
	if (ring_arg) {
		err = gs_parse_u32(ring_arg, (uint32_t)sysconf(_SC_PAGESIZE), 1u << 30,
				   "ring buffer size", &ring);
		if (err)
			return err;
		if (ring & (ring - 1))
			return gs_fail(EINVAL, "invalid ring buffer size %u: not a power of two",
				       ring);
	}
	/* Every interface must exist before the first is touched. */
	for (i = 0; i < n; i++)
		if (strlen(argv[i]) >= IFNAMSIZ || !if_nametoindex(argv[i]))
			return gs_fail(ENODEV, "no interface '%s'%s%s%s", argv[i],
				       ctx->netns ? " in network namespace '" : "",
				       ctx->netns ? ctx->netns : "", ctx->netns ? "'" : "");
	lock_fd = gs_lock_acquire(ctx->pin_dir);
	if (lock_fd < 0)
		return lock_fd;
	if (!gs_maps_open(ctx->pin_dir, &s.maps)) {
		err = gs_journal_recover(ctx->pin_dir, &s.maps, "cli");
		gs_maps_close(&s.maps);
		if (err < 0) {
			gs_lock_release(lock_fd);
			return err;
		}
		err = 0;
	}
	if (flows_arg)
		err = check_pinned_size(ctx->pin_dir, false, flows);
	if (!err && ring_arg)
		err = check_pinned_size(ctx->pin_dir, true, ring);
	gs_loader_set_ring_bytes(ring);
	if (!err && reload && !gs_maps_open(ctx->pin_dir, &s.maps)) {
		gs_maps_close(&s.maps);
		err = gs_reload(ctx->pin_dir, ctx->netns, flows);
	}
	if (!err)
		err = attach_all(ctx, argv, n, flows, egress_only, role);
	if (!err && role == GS_ROLE_BACKEND) {
		err = gs_maps_open(ctx->pin_dir, &s.maps);
		if (!err) {
			err = gs_dep_kinds_defaults(&s.maps);
			gs_maps_close(&s.maps);
		}
	}
	/* The fast path where it works: not where netfilter tracks
	 * connections, as conntrack would see only the replies and drop them
	 * as invalid. Checked at every attach, in the interfaces' namespace;
	 * when nothing is known the switch stays as the operator set it. */
	if (!err && !no_fast_path && role == GS_ROLE_FRONT)
		ct = gs_conntrack_in_use(ct_why, sizeof(ct_why));
	if (!err && no_fast_path)
		err = config_flags(ctx->pin_dir, GS_CFG_NO_FAST_PATH, 0);
	if (!err && !no_fast_path && role == GS_ROLE_FRONT && ct >= 0)
		err = config_flags(ctx->pin_dir, ct == 1 ? GS_CFG_CONNTRACK : 0,
				   ct == 1 ? 0 : GS_CFG_CONNTRACK);
	gs_lock_release(lock_fd);
	if (err)
		return err;

	tree = json_object_new_object();
	list = json_object_new_array();
	if (!gs_maps_open(ctx->pin_dir, &s.maps)) {
		for (i = 0; i < n; i++) {
			struct gs_iface_key key;
			struct gs_iface value = {};
			struct json_object *obj = json_object_new_object();

			iface_key_init(&key, ctx->netns, argv[i]);
			bpf_map_lookup_elem(s.maps.ifaces, &key, &value);
			json_object_object_add(obj, "ifname", json_object_new_string(argv[i]));
			json_object_object_add(obj, "netns", json_object_new_string(key.netns));
			json_object_object_add(
				obj, "xdp_mode",
				json_object_new_string(gs_xdp_mode_name(value.xdp_flags)));
			json_object_object_add(obj, "tc",
					       json_object_new_string(value.role == GS_ROLE_BACKEND
									      ? "ingress+egress"
								      : value.xdp_flags ? "egress"
											: "none"));
			json_object_object_add(obj, "role",
					       json_object_new_string(value.role == GS_ROLE_BACKEND
									      ? "backend"
									      : "front"));
			json_object_array_add(list, obj);
		}
		gs_config_read(&s.maps, &cfg);
		gs_maps_close(&s.maps);
	}
	json_object_object_add(tree, "attached", list);
	/* "on", "off", or "off: why" when conntrack turned it off. */
	if (ct == 1) {
		char note[sizeof(ct_why) + 8];

		snprintf(note, sizeof(note), "off: %s", ct_why);
		json_object_object_add(tree, "fast_path", json_object_new_string(note));
	} else {
		json_object_object_add(
			tree, "fast_path",
			json_object_new_string(cfg.flags & GS_CFG_NO_FAST_PATH ? "off" : "on"));
	}
	if (ct < 0)
		json_object_object_add(tree, "fast_path_check", json_object_new_string(ct_why));
	gs_output_print(stdout, tree, ctx->json, ctx->pretty);
	json_object_put(tree);
	return 0;
}

static int cmd_detach(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"IFACE or --all"};
	bool all = false;
	const struct gs_opt opts[] = {{"--all", NULL, NULL, &all}, {0}};
	struct gs_session s;
	int err, n, i, lock_fd;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 0, -1, &n);
	if (err)
		return err;
	if (all && n)
		return gs_fail(EINVAL, "detach: give interfaces or --all, not both");
	if (!all && !n)
		return gs_fail(EINVAL, "detach: missing IFACE or --all");
	if (all) {
		lock_fd = gs_lock_acquire(ctx->pin_dir);
		if (lock_fd < 0)
			return lock_fd;
		err = gs_detach_all(ctx->pin_dir);
		if (err) {
			gs_lock_release(lock_fd);
		} else {
			/* The maps a journal would restore are gone with it. */
			gs_journal_end(ctx->pin_dir);
			gs_lock_remove(ctx->pin_dir, lock_fd);
		}
		return err;
	}
	err = session_begin(ctx, &s);
	if (err)
		return err;
	/* Every interface must be attached before the first is detached. */
	for (i = 0; i < n && !err; i++) {
		struct gs_iface_key key = {};
		struct gs_iface value;

		if (strlen(argv[i]) >= IFNAMSIZ) {
			err = gs_fail(ENODEV, "no interface '%s'", argv[i]);
			break;
		}
		iface_key_init(&key, ctx->netns, argv[i]);
		if (bpf_map_lookup_elem(s.maps.ifaces, &key, &value))
			err = gs_detach(ctx->pin_dir, ctx->netns, argv[i]);
	}
	for (i = 0; i < n && !err; i++)
		err = gs_detach(ctx->pin_dir, ctx->netns, argv[i]);
	return session_end(&s, err);
}

static int cmd_service_add(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"VIP:PORT"};
	const char *proto = NULL, *hash = NULL;
	const struct gs_opt opts[] = {
		{"--proto", NULL, &proto, NULL}, {"--hash", NULL, &hash, NULL}, {0}};
	struct gs_service_key key;
	uint8_t hash_mode = GS_HASH_FLOW;
	struct gs_session s;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 1, 1, &n);
	if (!err)
		err = parse_service(argv[0], proto, &key);
	if (!err && hash)
		err = gs_parse_hash_mode(hash, &hash_mode);
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = gs_service_add(&s.maps, &key, hash_mode);
	return session_end(&s, err);
}

static int print_report(struct gs_ctx *ctx, int err, struct json_object *report);

static int cmd_service_del(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"VIP:PORT"};
	const char *proto = NULL;
	struct gs_store_opts so = {0};
	const struct gs_opt opts[] = {{"--proto", NULL, &proto, NULL},
				      {"--json", "-j", NULL, &ctx->json},
				      GS_STORE_FLAGS(so),
				      {0}};
	struct json_object *report = NULL;
	struct gs_service_key key;
	struct gs_store_url url;
	struct gs_session s;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 1, 1, &n);
	if (!err)
		err = parse_service(argv[0], proto, &key);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 1) {
		err = gs_fleet_service_del_cmd(&url, &key, &report);
		return print_report(ctx, err, report);
	}
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = gs_service_del(&s.maps, &key);
	return session_end(&s, err);
}

static int cmd_backend_add(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"VIP:PORT", "IP[:PORT]"};
	const char *proto = NULL, *group_arg = NULL, *weight_arg = NULL;
	const struct gs_opt opts[] = {{"--proto", NULL, &proto, NULL},
				      {"--group", NULL, &group_arg, NULL},
				      {"--weight", NULL, &weight_arg, NULL},
				      {0}};
	struct gs_service_key key;
	union gs_addr addr;
	uint32_t weight = 1;
	uint16_t port;
	uint8_t group;
	struct gs_session s;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 2, 2, &n);
	if (!err)
		err = parse_service(argv[0], proto, &key);
	if (!err)
		err = gs_parse_endpoint(argv[1], true, &addr, &port);
	if (!err && !group_arg)
		err = gs_fail(EINVAL, "%s: missing --group stable|canary", ctx->cmd);
	if (!err)
		err = gs_parse_group(group_arg, &group);
	if (!err && weight_arg)
		err = gs_parse_u32(weight_arg, 1, 65535, "weight", &weight);
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = gs_backend_add(&s.maps, &key, &addr, port, group, (uint16_t)weight);
	return session_end(&s, err);
}

static int cmd_backend_del(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"VIP:PORT", "IP[:PORT]"};
	const char *proto = NULL;
	const struct gs_opt opts[] = {{"--proto", NULL, &proto, NULL}, {0}};
	struct gs_service_key key;
	union gs_addr addr;
	uint16_t port;
	struct gs_session s;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 2, 2, &n);
	if (!err)
		err = parse_service(argv[0], proto, &key);
	if (!err)
		err = gs_parse_endpoint(argv[1], true, &addr, &port);
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = gs_backend_del(&s.maps, &key, &addr, port);
	return session_end(&s, err);
}

/* The share, and the decision-log line that says who set it from what. */
static int split_and_log(struct gs_ctx *ctx, struct gs_maps *m, const struct gs_service_key *key,
			 uint32_t ppm)
{
	struct gs_split old = {0};
	struct gs_service svc;
	struct json_object *entry;
	char name[GS_SERVICE_STRLEN];
	int err;

	if (!gs_service_lookup(m, key, &svc))
		bpf_map_lookup_elem(m->split, &svc.id, &old);
	err = gs_split_set(m, key, ppm);
	if (err)
		return err;
	gs_format_service(key, name, sizeof(name));
	entry = gs_decision_new("cli", name, "split");
	gs_decision_add_share(entry, old.canary_ppm, ppm);
	json_object_object_add(entry, "reason", json_object_new_string("graysplit split"));
	if (gs_decision_append(ctx->pin_dir, entry))
		fprintf(stderr, "graysplit: warning: %s\n", gs_last_error());
	json_object_put(entry);
	return 0;
}

/* A fleet command's report, printed as apply prints its own. */
static int print_report(struct gs_ctx *ctx, int err, struct json_object *report)
{
	if (err)
		return err;
	gs_output_print(stdout, report, ctx->json || ctx->pretty, ctx->pretty);
	json_object_put(report);
	return 0;
}

static int cmd_split(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"VIP:PORT", "PERCENT"};
	const char *proto = NULL;
	struct gs_store_opts so = {0};
	const struct gs_opt opts[] = {{"--proto", NULL, &proto, NULL},
				      {"--json", "-j", NULL, &ctx->json},
				      GS_STORE_FLAGS(so),
				      {0}};
	struct json_object *report = NULL;
	struct gs_service_key key;
	struct gs_store_url url;
	struct gs_session s;
	uint32_t ppm = 0;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 2, 2, &n);
	if (!err)
		err = parse_service(argv[0], proto, &key);
	if (!err)
		err = gs_parse_percent(argv[1], &ppm);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 1) {
		err = gs_fleet_split_cmd(&url, &key, ppm, &report);
		return print_report(ctx, err, report);
	}
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = split_and_log(ctx, &s.maps, &key, ppm);
	return session_end(&s, err);
}

static int override_args(struct gs_ctx *ctx, int argc, char **argv, bool with_group,
			 struct gs_service_key *key, union gs_addr *client, uint32_t *prefixlen,
			 uint8_t *group)
{
	static const char *const names[] = {"VIP:PORT", "CIDR"};
	const char *proto = NULL, *group_arg = NULL;
	/* del takes no --group: accepted and ignored, "override del ... --group
	 * stable" would remove a canary override the operator meant to keep. */
	const struct gs_opt opts[] = {{"--proto", NULL, &proto, NULL},
				      {with_group ? "--group" : NULL, NULL, &group_arg, NULL},
				      {0}};
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 2, 2, &n);
	if (!err)
		err = parse_service(argv[0], proto, key);
	if (!err)
		err = gs_parse_cidr(argv[1], client, prefixlen);
	*group = GS_GROUP_CANARY;
	if (!err && group_arg)
		err = gs_parse_group(group_arg, group);
	return err;
}

static int cmd_override_add(struct gs_ctx *ctx, int argc, char **argv)
{
	struct gs_service_key key;
	union gs_addr client;
	uint32_t prefixlen;
	uint8_t group;
	struct gs_session s;
	int err;

	err = override_args(ctx, argc, argv, true, &key, &client, &prefixlen, &group);
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = gs_override_add(&s.maps, &key, &client, prefixlen, group);
	return session_end(&s, err);
}

static int cmd_override_del(struct gs_ctx *ctx, int argc, char **argv)
{
	struct gs_service_key key;
	union gs_addr client;
	uint32_t prefixlen;
	uint8_t group;
	struct gs_session s;
	int err;

	err = override_args(ctx, argc, argv, false, &key, &client, &prefixlen, &group);
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = gs_override_del(&s.maps, &key, &client, prefixlen);
	return session_end(&s, err);
}

/* apply with a store: the file, checked as a node will check it, becomes
 * the service's spec in the store; the nodes' agents apply it. */
static int apply_to_store(struct gs_ctx *ctx, const struct gs_store_url *url, const char *file,
			  bool dry_run, const char *expect)
{
	struct json_object *report = NULL;
	struct gs_rollout_file rf;
	int64_t expect_revision = -1;
	struct gs_etcd *etcd;
	uint32_t v;
	size_t len;
	char *data;
	int err;

	if (expect) {
		err = gs_parse_u32(expect, 0, UINT32_MAX, "--expect-revision", &v);
		if (err)
			return err;
		expect_revision = v;
	}
	err = gs_rollout_file_read(file, &data, &len);
	if (err)
		return err;
	err = gs_rollout_file_parse(file, data, len, &rf);
	if (!err) {
		err = gs_etcd_open(url, &etcd);
		if (!err) {
			uint32_t seed;

			/* The fleet's seed exists before its first service. */
			err = dry_run ? 0 : gs_fleet_seed(etcd, &seed);
			if (!err)
				err = gs_fleet_publish(etcd, &rf, data, len, expect_revision,
						       dry_run, &report);
			gs_etcd_close(etcd);
		}
		gs_rollout_file_free(&rf);
	}
	free(data);
	if (err)
		return err;
	gs_output_print(stdout, report, ctx->json || ctx->pretty, ctx->pretty);
	json_object_put(report);
	return 0;
}

static int cmd_apply(struct gs_ctx *ctx, int argc, char **argv)
{
	const char *file = NULL, *expect = NULL;
	struct gs_store_opts so = {0};
	bool dry_run = false;
	const struct gs_opt opts[] = {{"--file", "-f", &file, NULL},
				      {"--dry-run", NULL, NULL, &dry_run},
				      {"--json", "-j", NULL, &ctx->json},
				      {"--expect-revision", NULL, &expect, NULL},
				      GS_STORE_FLAGS(so),
				      {0}};
	struct gs_rollout_file rf;
	struct json_object *report = NULL;
	struct gs_store_url url;
	struct gs_session s;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, NULL, 0, 0, &n);
	if (!err && !file)
		err = gs_fail(EINVAL, "apply: missing -f FILE");
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 1)
		return apply_to_store(ctx, &url, file, dry_run, expect);
	if (!err && expect)
		err = gs_fail(EINVAL, "--expect-revision: only with a store (--store URL)");
	if (err)
		return err;
	/* The whole file is checked before the instance is even opened. */
	err = gs_rollout_file_load(file, &rf);
	if (err)
		return err;
	if (rf.nselectors) {
		gs_rollout_file_free(&rf);
		return gs_fail(EINVAL,
			       "%s: a backend selector picks backends registered in a store: only "
			       "with --store URL",
			       file);
	}
	if (dry_run) {
		/* Reads only, like status: no lock, and no reaping after. */
		err = gs_maps_open(ctx->pin_dir, &s.maps);
		if (!err) {
			err = gs_apply(&s.maps, ctx->pin_dir, &rf, true, &report);
			gs_maps_close(&s.maps);
		}
	} else {
		err = session_begin(ctx, &s);
		if (!err) {
			err = session_journal(ctx, &s, &rf.service);
			if (!err)
				err = gs_apply(&s.maps, ctx->pin_dir, &rf, false, &report);
			err = session_end(&s, err);
		}
	}
	gs_rollout_file_free(&rf);
	if (err)
		return err;
	gs_output_print(stdout, report, ctx->json || ctx->pretty, ctx->pretty);
	json_object_put(report);
	return 0;
}

/*
 * status's "downstream": the watch of the instance at pin_dir (--downstream,
 * the backend hosts'), grouped by this instance's backends; without it,
 * this instance's own watch, shown when it counted anything.
 */
static int status_downstream(struct gs_maps *maps, const char *pin_dir, struct json_object *tree)
{
	struct json_object *ds = NULL, *pairs = NULL;
	struct gs_maps dep;
	int err;

	if (!pin_dir) {
		/* Not worth failing status over: the section is left out. */
		if (gs_status_downstream(maps, maps, &ds))
			return 0;
		if (json_object_object_get_ex(ds, "pairs", &pairs) &&
		    json_object_array_length(pairs) > 0)
			json_object_object_add(tree, "downstream", ds);
		else
			json_object_put(ds);
		return 0;
	}
	err = gs_maps_open(pin_dir, &dep);
	if (err)
		return gs_fail(-err, "--downstream %s: %s", pin_dir, gs_last_error());
	err = gs_status_downstream(&dep, maps, &ds);
	gs_maps_close(&dep);
	if (!err)
		json_object_object_add(tree, "downstream", ds);
	return err;
}

static int cmd_status(struct gs_ctx *ctx, int argc, char **argv)
{
	struct gs_store_opts so = {0};
	const char *downstream = NULL;
	const struct gs_opt opts[] = {{"--json", "-j", NULL, &ctx->json},
				      {"--pretty", "-p", NULL, &ctx->pretty},
				      {"--downstream", NULL, &downstream, NULL},
				      GS_STORE_FLAGS(so),
				      {0}};
	struct json_object *tree = NULL, *fleet = NULL;
	struct gs_store_url url;
	struct gs_etcd *etcd;
	struct gs_maps maps;
	bool store;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, NULL, 0, 0, &n);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err < 0)
		return err;
	store = err == 1;
	if (store) {
		err = gs_etcd_open(&url, &etcd);
		if (err)
			return err;
		err = gs_fleet_status(etcd, &fleet);
		gs_etcd_close(etcd);
		if (err)
			return err;
	}
	/* Read-only: no lock; a concurrent change shows whole or not yet. With
	 * a store, the fleet alone when this machine runs no instance there. */
	err = gs_maps_open(ctx->pin_dir, &maps);
	if (!err) {
		err = gs_status_build(&maps, ctx->pin_dir, ctx->netns, &tree);
		if (!err)
			err = status_downstream(&maps, downstream, tree);
		gs_maps_close(&maps);
	} else if (store && err == -ENOENT) {
		tree = json_object_new_object();
		err = 0;
	}
	if (err) {
		json_object_put(fleet);
		return err;
	}
	if (fleet)
		json_object_object_add(tree, "fleet", fleet);
	gs_output_print(stdout, tree, ctx->json || ctx->pretty, ctx->pretty);
	json_object_put(tree);
	return 0;
}

static int cmd_register(struct gs_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {"IP:PORT"};
	const char *proto_arg = NULL, *labels = NULL, *ttl_arg = NULL;
	struct gs_store_opts so = {0};
	const struct gs_opt opts[] = {{"--proto", NULL, &proto_arg, NULL},
				      {"--labels", "-l", &labels, NULL},
				      {"--ttl", NULL, &ttl_arg, NULL},
				      GS_STORE_FLAGS(so),
				      {0}};
	struct gs_store_url url;
	uint8_t proto = IPPROTO_TCP;
	uint32_t ttl = 5;
	union gs_addr addr = {0};
	uint16_t port = 0;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 1, 1, &n);
	if (!err)
		err = gs_parse_endpoint(argv[0], false, &addr, &port);
	if (!err && proto_arg)
		err = gs_parse_proto(proto_arg, &proto);
	if (!err && !labels)
		err = gs_fail(EINVAL, "register: missing --labels KEY=VALUE[,KEY=VALUE...]");
	if (!err)
		err = gs_selector_check(labels);
	if (!err && ttl_arg)
		err = gs_parse_u32(ttl_arg, 1, 3600, "--ttl", &ttl);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 0)
		err = gs_fail(EINVAL, "register: needs a store (--store URL or GRAYSPLIT_STORE)");
	if (err < 0)
		return err;
	return gs_fleet_register_run(&url, proto, &addr, port, labels, ttl);
}

/* The agent's entry point, from gs_cli_main's caller. */
static gs_agent_entry agent_entry;

static int cmd_agent(struct gs_ctx *ctx, int argc, char **argv)
{
	struct gs_agent_opts opts;
	int err;

	err = gs_agent_parse(ctx->cmd, argc, argv, &opts);
	if (err)
		return err;
	if (!agent_entry)
		return gs_fail(ENOSYS, "agent: not in this program");
	return agent_entry(ctx->pin_dir, ctx->netns, &opts);
}

static int cmd_trace(struct gs_ctx *ctx, int argc, char **argv)
{
	bool follow = false;
	const struct gs_opt opts[] = {{"--follow", "-f", NULL, &follow}, {0}};
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, NULL, 0, 0, &n);
	if (err)
		return err;
	return gs_events_dump(ctx->pin_dir, follow);
}

static int cmd_top(struct gs_ctx *ctx, int argc, char **argv)
{
	struct gs_top_opts opts;
	int err;

	err = gs_top_parse(ctx->cmd, argc, argv, &opts);
	if (err)
		return err;
	return gs_top_run(ctx->pin_dir, &opts);
}

static int cmd_events(struct gs_ctx *ctx, int argc, char **argv)
{
	const char *service = NULL, *proto = NULL, *last = NULL;
	struct gs_decisions_query q = {.last = -1};
	const struct gs_opt opts[] = {
		{"--follow", "-f", NULL, &q.follow}, {"--service", NULL, &service, NULL},
		{"--proto", NULL, &proto, NULL},     {"-n", NULL, &last, NULL},
		{"--json", "-j", NULL, &ctx->json},  {0}};
	char name[GS_SERVICE_STRLEN];
	struct gs_service_key key;
	uint32_t n32;
	int err, n;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, NULL, 0, 0, &n);
	if (!err && service) {
		err = parse_service(service, proto, &key);
		gs_format_service(&key, name, sizeof(name));
		q.service = name;
	}
	if (!err && last) {
		err = gs_parse_u32(last, 0, 1u << 30, "-n", &n32);
		q.last = n32;
	}
	if (err)
		return err;
	q.json = ctx->json;
	return gs_decisions_print(ctx->pin_dir, &q);
}

/* The service of a rollout command: VIP:PORT [--proto P]. */
/* VIP:PORT, --proto, up to two extra options and, with so, the store's. */
static int rollout_args(struct gs_ctx *ctx, int argc, char **argv, const struct gs_opt *extra,
			struct gs_service_key *key, struct gs_store_opts *so)
{
	static const char *const names[] = {"VIP:PORT"};
	const char *proto = NULL;
	struct gs_store_opts none = {0}, *sp = so ? so : &none;
	struct gs_opt opts[11] = {{"--proto", NULL, &proto, NULL}, {0}};
	const struct gs_opt store[] = {GS_STORE_FLAGS(*sp), {"--json", "-j", NULL, &ctx->json}};
	int err, n, i, j;

	for (i = 1; extra && extra[i - 1].name && i < 3; i++)
		opts[i] = extra[i - 1];
	for (j = 0; so && j < (int)(sizeof(store) / sizeof(store[0])); j++)
		opts[i++] = store[j];
	err = gs_args_parse(ctx->cmd, argc, argv, opts, names, 1, 1, &n);
	if (!err)
		err = parse_service(argv[0], proto, key);
	return err;
}

static int cmd_rollout_status(struct gs_ctx *ctx, int argc, char **argv)
{
	const struct gs_opt extra[] = {{"--json", "-j", NULL, &ctx->json}, {0}};
	char name[GS_SERVICE_STRLEN];
	struct gs_store_opts so = {0};
	struct gs_rollout_view v;
	struct gs_service_key key;
	struct gs_store_url url;
	struct gs_service svc;
	struct json_object *tree, *rollout;
	struct gs_maps maps;
	int err;

	err = rollout_args(ctx, argc, argv, extra, &key, &so);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 1) {
		err = gs_fleet_rollout_status(&url, &key, &v);
	} else if (!err) {
		err = gs_maps_open(ctx->pin_dir, &maps);
		if (err)
			return err;
		err = gs_service_lookup(&maps, &key, &svc);
		if (!err)
			err = gs_rollout_view_read(&maps, svc.id, &v);
		gs_maps_close(&maps);
	}
	if (err)
		return err;
	gs_format_service(&key, name, sizeof(name));
	if (!v.present)
		return gs_fail(ENOENT, "no rollout on %s (graysplit apply -f FILE starts one)",
			       name);
	rollout = gs_rollout_describe(&v, gs_realtime_ns(), true);
	tree = json_object_new_object();
	json_object_object_add(tree, "service", json_object_new_string(name));
	json_object_object_foreach(rollout, field, value)
	{
		json_object_object_add(tree, field, json_object_get(value));
	}
	json_object_put(rollout);
	gs_output_print(stdout, tree, ctx->json || ctx->pretty, ctx->pretty);
	json_object_put(tree);
	return 0;
}

static int rollout_op(struct gs_ctx *ctx, int argc, char **argv, enum gs_rollout_op op)
{
	bool full = false;
	const struct gs_opt extra[] = {{"--full", NULL, NULL, &full}, {0}};
	struct gs_store_opts so = {0};
	struct json_object *report = NULL;
	struct gs_service_key key;
	struct gs_store_url url;
	struct gs_session s;
	int err;

	err = rollout_args(ctx, argc, argv, op == GS_RO_OP_PROMOTE ? extra : NULL, &key, &so);
	if (!err)
		err = gs_store_url_parse(&so, &url);
	if (err == 1) {
		err = gs_fleet_rollout_cmd(&url, &key, full ? GS_RO_OP_PROMOTE_FULL : op, &report);
		return print_report(ctx, err, report);
	}
	if (!err)
		err = session_begin(ctx, &s);
	if (err)
		return err;
	err = session_journal(ctx, &s, &key);
	if (!err)
		err = gs_rollout_command(&s.maps, ctx->pin_dir, &key,
					 full ? GS_RO_OP_PROMOTE_FULL : op);
	return session_end(&s, err);
}

static int cmd_rollout_pause(struct gs_ctx *ctx, int argc, char **argv)
{
	return rollout_op(ctx, argc, argv, GS_RO_OP_PAUSE);
}

static int cmd_rollout_resume(struct gs_ctx *ctx, int argc, char **argv)
{
	return rollout_op(ctx, argc, argv, GS_RO_OP_RESUME);
}

static int cmd_rollout_promote(struct gs_ctx *ctx, int argc, char **argv)
{
	return rollout_op(ctx, argc, argv, GS_RO_OP_PROMOTE);
}

/*
 * config [SWITCH on|off]...: with no pair, print the switches; else set
 * them all in one store, after every pair has been checked.
 */
static int cmd_config(struct gs_ctx *ctx, int argc, char **argv)
{
	const struct gs_opt opts[] = {{"--json", "-j", NULL, &ctx->json}, {0}};
	struct json_object *tree;
	struct gs_config cfg;
	struct gs_session s;
	uint32_t set = 0, clear = 0;
	int err, n, i;

	err = gs_args_parse(ctx->cmd, argc, argv, opts, NULL, 0, 2 * GS_MAX_SWITCH_ARGS, &n);
	if (!err && n % 2)
		err = gs_fail(EINVAL, "config: '%s' needs a value: on or off", argv[n - 1]);
	for (i = 0; !err && i < n; i += 2) {
		const struct gs_switch *sw = gs_switch_find(argv[i]);
		bool on = false;

		if (!sw)
			return -EINVAL;
		err = gs_parse_on_off(sw->name, argv[i + 1], &on);
		if (!err && ((set | clear) & sw->flag))
			err = gs_fail(EINVAL, "config: %s given twice", sw->name);
		if (on)
			clear |= sw->flag;
		else
			set |= sw->flag;
	}
	if (err)
		return err;
	if (!n) {
		/* Read-only, like status: no lock. */
		err = gs_maps_open(ctx->pin_dir, &s.maps);
		if (err)
			return err;
		err = gs_config_read(&s.maps, &cfg);
		gs_maps_close(&s.maps);
	} else {
		err = session_begin(ctx, &s);
		if (err)
			return err;
		err = session_end(&s, gs_config_change(&s.maps, set, clear, &cfg));
	}
	if (err)
		return err;
	tree = gs_config_json(&cfg);
	gs_output_print(stdout, tree, ctx->json, false);
	json_object_put(tree);
	return 0;
}

static int cmd_rollout_abort(struct gs_ctx *ctx, int argc, char **argv)
{
	return rollout_op(ctx, argc, argv, GS_RO_OP_ABORT);
}

static int cmd_help(struct gs_ctx *ctx, int argc, char **argv);

#define PROTO_OPT "  --proto tcp|udp        the service's protocol (default tcp)\n"

/* The store options of the commands that also work in fleet mode. */
#define ROLLOUT_STORE_HELP                                                                         \
	"\nWith a store (fleet mode), the command goes to the store, conditioned on\n"             \
	"the rollout it read; the fleet's leader carries it out on every node.\n" GS_STORE_HELP

static const struct gs_cmd service_cmds[] = {
	{"add", cmd_service_add, NULL, "VIP:PORT [--proto tcp|udp] [--hash flow|client]",
	 "Add a service: a virtual IP and port that clients connect to, with no backends\n"
	 "yet and a canary share of 0.\n\n" PROTO_OPT
	 "  --hash flow|client     what picks the group of a new connection: its 5-tuple\n"
	 "                         (default flow), or the client address alone, so that\n"
	 "                         one client always sees one version\n"},
	{"del", cmd_service_del, NULL, "VIP:PORT [--proto tcp|udp] [--store URL]",
	 "Remove a service with its backends, overrides, Maglev tables and rollout.\n\n" PROTO_OPT
	 "  -j, --json             JSON output (with a store)\n"
	 "\nWith a store (fleet mode), the service's spec, state and rollout commands\n"
	 "leave the store; every node whose agent applied it removes the service.\n" GS_STORE_HELP},
	{0},
};

static const struct gs_cmd backend_cmds[] = {
	{"add", cmd_backend_add, NULL,
	 "VIP:PORT IP[:PORT] --group stable|canary [--weight N] [--proto tcp|udp]",
	 "Add a backend to the stable or the canary group of a service and republish that\n"
	 "group's Maglev table in one step. Open connections never move; new ones spread\n"
	 "over the group's backends by weight. The port defaults to the service's.\n\n"
	 "  --group stable|canary  the backend's group (required)\n"
	 "  --weight N             its Maglev weight, 1..65535 (default 1)\n" PROTO_OPT},
	{"del", cmd_backend_del, NULL, "VIP:PORT IP[:PORT] [--proto tcp|udp]   (drains)",
	 "Drain a backend: it leaves its group's table at once, so no new connection\n"
	 "reaches it, while the connections open on it finish there. Its slot is freed\n"
	 "once none is left.\n\n" PROTO_OPT},
	{0},
};

static const struct gs_cmd override_cmds[] = {
	{"add", cmd_override_add, NULL, "VIP:PORT CIDR [--group canary|stable] [--proto tcp|udp]",
	 "Send every new connection from clients in CIDR to one group, whatever the\n"
	 "canary share (the longest matching prefix wins): e.g. testers to the canary.\n\n"
	 "  --group canary|stable  the group (default canary)\n" PROTO_OPT},
	{"del", cmd_override_del, NULL, "VIP:PORT CIDR [--proto tcp|udp]",
	 "Remove an override; new connections from CIDR follow the share again.\n\n" PROTO_OPT},
	{0},
};

static const struct gs_cmd rollout_cmds[] = {
	{"status", cmd_rollout_status, NULL, "VIP:PORT [--proto tcp|udp] [--json] [--store URL]",
	 "Show a service's rollout: name, phase (progressing, paused, completed,\n"
	 "failed, aborted), step k of n and its share, bake elapsed and needed, the\n"
	 "last verdict and the reason of the last change, and the steps.\n\n" PROTO_OPT
	 "  -j, --json             JSON output\n"
	 "\nWith a store (fleet mode): the rollout as the fleet runs it (the spec, the\n"
	 "leader's walk, the operator's commands), read from the store.\n" GS_STORE_HELP},
	{"pause", cmd_rollout_pause, NULL, "VIP:PORT [--proto tcp|udp] [--store URL]",
	 "Stop promotions: the rollout stays at its step until resumed. Fail-back\n"
	 "stays on.\n\n" PROTO_OPT ROLLOUT_STORE_HELP},
	{"resume", cmd_rollout_resume, NULL, "VIP:PORT [--proto tcp|udp] [--store URL]",
	 "Resume a rollout paused by an operator or by an analysis that stayed\n"
	 "inconclusive; the current step's bake starts again.\n\n" PROTO_OPT ROLLOUT_STORE_HELP},
	{"promote", cmd_rollout_promote, NULL, "VIP:PORT [--full] [--proto tcp|udp] [--store URL]",
	 "Go to the next step now (with --full: the last step), skipping the bake\n"
	 "and the analysis. The agent carries it out at its next tick.\n\n"
	 "  --full                 to the last step\n" PROTO_OPT ROLLOUT_STORE_HELP},
	{"abort", cmd_rollout_abort, NULL, "VIP:PORT [--proto tcp|udp] [--store URL]",
	 "Set the canary's share to 0 at once (one write, also with no agent\n"
	 "running) and stop the rollout; applying its file again restarts it.\n\n" PROTO_OPT
		 ROLLOUT_STORE_HELP},
	{0},
};

static const struct gs_cmd commands[] = {
	{"attach", cmd_attach, NULL,
	 "IFACE [IFACE...] [--role front|backend] [--flows N] [--ring-bytes N] [--reload] "
	 "[--no-fast-path] [--egress-only]",
	 "Load graysplit's programs (once per instance, pinned under the pin directory)\n"
	 "and attach the forward path (XDP, ingress) and the reply path (tc, egress) to\n"
	 "each interface. Idempotent; all or nothing: when one interface fails, those\n"
	 "this call attached are detached again.\n\n"
	 "  --role backend         a backend host's interface: no splitting, only the\n"
	 "                         downstream watch (tc ingress and egress), which\n"
	 "                         follows the connections the backends open to their\n"
	 "                         dependencies (status, top and /metrics show them;\n"
	 "                         several namespaces may share the instance)\n"
	 "  --flows N              flow table entries of a new instance, 16..268435456\n"
	 "                         (default 1048576)\n"
	 "  --ring-bytes N         events ring buffer of a new instance: a power of two,\n"
	 "                         a page..1073741824 (default 4194304)\n"
	 "  --reload               put this build's programs on every attached interface\n"
	 "                         (after an upgrade)\n"
	 "  --no-fast-path         switch the XDP fast path off (`config fast-path on`\n"
	 "                         turns it on again). Attach also switches it off,\n"
	 "                         and says why, when the namespace's nftables rules\n"
	 "                         use conntrack: it would see only the replies\n"
	 "  --egress-only          no program on these interfaces: only record them as\n"
	 "                         places the XDP fast path may send frames out of (the\n"
	 "                         interfaces towards the backends; an XDP program on a\n"
	 "                         veth copies every packet it receives)\n"
	 "  -j, --json             JSON output\n"},
	{"detach", cmd_detach, NULL, "IFACE... | --all",
	 "Detach both paths from each interface. With --all: from every interface of\n"
	 "the instance, in whatever namespace, and remove its pins, maps included.\n\n"
	 "  --all                  every interface, then unpin everything\n"},
	{"service", NULL, service_cmds, NULL,
	 "Services: a virtual IP, port and protocol whose new connections are split\n"
	 "between a stable and a canary group of backends.\n"},
	{"backend", NULL, backend_cmds, NULL,
	 "Backends: the real servers of a service, each in the stable or the canary\n"
	 "group, with a weight.\n"},
	{"split", cmd_split, NULL,
	 "VIP:PORT PERCENT [--proto tcp|udp] [--store URL]   (e.g. 10, 0.5, 12.25 or 10%)",
	 "Set the canary's share of a service's new connections: one 4-byte write.\n"
	 "Raising it moves only keys from stable to canary, lowering it the reverse;\n"
	 "open connections stay where they are. A rolled-back service becomes active\n"
	 "again. PERCENT is 0..100 with up to 4 decimals.\n\n" PROTO_OPT
	 "  -j, --json             JSON output (with a store)\n"
	 "\nWith a store (fleet mode), the share goes to the store as the service's\n"
	 "decision state, written only if nobody changed it since it was read; every\n"
	 "node applies it.\n" GS_STORE_HELP},
	{"override", NULL, override_cmds, NULL,
	 "Overrides: client CIDRs whose new connections always go to one group.\n"},
	{"apply", cmd_apply, NULL,
	 "-f FILE [--dry-run] [--json] [--store URL [--expect-revision N]]",
	 "Make a service and its rollout match a rollout file (YAML; see graysplit(8)\n"
	 "and examples/): the service, its hash mode, the backends with their groups\n"
	 "and weights (backends not in the file drain), the overrides, the analysis\n"
	 "thresholds and the steps. The whole file is checked first; an error names\n"
	 "the file, line and field, and nothing is applied. A changed rollout starts\n"
	 "again at its first step (the share is set to it at once) and the agent walks\n"
	 "it; the same file again changes nothing. A failed or aborted rollout\n"
	 "restarts when its file is applied again.\n\n"
	 "  -f FILE                the rollout file\n"
	 "  --dry-run              print what would be done, change nothing\n"
	 "  -j, --json             JSON output\n\n"
	 "With a store (fleet mode), the checked file becomes the service's spec in the\n"
	 "store, written only if nobody changed it since it was read (or since the\n"
	 "revision --expect-revision names; 0: the service is new); every node's agent\n"
	 "applies it to its own maps. This machine's maps are not touched.\n\n"
	 "  --expect-revision N    write only if the spec is at revision N now\n" GS_STORE_HELP},
	{"status", cmd_status, NULL, "[--json] [--downstream PIN_DIR] [--store URL]",
	 "Show every service with its share, state (active or rolled_back, with the\n"
	 "reason), backends (counters since each was added, p95 latencies, open flows)\n"
	 "and overrides; the attached interfaces, the flow table's fill and the global\n"
	 "counters. On an instance attached --role backend, the downstream watch too:\n"
	 "per backend address and dependency, the connections and calls it counted.\n\n"
	 "  -j, --json             JSON on one line\n"
	 "  -p, --pretty           indented JSON\n"
	 "  --downstream PIN_DIR   the backend hosts' watch at PIN_DIR, also per service,\n"
	 "                         group and dependency (groups from this instance's\n"
	 "                         backends)\n\n"
	 "With a store, also the fleet: the store's revision, the services' specs with\n"
	 "their revisions, and each node (name, host, pin directory, the store revision\n"
	 "its maps match and its lag behind the specs; a node whose agent stopped is\n"
	 "gone within its lease, 5 s).\n\n" GS_STORE_HELP},
	/* The agent's description and options (defaults from its parser)
	 * are printed by gs_agent_help(), next to the code that parses them. */
	{"agent", cmd_agent, NULL, "[OPTIONS]", NULL},
	{"register", cmd_register, NULL,
	 "IP:PORT --labels KEY=VALUE[,KEY=VALUE...] [--proto tcp|udp] [--ttl S] --store URL",
	 "Fleet mode: register this backend in the store with its labels, for rollout\n"
	 "files that pick backends by selector (backends: - selector: version=v1.2),\n"
	 "and keep it registered under a lease until SIGINT or SIGTERM, which\n"
	 "deregisters it: every node then drains it. If this process dies, the lease\n"
	 "runs out and every node drains it within the TTL. Needs no instance here.\n\n"
	 "  -l, --labels K=V,...   the backend's labels, e.g. version=v1.2-beta\n"
	 "  --ttl S                the lease, 1..3600 seconds (default 5)\n" PROTO_OPT
		 GS_STORE_HELP},
	{"rollout", NULL, rollout_cmds, NULL,
	 "Rollouts: the steps of a service's canary share that the agent walks, from\n"
	 "a file applied with 'graysplit apply -f'.\n"},
	{"events", cmd_events, NULL, "[--follow] [--service VIP:PORT [--proto P]] [-n N] [--json]",
	 "Print the decision log: every decision the agent took (verdict changes,\n"
	 "promotions, bake extensions, pauses, completions, fail-backs, with their\n"
	 "reasons and figures) and every change an operator made (apply, split,\n"
	 "rollout pause, resume, promote, abort), oldest first, one line each.\n\n"
	 "  -f, --follow           keep printing new decisions until SIGINT or SIGTERM\n"
	 "  --service VIP:PORT     only this service's ([--proto tcp|udp])\n"
	 "  -n N                   only the last N\n"
	 "  -j, --json             the log's JSON lines as they are\n"},
	{"trace", cmd_trace, NULL, "[--follow]",
	 "Print the data path's ring-buffer events (connects, refusals, timeouts,\n"
	 "resets, first responses, UDP answers and unreachables) as JSON lines. The\n"
	 "ring buffer has one reader: not while an agent runs.\n\n"
	 "  -f, --follow           keep printing until SIGINT or SIGTERM (default: print\n"
	 "                         what is pending, then exit)\n"},
	{"top", cmd_top, NULL, "[--interval S] [--count N] [--downstream PIN_DIR]",
	 "A live view of the instance, redrawn every interval: per service its VIP,\n"
	 "canary share, state, rollout (name, phase, step k of n) and last decision;\n"
	 "per backend its group, weight, state, new flows per second, errors (refused,\n"
	 "timed-out and reset connections per new flow, for UDP unreachable and\n"
	 "unanswered flows; 5xx, or DNS SERVFAIL and REFUSED, per response), p95 connect\n"
	 "and first-byte latency over the last interval, and open flows. On a terminal\n"
	 "it draws in the alternate screen; q, ^C or SIGTERM quits. When stdout is not a\n"
	 "terminal, frames follow one another as plain text. It only reads the maps.\n"
	 "With --downstream PIN_DIR (the backend hosts' watch, attach --role backend),\n"
	 "per service also each dependency its backends call, per group: calls per\n"
	 "second and per request served, errors per call, connections ended per\n"
	 "request and p95 call latency.\n\n"
	 "  -i, --interval S       seconds between frames, 0.1..3600 (default 1)\n"
	 "  -n, --count N          draw N frames, then exit (default: until told to quit)\n"
	 "  --downstream PIN_DIR   the backend hosts' watch, per dependency and group\n"},
	{"config", cmd_config, NULL, "[SWITCH on|off]... [--json]",
	 "Show the data path's switches, or turn them on or off (all pairs in one\n"
	 "store, taking effect at the next packet). Every switch is on in a new\n"
	 "instance.\n\n"
	 "  fast-path              after the rewrite, forward from XDP (fib lookup and\n"
	 "                         redirect to an interface graysplit is attached to)\n"
	 "                         instead of passing the packet to the kernel\n"
	 "  events                 latency samples and errors to the agent through\n"
	 "                         the ring buffer (off: the per-CPU counters and\n"
	 "                         histograms still move; the agent decides on rates)\n"
	 "  -j, --json             JSON output\n"},
	{"help", cmd_help, NULL, "[COMMAND [SUBCOMMAND]]",
	 "List the commands, or show one command's usage, description and options\n"
	 "(the same as 'graysplit COMMAND --help').\n"},
	{0},
};

static void print_usage(FILE *out)
{
	const struct gs_cmd *c, *sub;

	fputs("Usage: graysplit [GLOBAL OPTIONS] COMMAND [ARGS]\n\nCommands:\n", out);
	for (c = commands; c->name; c++) {
		if (!c->sub) {
			fprintf(out, "  %s%s%s\n", c->name, c->usage[0] ? " " : "", c->usage);
			continue;
		}
		for (sub = c->sub; sub->name; sub++)
			fprintf(out, "  %s %s %s\n", c->name, sub->name, sub->usage);
	}
	fputs("\nGlobal options (before the command):\n"
	      "  --netns NAME   do the network work in /run/netns/NAME (like ip -n);\n"
	      "                 pins stay in the caller's bpffs\n"
	      "  --pin-dir DIR  the instance's pins on a bpffs (default " GS_DEFAULT_PIN_DIR ")\n"
	      "  -j, --json     JSON output\n"
	      "  -p, --pretty   indented JSON output\n"
	      "  -d, --debug    show libbpf's log on stderr\n"
	      "  -h, --help     this list; 'graysplit COMMAND --help' for one command\n"
	      "\nIPv6 addresses are written [fd00::1]:80; --proto defaults to tcp.\n"
	      "attach reuses the pinned programs; after an upgrade, attach --reload puts\n"
	      "this build's programs on every attached interface.\n"
	      "Commands may be shortened to a unique prefix (graysplit st = status).\n",
	      out);
}

/* One command's help; path: "backend add". A command with subcommands
 * lists them. */
static void print_cmd_help(FILE *out, const char *path, const struct gs_cmd *cmd)
{
	const struct gs_cmd *sub;

	if (cmd->sub) {
		fprintf(out, "Usage: graysplit [GLOBAL OPTIONS] %s SUBCOMMAND [ARGS]\n", path);
		if (cmd->help)
			fprintf(out, "\n%s", cmd->help);
		fputs("\nSubcommands ('graysplit ", out);
		fprintf(out, "%s SUBCOMMAND --help' for one):\n", path);
		for (sub = cmd->sub; sub->name; sub++)
			fprintf(out, "  %s %s %s\n", path, sub->name, sub->usage);
		return;
	}
	fprintf(out, "Usage: graysplit [GLOBAL OPTIONS] %s%s%s\n", path, cmd->usage[0] ? " " : "",
		cmd->usage);
	if (cmd->help)
		fprintf(out, "\n%s", cmd->help);
	if (cmd->run == cmd_agent)
		gs_agent_help(out);
}

/* "help", or "help COMMAND [SUBCOMMAND]". */
static int cmd_help(struct gs_ctx *ctx, int argc, char **argv)
{
	const struct gs_cmd *cmd, *sub;
	char path[64];

	(void)ctx;
	if (argc < 1) {
		print_usage(stdout);
		return 0;
	}
	if (argc > 2)
		return gs_fail(EINVAL, "help: unexpected argument '%s'", argv[2]);
	cmd = gs_cmd_find(commands, argv[0], "");
	if (!cmd)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s", cmd->name);
	if (argc == 2) {
		char where[32];

		if (!cmd->sub)
			return gs_fail(EINVAL, "help: %s has no subcommand '%s'", cmd->name,
				       argv[1]);
		snprintf(where, sizeof(where), "%s ", cmd->name);
		sub = gs_cmd_find(cmd->sub, argv[1], where);
		if (!sub)
			return -EINVAL;
		snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", sub->name);
		cmd = sub;
	}
	print_cmd_help(stdout, path, cmd);
	return 0;
}

static bool debug_log;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own messages would break the one-line error rule. */
	if (!debug_log || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * The capabilities a command needs, checked before anything is touched.
 * Working on the pinned maps needs CAP_BPF alone (measured: the agent,
 * fail-back included, runs with nothing else); loading and attaching
 * programs also needs netlink (CAP_NET_ADMIN) and CAP_SYS_ADMIN; entering
 * a network namespace (--netns) needs CAP_SYS_ADMIN.
 */
static const int caps_maps[] = {CAP_BPF};
static const int caps_attach[] = {CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN};
static const int caps_netns[] = {CAP_BPF, CAP_SYS_ADMIN};

static bool has_caps(const int *needed, size_t n)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = {};
	size_t i;

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0;
	for (i = 0; i < n; i++)
		if (!(data[needed[i] / 32].effective & (1u << (needed[i] % 32))))
			return false;
	return true;
}

static int check_privileges(const struct gs_cmd *cmd, const struct gs_ctx *ctx)
{
	bool attach = cmd->run == cmd_attach || cmd->run == cmd_detach;

	if (attach && !has_caps(caps_attach, sizeof(caps_attach) / sizeof(caps_attach[0])))
		return gs_fail(
			EPERM,
			"must run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)");
	if (ctx->netns && !has_caps(caps_netns, sizeof(caps_netns) / sizeof(caps_netns[0])))
		return gs_fail(EPERM,
			       "--netns: must run as root (or with CAP_BPF and CAP_SYS_ADMIN)");
	if (!has_caps(caps_maps, sizeof(caps_maps) / sizeof(caps_maps[0])))
		return gs_fail(EPERM, "must run as root (or with CAP_BPF)");
	return 0;
}

static int set_pin_dir(struct gs_ctx *ctx, const char *dir)
{
	size_t len = strlen(dir);

	if (!len)
		return gs_fail(EINVAL, "--pin-dir: empty directory name");
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (dir[0] != '/') {
		char cwd[2048];

		if (!getcwd(cwd, sizeof(cwd)))
			return gs_fail(errno, "getcwd: %s", strerror(errno));
		if (snprintf(ctx->pin_dir, sizeof(ctx->pin_dir), "%s/%.*s",
			     strcmp(cwd, "/") ? cwd : "", (int)len,
			     dir) >= (int)sizeof(ctx->pin_dir))
			return gs_fail(ENAMETOOLONG, "--pin-dir: name too long");
		return 0;
	}
	if (len >= sizeof(ctx->pin_dir))
		return gs_fail(ENAMETOOLONG, "--pin-dir: name too long");
	snprintf(ctx->pin_dir, sizeof(ctx->pin_dir), "%.*s", (int)len, dir);
	return 0;
}

/* Global options, up to the command word; returns its index. */
static int parse_globals(struct gs_ctx *ctx, int argc, char **argv, bool *help)
{
	const char *pin_dir = GS_DEFAULT_PIN_DIR;
	int i, err;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];

		if (!strcmp(opt, "--netns") || !strcmp(opt, "-n") || !strcmp(opt, "--pin-dir")) {
			if (i + 1 >= argc)
				return gs_fail(EINVAL, "option %s needs an argument", opt);
			if (!strcmp(opt, "--pin-dir"))
				pin_dir = argv[++i];
			else
				ctx->netns = argv[++i];
		} else if (!strncmp(opt, "--netns=", 8)) {
			ctx->netns = opt + 8;
		} else if (!strncmp(opt, "--pin-dir=", 10)) {
			pin_dir = opt + 10;
		} else if (!strcmp(opt, "--json") || !strcmp(opt, "-j")) {
			ctx->json = true;
		} else if (!strcmp(opt, "--pretty") || !strcmp(opt, "-p")) {
			ctx->json = ctx->pretty = true;
		} else if (!strcmp(opt, "--debug") || !strcmp(opt, "-d")) {
			ctx->debug = true;
		} else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			*help = true;
		} else {
			return gs_fail(EINVAL, "unknown global option '%s' (try 'graysplit help')",
				       opt);
		}
	}
	err = set_pin_dir(ctx, pin_dir);
	if (err)
		return err;
	if (ctx->netns && !ctx->netns[0])
		return gs_fail(EINVAL, "--netns: empty namespace name");
	return i;
}

static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

/* detach --all visits the namespace of every recorded interface itself:
 * it must work even when the one named by --netns is already gone. */
static bool cleanup_only(const struct gs_cmd *cmd, int argc, char **argv)
{
	int i;

	if (cmd->run != cmd_detach)
		return false;
	for (i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--all"))
			return true;
	return false;
}

static int run(int argc, char **argv)
{
	static struct gs_ctx ctx;
	const struct gs_cmd *cmd;
	static char path[64];
	bool help = false;
	int first, err;

	first = parse_globals(&ctx, argc, argv, &help);
	if (first < 0)
		return first;
	if (help) {
		print_usage(stdout);
		return 0;
	}
	if (first >= argc)
		return gs_fail(EINVAL, "missing command (try 'graysplit help')");
	cmd = gs_cmd_find(commands, argv[first], "");
	if (!cmd)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s", cmd->name);
	if (cmd->sub) {
		char where[32];

		if (first + 1 < argc && wants_help(1, argv + first + 1)) {
			print_cmd_help(stdout, path, cmd);
			return 0;
		}
		if (++first >= argc)
			return gs_fail(EINVAL, "%s: missing subcommand (%s, ...)", cmd->name,
				       cmd->sub->name);
		snprintf(where, sizeof(where), "%s ", cmd->name);
		cmd = gs_cmd_find(cmd->sub, argv[first], where);
		if (!cmd)
			return -EINVAL;
		snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", cmd->name);
	}
	ctx.cmd = path;
	if (wants_help(argc - first - 1, argv + first + 1)) {
		print_cmd_help(stdout, path, cmd);
		return 0;
	}
	if (cmd->run == cmd_help)
		return cmd_help(&ctx, argc - first - 1, argv + first + 1);
	/* A backend registering itself touches no instance: no BPF, no pins. */
	if (cmd->run == cmd_register)
		return cmd_register(&ctx, argc - first - 1, argv + first + 1);

	/* Nothing is touched before these three checks. */
	err = check_privileges(cmd, &ctx);
	if (err)
		return err;
	err = gs_check_bpffs(ctx.pin_dir);
	if (err)
		return err;
	err = gs_netns_init();
	if (!err && ctx.netns && !cleanup_only(cmd, argc - first - 1, argv + first + 1))
		err = gs_netns_enter(ctx.netns);
	if (err)
		return err;
	debug_log = debug_log || ctx.debug;
	return cmd->run(&ctx, argc - first - 1, argv + first + 1);
}

int gs_cli_main(int argc, char **argv, gs_agent_entry agent)
{
	int err;

	agent_entry = agent;
	libbpf_set_print(libbpf_log);
	debug_log = getenv("GRAYSPLIT_DEBUG") != NULL;
	err = run(argc, argv);
	if (err) {
		fprintf(stderr, "graysplit: %s\n", gs_last_error());
		return 1;
	}
	return 0;
}
