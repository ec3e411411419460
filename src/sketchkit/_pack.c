/* Pack a Python list of str (or bytes) into one contiguous buffer plus int64 offsets, so the
 * numba hash kernels can read every item's canonical encoding without a Python call per item.
 *
 * Why C: joining a list[str] in Python costs ~55 ns per item (and widens the whole result when
 * one item is non-ASCII), which is most of the time of sketching a token list. Here a compact
 * ASCII str hands over its bytes directly; other strs go through CPython's UTF-8 cache.
 *
 * pack_str(list)   -> (data: bytes, offsets: bytes of n+1 native int64) or None if an element
 *                     is not a str; UnicodeEncodeError for a str that has no UTF-8 (surrogates).
 * pack_bytes(list) -> the same for a list of bytes; None if an element is not bytes.
 *
 * The rest of the file (below pack) holds the kernels of a first `sketchkit topk` in C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
pack(PyObject *list, int want_str)
{
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    /* One pass over the items (each one a likely cache miss), copying into a buffer that
     * doubles when full. No Python code runs here, so the list cannot change under us. */
    Py_ssize_t cap = 8 * n + 64, pos = 0;
    PyObject *data = PyBytes_FromStringAndSize(NULL, cap);
    if (data == NULL)
        return NULL;
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(int64_t));
    if (offsets == NULL)
        goto fail;
    int64_t *off = (int64_t *)PyBytes_AS_STRING(offsets);
    off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        const char *src;
        Py_ssize_t len;
        if (want_str) {
            if (!PyUnicode_Check(item))
                goto not_all;
            if (PyUnicode_IS_COMPACT_ASCII(item)) { /* the common case: its data is its UTF-8 */
                src = (const char *)PyUnicode_DATA(item);
                len = PyUnicode_GET_LENGTH(item);
            } else {
                src = PyUnicode_AsUTF8AndSize(item, &len);
                if (src == NULL)
                    goto fail;
            }
        } else {
            if (!PyBytes_CheckExact(item))
                goto not_all;
            src = PyBytes_AS_STRING(item);
            len = PyBytes_GET_SIZE(item);
        }
        if (pos + len > cap) {
            while (pos + len > cap)
                cap *= 2;
            if (_PyBytes_Resize(&data, cap) < 0)
                goto fail; /* data was freed and set to NULL */
        }
        memcpy(PyBytes_AS_STRING(data) + pos, src, (size_t)len);
        pos += len;
        off[i + 1] = pos;
    }
    if (_PyBytes_Resize(&data, pos) < 0)
        goto fail;
    return Py_BuildValue("(NN)", data, offsets);

not_all:
    Py_XDECREF(data);
    Py_XDECREF(offsets);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(data);
    Py_XDECREF(offsets);
    return NULL;
}

static PyObject *
pack_str(PyObject *self, PyObject *list)
{
    return pack(list, 1);
}

static PyObject *
pack_bytes(PyObject *self, PyObject *list)
{
    return pack(list, 0);
}


/* ------------------------------------------------------------------------------------------
 * The hot path of a first `sketchkit topk` in C, so that it runs without a numba compilation
 * (10-15 s of CPU on a first run): the tokeniser scans of sketchkit._cli.scan, the XXH64 item
 * hash of sketchkit.hashing, and SpaceSaving's update, index and lookup of
 * sketchkit.frequency._tracked. Each function is a line-for-line copy of its numba kernel
 * (same algorithm, same results, bit for bit: tests/test_native.py checks every one against the
 * kernel on random inputs), and the numba kernels stay the fallback when this module is absent.
 * Arrays come in through the buffer protocol (numpy arrays); outputs are written into arrays
 * the caller allocates, or returned as bytearrays the caller wraps with np.frombuffer.
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

/* A C-contiguous buffer of `itemsize`-byte items (writable if asked), read as flat. */
static int
get_buf(PyObject *obj, Buf *b, Py_ssize_t itemsize, int writable, const char *name)
{
    b->held = 0;
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    b->held = 1;
    if (b->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected an array of %zd-byte items", name, itemsize);
        return -1;
    }
    return 0;
}

static void
release(Buf *b, int n)
{
    for (int i = 0; i < n; i++)
        if (b[i].held)
            PyBuffer_Release(&b[i].view);
}

#define LEN(b) ((b).view.len / (b).view.itemsize)

/* ---------------------------------------------------------------- XXH64 (hashing spec item 2) */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rotr64(uint64_t x, int r) { return (x >> r) | (x << (64 - r)); }
static inline uint64_t lane_round(uint64_t acc, uint64_t lane) { return rotl64(acc + lane * P2, 31) * P1; }

static inline uint64_t
avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

static inline uint64_t
read64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int j = 0; j < 8; j++)
        v |= (uint64_t)p[j] << (8 * j);
    return v;
}

static inline uint64_t
read32(const uint8_t *p)
{
    uint64_t v = 0;
    for (int j = 0; j < 4; j++)
        v |= (uint64_t)p[j] << (8 * j);
    return v;
}

static uint64_t
xxh64_span(const uint8_t *buf, uint64_t p, uint64_t end, uint64_t seed)
{
    uint64_t n = end - p, h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        while (p + 32 <= end) {
            v1 = lane_round(v1, read64(buf + p));
            v2 = lane_round(v2, read64(buf + p + 8));
            v3 = lane_round(v3, read64(buf + p + 16));
            v4 = lane_round(v4, read64(buf + p + 24));
            p += 32;
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = (h ^ lane_round(0, v1)) * P1 + P4;
        h = (h ^ lane_round(0, v2)) * P1 + P4;
        h = (h ^ lane_round(0, v3)) * P1 + P4;
        h = (h ^ lane_round(0, v4)) * P1 + P4;
    } else {
        h = seed + P5;
    }
    h += n;
    while (p + 8 <= end) {
        h ^= lane_round(0, read64(buf + p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= read32(buf + p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)buf[p] * P5;
        h = rotl64(h, 11) * P1;
        p += 1;
    }
    return avalanche(h);
}

/* XXH64 of an int64's 8-byte little-endian encoding: one lane, no tail. */
static inline uint64_t
int_hash(uint64_t x, uint64_t item_seed)
{
    uint64_t h = (item_seed + P5 + 8) ^ lane_round(0, x);
    h = rotl64(h, 27) * P1 + P4;
    return avalanche(h);
}

static int
get_u64(PyObject *obj, uint64_t *out)
{
    unsigned long long v = PyLong_AsUnsignedLongLongMask(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* hash_spans(data u8[], offsets i64[n+1], seed, out u64[n]) */
static PyObject *
hash_spans(PyObject *self, PyObject *args)
{
    PyObject *o_data, *o_off, *o_seed, *o_out;
    if (!PyArg_ParseTuple(args, "OOOO", &o_data, &o_off, &o_seed, &o_out))
        return NULL;
    Buf b[3];
    uint64_t seed;
    memset(b, 0, sizeof b);
    if (get_u64(o_seed, &seed) < 0 || get_buf(o_data, &b[0], 1, 0, "data") < 0
        || get_buf(o_off, &b[1], 8, 0, "offsets") < 0 || get_buf(o_out, &b[2], 8, 1, "out") < 0)
        goto fail;
    Py_ssize_t n = LEN(b[1]) - 1;
    if (n < 0 || LEN(b[2]) != n) {
        PyErr_SetString(PyExc_ValueError, "hash_spans: out must have len(offsets) - 1 entries");
        goto fail;
    }
    const uint8_t *data = b[0].view.buf;
    const int64_t *off = b[1].view.buf;
    uint64_t *out = b[2].view.buf;
    Py_ssize_t size = b[0].view.len;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > size) {
            PyErr_SetString(PyExc_ValueError, "hash_spans: offsets out of range");
            goto fail;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = xxh64_span(data, (uint64_t)off[i], (uint64_t)off[i + 1], seed);
    Py_END_ALLOW_THREADS
    release(b, 3);
    Py_RETURN_NONE;
fail:
    release(b, 3);
    return NULL;
}

/* hash_list(list, want_str, seed, out u64[n]) -> True, or None when some item is not a str
 * (want_str) / not a bytes: the XXH64 item hash of each item read straight from the object
 * (a compact ASCII str's data is its UTF-8), with no intermediate buffer. `out` is written
 * only when every item qualifies. */
static PyObject *
hash_list(PyObject *self, PyObject *args)
{
    PyObject *list, *o_seed, *o_out;
    int want_str;
    if (!PyArg_ParseTuple(args, "OpOO", &list, &want_str, &o_seed, &o_out))
        return NULL;
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_TypeError, "hash_list: expected a list");
        return NULL;
    }
    Buf b[1];
    uint64_t seed;
    memset(b, 0, sizeof b);
    if (get_u64(o_seed, &seed) < 0 || get_buf(o_out, &b[0], 8, 1, "out") < 0)
        goto fail;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (LEN(b[0]) != n) {
        PyErr_SetString(PyExc_ValueError, "hash_list: out must have one entry per item");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* check every type before writing anything */
        PyObject *item = PyList_GET_ITEM(list, i);
        if (want_str ? !PyUnicode_Check(item) : !PyBytes_CheckExact(item)) {
            release(b, 1);
            Py_RETURN_NONE;
        }
    }
    uint64_t *out = b[0].view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        const char *src;
        Py_ssize_t len;
        if (!want_str) {
            src = PyBytes_AS_STRING(item);
            len = PyBytes_GET_SIZE(item);
        } else if (PyUnicode_IS_COMPACT_ASCII(item)) {
            src = (const char *)PyUnicode_DATA(item);
            len = PyUnicode_GET_LENGTH(item);
        } else {
            src = PyUnicode_AsUTF8AndSize(item, &len); /* a lone surrogate: UnicodeEncodeError */
            if (src == NULL)
                goto fail;
        }
        out[i] = xxh64_span((const uint8_t *)src, 0, (uint64_t)len, seed);
    }
    release(b, 1);
    Py_RETURN_TRUE;
fail:
    release(b, 1);
    return NULL;
}

/* hash_int64(keys i64[n], seed, out u64[n]) */
static PyObject *
hash_int64(PyObject *self, PyObject *args)
{
    PyObject *o_keys, *o_seed, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_keys, &o_seed, &o_out))
        return NULL;
    Buf b[2];
    uint64_t seed;
    memset(b, 0, sizeof b);
    if (get_u64(o_seed, &seed) < 0 || get_buf(o_keys, &b[0], 8, 0, "keys") < 0
        || get_buf(o_out, &b[1], 8, 1, "out") < 0)
        goto fail;
    if (LEN(b[0]) != LEN(b[1])) {
        PyErr_SetString(PyExc_ValueError, "hash_int64: out must match keys");
        goto fail;
    }
    Py_ssize_t n = LEN(b[0]);
    const uint64_t *keys = b[0].view.buf;
    uint64_t *out = b[1].view.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = int_hash(keys[i], seed);
    release(b, 2);
    Py_RETURN_NONE;
fail:
    release(b, 2);
    return NULL;
}

/* unhash_int64(hashes u64[n], seed, out i64[n]): the inverse of int_hash (see hashing._unhash_int64). */
static PyObject *
unhash_int64(PyObject *self, PyObject *args)
{
    PyObject *o_h, *o_seed, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_h, &o_seed, &o_out))
        return NULL;
    Buf b[2];
    uint64_t seed;
    memset(b, 0, sizeof b);
    if (get_u64(o_seed, &seed) < 0 || get_buf(o_h, &b[0], 8, 0, "hashes") < 0
        || get_buf(o_out, &b[1], 8, 1, "out") < 0)
        goto fail;
    if (LEN(b[0]) != LEN(b[1])) {
        PyErr_SetString(PyExc_ValueError, "unhash_int64: out must match hashes");
        goto fail;
    }
    /* modular inverses of the odd XXH64 primes */
    uint64_t inv1 = P1, inv2 = P2, inv3 = P3;
    for (int k = 0; k < 5; k++) { /* Newton: x <- x(2 - px), doubling the correct bits */
        inv1 *= 2 - P1 * inv1;
        inv2 *= 2 - P2 * inv2;
        inv3 *= 2 - P3 * inv3;
    }
    Py_ssize_t n = LEN(b[0]);
    const uint64_t *hs = b[0].view.buf;
    int64_t *out = b[1].view.buf;
    uint64_t base = seed + P5 + 8;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h = hs[i];
        h ^= h >> 32;
        h *= inv3;
        h ^= (h >> 29) ^ (h >> 58);
        h *= inv2;
        h ^= h >> 33;
        uint64_t t = rotr64((h - P4) * inv1, 27) ^ base;
        out[i] = (int64_t)(rotr64(t * inv1, 31) * inv2);
    }
    release(b, 2);
    Py_RETURN_NONE;
fail:
    release(b, 2);
    return NULL;
}

/* ---------------------------------------------------------------- tracked set (_tracked.py) */
/* queue meta: heap entries, valid (0/1), threshold count, run position, run end, threshold slot */
enum { Q_N = 0, Q_VALID = 1, Q_THR = 2, Q_POS = 3, Q_END = 4, Q_THR_SLOT = 5, Q_META = 6 };

typedef struct {
    uint64_t *keys;
    void *counts, *errors; /* int32 or int64, per `wide` */
    int wide;
    void *index; /* uint16 (idx16) or int32 cells: slot + 1, 0 = empty */
    int idx16;
    Py_ssize_t m, tsize;
    int64_t *meta;
    void *qcount; /* the counts' type */
    int32_t *qslot;
    Py_ssize_t qcap;
    int64_t *qmeta;
} Tracked;

static inline int64_t getc_(const Tracked *t, void *arr, Py_ssize_t s)
{
    return t->wide ? ((int64_t *)arr)[s] : (int64_t)((int32_t *)arr)[s];
}
static inline void setc_(const Tracked *t, void *arr, Py_ssize_t s, int64_t v)
{
    if (t->wide)
        ((int64_t *)arr)[s] = v;
    else
        ((int32_t *)arr)[s] = (int32_t)v;
}

static inline int64_t qget(const Tracked *t, Py_ssize_t i)
{
    return t->wide ? ((int64_t *)t->qcount)[i] : (int64_t)((int32_t *)t->qcount)[i];
}
static inline void qset(const Tracked *t, Py_ssize_t i, int64_t v)
{
    if (t->wide)
        ((int64_t *)t->qcount)[i] = v;
    else
        ((int32_t *)t->qcount)[i] = (int32_t)v;
}

/* The index: linear probing over T cells (any T > m), Robin Hood order: along a run of
 * occupied cells the entries sit in the order of their home cells (the multiply-shift
 * reduction of the key's high 32 bits), so a search stops at the first entry whose home lies
 * past its own, and an insertion shifts the rest of the run one cell on. */
static inline Py_ssize_t ix_get(const void *index, int idx16, Py_ssize_t i)
{
    return idx16 ? (Py_ssize_t)((const uint16_t *)index)[i] : (Py_ssize_t)((const int32_t *)index)[i];
}
static inline void ix_set(void *index, int idx16, Py_ssize_t i, Py_ssize_t v)
{
    if (idx16)
        ((uint16_t *)index)[i] = (uint16_t)v;
    else
        ((int32_t *)index)[i] = (int32_t)v;
}
static inline Py_ssize_t ix_home(uint64_t h, Py_ssize_t tsize)
{
    return (Py_ssize_t)(((h >> 32) * (uint64_t)tsize) >> 32);
}
/* how far cell i lies past home (cyclically) */
static inline Py_ssize_t ix_dist(Py_ssize_t i, Py_ssize_t home, Py_ssize_t tsize)
{
    Py_ssize_t d = i - home;
    return d < 0 ? d + tsize : d;
}

/* The slot of h, or -1 - p where p is the cell where h would go (empty, or the first entry
 * whose home lies past h's). */
static inline Py_ssize_t
find(const void *index, int idx16, Py_ssize_t tsize, const uint64_t *keys, uint64_t h)
{
    Py_ssize_t i = ix_home(h, tsize);
    for (Py_ssize_t d = 0;; d++) {
        Py_ssize_t e = ix_get(index, idx16, i);
        if (e == 0)
            return -1 - i;
        uint64_t k = keys[e - 1];
        if (k == h)
            return e - 1;
        if (ix_dist(i, ix_home(k, tsize), tsize) < d)
            return -1 - i;
        if (++i == tsize)
            i = 0;
    }
}

/* Put slot + 1 into cell p (from find), shifting the run from p one cell on; returns the first
 * cell after the shifted ones (the empty cell that got filled is the one before it). */
static inline Py_ssize_t
index_put(void *index, int idx16, Py_ssize_t tsize, Py_ssize_t p, Py_ssize_t slot)
{
    Py_ssize_t carry = slot + 1, i = p;
    for (;;) {
        Py_ssize_t e = ix_get(index, idx16, i);
        ix_set(index, idx16, i, carry);
        if (++i == tsize)
            i = 0;
        if (e == 0)
            return i;
        carry = e;
    }
}

static inline void
index_insert(void *index, int idx16, Py_ssize_t tsize, const uint64_t *keys, uint64_t h, Py_ssize_t slot)
{
    index_put(index, idx16, tsize, -1 - find(index, idx16, tsize, keys, h), slot);
}

/* The cell holding h (which must be indexed). */
static inline Py_ssize_t
index_cell(const void *index, int idx16, Py_ssize_t tsize, const uint64_t *keys, uint64_t h)
{
    Py_ssize_t i = ix_home(h, tsize);
    while (keys[ix_get(index, idx16, i) - 1] != h)
        if (++i == tsize)
            i = 0;
    return i;
}

/* Empty cell i: the entries after it that are past their home move one cell back. */
static void
index_clear(void *index, int idx16, Py_ssize_t tsize, const uint64_t *keys, Py_ssize_t i)
{
    for (;;) {
        Py_ssize_t j = i + 1 == tsize ? 0 : i + 1;
        Py_ssize_t e = ix_get(index, idx16, j);
        if (e == 0 || ix_home(keys[e - 1], tsize) == j)
            break;
        ix_set(index, idx16, i, e);
        i = j;
    }
    ix_set(index, idx16, i, 0);
}

/* The eviction order: by count, ties by slot number. */
static inline int
before(int64_t c1, int64_t s1, int64_t c2, int64_t s2)
{
    return c1 < c2 || (c1 == c2 && s1 < s2);
}

/* Push onto the heap, which may use the cells before the run's position. */
static void
q_push(Tracked *t, int64_t c, Py_ssize_t s)
{
    int64_t n = t->qmeta[Q_N];
    if (n >= t->qmeta[Q_POS]) {
        t->qmeta[Q_VALID] = 0; /* no room: forget the queue, the next eviction rescans */
        return;
    }
    int64_t i = n;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (before(c, s, qget(t, p), t->qslot[p])) {
            qset(t, i, qget(t, p));
            t->qslot[i] = t->qslot[p];
            i = p;
        } else {
            break;
        }
    }
    qset(t, i, c);
    t->qslot[i] = (int32_t)s;
    t->qmeta[Q_N] = n + 1;
}

/* Put (c, s) at the top of a heap of n entries and sift it down. */
static void
q_sift_down(Tracked *t, int64_t n, int64_t c, Py_ssize_t s)
{
    int64_t i = 0;
    for (;;) {
        int64_t ch = 2 * i + 1;
        if (ch >= n)
            break;
        if (ch + 1 < n && before(qget(t, ch + 1), t->qslot[ch + 1], qget(t, ch), t->qslot[ch]))
            ch += 1;
        if (before(qget(t, ch), t->qslot[ch], c, s)) {
            qset(t, i, qget(t, ch));
            t->qslot[i] = t->qslot[ch];
            i = ch;
        } else {
            break;
        }
    }
    qset(t, i, c);
    t->qslot[i] = (int32_t)s;
}

static void
q_pop(Tracked *t)
{
    int64_t n = t->qmeta[Q_N] - 1;
    t->qmeta[Q_N] = n;
    if (n > 0)
        q_sift_down(t, n, qget(t, n), t->qslot[n]);
}

/* The k-th smallest (0-based) of a[0..n): the value np.partition(a, k)[k] returns. */
static int64_t
select_i64(int64_t *a, Py_ssize_t n, Py_ssize_t k)
{
    Py_ssize_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t x = a[lo + (hi - lo) / 2];
        Py_ssize_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                int64_t tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

/* Stable sort of queue entries [0, n) by count (they come in slot order, so the result is in
 * (count, slot) order): a bottom-up merge sort through `buf` (2n int64). */
static void
q_sort_by_count(Tracked *t, Py_ssize_t n, int64_t *buf)
{
    int64_t *c0 = buf, *s0 = buf + n;
    for (Py_ssize_t w = 1; w < n; w *= 2) {
        for (Py_ssize_t lo = 0; lo < n; lo += 2 * w) {
            Py_ssize_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            Py_ssize_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                if (qget(t, j) < qget(t, i)) {
                    c0[o] = qget(t, j);
                    s0[o++] = t->qslot[j++];
                } else {
                    c0[o] = qget(t, i);
                    s0[o++] = t->qslot[i++];
                }
            }
            while (i < mid) {
                c0[o] = qget(t, i);
                s0[o++] = t->qslot[i++];
            }
            while (j < hi) {
                c0[o] = qget(t, j);
                s0[o++] = t->qslot[j++];
            }
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            qset(t, i, c0[i]);
            t->qslot[i] = (int32_t)s0[i];
        }
    }
}

/* Refill the queue: the `take` live slots smallest in (count, slot), in that order, as the run;
 * the heap empty. Nearly always the smallest counts lie within a few units of each other (the
 * evicted floor plus small weights): then a histogram of the counts just above the minimum
 * gives the threshold count and each entry's place (three branch-free passes over the counts
 * in their own type, no comparisons between entries: q_rescan_close); otherwise the threshold
 * comes from a quickselect and the entries from a stable sort. */
#define KTH_SPAN 256
#define DEFINE_RESCAN_CLOSE(NAME, T)                                                               \
    static int NAME(Tracked *t, const T *counts, Py_ssize_t size, Py_ssize_t take)                 \
    {                                                                                              \
        T mn = counts[0];                                                                          \
        for (Py_ssize_t s = 1; s < size; s++)                                                      \
            mn = counts[s] < mn ? counts[s] : mn;                                                  \
        /* two interleaved histograms (a run of equal counts would otherwise wait on each         \
         * increment); the last bucket gathers everything from KTH_SPAN up */                     \
        Py_ssize_t h0[KTH_SPAN + 1], h1[KTH_SPAN + 1];                                             \
        memset(h0, 0, sizeof h0);                                                                  \
        memset(h1, 0, sizeof h1);                                                                  \
        Py_ssize_t s = 0;                                                                          \
        for (; s + 1 < size; s += 2) {                                                             \
            uint64_t d0 = (uint64_t)((int64_t)counts[s] - (int64_t)mn);                            \
            uint64_t d1 = (uint64_t)((int64_t)counts[s + 1] - (int64_t)mn);                        \
            h0[d0 < KTH_SPAN ? d0 : KTH_SPAN]++;                                                   \
            h1[d1 < KTH_SPAN ? d1 : KTH_SPAN]++;                                                   \
        }                                                                                          \
        if (s < size) {                                                                            \
            uint64_t d0 = (uint64_t)((int64_t)counts[s] - (int64_t)mn);                            \
            h0[d0 < KTH_SPAN ? d0 : KTH_SPAN]++;                                                   \
        }                                                                                          \
        Py_ssize_t below = 0, v; /* entries under the threshold count */                          \
        for (v = 0; v < KTH_SPAN; v++) {                                                           \
            Py_ssize_t here = h0[v] + h1[v];                                                       \
            if (below + here >= take)                                                              \
                break;                                                                             \
            h0[v] = below; /* the count's first position in the run */                            \
            below += here;                                                                         \
        }                                                                                          \
        if (v == KTH_SPAN)                                                                         \
            return 1;                                                                              \
        int64_t thr = (int64_t)mn + v;                                                             \
        /* the threshold count's entries go after all others; an entry that is not taken is       \
         * written to the spare cell at `take` (the queue arrays have qcap + 1 cells) */          \
        h0[v] = below;                                                                             \
        Py_ssize_t thr_slot = -1;                                                                  \
        T *qc = (T *)t->qcount;                                                                    \
        int32_t *qs = t->qslot;                                                                    \
        for (s = 0; s < size; s++) {                                                               \
            T c = counts[s];                                                                       \
            uint64_t d = (uint64_t)((int64_t)c - (int64_t)mn);                                     \
            Py_ssize_t b = d < KTH_SPAN ? (Py_ssize_t)d : KTH_SPAN;                                \
            Py_ssize_t pos = h0[b];                                                                \
            int at = (int64_t)c == thr;                                                            \
            int in = ((int64_t)c < thr) | (at & (pos < take));                                     \
            Py_ssize_t to = in ? pos : take;                                                       \
            h0[b] = pos + in;                                                                      \
            thr_slot = (in & at) ? s : thr_slot;                                                   \
            qc[to] = c;                                                                            \
            qs[to] = (int32_t)s;                                                                   \
        }                                                                                          \
        qc[take] = 0; /* the spare cell back to 0, as the numba kernel leaves it */                \
        qs[take] = 0;                                                                              \
        t->qmeta[Q_THR] = thr;                                                                     \
        t->qmeta[Q_THR_SLOT] = thr_slot;                                                           \
        return 0;                                                                                  \
    }
DEFINE_RESCAN_CLOSE(q_rescan_close32, int32_t)
DEFINE_RESCAN_CLOSE(q_rescan_close64, int64_t)

static int
q_rescan(Tracked *t, Py_ssize_t size)
{
    Py_ssize_t take = t->qcap < size ? t->qcap : size;
    int spread = t->wide ? q_rescan_close64(t, (const int64_t *)t->counts, size, take)
                         : q_rescan_close32(t, (const int32_t *)t->counts, size, take);
    if (spread) {
        int64_t *scratch = PyMem_RawMalloc(sizeof(int64_t) * (size_t)(2 * size));
        if (scratch == NULL)
            return -1;
        for (Py_ssize_t s = 0; s < size; s++)
            scratch[s] = getc_(t, t->counts, s);
        int64_t thr = select_i64(scratch, size, take - 1);
        Py_ssize_t below = 0;
        for (Py_ssize_t s = 0; s < size; s++)
            below += getc_(t, t->counts, s) < thr;
        Py_ssize_t room = take - below, at = 0, n_below = 0, thr_slot = -1;
        for (Py_ssize_t s = 0; s < size; s++) {
            int64_t c = getc_(t, t->counts, s);
            Py_ssize_t to;
            if (c < thr)
                to = n_below++;
            else if (c == thr && at < room)
                to = below + at++;
            else
                continue;
            qset(t, to, c);
            t->qslot[to] = (int32_t)s;
            if (c == thr)
                thr_slot = s;
        }
        q_sort_by_count(t, below, scratch);
        PyMem_RawFree(scratch);
        t->qmeta[Q_THR] = thr;
        t->qmeta[Q_THR_SLOT] = thr_slot;
    }
    t->qmeta[Q_N] = 0;
    t->qmeta[Q_VALID] = 1;
    t->qmeta[Q_POS] = 0;
    t->qmeta[Q_END] = take;
    return 0;
}

/* Where the queue's smallest entry is: the run's next (1), the heap's top (0), or none (-1). */
static inline int
q_top(const Tracked *t)
{
    int64_t pos = t->qmeta[Q_POS];
    if (pos < t->qmeta[Q_END]) {
        if (t->qmeta[Q_N] > 0 && before(qget(t, 0), t->qslot[0], qget(t, pos), t->qslot[pos]))
            return 0;
        return 1;
    }
    return t->qmeta[Q_N] > 0 ? 0 : -1;
}

/* Remove the queue's smallest entry (from where q_top says), and queue (c, s) instead when
 * `requeue`. */
static inline void
q_take_top(Tracked *t, int from_run, int requeue, int64_t c, Py_ssize_t s)
{
    if (from_run) {
        t->qmeta[Q_POS] += 1;
        if (requeue)
            q_push(t, c, s);
    } else if (requeue) {
        q_sift_down(t, t->qmeta[Q_N], c, s);
    } else {
        q_pop(t);
    }
}

/* (c, s) falls at or below the threshold: it belongs in the queue. */
static inline int
q_wants(const Tracked *t, int64_t c, Py_ssize_t s)
{
    return t->qmeta[Q_VALID] == 1 && !before(t->qmeta[Q_THR], t->qmeta[Q_THR_SLOT], c, s);
}

/* The live slot smallest in (count, slot), left as the queue's smallest entry. */
static Py_ssize_t
min_slot(Tracked *t, Py_ssize_t size)
{
    for (;;) {
        int src = t->qmeta[Q_VALID] ? q_top(t) : -1;
        if (src < 0) {
            if (q_rescan(t, size) < 0)
                return -1;
            src = 1;
        }
        Py_ssize_t at = src ? (Py_ssize_t)t->qmeta[Q_POS] : 0;
        Py_ssize_t s = t->qslot[at];
        int64_t c = getc_(t, t->counts, s);
        if (c == qget(t, at))
            return s;
        /* stale (its count grew): back in at its new count while that is at or below the
         * threshold, else out */
        q_take_top(t, src, q_wants(t, c, s), c, s);
    }
}

/* Give h (untracked; `cell` the cell where its search ended) a free slot, or `victim` (the
 * minimum, the queue's smallest entry); return the slot. The new entry goes into `cell` before
 * the victim's is deleted (`cell` is where an insertion would put it now), the victim's slot
 * already holding h so that the deletion's shift sees the new entry's true home. */
static Py_ssize_t
place(Tracked *t, uint64_t h, int64_t count, int64_t error, Py_ssize_t victim, Py_ssize_t cell)
{
    int64_t size = t->meta[0];
    Py_ssize_t slot, old = -1;
    if (size < t->m) {
        slot = (Py_ssize_t)size;
        t->meta[0] = size + 1;
    } else {
        slot = victim;
        old = index_cell(t->index, t->idx16, t->tsize, t->keys, t->keys[slot]);
    }
    t->keys[slot] = h;
    setc_(t, t->counts, slot, count);
    setc_(t, t->errors, slot, error);
    Py_ssize_t end = index_put(t->index, t->idx16, t->tsize, cell, slot);
    if (old >= 0) {
        /* the victim's cell moved on if it was in the shifted run [cell, end) */
        if (ix_dist(old, cell, t->tsize) < ix_dist(end, cell, t->tsize))
            old = old + 1 == t->tsize ? 0 : old + 1;
        index_clear(t->index, t->idx16, t->tsize, t->keys, old);
    }
    int queued = q_wants(t, count, slot);
    if (victim >= 0)
        q_take_top(t, q_top(t), queued, count, slot);
    else if (queued)
        q_push(t, count, slot);
    return slot;
}

/* The eight state arrays of a tracked set from o[0..7] into b[0..7] and t (keys, counts, errors,
 * index, meta, qcount, qslot, qmeta); -1 with an exception when one has the wrong type or they
 * disagree. */
static int
get_tracked(PyObject **o, Buf *b, Tracked *t, const char *who)
{
    if (get_buf(o[0], &b[0], 8, 1, "keys") < 0)
        return -1;
    if (PyObject_GetBuffer(o[1], &b[1].view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        return -1;
    b[1].held = 1;
    t->wide = b[1].view.itemsize == 8;
    if (!t->wide && b[1].view.itemsize != 4) {
        PyErr_SetString(PyExc_TypeError, "counts must be int32 or int64");
        return -1;
    }
    if (PyObject_GetBuffer(o[3], &b[3].view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
        return -1;
    b[3].held = 1;
    t->idx16 = b[3].view.itemsize == 2;
    if (!t->idx16 && b[3].view.itemsize != 4) {
        PyErr_SetString(PyExc_TypeError, "index must be uint16 or int32");
        return -1;
    }
    if (get_buf(o[2], &b[2], b[1].view.itemsize, 1, "errors") < 0 || get_buf(o[4], &b[4], 8, 1, "meta") < 0
        || get_buf(o[5], &b[5], b[1].view.itemsize, 1, "qcount") < 0 || get_buf(o[6], &b[6], 4, 1, "qslot") < 0
        || get_buf(o[7], &b[7], 8, 1, "qmeta") < 0)
        return -1;
    t->keys = b[0].view.buf;
    t->counts = b[1].view.buf;
    t->errors = b[2].view.buf;
    t->index = b[3].view.buf;
    t->m = LEN(b[0]);
    t->tsize = LEN(b[3]);
    t->meta = b[4].view.buf;
    t->qcount = b[5].view.buf;
    t->qslot = b[6].view.buf;
    t->qcap = LEN(b[5]) - 1; /* the last cell is the rescan's spare */
    t->qmeta = b[7].view.buf;
    if (LEN(b[1]) != t->m || LEN(b[2]) != t->m || t->tsize <= t->m || t->tsize > 0xFFFFFFFFLL
        || (t->idx16 && t->m > 0xFFFE) || t->qcap < 1 || LEN(b[6]) != t->qcap + 1 || LEN(b[4]) < 2 || LEN(b[7]) < Q_META
        || t->meta[0] < 0 || t->meta[0] > t->m || t->qmeta[Q_N] < 0 || t->qmeta[Q_N] > t->qmeta[Q_POS]
        || t->qmeta[Q_POS] > t->qmeta[Q_END] || t->qmeta[Q_END] > t->qcap) {
        PyErr_Format(PyExc_ValueError, "%s: inconsistent state arrays", who);
        return -1;
    }
    return 0;
}

/* spacesaving_update(keys, counts, errors, index, meta, qcount, qslot, qmeta, items, raw,
 *                    item_seed, weights, placed): Metwally et al.'s update, weighted, exactly as
 * _tracked.spacesaving_update; `placed` (int64[m], preset to -1) gets, per slot, the batch
 * position of the last item placed in it. */
static PyObject *
spacesaving_update(PyObject *self, PyObject *args)
{
    PyObject *o[13];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &o[10], &o[11], &o[12]))
        return NULL;
    Buf b[11];
    memset(b, 0, sizeof b);
    uint64_t item_seed;
    int raw = PyObject_IsTrue(o[9]);
    if (raw < 0 || get_u64(o[10], &item_seed) < 0)
        return NULL;
    Tracked t;
    if (get_tracked(o, b, &t, "spacesaving_update") < 0 || get_buf(o[8], &b[8], 8, 0, "items") < 0
        || get_buf(o[11], &b[9], 8, 0, "weights") < 0 || get_buf(o[12], &b[10], 8, 1, "placed") < 0)
        goto fail;
    const uint64_t *items = b[8].view.buf;
    const int64_t *weights = b[9].view.buf;
    int64_t *placed = b[10].view.buf;
    Py_ssize_t n = LEN(b[8]);
    int unit = LEN(b[9]) == 0;
    if (LEN(b[10]) != t.m || (!unit && LEN(b[9]) != n)) {
        PyErr_SetString(PyExc_ValueError, "spacesaving_update: inconsistent state arrays");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t w = unit ? 1 : weights[i];
        if (w == 0)
            continue;
        uint64_t h = raw ? int_hash(items[i], item_seed) : items[i];
        Py_ssize_t slot = find(t.index, t.idx16, t.tsize, t.keys, h);
        if (slot >= 0) {
            setc_(&t, t.counts, slot, getc_(&t, t.counts, slot) + w);
            continue;
        }
        Py_ssize_t victim = -1;
        int64_t base;
        if (t.meta[0] < t.m) {
            base = t.meta[1];
        } else {
            victim = min_slot(&t, t.m);
            if (victim < 0) {
                PyErr_NoMemory();
                goto fail;
            }
            base = getc_(&t, t.counts, victim);
            t.meta[1] = base;
        }
        Py_ssize_t s = place(&t, h, base + w, base, victim, -1 - slot);
        placed[s] = i;
    }
    release(b, 11);
    Py_RETURN_NONE;
fail:
    release(b, 11);
    return NULL;
}

/* The index array (uint16 or int32) of rebuild_index and find_many. */
static int
get_index(PyObject *obj, Buf *b, int writable)
{
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    b->held = 1;
    if (b->view.itemsize != 2 && b->view.itemsize != 4) {
        PyErr_SetString(PyExc_TypeError, "index must be uint16 or int32");
        return -1;
    }
    return 0;
}

/* rebuild_index(keys u64[], size, index u16/i32[T]) */
static PyObject *
rebuild_index(PyObject *self, PyObject *args)
{
    PyObject *o_keys, *o_index;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "OnO", &o_keys, &size, &o_index))
        return NULL;
    Buf b[2];
    memset(b, 0, sizeof b);
    if (get_buf(o_keys, &b[0], 8, 0, "keys") < 0 || get_index(o_index, &b[1], 1) < 0)
        goto fail;
    Py_ssize_t tsize = LEN(b[1]);
    int idx16 = b[1].view.itemsize == 2;
    if (size < 0 || size > LEN(b[0]) || size >= tsize || tsize > 0xFFFFFFFFLL || (idx16 && size > 0xFFFF)) {
        PyErr_SetString(PyExc_ValueError, "rebuild_index: inconsistent arrays");
        goto fail;
    }
    void *index = b[1].view.buf;
    const uint64_t *keys = b[0].view.buf;
    memset(index, 0, (size_t)b[1].view.len);
    for (Py_ssize_t s = 0; s < size; s++)
        index_insert(index, idx16, tsize, keys, keys[s], s);
    release(b, 2);
    Py_RETURN_NONE;
fail:
    release(b, 2);
    return NULL;
}

/* find_many(index u16/i32[T], keys u64[], hashes u64[n], out i64[n]): slot of each hash, -1 where untracked */
static PyObject *
find_many(PyObject *self, PyObject *args)
{
    PyObject *o_index, *o_keys, *o_h, *o_out;
    if (!PyArg_ParseTuple(args, "OOOO", &o_index, &o_keys, &o_h, &o_out))
        return NULL;
    Buf b[4];
    memset(b, 0, sizeof b);
    if (get_index(o_index, &b[0], 0) < 0 || get_buf(o_keys, &b[1], 8, 0, "keys") < 0
        || get_buf(o_h, &b[2], 8, 0, "hashes") < 0 || get_buf(o_out, &b[3], 8, 1, "out") < 0)
        goto fail;
    Py_ssize_t tsize = LEN(b[0]), n = LEN(b[2]);
    int idx16 = b[0].view.itemsize == 2;
    if (tsize < 1 || tsize > 0xFFFFFFFFLL || LEN(b[3]) != n) {
        PyErr_SetString(PyExc_ValueError, "find_many: inconsistent arrays");
        goto fail;
    }
    const void *index = b[0].view.buf;
    const uint64_t *keys = b[1].view.buf, *hs = b[2].view.buf;
    int64_t *out = b[3].view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = find(index, idx16, tsize, keys, hs[i]);
        out[i] = slot >= 0 ? slot : -1;
    }
    release(b, 4);
    Py_RETURN_NONE;
fail:
    release(b, 4);
    return NULL;
}

/* ---------------------------------------------------------------- linear sketches (_kernels.py) */
/* CountSketch and Count-Min over a C-contiguous (depth, width) table of int32 or int64
 * counters, with the row hash of the hashing spec (item 4): v = a_r * h + b_r, bucket
 * ((v >> 32) * width) >> 32, sign + when bit 31 of v is set. Keys are item hashes (raw = 0) or
 * raw int64 items hashed here (raw = 1). The same loops as frequency/_kernels.py. */

typedef struct {
    void *table;
    int wide;
    Py_ssize_t depth, width;
    const uint64_t *row_keys;
    const uint64_t *keys;
    Py_ssize_t n;
    int raw;
    uint64_t item_seed;
    const int64_t *weights; /* NULL: every weight is 1 */
} Linear;

static inline void
bucket_sign(const Linear *L, uint64_t h, Py_ssize_t r, Py_ssize_t *b, int *pos)
{
    uint64_t v = h * L->row_keys[2 * r] + L->row_keys[2 * r + 1];
    *b = (Py_ssize_t)(((v >> 32) * (uint64_t)L->width) >> 32);
    *pos = (v & 0x80000000ULL) != 0;
}

static inline uint64_t
lin_key(const Linear *L, Py_ssize_t i)
{
    return L->raw ? int_hash(L->keys[i], L->item_seed) : L->keys[i];
}

static inline int64_t
lin_get(const Linear *L, Py_ssize_t r, Py_ssize_t b)
{
    Py_ssize_t at = r * L->width + b;
    return L->wide ? ((int64_t *)L->table)[at] : (int64_t)((int32_t *)L->table)[at];
}

#define LIN_CHUNK 1024

/* The bucket ((v >> 32) * width) >> 32 as the high word of (v with its low half cleared) *
 * width: the same number in one multiply and no shift, which the scalar loops below are bound
 * by (measured 1.1x on Count-Min, 1.15x on CountSketch). */
static inline uint64_t
lin_bucket(uint64_t v, uint64_t uw)
{
#ifdef __SIZEOF_INT128__
    return (uint64_t)(((unsigned __int128)(v & 0xFFFFFFFF00000000ULL) * uw) >> 64);
#else
    return ((v >> 32) * uw) >> 32;
#endif
}

/* CountSketch's sign as a mask: -1 where bit 31 of v is set (sign +), 0 where it is clear (sign
 * -); a counter then takes away (w ^ s) - s, that is -w or w, and for w = 1 simply s | 1.
 * (gcc and clang shift signed integers arithmetically.) */
#define SIGN_MASK(v) ((int32_t)(uint32_t)(v) >> 31)

/* Hash a chunk of items, then walk it once per row (each pass touches one row of the table;
 * integer additions commute, so the table is the same as item by item). Everything the inner
 * loop reads is copied to locals first: a counter store could otherwise alias them and force
 * a reload per item (measured 3x slower).
 *
 * Two forms, equal bit for bit (tests/test_native.py): SCALAR computes each bucket beside its
 * add; otherwise each row's buckets (and signs) of the chunk are computed first, in a loop the
 * compiler vectorizes when it may use AVX-512 (64-bit multiplies), then added. The vectorized
 * form is only built for AVX-512 (add_rows*_v4, chosen at run time); with SSE2 alone the
 * split costs more than it saves (measured 0.65-0.87x the scalar form). */
#define DEFINE_ADD_ROWS(NAME, T, ATTR, SCALAR)                                                     \
    ATTR static void NAME(const Linear *L, int is_signed)                                          \
    {                                                                                              \
        T *const table = (T *)L->table;                                                            \
        const Py_ssize_t n = L->n, depth = L->depth, width = L->width;                             \
        const uint64_t uw = (uint64_t)width, seed = L->item_seed;                                  \
        const uint64_t *const keys = L->keys;                                                      \
        const int64_t *const weights = L->weights;                                                 \
        uint64_t hashes[LIN_CHUNK];                                                                \
        uint32_t bk[SCALAR ? 1 : LIN_CHUNK];                                                       \
        int32_t sg[SCALAR ? 1 : LIN_CHUNK];                                                        \
        for (Py_ssize_t start = 0; start < n; start += LIN_CHUNK) {                                \
            const Py_ssize_t m = start + LIN_CHUNK < n ? LIN_CHUNK : n - start;                    \
            if (L->raw)                                                                            \
                for (Py_ssize_t i = 0; i < m; i++)                                                 \
                    hashes[i] = int_hash(keys[start + i], seed);                                   \
            else                                                                                   \
                memcpy(hashes, keys + start, sizeof(uint64_t) * (size_t)m);                        \
            const int64_t *const wp = weights ? weights + start : NULL;                            \
            for (Py_ssize_t r = 0; r < depth; r++) {                                               \
                const uint64_t a = L->row_keys[2 * r], c = L->row_keys[2 * r + 1];                 \
                T *const row = table + r * width;                                                  \
                if (SCALAR) {                                                                      \
                    if (is_signed && wp == NULL) {                                                 \
                        for (Py_ssize_t i = 0; i < m; i++) {                                       \
                            const uint64_t v = hashes[i] * a + c;                                  \
                            T *const at = row + lin_bucket(v, uw);                                 \
                            *at = (T)((int64_t)*at - (SIGN_MASK(v) | 1));                          \
                        }                                                                          \
                    } else if (is_signed) {                                                        \
                        for (Py_ssize_t i = 0; i < m; i++) {                                       \
                            const uint64_t v = hashes[i] * a + c;                                  \
                            const int64_t s = SIGN_MASK(v);                                        \
                            T *const at = row + lin_bucket(v, uw);                                 \
                            *at = (T)((int64_t)*at - ((wp[i] ^ s) - s));                           \
                        }                                                                          \
                    } else {                                                                       \
                        for (Py_ssize_t i = 0; i < m; i++) {                                       \
                            T *const at = row + lin_bucket(hashes[i] * a + c, uw);                 \
                            *at = (T)((int64_t)*at + (wp ? wp[i] : 1));                            \
                        }                                                                          \
                    }                                                                              \
                    continue;                                                                      \
                }                                                                                  \
                if (is_signed && wp == NULL) { /* sg: the sign itself, -1 or +1 */                \
                    for (Py_ssize_t i = 0; i < m; i++) {                                           \
                        const uint64_t v = hashes[i] * a + c;                                      \
                        bk[i] = (uint32_t)(((v >> 32) * uw) >> 32);                                \
                        sg[i] = -(SIGN_MASK(v) | 1);                                               \
                    }                                                                              \
                } else if (is_signed) { /* sg: the sign mask */                                    \
                    for (Py_ssize_t i = 0; i < m; i++) {                                           \
                        const uint64_t v = hashes[i] * a + c;                                      \
                        bk[i] = (uint32_t)(((v >> 32) * uw) >> 32);                                \
                        sg[i] = SIGN_MASK(v);                                                      \
                    }                                                                              \
                } else {                                                                           \
                    for (Py_ssize_t i = 0; i < m; i++)                                             \
                        bk[i] = (uint32_t)((((hashes[i] * a + c) >> 32) * uw) >> 32);              \
                }                                                                                  \
                if (is_signed && wp == NULL) {                                                     \
                    Py_ssize_t i = 0;                                                              \
                    for (; i + 1 < m; i += 2) { /* two buckets and two signs per load */           \
                        uint64_t bp, sp;                                                           \
                        memcpy(&bp, bk + i, 8);                                                    \
                        memcpy(&sp, sg + i, 8);                                                    \
                        T *const at0 = row + (uint32_t)bp, *const at1 = row + (bp >> 32);          \
                        *at0 = (T)((int64_t)*at0 + (int32_t)(uint32_t)sp);                         \
                        *at1 = (T)((int64_t)*at1 + (int32_t)(uint32_t)(sp >> 32));                 \
                    }                                                                              \
                    if (i < m)                                                                     \
                        row[bk[i]] = (T)((int64_t)row[bk[i]] + sg[i]);                             \
                } else if (is_signed) {                                                            \
                    for (Py_ssize_t i = 0; i < m; i++) {                                           \
                        const int64_t s = sg[i];                                                   \
                        row[bk[i]] = (T)((int64_t)row[bk[i]] - ((wp[i] ^ s) - s));                 \
                    }                                                                              \
                } else if (wp == NULL) {                                                           \
                    Py_ssize_t i = 0;                                                              \
                    for (; i + 1 < m; i += 2) {                                                    \
                        uint64_t bp;                                                               \
                        memcpy(&bp, bk + i, 8);                                                    \
                        T *const at0 = row + (uint32_t)bp, *const at1 = row + (bp >> 32);          \
                        *at0 = (T)((int64_t)*at0 + 1);                                             \
                        *at1 = (T)((int64_t)*at1 + 1);                                             \
                    }                                                                              \
                    if (i < m)                                                                     \
                        row[bk[i]] = (T)((int64_t)row[bk[i]] + 1);                                 \
                } else {                                                                           \
                    for (Py_ssize_t i = 0; i < m; i++)                                             \
                        row[bk[i]] = (T)((int64_t)row[bk[i]] + wp[i]);                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_ADD_ROWS(add_rows32, int32_t, , 1)
DEFINE_ADD_ROWS(add_rows64, int64_t, , 1)

/* The AVX-512 forms, used where the CPU (and the OS) has AVX-512F/DQ/VL/BW; linear_isa() says
 * which form runs and set_linear_isa(0) forces the scalar one (tests compare the two). */
#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define LIN_V4_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,bmi2,popcnt")))
DEFINE_ADD_ROWS(add_rows32_v4, int32_t, LIN_V4_ATTR, 0)
DEFINE_ADD_ROWS(add_rows64_v4, int64_t, LIN_V4_ATTR, 0)
static int lin_v4_ok = 0; /* the CPU can run the _v4 forms; set once in the module init */
static int lin_use_v4 = 0;
static void
lin_detect(void)
{
    __builtin_cpu_init();
    lin_v4_ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
                && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
                && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
    lin_use_v4 = lin_v4_ok;
}
#else
#define add_rows32_v4 add_rows32
#define add_rows64_v4 add_rows64
static int lin_v4_ok = 0;
static int lin_use_v4 = 0;
static void
lin_detect(void)
{
}
#endif

static PyObject *
linear_isa(PyObject *self, PyObject *noargs)
{
    return PyUnicode_FromString(lin_use_v4 ? "avx512" : "scalar");
}

static PyObject *
set_linear_isa(PyObject *self, PyObject *arg)
{
    int want = PyObject_IsTrue(arg);
    if (want < 0)
        return NULL;
    lin_use_v4 = want && lin_v4_ok;
    return linear_isa(self, NULL);
}

static void
cm_conservative(const Linear *L, Py_ssize_t *idx)
{
    for (Py_ssize_t i = 0; i < L->n; i++) {
        uint64_t h = lin_key(L, i);
        int64_t w = L->weights ? L->weights[i] : 1, lo = 0;
        for (Py_ssize_t r = 0; r < L->depth; r++) {
            Py_ssize_t b;
            int pos;
            bucket_sign(L, h, r, &b, &pos);
            idx[r] = b;
            int64_t c = lin_get(L, r, b);
            if (r == 0 || c < lo)
                lo = c;
        }
        int64_t target = lo + w;
        for (Py_ssize_t r = 0; r < L->depth; r++) {
            Py_ssize_t at = r * L->width + idx[r];
            if (L->wide) {
                if (((int64_t *)L->table)[at] < target)
                    ((int64_t *)L->table)[at] = target;
            } else if ((int64_t)((int32_t *)L->table)[at] < target) {
                ((int32_t *)L->table)[at] = (int32_t)target;
            }
        }
    }
}

static void
sort_small(int64_t *v, Py_ssize_t n)
{
    for (Py_ssize_t a = 1; a < n; a++) {
        int64_t x = v[a];
        Py_ssize_t j = a - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

enum { OP_CS_UPDATE, OP_CM_UPDATE, OP_CM_CONSERVATIVE, OP_CS_ESTIMATE, OP_CM_ESTIMATE, OP_CS_ROWS };

/* linear(op, table, row_keys, keys, raw, item_seed, weights, out): one entry point for the six
 * kernels; `out` (int64[n], or int64[n * depth] for OP_CS_ROWS) is written by the queries and
 * ignored by the updates. Runs without the GIL (the update threads of _threads.py). */
static PyObject *
linear(PyObject *self, PyObject *args)
{
    int op, raw;
    PyObject *o_table, *o_rk, *o_keys, *o_seed, *o_w, *o_out;
    if (!PyArg_ParseTuple(args, "iOOOpOOO", &op, &o_table, &o_rk, &o_keys, &raw, &o_seed, &o_w, &o_out))
        return NULL;
    Buf b[5];
    memset(b, 0, sizeof b);
    Linear L;
    Py_ssize_t *idx = NULL;
    int64_t *vals = NULL;
    if (get_u64(o_seed, &L.item_seed) < 0)
        return NULL;
    if (PyObject_GetBuffer(o_table, &b[0].view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_ND) < 0)
        goto fail;
    b[0].held = 1;
    if (b[0].view.ndim != 2 || (b[0].view.itemsize != 4 && b[0].view.itemsize != 8)) {
        PyErr_SetString(PyExc_TypeError, "linear: table must be a 2-D int32 or int64 array");
        goto fail;
    }
    if (get_buf(o_rk, &b[1], 8, 0, "row_keys") < 0 || get_buf(o_keys, &b[2], 8, 0, "keys") < 0
        || get_buf(o_w, &b[3], 8, 0, "weights") < 0 || get_buf(o_out, &b[4], 8, 1, "out") < 0)
        goto fail;
    L.table = b[0].view.buf;
    L.wide = b[0].view.itemsize == 8;
    L.depth = b[0].view.shape[0];
    L.width = b[0].view.shape[1];
    L.row_keys = b[1].view.buf;
    L.keys = b[2].view.buf;
    L.n = LEN(b[2]);
    L.raw = raw;
    L.weights = LEN(b[3]) ? b[3].view.buf : NULL;
    Py_ssize_t want_out = op == OP_CS_ROWS ? L.n * L.depth : (op >= OP_CS_ESTIMATE ? L.n : 0);
    if (L.depth < 1 || L.width < 1 || L.width > 0xFFFFFFFFLL || LEN(b[1]) != 2 * L.depth
        || (L.weights && LEN(b[3]) != L.n) || LEN(b[4]) < want_out || op < 0 || op > OP_CS_ROWS) {
        PyErr_SetString(PyExc_ValueError, "linear: inconsistent arrays");
        goto fail;
    }
    int64_t *out = b[4].view.buf;
    idx = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)L.depth);
    vals = PyMem_RawMalloc(sizeof(int64_t) * (size_t)L.depth);
    if (idx == NULL || vals == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    if (op == OP_CS_UPDATE || op == OP_CM_UPDATE) {
        if (L.wide)
            (lin_use_v4 ? add_rows64_v4 : add_rows64)(&L, op == OP_CS_UPDATE);
        else
            (lin_use_v4 ? add_rows32_v4 : add_rows32)(&L, op == OP_CS_UPDATE);
    } else if (op == OP_CM_CONSERVATIVE) {
        cm_conservative(&L, idx);
    } else {
        for (Py_ssize_t i = 0; i < L.n; i++) {
            uint64_t h = lin_key(&L, i);
            int64_t lo = 0;
            for (Py_ssize_t r = 0; r < L.depth; r++) {
                Py_ssize_t bk;
                int pos;
                bucket_sign(&L, h, r, &bk, &pos);
                int64_t c = lin_get(&L, r, bk);
                if (op == OP_CM_ESTIMATE) {
                    if (r == 0 || c < lo)
                        lo = c;
                } else {
                    vals[r] = pos ? c : -c;
                }
            }
            if (op == OP_CM_ESTIMATE) {
                out[i] = lo;
            } else if (op == OP_CS_ROWS) {
                memcpy(out + i * L.depth, vals, sizeof(int64_t) * (size_t)L.depth);
            } else {
                sort_small(vals, L.depth);
                out[i] = vals[L.depth / 2];
            }
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(idx);
    PyMem_RawFree(vals);
    release(b, 5);
    Py_RETURN_NONE;
fail:
    PyMem_RawFree(idx);
    PyMem_RawFree(vals);
    release(b, 5);
    return NULL;
}

/* ---------------------------------------------------------------- HeavyHitters (_tracked.py) */
static inline void
lin_add(const Linear *L, Py_ssize_t r, Py_ssize_t b, int64_t w)
{
    Py_ssize_t at = r * L->width + b;
    if (L->wide)
        ((int64_t *)L->table)[at] += w;
    else
        ((int32_t *)L->table)[at] = (int32_t)((int64_t)((int32_t *)L->table)[at] + w);
}

static void
add_item(const Linear *L, uint64_t h, int64_t w)
{
    for (Py_ssize_t r = 0; r < L->depth; r++) {
        Py_ssize_t b;
        int pos;
        bucket_sign(L, h, r, &b, &pos);
        lin_add(L, r, b, pos ? w : -w);
    }
}

/* heavy_update(table, row_keys, keys, counts, errors, index, meta, qcount, qslot, qmeta, items,
 *              raw, item_seed, weights, admit_rank, placed): CountSketch update plus candidate
 * maintenance, exactly as _tracked.heavy_update (see its docstring). */
static PyObject *
heavy_update(PyObject *self, PyObject *args)
{
    PyObject *o[16];
    Py_ssize_t admit_rank;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOnO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7],
                          &o[8], &o[9], &o[10], &o[11], &o[12], &o[13], &admit_rank, &o[15]))
        return NULL;
    Buf b[13];
    memset(b, 0, sizeof b);
    int64_t *vals = NULL;
    Linear L;
    Tracked t;
    int raw = PyObject_IsTrue(o[11]);
    if (raw < 0 || get_u64(o[12], &L.item_seed) < 0)
        return NULL;
    if (PyObject_GetBuffer(o[0], &b[0].view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_ND) < 0)
        goto fail;
    b[0].held = 1;
    if (b[0].view.ndim != 2 || (b[0].view.itemsize != 4 && b[0].view.itemsize != 8)) {
        PyErr_SetString(PyExc_TypeError, "heavy_update: table must be a 2-D int32 or int64 array");
        goto fail;
    }
    if (get_buf(o[1], &b[1], 8, 0, "row_keys") < 0 || get_tracked(o + 2, b + 2, &t, "heavy_update") < 0
        || get_buf(o[10], &b[10], 8, 0, "items") < 0 || get_buf(o[13], &b[11], 8, 0, "weights") < 0
        || get_buf(o[15], &b[12], 8, 1, "placed") < 0)
        goto fail;
    L.table = b[0].view.buf;
    L.wide = b[0].view.itemsize == 8;
    L.depth = b[0].view.shape[0];
    L.width = b[0].view.shape[1];
    L.row_keys = b[1].view.buf;
    L.raw = raw;
    const uint64_t *items = b[10].view.buf;
    const int64_t *weights = b[11].view.buf;
    int64_t *placed = b[12].view.buf;
    Py_ssize_t n = LEN(b[10]);
    int unit = LEN(b[11]) == 0;
    if (L.depth < 1 || L.width < 1 || L.width > 0xFFFFFFFFLL || LEN(b[1]) != 2 * L.depth || admit_rank < 0
        || admit_rank >= L.depth || LEN(b[12]) != t.m || (!unit && LEN(b[11]) != n)) {
        PyErr_SetString(PyExc_ValueError, "heavy_update: inconsistent arrays");
        goto fail;
    }
    vals = PyMem_RawMalloc(sizeof(int64_t) * (size_t)L.depth);
    if (vals == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t half = L.depth / 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t w = unit ? 1 : weights[i];
        if (w == 0)
            continue;
        uint64_t h = raw ? int_hash(items[i], L.item_seed) : items[i];
        Py_ssize_t slot = find(t.index, t.idx16, t.tsize, t.keys, h);
        if (slot >= 0) {
            setc_(&t, t.counts, slot, getc_(&t, t.counts, slot) + w);
            continue;
        }
        for (Py_ssize_t r = 0; r < L.depth; r++) {
            Py_ssize_t bk;
            int pos;
            bucket_sign(&L, h, r, &bk, &pos);
            lin_add(&L, r, bk, pos ? w : -w);
            int64_t c = lin_get(&L, r, bk);
            vals[r] = pos ? c : -c;
        }
        sort_small(vals, L.depth);
        int64_t base = vals[half] - w;
        if (base < 0)
            base = 0;
        int64_t count = base + w;
        Py_ssize_t victim = -1;
        if (t.meta[0] >= t.m) {
            victim = min_slot(&t, t.m);
            if (victim < 0) {
                PyErr_NoMemory();
                goto fail;
            }
            int64_t low_c = getc_(&t, t.counts, victim);
            int64_t probe = vals[admit_rank];
            if (probe < low_c || (probe == low_c && h >= t.keys[victim]))
                continue;
            add_item(&L, t.keys[victim], low_c - getc_(&t, t.errors, victim));
        }
        add_item(&L, h, -w);
        Py_ssize_t s2 = place(&t, h, count, base, victim, -1 - slot);
        placed[s2] = i;
    }
    PyMem_RawFree(vals);
    release(b, 13);
    Py_RETURN_NONE;
fail:
    PyMem_RawFree(vals);
    release(b, 13);
    return NULL;
}

/* ---------------------------------------------------------------- tokeniser scans (_cli/scan.py) */
#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x100000001B3ULL
#define SCAN_MIX 0xFF51AFD7ED558CCDULL

static unsigned char word_byte[256];

static void
init_word_byte(void)
{
    const char *w = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
    for (const char *p = w; *p; p++)
        word_byte[(unsigned char)*p] = 1;
    for (int b = 128; b < 256; b++)
        word_byte[b] = 1;
}

typedef struct {
    int64_t *starts, *ends, *counts;
    Py_ssize_t m, cap_entries;
} Spans;

static int
spans_grow(Spans *sp, Py_ssize_t want)
{
    int64_t *s = PyMem_RawRealloc(sp->starts, sizeof(int64_t) * (size_t)want);
    if (s == NULL)
        return -1;
    sp->starts = s;
    s = PyMem_RawRealloc(sp->ends, sizeof(int64_t) * (size_t)want);
    if (s == NULL)
        return -1;
    sp->ends = s;
    s = PyMem_RawRealloc(sp->counts, sizeof(int64_t) * (size_t)want);
    if (s == NULL)
        return -1;
    sp->counts = s;
    sp->cap_entries = want;
    return 0;
}

/* The distinct spans of buf and their counts, in order of first occurrence (see
 * scan.count_spans); 0 on success, -1 when out of memory. Runs without the GIL. */
static int
scan_spans(const uint8_t *buf, Py_ssize_t n, int lines, Spans *sp)
{
    Py_ssize_t cap = (Py_ssize_t)1 << 14;
    uint64_t *slot_hash = PyMem_RawCalloc((size_t)cap, sizeof(uint64_t));
    int64_t *slot_entry = PyMem_RawMalloc(sizeof(int64_t) * (size_t)cap);
    if (slot_hash == NULL || slot_entry == NULL || spans_grow(sp, cap / 2 + 1) < 0)
        goto oom;
    memset(slot_entry, 0xff, sizeof(int64_t) * (size_t)cap);
    Py_ssize_t m = 0, i = 0;
    while (i < n) {
        uint64_t h = FNV_OFFSET;
        Py_ssize_t s, e;
        if (lines) {
            s = i;
            while (i < n && buf[i] != '\n') {
                h = (h ^ buf[i]) * FNV_PRIME;
                i++;
            }
            e = i;
            if (e > s && buf[e - 1] == '\r') {
                e--;
                h = FNV_OFFSET;
                for (Py_ssize_t k = s; k < e; k++)
                    h = (h ^ buf[k]) * FNV_PRIME;
            }
            i++;
        } else {
            while (i < n && !word_byte[buf[i]])
                i++;
            if (i >= n)
                break;
            s = i;
            while (i < n && word_byte[buf[i]]) {
                h = (h ^ buf[i]) * FNV_PRIME;
                i++;
            }
            e = i;
        }
        h ^= h >> 33;
        h *= SCAN_MIX;
        Py_ssize_t slot = (Py_ssize_t)(h >> 20) & (cap - 1);
        for (;;) {
            int64_t j = slot_entry[slot];
            if (j < 0) {
                slot_entry[slot] = m;
                slot_hash[slot] = h;
                sp->starts[m] = s;
                sp->ends[m] = e;
                sp->counts[m] = 1;
                m++;
                break;
            }
            if (slot_hash[slot] == h && sp->ends[j] - sp->starts[j] == e - s
                && memcmp(buf + sp->starts[j], buf + s, (size_t)(e - s)) == 0) {
                sp->counts[j]++;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (2 * m >= cap) {
            Py_ssize_t old_cap = cap;
            uint64_t *old_hash = slot_hash;
            int64_t *old_entry = slot_entry;
            cap *= 2;
            slot_hash = PyMem_RawCalloc((size_t)cap, sizeof(uint64_t));
            slot_entry = PyMem_RawMalloc(sizeof(int64_t) * (size_t)cap);
            if (slot_hash == NULL || slot_entry == NULL) {
                PyMem_RawFree(old_hash);
                PyMem_RawFree(old_entry);
                goto oom;
            }
            memset(slot_entry, 0xff, sizeof(int64_t) * (size_t)cap);
            for (Py_ssize_t k = 0; k < old_cap; k++) {
                if (old_entry[k] >= 0) {
                    Py_ssize_t sl = (Py_ssize_t)(old_hash[k] >> 20) & (cap - 1);
                    while (slot_entry[sl] >= 0)
                        sl = (sl + 1) & (cap - 1);
                    slot_entry[sl] = old_entry[k];
                    slot_hash[sl] = old_hash[k];
                }
            }
            PyMem_RawFree(old_hash);
            PyMem_RawFree(old_entry);
            if (spans_grow(sp, cap / 2 + 1) < 0)
                goto oom;
        }
    }
    sp->m = m;
    PyMem_RawFree(slot_hash);
    PyMem_RawFree(slot_entry);
    return 0;
oom:
    PyMem_RawFree(slot_hash);
    PyMem_RawFree(slot_entry);
    return -1;
}

static PyObject *
bytearray_of(const void *data, Py_ssize_t nbytes)
{
    return PyByteArray_FromStringAndSize(data, nbytes);
}

/* count_spans(buf u8[], lines) -> (starts, ends, counts) as bytearrays of int64 */
static PyObject *
count_spans(PyObject *self, PyObject *args)
{
    PyObject *o_buf;
    int lines;
    if (!PyArg_ParseTuple(args, "Op", &o_buf, &lines))
        return NULL;
    Buf b[1];
    memset(b, 0, sizeof b);
    if (get_buf(o_buf, &b[0], 1, 0, "buf") < 0) {
        release(b, 1);
        return NULL;
    }
    Spans sp = {NULL, NULL, NULL, 0, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = scan_spans(b[0].view.buf, b[0].view.len, lines, &sp);
    Py_END_ALLOW_THREADS
    release(b, 1);
    PyObject *res = NULL;
    if (rc < 0) {
        PyErr_NoMemory();
    } else {
        Py_ssize_t nb = sp.m * (Py_ssize_t)sizeof(int64_t);
        res = Py_BuildValue("(NNN)", bytearray_of(sp.starts, nb), bytearray_of(sp.ends, nb),
                            bytearray_of(sp.counts, nb));
    }
    PyMem_RawFree(sp.starts);
    PyMem_RawFree(sp.ends);
    PyMem_RawFree(sp.counts);
    return res;
}

/* join_spans(buf, starts, ends) -> (joined: bytes, wide: bytearray of 0/1 per span) */
static PyObject *
join_spans(PyObject *self, PyObject *args)
{
    PyObject *o_buf, *o_s, *o_e;
    if (!PyArg_ParseTuple(args, "OOO", &o_buf, &o_s, &o_e))
        return NULL;
    Buf b[3];
    memset(b, 0, sizeof b);
    PyObject *joined = NULL, *wide = NULL;
    if (get_buf(o_buf, &b[0], 1, 0, "buf") < 0 || get_buf(o_s, &b[1], 8, 0, "starts") < 0
        || get_buf(o_e, &b[2], 8, 0, "ends") < 0)
        goto fail;
    Py_ssize_t m = LEN(b[1]), n = b[0].view.len;
    if (LEN(b[2]) != m) {
        PyErr_SetString(PyExc_ValueError, "join_spans: starts and ends differ in length");
        goto fail;
    }
    const uint8_t *buf = b[0].view.buf;
    const int64_t *st = b[1].view.buf, *en = b[2].view.buf;
    Py_ssize_t total = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        if (st[j] < 0 || st[j] > en[j] || en[j] > n) {
            PyErr_SetString(PyExc_ValueError, "join_spans: span out of range");
            goto fail;
        }
        total += en[j] - st[j] + 1;
    }
    joined = PyBytes_FromStringAndSize(NULL, total > 0 ? total - 1 : 0);
    wide = PyByteArray_FromStringAndSize(NULL, m);
    if (joined == NULL || wide == NULL)
        goto fail;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(joined);
    uint8_t *wd = (uint8_t *)PyByteArray_AS_STRING(wide);
    Py_ssize_t p = 0;
    for (Py_ssize_t j = 0; j < m; j++) {
        if (j)
            out[p++] = '\n';
        uint8_t any = 0;
        for (int64_t k = st[j]; k < en[j]; k++) {
            uint8_t c = buf[k];
            out[p++] = c;
            any |= c;
        }
        wd[j] = any >= 128;
    }
    release(b, 3);
    return Py_BuildValue("(NN)", joined, wide);
fail:
    Py_XDECREF(joined);
    Py_XDECREF(wide);
    release(b, 3);
    return NULL;
}

/* first_invalid_utf8(buf, start) -> offset of the first byte at or after start that starts an
 * invalid UTF-8 sequence (what Python's strict decoder refuses), or -1 */
static PyObject *
first_invalid_utf8(PyObject *self, PyObject *args)
{
    PyObject *o_buf;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "On", &o_buf, &start))
        return NULL;
    Buf b[1];
    memset(b, 0, sizeof b);
    if (get_buf(o_buf, &b[0], 1, 0, "buf") < 0) {
        release(b, 1);
        return NULL;
    }
    const uint8_t *buf = b[0].view.buf;
    Py_ssize_t n = b[0].view.len, i = start < 0 ? 0 : start, bad = -1;
    while (i < n) {
        uint8_t c0 = buf[i];
        if (c0 < 0x80) {
            i++;
            continue;
        }
        int need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c0 >= 0xC2 && c0 <= 0xDF)
            need = 1;
        else if (c0 == 0xE0)
            need = 2, lo = 0xA0;
        else if ((c0 >= 0xE1 && c0 <= 0xEC) || c0 == 0xEE || c0 == 0xEF)
            need = 2;
        else if (c0 == 0xED)
            need = 2, hi = 0x9F;
        else if (c0 == 0xF0)
            need = 3, lo = 0x90;
        else if (c0 >= 0xF1 && c0 <= 0xF3)
            need = 3;
        else if (c0 == 0xF4)
            need = 3, hi = 0x8F;
        else {
            bad = i;
            break;
        }
        if (i + need >= n) {
            bad = i;
            break;
        }
        uint8_t c = buf[i + 1];
        if (c < lo || c > hi) {
            bad = i;
            break;
        }
        int ok = 1;
        for (int k = 2; k <= need; k++) {
            c = buf[i + k];
            if (c < 0x80 || c > 0xBF) {
                ok = 0;
                break;
            }
        }
        if (!ok) {
            bad = i;
            break;
        }
        i += need + 1;
    }
    release(b, 1);
    return PyLong_FromSsize_t(bad);
}

static PyMethodDef methods[] = {
    {"pack_str", pack_str, METH_O, "Pack a list of str as UTF-8: (data, int64 offsets) or None."},
    {"pack_bytes", pack_bytes, METH_O, "Pack a list of bytes: (data, int64 offsets) or None."},
    {"hash_spans", hash_spans, METH_VARARGS, "XXH64 of each span: hash_spans(data, offsets, seed, out)."},
    {"hash_list", hash_list, METH_VARARGS, "XXH64 item hash of a list of str or bytes: hash_list(list, want_str, seed, out)."},
    {"hash_int64", hash_int64, METH_VARARGS, "Item hash of int64 keys: hash_int64(keys, seed, out)."},
    {"unhash_int64", unhash_int64, METH_VARARGS, "Inverse of hash_int64: unhash_int64(hashes, seed, out)."},
    {"spacesaving_update", spacesaving_update, METH_VARARGS, "SpaceSaving update (see _tracked.py)."},
    {"rebuild_index", rebuild_index, METH_VARARGS, "Index of slots 0..size-1 (see _tracked.py)."},
    {"find_many", find_many, METH_VARARGS, "Slot of each hash, -1 where untracked (see _tracked.py)."},
    {"heavy_update", heavy_update, METH_VARARGS, "HeavyHitters update (see _tracked.py)."},
    {"linear", linear, METH_VARARGS, "CountSketch/Count-Min update or query (see _kernels.py)."},
    {"linear_isa", linear_isa, METH_NOARGS, "Which form of the linear updates runs: 'avx512' or 'scalar'."},
    {"set_linear_isa", set_linear_isa, METH_O, "set_linear_isa(flag): use the AVX-512 form where the CPU has it."},
    {"count_spans", count_spans, METH_VARARGS, "Distinct words or lines and their counts (see _cli/scan.py)."},
    {"join_spans", join_spans, METH_VARARGS, "Spans joined by newlines, and a non-ASCII flag per span."},
    {"first_invalid_utf8", first_invalid_utf8, METH_VARARGS, "Offset of the first invalid UTF-8 byte, or -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sketchkit._pack", "Compiled helpers: list packing, hashing, SpaceSaving, tokeniser scans.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__pack(void)
{
    init_word_byte();
    lin_detect();
    return PyModule_Create(&module);
}
