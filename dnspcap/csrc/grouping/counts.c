/*
 * Counts of int64 keys: see counts.h.
 */
#include "grouping/counts.h"

#include <stdlib.h>

static int counts_remake(Counts *c)
{
    int64_t cap = 1024;
    while (cap < 4 * (c->live + 1))
        cap *= 2;
    int64_t *key = malloc((size_t)cap * sizeof *key);
    int32_t *n = malloc((size_t)cap * sizeof *n);
    if (key == NULL || n == NULL) {
        free(key);
        free(n);
        return 0;
    }
    for (int64_t i = 0; i < cap; i++)
        key[i] = -1;
    for (int64_t j = 0; j < c->cap; j++) {
        if (c->key[j] < 0 || c->n[j] == 0)
            continue;
        uint64_t i = mix64((uint64_t)c->key[j]) & (uint64_t)(cap - 1);
        while (key[i] != -1)
            i = (i + 1) & (uint64_t)(cap - 1);
        key[i] = c->key[j];
        n[i] = c->n[j];
    }
    free(c->key);
    free(c->n);
    c->key = key;
    c->n = n;
    c->cap = cap;
    c->filled = c->live;
    return 1;
}

int counts_add(Counts *c, int64_t k, int32_t d)
{
    if (2 * (c->filled + 1) > c->cap && !counts_remake(c))
        return 0;
    uint64_t mask = (uint64_t)(c->cap - 1), i = mix64((uint64_t)k) & mask;
    while (c->key[i] != -1) {
        if (c->key[i] == k) {
            c->live -= c->n[i] != 0;
            c->n[i] += d;
            c->live += c->n[i] != 0;
            return 1;
        }
        i = (i + 1) & mask;
    }
    if (d > 0) { /* a decrement always finds its key */
        c->key[i] = k;
        c->n[i] = d;
        c->filled++;
        c->live++;
    }
    return 1;
}

int32_t counts_get(const Counts *c, int64_t k)
{
    if (c->cap == 0)
        return 0;
    uint64_t mask = (uint64_t)(c->cap - 1), i = mix64((uint64_t)k) & mask;
    while (c->key[i] != -1) {
        if (c->key[i] == k)
            return c->n[i];
        i = (i + 1) & mask;
    }
    return 0;
}

void counts_free(Counts *c)
{
    free(c->key);
    free(c->n);
    c->key = NULL;
    c->n = NULL;
    c->cap = c->filled = c->live = 0;
}
