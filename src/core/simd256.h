/* simd256.h — AVX2 helpers shared by the AVX2 kernels (sgemm.c, loss.c,
 * layer_interaction.c). Include only where <immintrin.h> is in and the
 * caller's target includes AVX2. */
#ifndef STEN_SIMD256_H
#define STEN_SIMD256_H

#include <immintrin.h>
#include <stdint.h>

/* Lanes [0, n) of an 8-float vector, n clamped to [0, 8]: a mask for
 * maskload/maskstore (masked-off lanes are neither read nor written). */
__attribute__((target("avx2"), always_inline)) static inline __m256i sten__lanes8(int64_t n)
{
    const int c = n <= 0 ? 0 : n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
