// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "clock.h"
#include "error.h"
#include "events.h"
#include "lock.h"
#include "map_iter.h"
#include "maps.h"
#include "names.h"
#include "ops.h"
#include "parse.h"
#include "stopfd.h"

struct dump {
	struct gs_maps maps;
	uint64_t realtime_offset_ns; /* wall clock minus bpf_ktime_get_ns() */
	struct gs_service_key keys[GS_MAX_SERVICES];
	bool known[GS_MAX_SERVICES];
};

static int learn_service(const void *key, const void *value, void *ctx)
{
	const struct gs_service *svc = value;
	struct dump *d = ctx;

	if (svc->id < GS_MAX_SERVICES) {
		memcpy(&d->keys[svc->id], key, sizeof(d->keys[0]));
		d->known[svc->id] = true;
	}
	return 0;
}

static void service_name(struct dump *d, uint32_t id, char *buf, size_t len)
{
	/* A service added since the last look: look again. */
	if (id < GS_MAX_SERVICES && !d->known[id])
		gs_map_foreach(d->maps.services, sizeof(struct gs_service_key),
			       sizeof(struct gs_service), learn_service, d);
	if (id < GS_MAX_SERVICES && d->known[id])
		gs_format_service(&d->keys[id], buf, len);
	else
		snprintf(buf, len, "#%u", id);
}

static int print_event(void *ctx, void *data, size_t size)
{
	const struct gs_event *ev = data;
	struct dump *d = ctx;
	struct json_object *obj;
	char when[GS_ISO_TIME_STRLEN], svc[GS_SERVICE_STRLEN], where[GS_ENDPOINT_STRLEN];
	const char *type;
	struct gs_backend b;

	if (size < sizeof(*ev))
		return 0;
	obj = json_object_new_object();
	gs_format_iso_time(ev->ts_ns + d->realtime_offset_ns, when, sizeof(when));
	json_object_object_add(obj, "time", json_object_new_string(when));
	type = gs_event_type_name(ev->type);
	if (type)
		json_object_object_add(obj, "type", json_object_new_string(type));
	else
		json_object_object_add(obj, "type", json_object_new_int(ev->type));
	service_name(d, ev->service_id, svc, sizeof(svc));
	json_object_object_add(obj, "service", json_object_new_string(svc));
	if (!bpf_map_lookup_elem(d->maps.backends, &ev->backend_id, &b) &&
	    b.state != GS_BACKEND_FREE) {
		gs_format_endpoint(&b.addr, ntohs(b.port), where, sizeof(where));
		json_object_object_add(obj, "backend", json_object_new_string(where));
	} else {
		json_object_object_add(obj, "backend", NULL);
	}
	json_object_object_add(obj, "backend_id", json_object_new_int64(ev->backend_id));
	json_object_object_add(obj, "group", json_object_new_string(gs_group_name(ev->group)));
	switch (ev->type) {
	case GS_EV_CONNECT:
		json_object_object_add(obj, "connect_us", json_object_new_int64(ev->value));
		break;
	case GS_EV_RESPONSE:
		json_object_object_add(obj, "status",
				       ev->value ? json_object_new_int64(ev->value) : NULL);
		json_object_object_add(obj, "ttfb_us", json_object_new_int64(ev->value2));
		break;
	case GS_EV_ANSWER:
		json_object_object_add(obj, "answer_us", json_object_new_int64(ev->value));
		json_object_object_add(obj, "dns_rcode",
				       ev->value2 ? json_object_new_string(gs_dns_rcode_name(
							    (uint8_t)(ev->value2 - 1)))
						  : NULL);
		break;
	case GS_EV_UNREACH:
		break;
	default:
		json_object_object_add(obj, "value", json_object_new_int64(ev->value));
		break;
	}
	printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return 0;
}

static int follow_events(struct ring_buffer *rb)
{
	struct epoll_event ev = {.events = EPOLLIN}, got;
	int sfd = gs_stop_signals_fd(), efd = -1, err = 0, n;

	if (sfd < 0)
		return gs_fail(errno, "signalfd: %s", strerror(errno));
	efd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = sfd;
	if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev)) {
		err = gs_fail(errno, "epoll: %s", strerror(errno));
		goto out;
	}
	ev.data.fd = ring_buffer__epoll_fd(rb);
	if (epoll_ctl(efd, EPOLL_CTL_ADD, ev.data.fd, &ev)) {
		err = gs_fail(errno, "epoll: %s", strerror(errno));
		goto out;
	}
	/* Non-error events wake no one (the data path batches them): look at
	 * least every 100 ms. */
	for (;;) {
		n = epoll_wait(efd, &got, 1, 100);
		if (n < 0 && errno != EINTR) {
			err = gs_fail(errno, "epoll_wait: %s", strerror(errno));
			break;
		}
		if (n > 0 && got.data.fd == sfd)
			break;
		if (ring_buffer__consume(rb) < 0) {
			err = gs_fail(EIO, "cannot read the events ring buffer");
			break;
		}
		fflush(stdout);
	}
out:
	if (efd >= 0)
		close(efd);
	close(sfd);
	return err;
}

int gs_events_dump(const char *pin_dir, bool follow)
{
	struct dump *d = calloc(1, sizeof(*d));
	struct ring_buffer *rb = NULL;
	int lock_fd, err;

	if (!d)
		return gs_fail(ENOMEM, "out of memory");
	lock_fd = gs_lock_consumer(pin_dir, "trace");
	if (lock_fd < 0) {
		free(d);
		return lock_fd;
	}
	err = gs_maps_open(pin_dir, &d->maps);
	if (err)
		goto out;
	d->realtime_offset_ns = gs_realtime_ns() - gs_monotonic_ns();
	gs_map_foreach(d->maps.services, sizeof(struct gs_service_key), sizeof(struct gs_service),
		       learn_service, d);
	rb = ring_buffer__new(d->maps.events, print_event, d, NULL);
	if (!rb) {
		err = gs_fail(errno, "cannot open the events ring buffer: %s", strerror(errno));
		goto out;
	}
	if (follow)
		err = follow_events(rb);
	else if (ring_buffer__consume(rb) < 0)
		err = gs_fail(EIO, "cannot read the events ring buffer");
	fflush(stdout);
out:
	ring_buffer__free(rb);
	gs_maps_close(&d->maps);
	gs_lock_consumer_release(pin_dir, lock_fd);
	free(d);
	return err;
}
