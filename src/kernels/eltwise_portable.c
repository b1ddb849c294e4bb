/* eltwise_portable.c -- the element-wise kernels for any CPU: generic
 * vectors of 8 floats (two SSE2 / NEON registers, or scalars). */
#include "kernels.h"

#define TC_NN_VW 8
#define TC_NN_SET tc_eltwise_kernels_portable
#define TC_NN_NAME "portable"
#include "eltwise.inc"
