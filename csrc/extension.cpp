// Python module deep_ei_fast._C: importing it loads this shared library, whose
// static initializers register the ops under torch.ops.deep_ei_fast.
#include <Python.h>

#ifndef TORCH_EXTENSION_NAME
#define TORCH_EXTENSION_NAME _C
#endif

#define DEI_CONCAT_(a, b) a##b
#define DEI_CONCAT(a, b) DEI_CONCAT_(a, b)
#define DEI_STR_(a) #a
#define DEI_STR(a) DEI_STR_(a)

static struct PyModuleDef dei_module = {
    PyModuleDef_HEAD_INIT, DEI_STR(TORCH_EXTENSION_NAME),
    "deep_ei_fast custom ops (registered in torch.ops.deep_ei_fast)", -1, nullptr,
    nullptr, nullptr, nullptr, nullptr};

PyMODINIT_FUNC DEI_CONCAT(PyInit_, TORCH_EXTENSION_NAME)(void) {
  return PyModule_Create(&dei_module);
}
