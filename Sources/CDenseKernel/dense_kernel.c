// The MLP engine's inner loop, built twice: for baseline x86-64 and with
// AVX2+FMA, chosen once at run time, so the binary runs on any x86-64 host
// and uses the wider units where they exist. Plain C loops; the compiler
// vectorises them over the 32 rows of a block.
#include "dense_kernel.h"

#define BLOCK 32

#define DENSE_BODY                                                              \
    for (int o = 0; o < outputs; o++) {                                         \
        float *acc = out + o * BLOCK;                                           \
        const float b = bias[o];                                                \
        for (int r = 0; r < BLOCK; r++) acc[r] = b;                             \
        const float *row = w + o * inputs;                                      \
        for (int k = 0; k < inputs; k++) {                                      \
            const float weight = row[k];                                        \
            const float *column = x + k * BLOCK;                                \
            for (int r = 0; r < BLOCK; r++) acc[r] += weight * column[r];       \
        }                                                                       \
        if (relu) for (int r = 0; r < BLOCK; r++) acc[r] = acc[r] > 0 ? acc[r] : 0; \
    }

// One row: the same sums in the same order as one column of a block (bias, then
// k = 0, 1, …), so the planner's single rows and the batch agree bit for bit.
#define ROW_BODY                                                                \
    for (int o = 0; o < outputs; o++) {                                         \
        float acc = bias[o];                                                    \
        const float *row = w + o * inputs;                                      \
        for (int k = 0; k < inputs; k++) acc += row[k] * x[k];                  \
        out[o] = relu && !(acc > 0) ? 0 : acc;                                  \
    }

static void row_baseline(const float *restrict w, const float *restrict bias, const float *restrict x,
                         float *restrict out, int inputs, int outputs, int relu) {
    ROW_BODY
}

static void dense_baseline(const float *restrict w, const float *restrict bias, const float *restrict x,
                           float *restrict out, int inputs, int outputs, int relu) {
    DENSE_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void dense_avx2(const float *restrict w, const float *restrict bias, const float *restrict x,
                       float *restrict out, int inputs, int outputs, int relu) {
    DENSE_BODY
}

__attribute__((target("avx2,fma")))
static void row_avx2(const float *restrict w, const float *restrict bias, const float *restrict x,
                     float *restrict out, int inputs, int outputs, int relu) {
    ROW_BODY
}
#endif

typedef void (*dense_fn)(const float *, const float *, const float *, float *, int, int, int);

static dense_fn choose(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dense_avx2;
#endif
    return dense_baseline;
}

static dense_fn chosen;

void rtv_dense_block32(const float *w, const float *bias, const float *x, float *out,
                       int inputs, int outputs, int relu) {
    dense_fn fn = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (!fn) {
        fn = choose();
        __atomic_store_n(&chosen, fn, __ATOMIC_RELAXED);
    }
    fn(w, bias, x, out, inputs, outputs, relu);
}

static dense_fn chosen_row;

void rtv_dense_row(const float *w, const float *bias, const float *x, float *out,
                   int inputs, int outputs, int relu) {
    dense_fn fn = __atomic_load_n(&chosen_row, __ATOMIC_RELAXED);
    if (!fn) {
#if defined(__x86_64__)
        fn = choose() == dense_avx2 ? row_avx2 : row_baseline;
#else
        fn = row_baseline;
#endif
        __atomic_store_n(&chosen_row, fn, __ATOMIC_RELAXED);
    }
    fn(w, bias, x, out, inputs, outputs, relu);
}

int rtv_dense_uses_avx2(void) {
#if defined(__x86_64__)
    return choose() == dense_avx2;
#else
    return 0;
#endif
}
