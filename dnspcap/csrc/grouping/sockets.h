/*
 * The lookups of one client that each socket (a base name and a client port) has sent a
 * query of (dnspcap._kernel, grouping; lookups.c). The socket rule of group_lookups takes
 * a query into the newest lookup of one of its readings that its socket already asked;
 * found here, it costs the few lookups of that socket, not a walk of the name's lists
 * (a busy pod's lists hold every lookup of its names of the last gap: thousands).
 *
 * Entries name a lookup by its slot and its number; an entry whose slot holds another
 * lookup now (or none: a dropped lookup's number is -1) is dead, and goes when a search
 * passes it. Everything is one client's: sockets_reset() empties it when the client
 * changes, in the time of the entries that client made.
 */
#ifndef DNSPCAP_SOCKETS_H
#define DNSPCAP_SOCKETS_H

#include <stdint.h>

typedef struct {
    int64_t slot, next; /* next: the socket's next entry, or the next free one; -1 at the end */
    int32_t id;
} SocketEntry;

typedef struct {
    int64_t *key, *head;   /* open addressing: key -1 is an empty place */
    int64_t cap, n;        /* places, and keys in them */
    int64_t *used;         /* the places filled since the last reset */
    SocketEntry *e;
    int64_t ecap, en, efree;
} Sockets;

/* the first entry of a socket's list (-1: none) */
int64_t sockets_first(const Sockets *s, int64_t key);
/* add an entry for the lookup in slot (number id) to the socket's list; 0: out of memory */
int sockets_add(Sockets *s, int64_t key, int64_t slot, int32_t id);
/* take entry e (after prev, -1: the first) off the socket's list; the entry after it */
int64_t sockets_unlink(Sockets *s, int64_t key, int64_t prev, int64_t e);
void sockets_reset(Sockets *s);
void sockets_free(Sockets *s);

#endif
