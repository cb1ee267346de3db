/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Parsers for everything an operator types: endpoints, CIDRs, percentages,
 * protocol, group and hash names. Each returns 0 or a negative errno with a
 * one-line message set through gs_set_error(); outputs are untouched on error.
 */
#ifndef GS_PARSE_H
#define GS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graysplit.h"

/*
 * "10.0.0.10:80", "[fd00::1]:80", and with port_optional also "10.0.0.10" or
 * "fd00::1" / "[fd00::1]" (then *port is 0). Port 1..65535, host order.
 */
int gs_parse_endpoint(const char *s, bool port_optional, union gs_addr *addr, uint16_t *port);

/* "10.1.0.0/16", "fd00::/64", or a bare address (full length). The prefix is
 * returned on the 128-bit (v4-mapped) scale; host bits must be zero. */
int gs_parse_cidr(const char *s, union gs_addr *addr, uint32_t *prefixlen128);

/* "10", "0.5", "12.25", "10%", "0.0001": 0..100 with at most 4 decimals,
 * returned in parts per million. */
int gs_parse_percent(const char *s, uint32_t *ppm);

int gs_parse_proto(const char *s, uint8_t *proto);	   /* tcp | udp */
int gs_parse_group(const char *s, uint8_t *group);	   /* stable | canary */
int gs_parse_hash_mode(const char *s, uint8_t *hash_mode); /* flow | client */
/* A dependency's protocol (enum gs_dep_proto): tcp | postgres | redis | http */
int gs_parse_dep_proto(const char *s, uint8_t *proto);
const char *gs_dep_proto_name(uint8_t proto);
int gs_parse_u32(const char *s, uint32_t min, uint32_t max, const char *what, uint32_t *out);

/* "0", "500ms", "30s", "2m", "1h": a whole number and a unit, in ms, at most
 * max_ms. */
int gs_parse_duration_ms(const char *s, uint32_t max_ms, uint32_t *ms);

/* A plain decimal ("0.01", "1.5", "2") with at most `decimals` decimals,
 * returned scaled by 10^decimals (decimals <= 9); scaled value in min..max. */
int gs_parse_fixed(const char *s, unsigned int decimals, uint32_t min, uint32_t max,
		   const char *what, uint32_t *out);

/* Text forms. gs_format_addr writes "10.0.0.1" or "fd00::1" (no brackets). */
#define GS_ADDR_STRLEN 46
void gs_format_addr(const union gs_addr *addr, char *buf, size_t len);
/* "10.0.0.1:80" or "[fd00::1]:80" */
#define GS_ENDPOINT_STRLEN (GS_ADDR_STRLEN + 8)
void gs_format_endpoint(const union gs_addr *addr, uint16_t port, char *buf, size_t len);
const char *gs_proto_name(uint8_t proto);
const char *gs_group_name(uint8_t group);
const char *gs_hash_mode_name(uint8_t hash_mode);
/* ppm -> percent as a double, exact to 4 decimals */
double gs_ppm_to_percent(uint32_t ppm);

#endif
