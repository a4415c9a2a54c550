/*
 * dnspcap._kernel: what the files holding Python entry points share (reading/entries.c:
 * reading captures; reading/entries_text.c: texts by the exact decoder; pairing/entries.c:
 * dnspcap.pairing; grouping/entries.c: dnspcap.grouping; shared/keys.c: integer keys;
 * shared/module.c: the rest). Each entry point declares its arguments as
 * a table of Arg and checks them with parse_args() (shared/args.c) before calling its kernel.
 */
#ifndef DNSPCAP_ARGS_H
#define DNSPCAP_ARGS_H

#include "kernel.h"

/* A_CODE: category codes, signed, of 1, 2 or 4 bytes (pandas narrows them); A_REAL: a
 * Python float, its bits kept in the int64 scalar slot (see real_arg) */
enum { A_I64, A_U64, A_U8, A_U16, A_U32, A_I32, A_CODE, A_BOOL8, A_F64, A_INT, A_FLAG, A_REAL };

typedef struct {
    const char *name;
    int type;     /* A_INT / A_FLAG: a Python scalar; else an array of that element type */
    int ndim;     /* arrays: 1 or 2 */
    int inner;    /* ndim 2: the required length of the second axis */
    int writable; /* the kernel writes into it */
} Arg;

#define RO 0
#define RW 1
#define NARGS(spec) ((Py_ssize_t)(sizeof spec / sizeof spec[0]))

static inline int64_t length(const Py_buffer *v)
{
    return v->ndim == 0 ? 1 : (int64_t)v->shape[0];
}

/* A C-contiguous buffer of the declared element type and dimensions; -1 with TypeError or
 * ValueError set. On success the caller releases view. */
int get_array(PyObject *obj, const Arg *a, Py_buffer *view);
/* Views (arrays) and scalars (ints, flags, float bits) of args per spec; -1 with an error
 * set, having released what it took. */
int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, const Arg *spec,
               Py_ssize_t nspec, Py_buffer *views, int64_t *scalars);
double real_arg(int64_t scalar); /* the float an A_REAL argument was given */
void release_all(Py_buffer *views, Py_ssize_t n);
/* every entry of an int64 or int32 array within [lo, hi) */
int all_within(const Py_buffer *v, int64_t lo, int64_t hi, const char *name, const char *fname);

/* the entry points of the other files, for the method table in shared/module.c */
PyObject *kernel_walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_dns_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_qnames(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_merge_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_pair_assign(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_pair_stats(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_pair_links(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_pair_columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_take_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_gather_ranges(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_scatter_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_merge_ranks(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_group_lookups(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_group_order(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_client_parts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_lookup_signs(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_lookup_sums(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_address_texts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_first_codes(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *kernel_window_pairs(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* sets ipv6_mapped_dotted from what this Python's ipaddress writes; -1 with an error set */
int probe_ipv6_mapped(void);

#endif
