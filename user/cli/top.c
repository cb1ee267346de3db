// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The live view. Each frame is built as a list of text lines first, then
 * written in one write(2): on a terminal as cursor-home, each line followed
 * by clear-to-end-of-line, and clear-to-end-of-screen, so nothing is erased
 * before it is overwritten and the picture never flickers.
 *
 * The counts of a frame are those since the previous frame (the agent's own
 * collector, reading per backend), so rates are over the last interval; a
 * reading before the first frame sets the baselines.
 */
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <json-c/json.h>

#include "clock.h"
#include "cmdline.h"
#include "collect.h"
#include "decisions.h"
#include "downstream.h"
#include "error.h"
#include "lock.h"
#include "map_iter.h"
#include "ops.h"
#include "parse.h"
#include "rollout.h"
#include "top.h"

#define ESC_ALT_ON	 "\x1b[?1049h"
#define ESC_ALT_OFF	 "\x1b[?1049l"
#define ESC_HIDE	 "\x1b[?25l"
#define ESC_SHOW	 "\x1b[?25h"
#define ESC_HOME	 "\x1b[H"
#define ESC_EOL		 "\x1b[K"
#define ESC_EOS		 "\x1b[J"
#define GS_TOP_COUNT_MAX 1000000000u
/* How much of the decision log's end is read each frame: many lines. */
#define DECISION_TAIL 65536L
#define DECISION_LEN  512

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t resized;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

struct screen {
	char **lines;
	size_t n, cap;
};

struct top {
	const char *pin_dir;
	struct gs_maps maps;
	struct gs_collect collect;
	struct gs_group_window *win; /* per backend id, the last interval */
	uint32_t *live;		     /* per backend id, flows not closing */
	uint64_t flow_entries;
	/* Walking the flow table costs time in proportion to its fill: once
	 * a walk takes more than a tenth of the interval, top stops it. */
	bool census_off;
	uint64_t census_ns; /* the last walk's duration */
	uint32_t interval_ms;
	bool want[GS_MAX_SERVICES];
	char decision[GS_MAX_SERVICES][DECISION_LEN]; /* last log line, as text */
	char log_path[PATH_MAX];
	uint64_t read_ns; /* monotonic time of the last reading */
	double elapsed_s; /* between the last two readings */
	bool tty_out, tty_in;
	struct termios saved;
	bool termios_saved;
	unsigned int rows, cols;
	struct screen screen;
	/* --downstream: the backend hosts' watch, read with the backends. */
	struct gs_dep_reader *deps;
	struct gs_dep_window *dep_rows; /* draw_downstream's scratch */
};

__attribute__((format(printf, 2, 3))) static void add_line(struct screen *s, const char *fmt, ...)
{
	va_list ap;
	char *line, *p;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (!line)
		return;
	/* Reasons and log lines come from maps and files: no control
	 * character of theirs may reach the terminal. */
	for (p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **lines = realloc(s->lines, cap * sizeof(*lines));

		if (!lines) {
			free(line);
			return;
		}
		s->lines = lines;
		s->cap = cap;
	}
	s->lines[s->n++] = line;
}

static void screen_clear(struct screen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->lines[i]);
	s->n = 0;
}

static int parse_interval(const char *s, uint32_t *ms)
{
	size_t digits = strspn(s, "0123456789.");
	char *end;
	double v;

	v = strtod(s, &end);
	if (!s[0] || digits != strlen(s) || *end || !(v >= 0.1 && v <= 3600))
		return gs_fail(EINVAL, "invalid --interval '%.32s': expected seconds 0.1..3600", s);
	*ms = (uint32_t)lround(v * 1000.0);
	return 0;
}

int gs_top_parse(const char *cmd, int argc, char **argv, struct gs_top_opts *opts)
{
	const char *interval = NULL, *count = NULL, *downstream = NULL;
	const struct gs_opt flags[] = {{"--interval", "-i", &interval, NULL},
				       {"--count", "-n", &count, NULL},
				       {"--downstream", NULL, &downstream, NULL},
				       {0}};
	struct gs_top_opts o = {.interval_ms = GS_TOP_INTERVAL_MS_DEFAULT};
	int err, n;

	err = gs_args_parse(cmd, argc, argv, flags, NULL, 0, 0, &n);
	if (!err && interval)
		err = parse_interval(interval, &o.interval_ms);
	if (!err && count)
		err = gs_parse_u32(count, 1, GS_TOP_COUNT_MAX, "--count", &o.count);
	if (err)
		return err;
	o.downstream = downstream;
	*opts = o;
	return 0;
}

static int count_flow(const void *key, const void *value, void *ctx)
{
	const struct gs_flow *flow = value;
	struct top *t = ctx;

	(void)key;
	t->flow_entries++;
	if (flow->state != GS_FLOW_CLOSING && !(flow->flags & GS_FLOW_F_RESET) &&
	    flow->backend_id < GS_MAX_BACKENDS)
		t->live[flow->backend_id]++;
	return 0;
}

/* Topology, the counts since the previous reading, and the flow census. */
static int take_reading(struct top *t)
{
	uint64_t now;
	uint32_t id;
	int err;

	err = gs_collect_topology(&t->collect);
	if (err)
		return err;
	for (id = 0; id < GS_MAX_SERVICES; id++)
		t->want[id] = t->collect.services[id].present;
	err = gs_collect_read_backends(&t->collect, t->want, true, t->win);
	if (!err && t->deps)
		err = gs_dep_read(t->deps);
	if (err)
		return err;
	now = gs_monotonic_ns();
	t->elapsed_s = t->read_ns ? (double)(now - t->read_ns) / 1e9 : 0;
	t->read_ns = now;
	if (t->census_off)
		return 0;
	memset(t->live, 0, GS_MAX_BACKENDS * sizeof(*t->live));
	t->flow_entries = 0;
	err = gs_map_foreach(t->maps.flows, sizeof(struct gs_flow_key), sizeof(struct gs_flow),
			     count_flow, t);
	if (err)
		return gs_fail(-err, "cannot read the flow table: %s", strerror(-err));
	t->census_ns = gs_monotonic_ns() - now;
	t->census_off = t->census_ns > (uint64_t)t->interval_ms * 100000;
	return 0;
}

static const char *json_text(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The last line of each service in the end of the decision log. The log
 * only grows by whole lines (one O_APPEND write each), so a line cut at the
 * start of the tail is the only partial one, and it is skipped.
 */
static void read_decisions(struct top *t)
{
	char name[GS_MAX_SERVICES][GS_SERVICE_STRLEN];
	char *buf, *line, *next;
	FILE *f;
	long size, from;
	size_t got;
	uint32_t id;

	for (id = 0; id < GS_MAX_SERVICES; id++) {
		t->decision[id][0] = '\0';
		if (t->collect.services[id].present)
			gs_format_service(&t->collect.services[id].key, name[id], sizeof(name[id]));
	}
	f = fopen(t->log_path, "re");
	if (!f)
		return;
	buf = malloc(DECISION_TAIL + 1);
	if (!buf || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0) {
		free(buf);
		fclose(f);
		return;
	}
	from = size > DECISION_TAIL ? size - DECISION_TAIL : 0;
	got = fseek(f, from, SEEK_SET) ? 0 : fread(buf, 1, DECISION_TAIL, f);
	fclose(f);
	buf[got] = '\0';
	line = buf;
	if (from > 0) {
		line = strchr(buf, '\n');
		line = line ? line + 1 : buf + got;
	}
	for (; *line; line = next) {
		struct json_object *obj;
		const char *svc;

		next = strchr(line, '\n');
		if (!next)
			break; /* still being written */
		*next++ = '\0';
		obj = json_tokener_parse(line);
		svc = obj ? json_text(obj, "service") : NULL;
		for (id = 0; svc && id < GS_MAX_SERVICES; id++) {
			if (t->collect.services[id].present && !strcmp(name[id], svc)) {
				gs_decision_format(obj, t->decision[id], sizeof(t->decision[id]));
				break;
			}
		}
		json_object_put(obj);
	}
	free(buf);
}

/* "0.21ms", "850us", "1.3s"; "-" without samples. */
static void format_latency(double us, char *buf, size_t len)
{
	if (isnan(us))
		snprintf(buf, len, "-");
	else if (us < 1000)
		snprintf(buf, len, "%.0fus", us);
	else if (us < 10000)
		snprintf(buf, len, "%.2fms", us / 1000);
	else if (us < 1e6)
		snprintf(buf, len, "%.1fms", us / 1000);
	else
		snprintf(buf, len, "%.2fs", us / 1e6);
}

static void format_ratio(uint64_t num, uint64_t den, char *buf, size_t len)
{
	if (!den)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)num / (double)den);
}

static void draw_rollout(struct top *t, uint32_t id)
{
	struct gs_rollout_view v;
	uint64_t now_ns = gs_realtime_ns(), baked_ms = 0;

	if (gs_rollout_view_read(&t->maps, id, &v) || !v.present) {
		add_line(&t->screen, "  rollout  none");
		return;
	}
	if (v.step_started_unix_ns && now_ns > v.step_started_unix_ns)
		baked_ms = (now_ns - v.step_started_unix_ns) / 1000000;
	v.spec.name[sizeof(v.spec.name) - 1] = '\0';
	add_line(&t->screen, "  rollout  %s  %s  step %u of %u (%g%%)  baked %.1fs of %.1fs%s",
		 v.spec.name, gs_rollout_phase_name(v.phase), v.step + 1, v.nsteps,
		 gs_ppm_to_percent(v.step_ppm), (double)baked_ms / 1000, (double)v.bake_ms / 1000,
		 v.picked_up ? "" : "  (not yet picked up by an agent)");
	v.state.reason[sizeof(v.state.reason) - 1] = '\0';
	if (v.picked_up && v.state.reason[0])
		add_line(&t->screen, "  why      %s", v.state.reason);
}

static void draw_backends(struct top *t, uint32_t sid)
{
	char ep[GS_ENDPOINT_STRLEN], err[16], http[16], conn[16], ttfb[16], rate[24], active[16];
	uint32_t id;

	add_line(&t->screen, "  %-24s %-6s %6s %-8s %8s %8s %8s %9s %9s %7s", "BACKEND", "GROUP",
		 "WEIGHT", "STATE", "FLOWS/S", "ERR/FLOW", "5XX/RESP", "P95-CONN", "P95-TTFB",
		 "ACTIVE");
	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		const struct gs_backend *b = &t->collect.backends[id];
		const struct gs_group_window *w = &t->win[id];

		if (b->state == GS_BACKEND_FREE || b->service_id != sid)
			continue;
		gs_format_endpoint(&b->addr, ntohs(b->port), ep, sizeof(ep));
		format_ratio(w->conn_refused + w->conn_timeouts + w->resets, w->new_flows, err,
			     sizeof(err));
		/* Server failures per answer: HTTP 5xx, or on a DNS service
		 * SERVFAIL and REFUSED; a UDP flow unanswered is an ERR/FLOW. */
		format_ratio(w->http_5xx + w->dns_fail, w->responses, http, sizeof(http));
		format_latency(gs_hist64_quantile(&w->connect, 0.95), conn, sizeof(conn));
		format_latency(gs_hist64_quantile(&w->ttfb, 0.95), ttfb, sizeof(ttfb));
		if (t->elapsed_s > 0)
			snprintf(rate, sizeof(rate), "%.1f", (double)w->new_flows / t->elapsed_s);
		else
			snprintf(rate, sizeof(rate), "-");
		if (t->census_off)
			snprintf(active, sizeof(active), "-");
		else
			snprintf(active, sizeof(active), "%u", t->live[id]);
		add_line(&t->screen, "  %-24s %-6s %6u %-8s %8s %8s %8s %9s %9s %7s", ep,
			 gs_group_name(b->group), b->weight,
			 b->state == GS_BACKEND_ACTIVE ? "active" : "draining", rate, err, http,
			 conn, ttfb, active);
	}
}

/* The group of backend address addr in service sid, or -1. */
static int dep_group(const struct top *t, uint32_t sid, const union gs_addr *addr)
{
	uint32_t id;

	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		const struct gs_backend *b = &t->collect.backends[id];

		if (b->state != GS_BACKEND_FREE && b->service_id == sid &&
		    !memcmp(&b->addr, addr, sizeof(*addr)))
			return b->group;
	}
	return -1;
}

/* Per group and dependency, the backends' calls over the last interval,
 * against the requests the group served (its backends' responses). */
static void draw_downstream(struct top *t, uint32_t sid)
{
	char name[64], calls[24], per_req[16], err[16], churn[16], p95[16];
	uint64_t served[GS_GROUPS] = {0};
	struct gs_dep_window *row;
	uint32_t s, k, id;
	int g;

	for (id = 0; id < GS_MAX_BACKENDS; id++) {
		const struct gs_backend *b = &t->collect.backends[id];

		if (b->state != GS_BACKEND_FREE && b->service_id == sid && b->group < GS_GROUPS)
			served[b->group] += t->win[id].responses;
	}
	add_line(&t->screen, "  %-24s %-6s %8s %9s %8s %9s %9s", "DEPENDENCY", "GROUP", "CALLS/S",
		 "CALLS/REQ", "ERR/CALL", "CHURN/REQ", "P95-CALL");
	for (s = 0; s < GS_MAX_DEP_PAIRS; s++) {
		const struct gs_dep_pair *p = &t->deps->pairs[s];

		if (!p->present || dep_group(t, sid, &p->key.backend) < 0)
			continue;
		/* One line per (dependency, group): the first pair of each
		 * sums all of them. */
		for (k = 0; k < s; k++) {
			const struct gs_dep_pair *q = &t->deps->pairs[k];

			if (q->present && q->key.dport == p->key.dport &&
			    !memcmp(&q->key.dep, &p->key.dep, sizeof(q->key.dep)) &&
			    dep_group(t, sid, &q->key.backend) >= 0)
				break;
		}
		if (k < s)
			continue;
		memset(t->dep_rows, 0, GS_GROUPS * sizeof(*t->dep_rows));
		for (k = s; k < GS_MAX_DEP_PAIRS; k++) {
			const struct gs_dep_pair *q = &t->deps->pairs[k];

			if (!q->present || q->key.dport != p->key.dport ||
			    memcmp(&q->key.dep, &p->key.dep, sizeof(q->key.dep)) != 0)
				continue;
			g = dep_group(t, sid, &q->key.backend);
			if (g >= 0 && g < GS_GROUPS)
				gs_dep_window_merge(&t->dep_rows[g], &q->delta, 1);
		}
		gs_dep_name(name, sizeof(name), &p->key.dep, p->key.dport);
		for (g = GS_GROUPS - 1; g >= 0; g--) {
			row = &t->dep_rows[g];
			if (t->elapsed_s > 0)
				snprintf(calls, sizeof(calls), "%.1f",
					 (double)row->calls / t->elapsed_s);
			else
				snprintf(calls, sizeof(calls), "-");
			if (served[g])
				snprintf(per_req, sizeof(per_req), "%.2f",
					 (double)row->calls / (double)served[g]);
			else
				snprintf(per_req, sizeof(per_req), "-");
			format_ratio(row->error_replies + row->refused + row->timeouts +
					     row->resets,
				     row->calls + row->refused + row->timeouts, err, sizeof(err));
			if (served[g])
				snprintf(churn, sizeof(churn), "%.2f",
					 (double)row->closes / (double)served[g]);
			else
				snprintf(churn, sizeof(churn), "-");
			format_latency(gs_hist64_quantile(&row->call, 0.95), p95, sizeof(p95));
			add_line(&t->screen, "  %-24s %-6s %8s %9s %8s %9s %9s", name,
				 gs_group_name((uint8_t)g), calls, per_req, err, churn, p95);
		}
	}
}

static void draw_service(struct top *t, uint32_t id)
{
	const struct gs_collect_service *s = &t->collect.services[id];
	char name[GS_SERVICE_STRLEN];

	gs_format_service(&s->key, name, sizeof(name));
	add_line(&t->screen, "%s  canary %g%%  hash %s  %s", name, gs_ppm_to_percent(s->canary_ppm),
		 gs_hash_mode_name(s->value.hash_mode),
		 s->value.state == GS_SVC_ROLLED_BACK ? "ROLLED BACK" : "active");
	if (s->value.state == GS_SVC_ROLLED_BACK) {
		struct gs_svc_status status = {0};

		bpf_map_lookup_elem(t->maps.svc_status, &id, &status);
		status.reason[sizeof(status.reason) - 1] = '\0';
		add_line(&t->screen, "  rolled back: %s", status.reason[0] ? status.reason : "?");
	}
	draw_rollout(t, id);
	add_line(&t->screen, "  last     %s", t->decision[id][0] ? t->decision[id] : "-");
	draw_backends(t, id);
	if (t->deps)
		draw_downstream(t, id);
	add_line(&t->screen, "%s", "");
}

static void build_frame(struct top *t, uint32_t interval_ms)
{
	char when[GS_ISO_TIME_STRLEN];
	uint32_t id, services = 0;

	screen_clear(&t->screen);
	read_decisions(t);
	gs_format_iso_time(gs_realtime_ns(), when, sizeof(when));
	for (id = 0; id < GS_MAX_SERVICES; id++)
		services += t->collect.services[id].present;
	add_line(&t->screen, "graysplit top  %s  %s  every %.1fs over the last %.2fs%s", t->pin_dir,
		 when, interval_ms / 1000.0, t->elapsed_s, t->tty_in ? "  (q quits)" : "");
	if (t->census_off)
		add_line(&t->screen,
			 "%u service%s; open flows not counted: walking the flow table took "
			 "%.1f ms",
			 services, services == 1 ? "" : "s", (double)t->census_ns / 1e6);
	else
		add_line(&t->screen, "%u service%s, %llu flow table entries (walked in %.1f ms)",
			 services, services == 1 ? "" : "s", (unsigned long long)t->flow_entries,
			 (double)t->census_ns / 1e6);
	add_line(&t->screen, "%s", "");
	for (id = 0; id < GS_MAX_SERVICES; id++)
		if (t->collect.services[id].present)
			draw_service(t, id);
}

static void query_size(struct top *t)
{
	struct winsize ws;

	t->rows = 24;
	t->cols = 80;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The frame in one write: overwrite in place on a terminal, append otherwise. */
static void render(struct top *t, bool first)
{
	char *buf = NULL;
	size_t len = 0, i, rows;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		return;
	if (t->tty_out) {
		rows = t->screen.n < t->rows ? t->screen.n : t->rows;
		fputs(ESC_HOME, out);
		for (i = 0; i < rows; i++) {
			size_t w = strlen(t->screen.lines[i]);

			fwrite(t->screen.lines[i], 1, w < t->cols ? w : t->cols, out);
			/* No newline after the last row: it would scroll the screen. */
			fputs(ESC_EOL, out);
			if (i + 1 < rows)
				fputs("\r\n", out);
		}
		fputs(ESC_EOS, out);
	} else {
		if (!first)
			fputc('\n', out);
		for (i = 0; i < t->screen.n; i++)
			fprintf(out, "%s\n", t->screen.lines[i]);
	}
	fclose(out);
	write_all(buf, len);
	free(buf);
}

static void terminal_enter(struct top *t)
{
	struct termios raw;

	if (t->tty_in && !tcgetattr(STDIN_FILENO, &t->saved)) {
		t->termios_saved = true;
		raw = t->saved;
		/* Keys one at a time and unechoed; ISIG stays, so ^C is SIGINT. */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	}
	if (t->tty_out)
		write_all(ESC_ALT_ON ESC_HIDE, strlen(ESC_ALT_ON ESC_HIDE));
}

static void terminal_leave(struct top *t)
{
	if (t->tty_out)
		write_all(ESC_SHOW ESC_ALT_OFF, strlen(ESC_SHOW ESC_ALT_OFF));
	if (t->termios_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	t->termios_saved = false;
}

/*
 * Sleep until deadline_ns (monotonic), watching the keyboard. Returns true
 * when it is time to quit; a resize redraws the current frame at once.
 */
static bool wait_until(struct top *t, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = gs_monotonic_ns();
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		int timeout, ready;
		char key;

		if (stop_requested)
			return true;
		if (resized) {
			resized = 0;
			query_size(t);
			if (t->tty_out && t->screen.n)
				render(t, false);
		}
		if (now >= deadline_ns)
			return false;
		timeout = (int)((deadline_ns - now + 999999) / 1000000);
		ready = poll(&pfd, t->tty_in ? 1 : 0, timeout);
		if (ready > 0 && (pfd.revents & POLLIN)) {
			ssize_t n = read(STDIN_FILENO, &key, 1);

			if (n == 1 && (key == 'q' || key == 'Q'))
				return true;
			if (n == 0) /* the terminal went away */
				t->tty_in = false;
		} else if (ready > 0) {
			t->tty_in = false;
		}
	}
}

static void install_handlers(void)
{
	struct sigaction sa = {0};

	/* No SA_RESTART: a signal must end the poll() at once. */
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
}

int gs_top_run(const char *pin_dir, const struct gs_top_opts *opts)
{
	struct top *t = calloc(1, sizeof(*t));
	uint64_t next_ns;
	uint32_t frames = 0;
	int err;

	if (!t)
		return gs_fail(ENOMEM, "out of memory");
	t->pin_dir = pin_dir;
	t->interval_ms = opts->interval_ms;
	gs_state_path(pin_dir, ".decisions.jsonl", t->log_path, sizeof(t->log_path));
	t->win = calloc(GS_MAX_BACKENDS, sizeof(*t->win));
	t->live = calloc(GS_MAX_BACKENDS, sizeof(*t->live));
	if (!t->win || !t->live) {
		free(t->win);
		free(t->live);
		free(t);
		return gs_fail(ENOMEM, "out of memory");
	}
	err = gs_maps_open(pin_dir, &t->maps);
	if (!err) {
		err = gs_collect_init(&t->collect, &t->maps);
		if (err)
			gs_maps_close(&t->maps);
	}
	if (!err && opts->downstream) {
		t->deps = calloc(1, sizeof(*t->deps));
		t->dep_rows = calloc(GS_GROUPS, sizeof(*t->dep_rows));
		if (!t->deps || !t->dep_rows)
			err = gs_fail(ENOMEM, "out of memory");
		else if ((err = gs_dep_reader_open(t->deps, opts->downstream)))
			err = gs_fail(-err, "--downstream %s: %s", opts->downstream,
				      gs_last_error());
		if (err) {
			free(t->deps);
			t->deps = NULL;
			gs_collect_free(&t->collect);
			gs_maps_close(&t->maps);
		}
		/* The first frame shows the first interval, not the history. */
		if (t->deps)
			t->deps->history_is_base = true;
	}
	if (err) {
		free(t->dep_rows);
		free(t->win);
		free(t->live);
		free(t);
		return err;
	}
	t->tty_out = isatty(STDOUT_FILENO);
	t->tty_in = t->tty_out && isatty(STDIN_FILENO);
	install_handlers();
	query_size(t);

	/* The baselines: the first frame then shows a whole interval. */
	err = take_reading(t);
	if (!err)
		terminal_enter(t);
	next_ns = gs_monotonic_ns() + (uint64_t)opts->interval_ms * 1000000;
	while (!err && !wait_until(t, next_ns)) {
		next_ns += (uint64_t)opts->interval_ms * 1000000;
		/* A slow frame delays the next one rather than making a burst. */
		if (next_ns < gs_monotonic_ns())
			next_ns = gs_monotonic_ns() + (uint64_t)opts->interval_ms * 1000000;
		err = take_reading(t);
		if (err)
			break;
		if (t->tty_out)
			query_size(t);
		build_frame(t, opts->interval_ms);
		render(t, frames == 0);
		if (opts->count && ++frames >= opts->count)
			break;
	}
	terminal_leave(t);
	screen_clear(&t->screen);
	free(t->screen.lines);
	gs_collect_free(&t->collect);
	gs_maps_close(&t->maps);
	if (t->deps) {
		gs_maps_close(&t->deps->maps);
		gs_dep_reader_close(t->deps);
	}
	free(t->deps);
	free(t->dep_rows);
	free(t->win);
	free(t->live);
	free(t);
	return err;
}
