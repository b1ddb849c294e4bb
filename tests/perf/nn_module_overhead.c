/* nn_module_overhead.c -- what a module's forward costs beyond the run of
 * its packed operator (not a test: ctest does not run it).  Each line times
 * tconv_conv_transpose2d_module_forward and tconv_op_run on THE SAME
 * operator (the one in the module's cache, with the module's workspace),
 * alternately, median of 61 samples; the difference is the module's
 * bookkeeping (weight/shape checks), a few tens of nanoseconds.  (Timing
 * against a separately created operator mixes in the effect of where each
 * operator's buffers landed in memory, which can be several percent.)
 *   gcc -O2 -std=gnu11 -Iinclude -Isrc tests/perf/nn_module_overhead.c build/libtconv.a \
 *       -lm -lpthread -o /tmp/nn_module_overhead && /tmp/nn_module_overhead
 */
#include <tconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "nn/nn_internal.h"
static double now(void){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void *a, const void *b){ double x=*(const double*)a,y=*(const double*)b; return x<y?-1:x>y;}
static void bench(int64_t cin,int64_t cout,int64_t k,int64_t s,int64_t p,const int64_t in[4]){
 tconv_conv_transpose2d_params pr; tconv_conv_transpose2d_params_init(&pr,cin,cout,k,k); pr.stride[0]=pr.stride[1]=s; pr.padding[0]=pr.padding[1]=p;
 tconv_conv_transpose2d_module m; tconv_rng g; tconv_rng_init(&g,1); tconv_conv_transpose2d_module_init(&m,&pr,1,&g);
 int64_t os[4]; tconv_conv_transpose2d_output_shape(&pr,4,in,NULL,0,os); int64_t xn=in[0]*in[1]*in[2]*in[3], yn=os[0]*os[1]*os[2]*os[3];
 float *x=calloc(xn,4),*y=calloc(yn,4); for(int64_t i=0;i<xn;i++) x[i]=(float)(i%7)-3;
 tconv_conv_transpose2d_module_forward(&m,4,in,x,NULL,0,y,yn,NULL);
 tconv_op *op=m.cache->fwd.op; void *ws=m.cache->ws;
 double a[61],b[61]; int inner=1; double t0=now(); tconv_op_run(op,x,y,ws); double d=now()-t0; inner = d>5e-4?1:(int)(5e-4/(d>1e-8?d:1e-8))+1;
 for(int r=0;r<61;r++){ t0=now(); for(int i=0;i<inner;i++) tconv_conv_transpose2d_module_forward(&m,4,in,x,NULL,0,y,yn,NULL); a[r]=(now()-t0)/inner;
   t0=now(); for(int i=0;i<inner;i++) tconv_op_run(op,x,y,ws); b[r]=(now()-t0)/inner; }
 qsort(a,61,8,cmpd); qsort(b,61,8,cmpd);
 printf("ConvT(%ld,%ld,%ld,%ld,%ld) in [%ld,%ld,%ld,%ld]: module %.3f us, op_run on the module's own op %.3f us: %+.2f%% (%+.0f ns)\n",(long)cin,(long)cout,(long)k,(long)s,(long)p,(long)in[0],(long)in[1],(long)in[2],(long)in[3],a[30]*1e6,b[30]*1e6,100*(a[30]-b[30])/b[30],(a[30]-b[30])*1e9);
 tconv_conv_transpose2d_module_free(&m); free(x); free(y);
}
int main(){ bench(4,4,1,1,0,(const int64_t[]){1,4,1,1}); bench(100,128,4,1,0,(const int64_t[]){16,100,1,1}); bench(128,64,4,2,1,(const int64_t[]){16,128,4,4}); bench(512,256,4,2,1,(const int64_t[]){1,512,4,4}); bench(64,3,4,2,1,(const int64_t[]){1,64,32,32}); }
