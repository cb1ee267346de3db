// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>

#include "backends_read.h"
#include "error.h"
#include "map_iter.h"

int gs_backends_read(struct gs_maps *m, struct gs_backend *all)
{
	int err = gs_array_read(m->backends, GS_MAX_BACKENDS, sizeof(*all), all);

	if (err)
		return gs_fail(-err, "cannot read the backends map: %s", strerror(-err));
	return 0;
}
