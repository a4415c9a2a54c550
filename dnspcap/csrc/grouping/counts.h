/*
 * Counts of int64 keys (dnspcap._kernel, grouping): how many settled lookups have a key
 * (a base and a port, or a base and a type; lookups.c). Open addressing; a count of 0 is
 * left in place until the table is made again with the live keys only; key -1 marks an
 * empty place.
 */
#ifndef DNSPCAP_COUNTS_H
#define DNSPCAP_COUNTS_H

#include <stdint.h>

/* a 64-bit finaliser (MurmurHash3's): the place of a key in the tables of grouping */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

typedef struct {
    int64_t *key;
    int32_t *n;
    int64_t cap, filled, live;
} Counts;

/* the count of k moved by d (+1 or -1); 0 when out of memory */
int counts_add(Counts *c, int64_t k, int32_t d);
int32_t counts_get(const Counts *c, int64_t k);
void counts_free(Counts *c);

#endif
