/*
 * dnspcap._kernel, merge_ranks(): the rank of every key of k runs, each in ascending order,
 * among all runs' keys, by merging them. dnspcap.findings.scan numbers the transactions of
 * a capture's parts so: each part's keys (its transactions' first message's time, then
 * place) are in order, and a sort of all of them (numpy's stable argsort of 5M times, its
 * ties by place) took 0.1-0.3 s at 10M packets, where a merge takes a few hundredths.
 * With its Python entry point and argument checks.
 */
#include "args.h"

/* whether key a comes before key b: by time, place, then run (numpy's stable argsort of
 * the runs one after another orders equal keys so) */
static inline int before(const RunHead *a, const RunHead *b)
{
    if (__builtin_expect(a->ts == b->ts, 0))
        return a->place != b->place ? a->place < b->place : a->run < b->run;
    return a->ts < b->ts;
}

static void sift_down(RunHead *heap, int64_t n, int64_t at)
{
    RunHead top = heap[at];
    for (;;) {
        int64_t c = 2 * at + 1;
        if (c >= n)
            break;
        c += c + 1 < n && before(&heap[c + 1], &heap[c]); /* no branch to mispredict */
        if (!before(&heap[c], &top))
            break;
        heap[at] = heap[c];
        at = c;
    }
    heap[at] = top;
}

int64_t merge_ranks(const int64_t *const *ts, const int64_t *const *place, const int64_t *len,
                    int64_t k, int64_t *const *rank, int64_t *pos, RunHead *heap)
{
    int64_t n = 0;
    for (int64_t r = 0; r < k; r++) {
        pos[r] = 0;
        for (int64_t i = 1; i < len[r]; i++)
            if (ts[r][i] < ts[r][i - 1] ||
                (ts[r][i] == ts[r][i - 1] && place[r][i] < place[r][i - 1]))
                return r;
        if (len[r] > 0)
            heap[n++] = (RunHead){ts[r][0], place[r][0], r};
    }
    for (int64_t at = n / 2 - 1; at >= 0; at--)
        sift_down(heap, n, at);
    for (int64_t next = 0; n > 0; next++) {
        int64_t r = heap[0].run, i = pos[r]++;
        rank[r][i] = next;
        if (i + 1 < len[r]) {
            heap[0].ts = ts[r][i + 1];
            heap[0].place = place[r][i + 1];
        } else {
            heap[0] = heap[--n];
        }
        sift_down(heap, n, 0);
    }
    return -1;
}

/* merge_ranks(ts, place, rank): ts and place sequences of k int64 arrays (run r's keys),
 * rank one int64 array of their total length, written run after run */
PyObject *kernel_merge_ranks(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    const char *f = "merge_ranks";
    static const Arg key = {"keys", A_I64, 1, 0, RO}, out = {"rank", A_I64, 1, 0, RW};
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes 3 arguments (%zd given)", f, nargs);
        return NULL;
    }
    PyObject *ts = PySequence_Fast(args[0], "merge_ranks: ts must be a sequence of arrays");
    PyObject *place = ts ? PySequence_Fast(args[1], "merge_ranks: place must be a sequence") : NULL;
    Py_ssize_t k = ts ? PySequence_Fast_GET_SIZE(ts) : 0, got = 0;
    Py_buffer *v = NULL, rv;
    rv.obj = NULL;
    void *mem = NULL;
    int64_t bad = -1, total = 0;
    PyObject *result = NULL;
    if (place == NULL)
        goto done;
    if (PySequence_Fast_GET_SIZE(place) != k || k >= INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: ts and place differ in length", f);
        goto done;
    }
    v = PyMem_Calloc((size_t)(2 * k + 1), sizeof *v);
    /* per run: its times, places, ranks (pointers), length, head; the heap */
    mem = PyMem_Malloc((size_t)(k + 1) * (3 * sizeof(int64_t *) + 2 * sizeof(int64_t) +
                                          sizeof(RunHead)));
    if (v == NULL || mem == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t **tp = mem, **pp = tp + k + 1;
    int64_t **rp = (int64_t **)(pp + k + 1), *len = (int64_t *)(rp + k + 1), *pos = len + k + 1;
    RunHead *heap = (RunHead *)(pos + k + 1);
    for (; got < k; got++) {
        if (get_array(PySequence_Fast_GET_ITEM(ts, got), &key, &v[2 * got]) < 0)
            goto done;
        if (get_array(PySequence_Fast_GET_ITEM(place, got), &key, &v[2 * got + 1]) < 0) {
            PyBuffer_Release(&v[2 * got]);
            goto done;
        }
        len[got] = length(&v[2 * got]);
        if (length(&v[2 * got + 1]) != len[got]) {
            PyErr_Format(PyExc_ValueError, "%s: run %zd's ts and place differ in length", f, got);
            got++;
            goto done;
        }
        tp[got] = v[2 * got].buf;
        pp[got] = v[2 * got + 1].buf;
        total += len[got];
    }
    if (get_array(args[2], &out, &rv) < 0)
        goto done;
    if (length(&rv) != total) {
        PyErr_Format(PyExc_ValueError, "%s: rank holds %lld, the runs %lld", f,
                     (long long)length(&rv), (long long)total);
        goto done;
    }
    int64_t *r = rv.buf;
    for (Py_ssize_t j = 0; j < k; r += len[j], j++)
        rp[j] = r;
    Py_BEGIN_ALLOW_THREADS
    bad = merge_ranks(tp, pp, len, k, rp, pos, heap);
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(bad);
done:
    if (rv.obj != NULL)
        PyBuffer_Release(&rv);
    for (Py_ssize_t j = 0; j < 2 * got; j++)
        PyBuffer_Release(&v[j]);
    PyMem_Free(v);
    PyMem_Free(mem);
    Py_XDECREF(ts);
    Py_XDECREF(place);
    return result;
}
