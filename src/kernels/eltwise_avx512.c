/* eltwise_avx512.c -- the element-wise kernels for AVX-512 (16 lanes;
 * built with -mavx512f... by CMake, used only after tc_cpu_has_avx512()). */
#include "kernels.h"

#define TC_NN_VW 16
#define TC_NN_SET tc_eltwise_kernels_avx512
#define TC_NN_NAME "avx512"
#include "eltwise.inc"
