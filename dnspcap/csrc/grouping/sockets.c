/*
 * The lookups each socket of one client asked: see sockets.h.
 */
#include "grouping/sockets.h"
#include "grouping/counts.h"

#include <stdlib.h>

/* the place of key, or of the empty place where it would go */
static int64_t place(const Sockets *s, int64_t key)
{
    uint64_t mask = (uint64_t)(s->cap - 1), i = mix64((uint64_t)key) & mask;
    while (s->key[i] != -1 && s->key[i] != key)
        i = (i + 1) & mask;
    return (int64_t)i;
}

int64_t sockets_first(const Sockets *s, int64_t key)
{
    if (s->cap == 0)
        return -1;
    int64_t i = place(s, key);
    return s->key[i] == key ? s->head[i] : -1;
}

/* twice as many places, the keys put again (all of them are the client's) */
static int grow(Sockets *s)
{
    int64_t cap = s->cap ? 2 * s->cap : 1024;
    int64_t *key = malloc((size_t)cap * sizeof *key), *head = malloc((size_t)cap * sizeof *head);
    int64_t *used = malloc((size_t)cap * sizeof *used);
    if (key == NULL || head == NULL || used == NULL) {
        free(key);
        free(head);
        free(used);
        return 0;
    }
    for (int64_t i = 0; i < cap; i++)
        key[i] = -1;
    Sockets bigger = *s;
    bigger.key = key;
    bigger.head = head;
    bigger.used = used;
    bigger.cap = cap;
    for (int64_t k = 0; k < s->n; k++) {
        int64_t from = s->used[k], to = place(&bigger, s->key[from]);
        key[to] = s->key[from];
        head[to] = s->head[from];
        used[k] = to;
    }
    free(s->key);
    free(s->head);
    free(s->used);
    *s = bigger;
    return 1;
}

int sockets_add(Sockets *s, int64_t key, int64_t slot, int32_t id)
{
    if (2 * (s->n + 1) > s->cap && !grow(s))
        return 0;
    int64_t e = s->efree;
    if (e >= 0) {
        s->efree = s->e[e].next;
    } else {
        if (s->en == s->ecap) {
            int64_t cap = s->ecap ? 2 * s->ecap : 1024;
            SocketEntry *more = realloc(s->e, (size_t)cap * sizeof *more);
            if (more == NULL)
                return 0;
            s->e = more;
            s->ecap = cap;
        }
        e = s->en++;
    }
    int64_t i = place(s, key);
    if (s->key[i] == -1) {
        s->key[i] = key;
        s->head[i] = -1;
        s->used[s->n++] = i;
    }
    s->e[e].slot = slot;
    s->e[e].id = id;
    s->e[e].next = s->head[i];
    s->head[i] = e;
    return 1;
}

int64_t sockets_unlink(Sockets *s, int64_t key, int64_t prev, int64_t e)
{
    int64_t next = s->e[e].next;
    if (prev >= 0)
        s->e[prev].next = next;
    else
        s->head[place(s, key)] = next;
    s->e[e].next = s->efree;
    s->efree = e;
    return next;
}

void sockets_reset(Sockets *s)
{
    for (int64_t k = 0; k < s->n; k++)
        s->key[s->used[k]] = -1;
    s->n = 0;
    s->en = 0;
    s->efree = -1;
}

void sockets_free(Sockets *s)
{
    free(s->key);
    free(s->head);
    free(s->used);
    free(s->e);
    s->key = s->head = s->used = NULL;
    s->e = NULL;
    s->cap = s->n = s->ecap = s->en = 0;
    s->efree = -1;
}
