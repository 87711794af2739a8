#ifndef RTVIRTIO_DENSE_KERNEL_H
#define RTVIRTIO_DENSE_KERNEL_H

/// One dense layer over a block of 32 rows stored unit-major (x[k * 32 + r]):
/// out[o * 32 + r] = bias[o] + sum_k w[o * inputs + k] * x[k * 32 + r], then ReLU if relu != 0.
/// Runs the AVX2+FMA build of the loop when the CPU has them, else the baseline x86-64 one.
void rtv_dense_block32(const float *w, const float *bias, const float *x, float *out,
                       int inputs, int outputs, int relu);

/// One dense layer over one row (x[k]): out[o] = bias[o] + sum_k w[o * inputs + k] * x[k], then
/// ReLU; the same arithmetic, in the same order and build, as one row of rtv_dense_block32.
void rtv_dense_row(const float *w, const float *bias, const float *x, float *out,
                   int inputs, int outputs, int relu);

/// 1 when the AVX2+FMA path is in use (for the benchmark's report).
int rtv_dense_uses_avx2(void);

#endif
