/* One C call for the register merge of two Distinct sketches: checks the two buffers, then
 * calls the numba-compiled merge kernel (_ell.merge_words, compiled for this CPU, vectorised)
 * through a C function pointer that _ell.merge_function() hands over once.
 *
 * Why: the kernel's work on two 3.6 KB sketches is about half a microsecond; a numba
 * dispatch from Python (unboxing two arrays and an int) adds about 0.25 us, this call with
 * its two buffer look-ups about 0.1 us.
 *
 * set_kernel(address)  the address of a numba cfunc void(uint64 *dst, uint64 *src, int64 m)
 * merge(dst, src)      dst, src: C-contiguous uint64 buffers of the same length 7 * m / 16 + 1
 *                      words (m = 2**p registers, the last word padding); dst writable. The
 *                      same buffer twice is left as it is (a merge with itself changes
 *                      nothing); buffers that partly overlap are refused.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef void (*kernel_t)(uint64_t *, const uint64_t *, int64_t);
static kernel_t kernel = NULL;

static PyObject *
set_kernel(PyObject *self, PyObject *arg)
{
    void *p = PyLong_AsVoidPtr(arg);
    if (p == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "set_kernel needs a function address");
        return NULL;
    }
    kernel = (kernel_t)p;
    Py_RETURN_NONE;
}

static PyObject *
merge(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "merge(dst, src) takes two buffers");
        return NULL;
    }
    if (kernel == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "merge: no kernel set (call set_kernel first)");
        return NULL;
    }
    Py_buffer d, s;
    if (PyObject_GetBuffer(args[0], &d, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &s, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&d);
        return NULL;
    }
    Py_ssize_t words = d.len / 8;
    const char *db = (const char *)d.buf, *sb = (const char *)s.buf;
    const char *err = NULL;
    if (d.len != s.len || d.len % 8 != 0 || words < 8 || (words - 1) % 7 != 0)
        err = "merge needs two register arrays of 7 * 2**p / 16 + 1 words";
    else if (db != sb && db < sb + s.len && sb < db + d.len)
        err = "merge: the two register arrays overlap";
    else if (((uintptr_t)db | (uintptr_t)sb) % 8 != 0)
        err = "merge: the register arrays are not 8-byte aligned";
    if (err == NULL && db != sb)
        kernel((uint64_t *)d.buf, (const uint64_t *)s.buf, (int64_t)((words - 1) / 7) * 16);
    PyBuffer_Release(&d);
    PyBuffer_Release(&s);
    if (err != NULL) {
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_kernel", set_kernel, METH_O, "set_kernel(address): the merge kernel, a numba cfunc void(uint64*, uint64*, int64)."},
    {"merge", (PyCFunction)(void (*)(void))merge, METH_FASTCALL, "merge(dst, src): ExaLogLog registers of src into dst, in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sketchkit.cardinality._ellc", "Distinct's register merge as one C call.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__ellc(void)
{
    return PyModule_Create(&module);
}
