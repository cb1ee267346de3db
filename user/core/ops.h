/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Control-plane operations on an instance's maps, independent of argv: the
 * CLI calls them, and so do the BPF tests to set up the data path exactly as
 * an operator would. Each validates everything first and changes the maps
 * only once it is sure to succeed (or undoes what it did), so a failed call
 * leaves them as they were. Returns 0 or a negative errno with gs_set_error().
 *
 * One header for them all, for their callers; each operation has its own
 * header, which the operations include among themselves, so that the
 * include graph shows which needs which, without loops.
 */
#ifndef GS_OPS_H
#define GS_OPS_H

#include "backend.h"
#include "backends_read.h"
#include "override.h"
#include "service.h"
#include "split.h"
#include "table.h"

#endif
