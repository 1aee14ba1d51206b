cdef extern from "denormal.h" nogil:
    void nnkit_flush_denormals()
