/*
 * dnspcap._kernel, the Python entry points of the exact decoder (reading/decode.c) and of the
 * presentation forms (reading/text.c):
 *
 *   texts()          the text of one column (question name, answers, options, error) of
 *                    each message: what the accumulator (dnspcap.reading.accumulator) renders for
 *                    the keys it meets first
 *   decode()         every field of one message, as dnspcap.reading.dnswire.Decoded (for the tests)
 *   address_texts()  addresses as ipaddress writes them, without making ipaddress objects
 */
#include "args.h"

/* The ASCII text t as a str (every form the decoder writes is ASCII: escapes see to it) */
static PyObject *text_str(const Text *t)
{
    return PyUnicode_DecodeASCII(t->p, (Py_ssize_t)t->n, NULL);
}

static const Arg TEXTS_ARGS[] = {
    {"b", A_U8, 1, 0, RO},
    {"starts", A_I64, 1, 0, RO},
    {"ends", A_I64, 1, 0, RO},
    {"kinds", A_I64, 1, 0, RO},
};

/* Check that every message lies within b and every kind names a column. */
static int check_texts(const Py_buffer *v)
{
    int64_t n = length(&v[1]), size = length(&v[0]);
    const int64_t *starts = v[1].buf, *ends = v[2].buf, *kinds = v[3].buf;
    if (length(&v[2]) != n || length(&v[3]) != n) {
        PyErr_SetString(PyExc_ValueError, "texts: starts, ends and kinds differ in length");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (starts[i] < 0 || starts[i] > ends[i] || ends[i] > size) {
            PyErr_Format(PyExc_ValueError, "texts: message %lld is not within b", (long long)i);
            return -1;
        }
        if ((kinds[i] & 7) < K_QNAME || (kinds[i] & 7) > K_ERROR || (kinds[i] & ~15) != 0) {
            PyErr_Format(PyExc_ValueError, "texts: kind %lld is not a key kind",
                         (long long)kinds[i]);
            return -1;
        }
    }
    return 0;
}

PyObject *kernel_texts(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[4];
    int64_t sc[4];
    PyObject *out = NULL;
    Decoder *d = NULL;
    if (parse_args("texts", args, nargs, TEXTS_ARGS, 4, v, sc) < 0)
        return NULL;
    if (check_texts(v) < 0)
        goto fail;
    int64_t n = length(&v[1]);
    const int64_t *starts = v[1].buf, *ends = v[2].buf, *kinds = v[3].buf;
    const uint8_t *b = v[0].buf;
    d = decoder_new();
    out = PyList_New((Py_ssize_t)n);
    if (d == NULL || out == NULL) {
        if (d == NULL)
            PyErr_NoMemory();
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        if (decode(d, b + starts[i], ends[i] - starts[i]) != E_OK) {
            PyErr_NoMemory();
            goto fail;
        }
        PyObject *s = text_str(&d->text[(kinds[i] & 7) - 1]);
        if (s == NULL)
            goto fail;
        PyList_SET_ITEM(out, (Py_ssize_t)i, s);
    }
    decoder_free(d);
    release_all(v, 4);
    return out;
fail:
    decoder_free(d);
    Py_XDECREF(out);
    release_all(v, 4);
    return NULL;
}

static const Arg DECODE_ARGS[] = {{"payload", A_U8, 1, 0, RO}};

static PyObject *int_or_none(int64_t v)
{
    if (v < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong((long long)v);
}

/* dnswire.Decoded's fields, in its order, from a decoded message */
static PyObject *decoded_tuple(const Decoder *d)
{
    int64_t rcode = -1, opcode = -1;
    if (d->flags >= 0) {
        opcode = (d->flags >> 11) & 0xF;
        rcode = (d->flags & 0xF) | (d->opt_ttl >= 0 ? (d->opt_ttl >> 24) << 4 : 0);
    }
    PyObject *error = d->text[TX_ERROR].n ? text_str(&d->text[TX_ERROR]) : Py_NewRef(Py_None);
    if (error == NULL)
        return NULL;
    return Py_BuildValue(
        "(NNNNLLLLNNNNNNNNN)", int_or_none(d->id), int_or_none(d->flags), int_or_none(opcode),
        int_or_none(rcode), (long long)d->count[0], (long long)d->count[1],
        (long long)d->count[2], (long long)d->count[3], text_str(&d->text[TX_QNAME]),
        int_or_none(d->qtype), int_or_none(d->qclass), text_str(&d->text[TX_ANSWERS]),
        int_or_none(d->min_ttl), int_or_none(d->edns_size),
        PyBool_FromLong(d->opt_ttl >= 0 && (d->opt_ttl & 0x8000) != 0),
        text_str(&d->text[TX_OPTIONS]), error);
}

PyObject *kernel_decode(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[1];
    int64_t sc[1];
    PyObject *out = NULL;
    if (parse_args("decode", args, nargs, DECODE_ARGS, 1, v, sc) < 0)
        return NULL;
    Decoder *d = decoder_new();
    if (d == NULL || decode(d, v[0].buf, length(&v[0])) != E_OK)
        PyErr_NoMemory();
    else
        out = decoded_tuple(d);
    decoder_free(d);
    release_all(v, 1);
    return out;
}

PyObject *kernel_address_texts(PyObject *Py_UNUSED(self), PyObject *const *args,
                               Py_ssize_t nargs)
{
    if (nargs != 1 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "address_texts: expects one list of bytes");
        return NULL;
    }
    PyObject *in = args[0];
    Py_ssize_t n = PyList_GET_SIZE(in);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(in, i);
        Py_ssize_t len = PyBytes_Check(a) ? PyBytes_GET_SIZE(a) : -1;
        if (len != 4 && len != 16) {
            PyErr_Format(PyExc_ValueError, "address_texts: item %zd is not 4 or 16 bytes", i);
            Py_DECREF(out);
            return NULL;
        }
        char text[48];
        const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(a);
        int64_t k = len == 4 ? ipv4_text(p, text) : ipv6_text(p, text);
        PyObject *s = PyUnicode_DecodeASCII(text, (Py_ssize_t)k, NULL);
        if (s == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, s);
    }
    return out;
}

int probe_ipv6_mapped(void)
{
    PyObject *mod = PyImport_ImportModule("ipaddress");
    if (mod == NULL)
        return -1;
    PyObject *addr = PyObject_CallMethod(mod, "IPv6Address", "s", "::ffff:1.2.3.4");
    Py_DECREF(mod);
    if (addr == NULL)
        return -1;
    PyObject *text = PyObject_Str(addr);
    Py_DECREF(addr);
    if (text == NULL)
        return -1;
    ipv6_mapped_dotted = PyUnicode_CompareWithASCIIString(text, "::ffff:1.2.3.4") == 0;
    Py_DECREF(text);
    return 0;
}
