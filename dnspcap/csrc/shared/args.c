/*
 * dnspcap._kernel: checking the arguments of the Python entry points (see args.h). Every
 * array is taken through the buffer protocol and checked (element type, dimensions,
 * contiguity, writability) before a kernel sees it; a bad argument raises TypeError or
 * ValueError naming it, never reaches a loop.
 */
#include "args.h"

static int host_little(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Does a struct-module format string describe one native integer of this type? */
static int format_ok(const char *fmt, int type)
{
    if (fmt == NULL)
        return type == A_U8; /* PyBUF_FORMAT not honoured: unsigned bytes */
    if (*fmt == '@' || *fmt == '=')
        fmt++;
    else if (*fmt == '<' || *fmt == '>' || *fmt == '!') {
        int little = *fmt == '<';
        if (little != host_little())
            return 0;
        fmt++;
    }
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    switch (type) {
    case A_I64:
        return fmt[0] == 'l' || fmt[0] == 'q';
    case A_U64:
        return fmt[0] == 'L' || fmt[0] == 'Q';
    case A_U8:
        return fmt[0] == 'B';
    case A_U16:
        return fmt[0] == 'H';
    case A_U32:
        return fmt[0] == 'I' || fmt[0] == 'L'; /* the item size is checked too */
    case A_I32:
        return fmt[0] == 'i' || fmt[0] == 'l';
    case A_CODE:
        return fmt[0] == 'b' || fmt[0] == 'h' || fmt[0] == 'i' || fmt[0] == 'l';
    case A_BOOL8:
        return fmt[0] == '?';
    case A_F64:
        return fmt[0] == 'd';
    }
    return 0;
}

static Py_ssize_t item_size(int type)
{
    switch (type) {
    case A_I64:
    case A_U64:
    case A_F64:
        return 8;
    case A_U16:
        return 2;
    case A_U32:
    case A_I32:
        return 4;
    default:
        return 1;
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case A_I64:
        return "int64";
    case A_U64:
        return "uint64";
    case A_U8:
        return "uint8";
    case A_U16:
        return "uint16";
    case A_U32:
        return "uint32";
    case A_I32:
        return "int32";
    case A_CODE:
        return "int8, int16 or int32";
    case A_F64:
        return "float64";
    default:
        return "bool";
    }
}

/* Get a C-contiguous buffer of the declared element type and number of dimensions.
 * On failure sets TypeError (wrong kind of object or element type) or ValueError (shape,
 * layout, read-only) and returns -1; on success the caller must PyBuffer_Release(view). */
int get_array(PyObject *obj, const Arg *a, Py_buffer *view)
{
    int flags = PyBUF_FORMAT | PyBUF_STRIDES | (a->writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        int type_error = PyErr_ExceptionMatches(PyExc_TypeError);
        PyErr_Clear();
        if (type_error || PyObject_CheckBuffer(obj) == 0)
            PyErr_Format(PyExc_TypeError, "%s: expected a numpy array of %s, got %.100s",
                         a->name, type_name(a->type), Py_TYPE(obj)->tp_name);
        else
            PyErr_Format(PyExc_ValueError, "%s: expected a %scontiguous array of %s", a->name,
                         a->writable ? "writable " : "", type_name(a->type));
        return -1;
    }
    int size_ok = a->type == A_CODE ? view->itemsize == 1 || view->itemsize == 2 ||
                                          view->itemsize == 4
                                    : view->itemsize == item_size(a->type);
    if (!size_ok || !format_ok(view->format, a->type)) {
        PyErr_Format(PyExc_TypeError, "%s: expected an array of %s, got format '%s'", a->name,
                     type_name(a->type), view->format ? view->format : "B");
        goto fail;
    }
    if (view->ndim != a->ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected %d dimension(s), got %d", a->name,
                     a->ndim, view->ndim);
        goto fail;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(PyExc_ValueError, "%s: the array must be C-contiguous", a->name);
        goto fail;
    }
    if (a->ndim == 2 && view->shape[1] != a->inner) {
        PyErr_Format(PyExc_ValueError, "%s: expected shape (n, %d), got (%zd, %zd)", a->name,
                     a->inner, view->shape[0], view->shape[1]);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int get_int(PyObject *obj, const char *name, int64_t *out)
{
    PyObject *i = PyNumber_Index(obj);
    if (i == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s: expected an int, got %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(i);
    Py_DECREF(i);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Fill views/scalars from args per spec; on failure release what was taken. */
int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, const Arg *spec,
               Py_ssize_t nspec, Py_buffer *views, int64_t *scalars)
{
    if (nargs != nspec) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fname,
                     nspec, nargs);
        return -1;
    }
    Py_ssize_t k;
    for (k = 0; k < nspec; k++) {
        const Arg *a = &spec[k];
        views[k].obj = NULL;
        if (a->type == A_INT) {
            if (get_int(args[k], a->name, &scalars[k]) < 0)
                goto fail;
        } else if (a->type == A_FLAG) {
            int t = PyObject_IsTrue(args[k]);
            if (t < 0)
                goto fail;
            scalars[k] = t;
        } else if (a->type == A_REAL) {
            double d = PyFloat_AsDouble(args[k]);
            if (d == -1.0 && PyErr_Occurred())
                goto fail;
            memcpy(&scalars[k], &d, sizeof d);
        } else if (get_array(args[k], a, &views[k]) < 0) {
            views[k].obj = NULL;
            goto fail;
        }
    }
    return 0;
fail:
    for (Py_ssize_t j = 0; j < k; j++)
        if (views[j].obj != NULL)
            PyBuffer_Release(&views[j]);
    return -1;
}

/* The float an A_REAL argument was given. */
double real_arg(int64_t scalar)
{
    double d;
    memcpy(&d, &scalar, sizeof d);
    return d;
}

void release_all(Py_buffer *views, Py_ssize_t n)
{
    for (Py_ssize_t j = 0; j < n; j++)
        if (views[j].obj != NULL)
            PyBuffer_Release(&views[j]);
}

int all_within(const Py_buffer *v, int64_t lo, int64_t hi, const char *name, const char *fname)
{
    const int64_t *x = v->buf;
    const int32_t *x32 = v->buf;
    int wide = v->itemsize == 8;
    for (int64_t i = 0; i < length(v); i++) {
        int64_t xi = wide ? x[i] : x32[i];
        if (xi < lo || xi >= hi) {
            PyErr_Format(PyExc_ValueError, "%s: %s[%lld] = %lld is not within [%lld, %lld)",
                         fname, name, (long long)i, (long long)xi, (long long)lo,
                         (long long)hi);
            return -1;
        }
    }
    return 0;
}
