/* rng.c — Philox4x32-10 (Salmon et al., SC'11), a counter-based generator:
 * value n of stream s under seed k is a pure function of (k, s, n), so any
 * thread can produce any value and results never depend on scheduling. */
#include "core_int.h"

#include <string.h>

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void sten_philox4x32(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void sten_rng_init(sten_rng *r, uint64_t seed, uint64_t stream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[2] = (uint32_t)stream;
    r->ctr[3] = (uint32_t)(stream >> 32);
    sten_rng_seek(r, 0);
}

/* ctr[0..1] holds the index of the block that buf will be refilled from. */
static void refill(sten_rng *r)
{
    sten_philox4x32(r->ctr, r->key, r->buf);
    if (++r->ctr[0] == 0)
        r->ctr[1]++;
    r->used = 0;
}

void sten_rng_seek(sten_rng *r, uint64_t n)
{
    const uint64_t block = n / 4;
    r->ctr[0] = (uint32_t)block;
    r->ctr[1] = (uint32_t)(block >> 32);
    refill(r);
    r->used = (unsigned)(n % 4);
}

uint32_t sten_rng_u32(sten_rng *r)
{
    if (r->used == 4)
        refill(r);
    return r->buf[r->used++];
}

float sten_rng_uniform(sten_rng *r)
{
    return (float)(sten_rng_u32(r) >> 8) * 0x1.0p-24f;
}

/* Blocks block0 .. block0+15 of stream (s0, s1) under key (k0, k1), their
 * four values each into out: sten_philox4x32 sixteen times. */
static void philox16(uint32_t k0, uint32_t k1, uint64_t block0, uint32_t s0, uint32_t s1,
                     uint32_t out[64])
{
    for (int i = 0; i < 16; i++) {
        const uint64_t b = block0 + (uint64_t)i;
        const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), s0, s1}, key[2] = {k0, k1};
        sten_philox4x32(ctr, key, out + 4 * i);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PH512 __attribute__((target("avx512f")))

/* The high 32 bits of each lane's 32 x 32-bit product a m. */
PH512 static inline __m512i mulhi32(__m512i a, __m512i m)
{
    const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(a, m), 32);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

/* philox16 with the sixteen blocks in the lanes of AVX-512 vectors. */
PH512 static void philox16_512(uint32_t k0, uint32_t k1, uint64_t block0, uint32_t s0, uint32_t s1,
                               uint32_t out[64])
{
    uint32_t lo[16], hi[16];
    for (int i = 0; i < 16; i++) {
        const uint64_t b = block0 + (uint64_t)i;
        lo[i] = (uint32_t)b, hi[i] = (uint32_t)(b >> 32);
    }
    __m512i c0 = _mm512_loadu_si512(lo), c1 = _mm512_loadu_si512(hi);
    __m512i c2 = _mm512_set1_epi32((int)s0), c3 = _mm512_set1_epi32((int)s1);
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        const __m512i h0 = mulhi32(c0, m0), h1 = mulhi32(c2, m1);
        const __m512i l0 = _mm512_mullo_epi32(c0, m0), l1 = _mm512_mullo_epi32(c2, m1);
        c0 = _mm512_xor_si512(_mm512_xor_si512(h1, c1), _mm512_set1_epi32((int)k0));
        c2 = _mm512_xor_si512(_mm512_xor_si512(h0, c3), _mm512_set1_epi32((int)k1));
        c1 = l1;
        c3 = l0;
    }
    uint32_t v[4][16];
    _mm512_storeu_si512(v[0], c0);
    _mm512_storeu_si512(v[1], c1);
    _mm512_storeu_si512(v[2], c2);
    _mm512_storeu_si512(v[3], c3);
    for (int i = 0; i < 16; i++)
        for (int w = 0; w < 4; w++)
            out[4 * i + w] = v[w][i];
}

#endif

void sten__rng_values(const sten_rng *r, uint64_t n0, uint32_t *out, size_t count)
{
    uint32_t buf[64];
    const uint64_t stream_lo = r->ctr[2], stream_hi = r->ctr[3];
    size_t done = 0;
    while (done < count) {
        const uint64_t n = n0 + done, block = n / 4;
#if defined(__x86_64__) && defined(__GNUC__)
        if (sten__avx512())
            philox16_512(r->key[0], r->key[1], block, (uint32_t)stream_lo, (uint32_t)stream_hi, buf);
        else
#endif
            philox16(r->key[0], r->key[1], block, (uint32_t)stream_lo, (uint32_t)stream_hi, buf);
        const size_t from = (size_t)(n % 4), m = STEN__MIN(count - done, 64 - from);
        memcpy(out + done, buf + from, m * sizeof *out);
        done += m;
    }
}

/* Lemire's multiply-and-reject: unbiased, usually one multiplication. */
uint32_t sten_rng_below(sten_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)sten_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        const uint32_t floor = (uint32_t)-n % n;
        while (low < floor) {
            m = (uint64_t)sten_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float sten_rng_normal(sten_rng *r)
{
    /* u1 in (0, 1] so the log is finite */
    const double u1 = ((sten_rng_u32(r) >> 8) + 1) * 0x1.0p-24;
    const double u2 = (sten_rng_u32(r) >> 8) * 0x1.0p-24;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
