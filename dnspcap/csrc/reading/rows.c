/*
 * dnspcap._kernel, helpers over finished rows: putting rows the exact path appended in their
 * place among the kernel's (dnspcap.reading.accumulator), and counting and mapping category codes.
 * The callers in reading/entries.c and shared/module.c check every bound first.
 */
#include "kernel.h"

void merge_appended(uint8_t *col, int64_t itemsize, int64_t start, int64_t nmain,
                    const int64_t *at, int64_t k, uint8_t *tmp)
{
    if (k == 0)
        return;
    uint8_t *base = col + start * itemsize;
    memcpy(tmp, base + nmain * itemsize, (size_t)(k * itemsize));
    /* from the last appended row back: the main rows after it move up by i + 1 */
    int64_t hi = nmain;
    for (int64_t i = k - 1; i >= 0; i--) {
        int64_t p = at[i];
        memmove(base + (p + i + 1) * itemsize, base + p * itemsize, (size_t)((hi - p) * itemsize));
        memcpy(base + (p + i) * itemsize, tmp + i * itemsize, (size_t)itemsize);
        hi = p;
    }
}

/* One loop per item width, so that the width is not decided per row. Counting keeps four
 * sets of counters, so that runs of one code do not wait on one counter. */
#define COUNT_LOOP(T)                                                                          \
    do {                                                                                       \
        const T *c = (const T *)codes;                                                         \
        int64_t i = 0;                                                                         \
        for (; i + 4 <= n; i += 4) {                                                           \
            T a = c[i], b = c[i + 1], d = c[i + 2], e = c[i + 3];                              \
            if (a >= ncounts || b >= ncounts || d >= ncounts || e >= ncounts)                  \
                break;                                                                         \
            part[a] += 1;                                                                      \
            part[ncounts + b] += 1;                                                            \
            part[2 * ncounts + d] += 1;                                                        \
            part[3 * ncounts + e] += 1;                                                        \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            if (c[i] >= ncounts) {                                                             \
                bad = i;                                                                       \
                break;                                                                         \
            }                                                                                  \
            part[c[i]] += 1;                                                                   \
        }                                                                                      \
    } while (0)

int64_t count_codes(const uint8_t *codes, int64_t itemsize, int64_t n, int64_t *counts,
                    int64_t ncounts, int64_t *part)
{
    int64_t bad = -1;
    memset(part, 0, (size_t)(4 * ncounts) * sizeof *part);
    if (itemsize == 1)
        COUNT_LOOP(uint8_t);
    else if (itemsize == 2)
        COUNT_LOOP(uint16_t);
    else
        COUNT_LOOP(uint32_t);
    for (int64_t k = 0; k < ncounts; k++)
        counts[k] += part[k] + part[ncounts + k] + part[2 * ncounts + k] + part[3 * ncounts + k];
    return bad;
}

#define RECODE_LOOP(T, U)                                                                      \
    do {                                                                                       \
        const T *c = (const T *)codes;                                                         \
        U *o = (U *)out;                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                      \
            if (c[i] >= nlut)                                                                  \
                return i;                                                                      \
            o[i] = (U)lut[c[i]];                                                               \
        }                                                                                      \
    } while (0)
#define RECODE_OUT(T)                                                                          \
    do {                                                                                       \
        if (outsize == 1)                                                                      \
            RECODE_LOOP(T, uint8_t);                                                           \
        else if (outsize == 2)                                                                 \
            RECODE_LOOP(T, uint16_t);                                                          \
        else                                                                                   \
            RECODE_LOOP(T, uint32_t);                                                          \
    } while (0)

int64_t recode(const uint8_t *codes, int64_t itemsize, int64_t n, const int64_t *lut,
               int64_t nlut, uint8_t *out, int64_t outsize)
{
    if (itemsize == 1)
        RECODE_OUT(uint8_t);
    else if (itemsize == 2)
        RECODE_OUT(uint16_t);
    else
        RECODE_OUT(uint32_t);
    return -1;
}
