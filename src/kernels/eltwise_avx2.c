/* eltwise_avx2.c -- the element-wise kernels for AVX2 (8 lanes; built
 * with -mavx2 -mfma by CMake, used only after tc_cpu_has_avx2_fma()). */
#include "kernels.h"

#define TC_NN_VW 8
#define TC_NN_SET tc_eltwise_kernels_avx2
#define TC_NN_NAME "avx2"
#include "eltwise.inc"
