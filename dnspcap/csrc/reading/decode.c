/*
 * dnspcap._kernel, the exact decoder: dnspcap.reading.dnswire.decode_message in C, for messages the
 * strict checks of reading/dns.c cannot vouch for (malformed, hostile, or only unusual) and for the
 * texts of the keys the kernel meets for the first time. It follows the walk the module
 * docstring of dnspcap/reading/dnswire.py lays down, step for step and check for check, and words
 * every error as it does: the engine-equality and fuzz tests hold the two to the same
 * table. The presentation forms are in reading/text.c.
 */
#include "kernel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const SECTIONS[] = {"answer record", "authority record", "additional record"};
enum { SEC_ANSWER = 0, SEC_AUTHORITY = 1, SEC_ADDITIONAL = 2 };

/* Room a record's text may need: its type name, a separator, and its RDATA's form (the
 * longest per RDATA byte is a TXT byte as \DDD; two names of at most NAME_TEXT_MAX). */
static inline int64_t record_room(int64_t rdlength)
{
    return 64 + 2 * NAME_TEXT_MAX + 6 * rdlength;
}

Decoder *decoder_new(void)
{
    Decoder *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    for (int k = 0; k < N_TEXTS; k++)
        if (!text_room(&d->text[k], 512))
            goto fail;
    if (!text_room(&d->scratch, 512))
        goto fail;
    return d;
fail:
    decoder_free(d);
    return NULL;
}

void decoder_free(Decoder *d)
{
    if (d == NULL)
        return;
    for (int k = 0; k < N_TEXTS; k++)
        text_free(&d->text[k]);
    text_free(&d->scratch);
    free(d);
}

/* The first error met wins (dnswire._Walk.note). */
static void note(Decoder *d, const char *fmt, ...)
{
    Text *e = &d->text[TX_ERROR];
    if (e->n > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(e->p, (size_t)e->cap, fmt, ap);
    va_end(ap);
    e->n = len < 0 ? 0 : len < e->cap ? len : e->cap - 1;
}

/* A name error that stops the walk at an owner name (dnswire._Walk.owner). */
static void stop_at_name(Decoder *d, int err, const char *where, int64_t i)
{
    if (err == NAME_PAST_END)
        note(d, "%s %lld runs past the end of the message", where, (long long)i);
    else
        note(d, "%s in %s %lld", name_phrase(err, 0), where, (long long)i);
}

/* Returns the offset after the questions, or -1 when the walk stops. */
static int64_t questions(Decoder *d, const uint8_t *m, int64_t n, int64_t count, int64_t pos)
{
    for (int64_t i = 1; i <= count; i++) {
        int64_t after;
        int jumps;
        /* only the first question's name is shown; text_room() was done by decode() */
        int err = read_name(d, m, n, pos, n, i == 1 ? &d->text[TX_QNAME] : NULL, &after, &jumps);
        if (err != NAME_OK) {
            stop_at_name(d, err, "question", i);
            return -1;
        }
        pos = after;
        if (pos + 4 > n) {
            note(d, "question %lld runs past the end of the message", (long long)i);
            return -1;
        }
        if (i == 1) {
            d->qtype = be16(m, pos);
            d->qclass = be16(m, pos + 2);
        }
        pos += 4;
    }
    return pos;
}

static void options(Decoder *d, const uint8_t *m, int64_t pos, int64_t end, int64_t i)
{
    Text *t = &d->text[TX_OPTIONS];
    while (pos < end) {
        int64_t code = -1;
        if (pos + 4 <= end) {
            code = be16(m, pos);
            pos += 4 + be16(m, pos + 2);
        }
        if (code < 0 || pos > end) {
            note(d, "additional record %lld: OPT option runs past the record", (long long)i);
            return;
        }
        if (!text_room(t, 32)) {
            d->failed = 1;
            return;
        }
        if (t->n > 0)
            t->p[t->n++] = ',';
        put_option_name(t, code);
    }
}

/* One record's RDATA that is not the first OPT: its text (answers only) and its problem. */
static int rdata(Decoder *d, const uint8_t *m, int64_t n, int sec, int64_t i, int64_t rtype,
                 int64_t rclass, int64_t start, int64_t end)
{
    Text *t = sec == SEC_ANSWER ? &d->text[TX_ANSWERS] : &d->scratch;
    if (!text_room(t, record_room(end - start))) {
        d->failed = 1;
        return 0;
    }
    if (sec != SEC_ANSWER) {
        t->n = 0; /* checked for problems only */
    } else {
        if (t->n > 0) {
            t->p[t->n++] = ';';
            t->p[t->n++] = ' ';
        }
        put_type_name(t, rtype);
        t->p[t->n++] = ' ';
    }
    char problem[PROBLEM_MAX];
    if (rdata_text(d, m, n, rtype, rclass, start, end, t, problem))
        note(d, "%s %lld: %s", SECTIONS[sec], (long long)i, problem);
    return 1;
}

/* Returns the offset after the records, or -1 when the walk stops. */
static int64_t records(Decoder *d, const uint8_t *m, int64_t n, int sec, int64_t count,
                       int64_t pos)
{
    for (int64_t i = 1; i <= count; i++) {
        int64_t after;
        int jumps;
        int err = read_name(d, m, n, pos, n, NULL, &after, &jumps);
        if (err != NAME_OK) {
            stop_at_name(d, err, SECTIONS[sec], i);
            return -1;
        }
        pos = after;
        if (pos + 10 > n) {
            note(d, "%s %lld runs past the end of the message", SECTIONS[sec], (long long)i);
            return -1;
        }
        int64_t rtype = be16(m, pos), rclass = be16(m, pos + 2);
        int64_t ttl = (be16(m, pos + 4) << 16) | be16(m, pos + 6);
        int64_t end = pos + 10 + be16(m, pos + 8);
        pos += 10;
        if (sec == SEC_ANSWER && (d->min_ttl < 0 || ttl < d->min_ttl))
            d->min_ttl = ttl;
        /* only the first OPT counts (RFC 6891 makes more than one a FORMERR) */
        int is_opt = sec == SEC_ADDITIONAL && rtype == 41 && d->opt_ttl < 0;
        if (is_opt) {
            d->opt_ttl = ttl;
            d->edns_size = rclass;
        }
        if (end > n) {
            note(d, "%s %lld runs past the end of the message", SECTIONS[sec], (long long)i);
            return -1;
        }
        if (is_opt)
            options(d, m, pos, end, i);
        else if (!rdata(d, m, n, sec, i, rtype, rclass, pos, end))
            return -1;
        if (d->failed)
            return -1;
        pos = end;
    }
    return pos;
}

int decode(Decoder *d, const uint8_t *m, int64_t n)
{
    for (int k = 0; k < N_TEXTS; k++)
        d->text[k].n = 0;
    d->failed = 0;
    d->qtype = d->qclass = d->min_ttl = d->opt_ttl = d->edns_size = -1;
    d->id = n >= 2 ? be16(m, 0) : -1;
    d->flags = n >= 4 ? be16(m, 2) : -1;
    /* the counts that were captured are still the message's counts (RFC 1035 4.1.1) */
    for (int k = 0; k < 4; k++)
        d->count[k] = n >= 6 + 2 * k ? be16(m, 4 + 2 * k) : 0;
    if (!text_room(&d->text[TX_QNAME], NAME_TEXT_MAX))
        return E_NO_MEMORY;
    if (n < 12) {
        note(d, "message shorter than the 12-byte DNS header");
        return E_OK;
    }
    int64_t pos = questions(d, m, n, d->count[0], 12);
    for (int sec = SEC_ANSWER; sec <= SEC_ADDITIONAL && pos >= 0; sec++)
        pos = records(d, m, n, sec, d->count[1 + sec], pos);
    return d->failed ? E_NO_MEMORY : E_OK;
}
