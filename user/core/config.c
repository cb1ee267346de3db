// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "config.h"
#include "error.h"

const struct gs_switch gs_switches[] = {
	{"fast-path", "fast_path", GS_CFG_NO_FAST_PATH,
	 "forward rewritten packets from XDP (fib lookup + redirect) when the route allows"},
	{"events", "events", GS_CFG_NO_EVENTS,
	 "send latency samples and errors to the agent through the ring buffer"},
	{0},
};

const struct gs_switch *gs_switch_find(const char *name)
{
	const struct gs_switch *s;

	for (s = gs_switches; s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	gs_set_error("unknown switch '%s': expected fast-path or events", name);
	return NULL;
}

int gs_parse_on_off(const char *what, const char *arg, bool *on)
{
	if (!strcmp(arg, "on")) {
		*on = true;
		return 0;
	}
	if (!strcmp(arg, "off")) {
		*on = false;
		return 0;
	}
	return gs_fail(EINVAL, "invalid value '%s' for %s: expected on or off", arg, what);
}

uint32_t gs_fib_ttl_ticks(void)
{
	uint32_t hz = gs_kernel_hz();

	if (!hz)
		hz = GS_FIB_CACHE_HZ_FALLBACK;
	return (uint32_t)(GS_FIB_CACHE_TTL_NS * hz / 1000000000ull);
}

int gs_config_read(const struct gs_maps *m, struct gs_config *cfg)
{
	__u32 key = 0;

	if (bpf_map_lookup_elem(m->config, &key, cfg))
		return gs_fail(errno, "cannot read config: %s", strerror(errno));
	return 0;
}

/* An ARRAY update of a value this size is one store the data path sees
 * whole. */
int gs_config_write(const struct gs_maps *m, const struct gs_config *cfg)
{
	__u32 key = 0;

	if (bpf_map_update_elem(m->config, &key, cfg, BPF_EXIST))
		return gs_fail(errno, "cannot write config: %s", strerror(errno));
	return 0;
}

int gs_config_change(const struct gs_maps *m, uint32_t set, uint32_t clear, struct gs_config *now)
{
	struct gs_config was;
	int err;

	err = gs_config_read(m, &was);
	if (err)
		return err;
	*now = was;
	now->flags = (was.flags | set) & ~clear;
	return now->flags == was.flags ? 0 : gs_config_write(m, now);
}

struct json_object *gs_config_json(const struct gs_config *cfg)
{
	struct json_object *o = json_object_new_object();
	const struct gs_switch *s;

	for (s = gs_switches; s->name; s++)
		json_object_object_add(o, s->key, json_object_new_boolean(!(cfg->flags & s->flag)));
	return o;
}
