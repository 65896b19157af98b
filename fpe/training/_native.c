/* Fused training epoch of the concatenated trainer (fpe/training/concat.py; the paper, as we read it, section 3, the Boolean runs).
 *
 * One call trains one epoch of every instance of every dataset of a ConcatMLP: for each minibatch,
 * the forward pass, the hand-written backward and Adam, with the same arithmetic as the PyTorch
 * path of fpe.training.concat (which stays the reference; tests/test_concat.py checks both against
 * nn.Module + torch.optim.Adam). Why C: the instances' first layers are tall and thin
 * (K = d = 24..128), so in PyTorch every elementwise step between the two GEMMs is a pass over a
 * (hidden x batch) array in memory, and those passes cost more than the GEMMs. Here each
 * (instance, block of NB samples) tile stays in the L1/L2 cache from its forward GEMM to its
 * gradient GEMM, and the GEMMs are register-blocked micro-kernels.
 *
 * Portable C with GCC/Clang vector extensions (8 floats; the two GEMMs also in 16 floats where the
 * compiler targets AVX-512); built by fpe/training/native.py with fixed flags (-O3, -mavx2 -mfma on
 * x86 CPUs that have them, -mavx512f as well on AVX-512 CPUs), so the instruction sequence and
 * therefore the numbers are the same on every such machine, and the AVX-512 build computes every
 * number with the same operations in the same order as the AVX2 build. Single-threaded and
 * deterministic: a fixed order of every sum.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NB 64 /* samples per tile (a multiple of 16) */

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4))); /* unaligned loads and stores */

#define INLINE static inline __attribute__((always_inline))

INLINE v8 ld(const float *p) { return *(const v8u *)p; }
INLINE void st(float *p, v8 v) { *(v8u *)p = v; }
INLINE v8 bc(float x) { return (v8){x, x, x, x, x, x, x, x}; }
INLINE v8 relu(v8 a) { return (v8)((v8i)a & (a > bc(0.f))); }
INLINE float hsum(v8 v) {
    float s = 0.f;
    for (int i = 0; i < 8; i++) s += v[i];
    return s;
}

/* hsum of eight vectors at once: out[j] = hsum(v[j]), the same additions in the same order (an 8 x 8
 * transpose, then the columns added in lane order). */
INLINE v8 hsum8(const v8 *v) {
    v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            u[i + j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + j + 2] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    /* u[0] holds lanes 0 and 4 of rows 0-3, u[2] lanes 1 and 5, u[1] lanes 2 and 6, u[3] lanes 3 and 7; u[4..7] rows 4-7 */
    const int lane_of[4] = {0, 2, 1, 3};
    v8 c[8];
    for (int i = 0; i < 4; i++) {
        c[lane_of[i]] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        c[lane_of[i] + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
    v8 s = bc(0.f);
    for (int l = 0; l < 8; l++) s += c[l];
    return s;
}

/* exp(x) for 8 floats (Cephes' expf: range reduction by ln 2, degree-6 polynomial; within 2 ulp of
 * libm's expf over the float range, saturating outside +-88.37). */
INLINE v8 vexp(v8 x) {
    x = (v8)(((v8i)x & (x < bc(88.3762626647949f))) | ((v8i)bc(88.3762626647949f) & ~(x < bc(88.3762626647949f))));
    x = (v8)(((v8i)x & (x > bc(-88.3762626647949f))) | ((v8i)bc(-88.3762626647949f) & ~(x > bc(-88.3762626647949f))));
    v8 fx = x * bc(1.44269504088896341f) + bc(0.5f);
    v8i t = __builtin_convertvector(fx, v8i); /* truncation toward zero, then floor */
    v8 tf = __builtin_convertvector(t, v8);
    const v8i gt = tf > fx;
    t = t + gt; /* gt is -1 where the truncation rounded up */
    tf = __builtin_convertvector(t, v8);
    x = x - tf * bc(0.693359375f) - tf * bc(-2.12194440e-4f);
    const v8 z = x * x;
    v8 y = bc(1.9875691500e-4f);
    y = y * x + bc(1.3981999507e-3f);
    y = y * x + bc(8.3334519073e-3f);
    y = y * x + bc(4.1665795894e-2f);
    y = y * x + bc(1.6666665459e-1f);
    y = y * x + bc(5.0000001201e-1f);
    y = y * z + x + bc(1.f);
    const v8i pow2 = (t + 127) << 23;
    return y * (v8)pow2;
}

/* Z[r][c] = b1[r] + sum_k W1[r][k] xT[k][c] for R rows and all NB columns (6 x 16 register tile). */
INLINE void fwd_rows(const int R, const float *w1, int d, int dv, const float *b1, const float *xT, float *Z) {
    for (int c = 0; c < NB; c += 16) {
        v8 acc[6][2];
        for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = bc(b1[r]);
        for (int k = 0; k < dv; k++) {
            const v8 x0 = ld(xT + k * NB + c), x1 = ld(xT + k * NB + c + 8);
            for (int r = 0; r < R; r++) {
                const v8 w = bc(w1[r * d + k]);
                acc[r][0] += w * x0;
                acc[r][1] += w * x1;
            }
        }
        for (int r = 0; r < R; r++) {
            st(Z + r * NB + c, acc[r][0]);
            st(Z + r * NB + c + 8, acc[r][1]);
        }
    }
}

/* gW1[r][k0 + 8q + l] += sum_c Z[r][c] xr[c][k0 + 8q + l] for R rows and KV vectors of k
 * (3 x 32 register tile); xr has row stride dp (d rounded up to 8, zero padded). */
INLINE void bwd_rows(const int R, const int KV, const float *Z, const float *xr, int dp, int k0, int nvalid,
                     float *gw, int d, int dv) {
    v8 acc[3][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < KV; q++) acc[r][q] = bc(0.f);
    for (int c = 0; c < nvalid; c++) {
        v8 xv[4];
        for (int q = 0; q < KV; q++) xv[q] = ld(xr + c * dp + k0 + 8 * q);
        for (int r = 0; r < R; r++) {
            const v8 z = bc(Z[r * NB + c]);
            for (int q = 0; q < KV; q++) acc[r][q] += z * xv[q];
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < KV; q++) {
            float *p = gw + r * d + k0 + 8 * q;
            const int lanes = dv - (k0 + 8 * q) < 8 ? dv - (k0 + 8 * q) : 8;
            if (lanes == 8)
                st(p, ld(p) + acc[r][q]);
            else
                for (int l = 0; l < lanes; l++) p[l] += acc[r][q][l];
        }
}

__attribute__((unused)) static void fwd_any(int R, const float *w1, int d, int dv, const float *b1, const float *xT, float *Z) {
    switch (R) {
    case 6: fwd_rows(6, w1, d, dv, b1, xT, Z); break;
    case 5: fwd_rows(5, w1, d, dv, b1, xT, Z); break;
    case 4: fwd_rows(4, w1, d, dv, b1, xT, Z); break;
    case 3: fwd_rows(3, w1, d, dv, b1, xT, Z); break;
    case 2: fwd_rows(2, w1, d, dv, b1, xT, Z); break;
    case 1: fwd_rows(1, w1, d, dv, b1, xT, Z); break;
    }
}

#define BWD_KV(R)                                                                    \
    switch (KV) {                                                                    \
    case 4: bwd_rows(R, 4, Z, xr, dp, k0, nvalid, gw, d, dv); break;                      \
    case 3: bwd_rows(R, 3, Z, xr, dp, k0, nvalid, gw, d, dv); break;                      \
    case 2: bwd_rows(R, 2, Z, xr, dp, k0, nvalid, gw, d, dv); break;                      \
    case 1: bwd_rows(R, 1, Z, xr, dp, k0, nvalid, gw, d, dv); break;                      \
    }

__attribute__((unused)) static void bwd_any(int R, int KV, const float *Z, const float *xr, int dp, int k0, int nvalid, float *gw, int d, int dv) {
    switch (R) {
    case 3: BWD_KV(3) break;
    case 2: BWD_KV(2) break;
    case 1: BWD_KV(1) break;
    }
}

#ifdef __AVX512F__
/* The two GEMMs again with 16-float vectors, where the compiler targets AVX-512 (fpe/training/native.py
 * adds -mavx512f on CPUs that PyTorch reports as AVX512). Every output element sees exactly the
 * operations of the 8-float kernels above, in the same order (the bias, then one fused multiply-add
 * per k in ascending order; zero, then one per sample in ascending order, then one add into the
 * gradient), so the two builds give bitwise equal numbers (tests/test_concat.py); only more elements
 * are computed per instruction. */
#define VW 16
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
INLINE v16 ld16(const float *p) { return *(const v16u *)p; }
INLINE void st16(float *p, v16 v) { *(v16u *)p = v; }
INLINE v16 bc16(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

/* Z[r][c] = b1[r] + sum_k W1[r][k] xT[k][c] for R rows and all NB columns (R x 64 register tile). */
INLINE void fwd16(const int R, const float *w1, int d, int dv, const float *b1, const float *xT, float *Z) {
    v16 acc[6][NB / 16];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < NB / 16; q++) acc[r][q] = bc16(b1[r]);
    for (int k = 0; k < dv; k++) {
        v16 xv[NB / 16];
        for (int q = 0; q < NB / 16; q++) xv[q] = ld16(xT + k * NB + 16 * q);
        for (int r = 0; r < R; r++) {
            const v16 w = bc16(w1[r * d + k]);
            for (int q = 0; q < NB / 16; q++) acc[r][q] += w * xv[q];
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < NB / 16; q++) st16(Z + r * NB + 16 * q, acc[r][q]);
}

/* gW1[r][k0 + 16q + l] += sum_c Z[r][c] xr[c][k0 + 16q + l] for R rows and KV vectors of k; xr has
 * row stride dp (a multiple of 16, padded); lanes at or past dv are computed but not stored. */
INLINE void bwd16(const int R, const int KV, const float *Z, const float *xr, int dp, int k0, int nvalid,
                  float *gw, int d, int dv) {
    v16 acc[12][4];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < KV; q++) acc[r][q] = bc16(0.f);
    for (int c = 0; c < nvalid; c++) {
        v16 xv[4];
        for (int q = 0; q < KV; q++) xv[q] = ld16(xr + c * dp + k0 + 16 * q);
        for (int r = 0; r < R; r++) {
            const v16 z = bc16(Z[r * NB + c]);
            for (int q = 0; q < KV; q++) acc[r][q] += z * xv[q];
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < KV; q++) {
            float *p = gw + r * d + k0 + 16 * q;
            const int lanes = dv - (k0 + 16 * q) < 16 ? dv - (k0 + 16 * q) : 16;
            if (lanes == 16)
                st16(p, ld16(p) + acc[r][q]);
            else
                for (int l = 0; l < lanes; l++) p[l] += acc[r][q][l];
        }
}

static void fwd16_any(int R, const float *w1, int d, int dv, const float *b1, const float *xT, float *Z) {
    switch (R) {
    case 6: fwd16(6, w1, d, dv, b1, xT, Z); break;
    case 5: fwd16(5, w1, d, dv, b1, xT, Z); break;
    case 4: fwd16(4, w1, d, dv, b1, xT, Z); break;
    case 3: fwd16(3, w1, d, dv, b1, xT, Z); break;
    case 2: fwd16(2, w1, d, dv, b1, xT, Z); break;
    case 1: fwd16(1, w1, d, dv, b1, xT, Z); break;
    }
}

/* rows per register tile for KV vectors of k: at most 24 accumulators (of 32 registers) */
#define BWD16_ROWS(KV) ((KV) == 1 ? 12 : (KV) == 2 ? 12 : (KV) == 3 ? 8 : 6)
#define BWD16_R(KV)                                                                               \
    switch (R) {                                                                                  \
    case 12: bwd16(12, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                              \
    case 11: bwd16(11, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                              \
    case 10: bwd16(10, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                              \
    case 9: bwd16(9, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 8: bwd16(8, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 7: bwd16(7, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 6: bwd16(6, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 5: bwd16(5, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 4: bwd16(4, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 3: bwd16(3, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 2: bwd16(2, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    case 1: bwd16(1, KV, Z, xr, dp, k0, nvalid, gw, d, dv); break;                                \
    }

static void bwd16_any(int R, int KV, const float *Z, const float *xr, int dp, int k0, int nvalid, float *gw, int d, int dv) {
    switch (KV) {
    case 4: if (R > 6) R = 6; BWD16_R(4) break;
    case 3: if (R > 8) R = 8; BWD16_R(3) break;
    case 2: BWD16_R(2) break;
    case 1: BWD16_R(1) break;
    }
}
#else
#define VW 8
#endif

/* One instance (w hidden units) on one tile of samples: forward, d loss / d logit, and the
 * gradients added to gW1 (w x d), gb1, gw2 (w) and *gb2. Z is scratch of w x NB floats. */
static void instance_tile(int w, int d, int dv, int dp, const float *W1, const float *b1, const float *w2, float b2,
                          const float *xT, const float *xr, const float *y, int nvalid, int n_batch, float *Z,
                          float *gW1, float *gb1, float *gw2, float *gb2) {
    int r = 0;
#if VW == 16
    for (; r + 6 <= w; r += 6) fwd16(6, W1 + r * d, d, dv, b1 + r, xT, Z + r * NB);
    if (r < w) fwd16_any(w - r, W1 + r * d, d, dv, b1 + r, xT, Z + r * NB);
#else
    for (; r + 6 <= w; r += 6) fwd_rows(6, W1 + r * d, d, dv, b1 + r, xT, Z + r * NB);
    if (r < w) fwd_any(w - r, W1 + r * d, d, dv, b1 + r, xT, Z + r * NB);
#endif

    /* logits: b2 + sum_r w2[r] relu(Z[r]) (rows in order) */
    v8 out[NB / 8];
    for (int q = 0; q < NB / 8; q++) out[q] = bc(b2);
    for (r = 0; r < w; r++) {
        const v8 wv = bc(w2[r]);
        for (int q = 0; q < NB / 8; q++) out[q] += wv * relu(ld(Z + r * NB + 8 * q));
    }
    /* d loss / d logit of the mean BCE: (sigmoid - y) / n_batch; zero on padding columns */
    float g[NB] __attribute__((aligned(32)));
    v8 gs = bc(0.f);
    const v8 nb = bc((float)n_batch);
    for (int q = 0; q < NB / 8; q++) {
        v8 gv = (bc(1.f) / (bc(1.f) + vexp(-out[q])) - ld(y + 8 * q)) / nb;
        const v8i valid = (v8i){0, 1, 2, 3, 4, 5, 6, 7} + 8 * q < nvalid;
        gv = (v8)((v8i)gv & valid);
        st(g + 8 * q, gv);
        gs += gv;
    }
    *gb2 += hsum(gs);
    /* second layer and ReLU backward: gw2 += sum_c g relu(z); Z <- dZ = w2 g [z > 0]; gb1 += sum_c dZ */
    for (int r0 = 0; r0 < w; r0 += 8) { /* eight rows at a time, so that their lane sums run as vectors */
        const int rows = w - r0 < 8 ? w - r0 : 8;
        v8 a2[8], a1[8];
        for (int i = 0; i < 8; i++) a2[i] = a1[i] = bc(0.f);
        for (int i = 0; i < rows; i++) {
            r = r0 + i;
            const v8 wr = bc(w2[r]);
            for (int q = 0; q < NB / 8; q++) {
                const v8 z = ld(Z + r * NB + 8 * q), gv = ld(g + 8 * q);
                a2[i] += gv * relu(z);
                const v8 dz = (v8)((v8i)(wr * gv) & (z > bc(0.f)));
                st(Z + r * NB + 8 * q, dz);
                a1[i] += dz;
            }
        }
        const v8 s2 = hsum8(a2), s1 = hsum8(a1);
        for (int i = 0; i < rows; i++) {
            gw2[r0 + i] += s2[i];
            gb1[r0 + i] += s1[i];
        }
    }
    /* first-layer gradient: gW1 += dZ xr */
#if VW == 16
    const int nvec = (dv + 15) / 16;
    for (int q0 = 0; q0 < nvec; q0 += 4) {
        const int KV = nvec - q0 < 4 ? nvec - q0 : 4, rows = BWD16_ROWS(KV);
        for (r = 0; r < w; r += rows) {
            const int R = w - r < rows ? w - r : rows;
            bwd16_any(R, KV, Z + r * NB, xr, dp, 16 * q0, nvalid, gW1 + r * d, d, dv);
        }
    }
#else
    const int nvec = (dv + 7) / 8;
    for (r = 0; r < w; r += 3) {
        const int R = w - r < 3 ? w - r : 3;
        for (int q0 = 0; q0 < nvec; q0 += 4) {
            const int KV = nvec - q0 < 4 ? nvec - q0 : 4;
            bwd_any(R, KV, Z + r * NB, xr, dp, 8 * q0, nvalid, gW1 + r * d, d, dv);
        }
    }
#endif
}

/* Adam (torch.optim.Adam semantics, no weight decay) on n_rows rows of `cols` elements; row i
 * belongs to instance inst[i % per] (per = rows per dataset); masked gradients (mask may be NULL). */
static void adam(float *p, float *m, float *v, const float *g, const float *mask, int64_t n_rows, int cols, int per,
                 const int32_t *inst, const float *step_size, const float *bc2, float beta1, float beta2, float eps) {
    for (int64_t i = 0; i < n_rows; i++) {
        const int j = inst ? inst[i % per] : (int)(i % per);
        const float ss = step_size[j], b = bc2[j];
        for (int c = 0; c < cols; c++) {
            const int64_t e = i * cols + c;
            const float gg = mask ? g[e] * mask[e] : g[e];
            m[e] = m[e] + (1.f - beta1) * (gg - m[e]);
            v[e] = v[e] * beta2 + (1.f - beta2) * gg * gg;
            const float denom = sqrtf(v[e]) / b + eps;
            p[e] -= m[e] / denom * ss;
        }
    }
}

/* One epoch. Shapes: x (S, N, d), y (S, N), perm (S, N) sample order; w1, mask1, mw1, vw1 (S, H, d);
 * b1, w2, mask2 and their moments (S, H); b2 and its moments (S, J); widths (J); steps (J) Adam
 * steps per instance (incremented); dvalid (S) or NULL: dataset s uses only the first dvalid[s]
 * inputs (the rest is zero padding whose weights are zero and masked: skipped, same numbers). Returns 0, or -1 if scratch memory could not be allocated. */
int fpe_concat_epoch(int S, int N, int d, int H, int J, const int32_t *widths, const int32_t *dvalid, const float *x, const float *y,
                     const int64_t *perm, int batch, float *w1, float *b1, float *w2, float *b2, const float *mask1,
                     const float *mask2, float *mw1, float *vw1, float *mb1, float *vb1, float *mw2, float *vw2,
                     float *mb2, float *vb2, int64_t *steps, double lr, double beta1, double beta2, double eps) {
    const int dp = (d + VW - 1) / VW * VW; /* xr's row stride: whole vectors */
    int maxw = 1;
    for (int j = 0; j < J; j++) maxw = widths[j] > maxw ? widths[j] : maxw;
    float *Z = aligned_alloc(32, sizeof(float) * (size_t)maxw * NB);
    float *xT = aligned_alloc(32, sizeof(float) * (size_t)d * NB);
    float *xr = aligned_alloc(32, sizeof(float) * (size_t)dp * NB);
    float *yb = aligned_alloc(32, sizeof(float) * NB);
    float *gw1 = malloc(sizeof(float) * (size_t)S * H * d), *gb1 = malloc(sizeof(float) * (size_t)S * H);
    float *gw2 = malloc(sizeof(float) * (size_t)S * H), *gb2 = malloc(sizeof(float) * (size_t)S * J);
    int32_t *inst = malloc(sizeof(int32_t) * (size_t)H);
    float *ss = malloc(sizeof(float) * (size_t)J), *bc2 = malloc(sizeof(float) * (size_t)J);
    int rc = 0;
    if (!Z || !xT || !xr || !yb || !gw1 || !gb1 || !gw2 || !gb2 || !inst || !ss || !bc2) {
        rc = -1;
        goto done;
    }
    for (int j = 0, h = 0; j < J; j++)
        for (int i = 0; i < widths[j]; i++) inst[h++] = j;
    memset(xr, 0, sizeof(float) * (size_t)dp * NB);

    for (int start = 0; start < N; start += batch) {
        const int bsz = N - start < batch ? N - start : batch;
        memset(gw1, 0, sizeof(float) * (size_t)S * H * d);
        memset(gb1, 0, sizeof(float) * (size_t)S * H);
        memset(gw2, 0, sizeof(float) * (size_t)S * H);
        memset(gb2, 0, sizeof(float) * (size_t)S * J);
        for (int s = 0; s < S; s++) {
            const float *xs = x + (size_t)s * N * d, *ys = y + (size_t)s * N;
            const int64_t *ps = perm + (size_t)s * N + start;
            const int dv = dvalid ? dvalid[s] : d;
            for (int t0 = 0; t0 < bsz; t0 += NB) {
                const int nvalid = bsz - t0 < NB ? bsz - t0 : NB;
                /* gather the tile's rows (row-major, xr), then transpose them (xT) from L1 */
                for (int c = 0; c < NB; c++) {
                    float *dst = xr + c * dp;
                    if (c < nvalid) {
                        memcpy(dst, xs + (size_t)ps[t0 + c] * d, sizeof(float) * (size_t)dv);
                        yb[c] = ys[ps[t0 + c]];
                    } else {
                        memset(dst, 0, sizeof(float) * (size_t)dv);
                        yb[c] = 0.f;
                    }
                }
                for (int k = 0; k < dv; k++)
                    for (int c = 0; c < NB; c++) xT[k * NB + c] = xr[c * dp + k];
                /* the next tile's rows are random rows of x (far in memory): fetch them while this
                 * tile computes, or the gather waits on memory latency */
                const int nxt_s = t0 + NB < bsz ? s : s + 1, nxt_t = t0 + NB < bsz ? t0 + NB : 0;
                const float *nxs = x + (size_t)nxt_s * N * d;
                const int64_t *nps = perm + (size_t)nxt_s * N + start;
                for (int c = nxt_t; nxt_s < S && c < bsz && c < nxt_t + NB; c++) {
                    const char *next = (const char *)(nxs + (size_t)nps[c] * d);
                    for (int off = 0; off < d * (int)sizeof(float); off += 64) __builtin_prefetch(next + off);
                    __builtin_prefetch(y + (size_t)nxt_s * N + nps[c]);
                }
                for (int j = 0, h = 0; j < J; h += widths[j], j++) {
                    const size_t row = (size_t)s * H + h;
                    instance_tile(widths[j], d, dv, dp, w1 + row * d, b1 + row, w2 + row, b2[(size_t)s * J + j], xT, xr, yb,
                                  nvalid, bsz, Z, gw1 + row * d, gb1 + row, gw2 + row, gb2 + (size_t)s * J + j);
                }
            }
        }
        for (int j = 0; j < J; j++) {
            steps[j] += 1;
            const double t = (double)steps[j];
            ss[j] = (float)(lr / (1.0 - pow(beta1, t)));
            bc2[j] = (float)sqrt(1.0 - pow(beta2, t));
        }
        const float fb1 = (float)beta1, fb2 = (float)beta2, fe = (float)eps;
        adam(w1, mw1, vw1, gw1, mask1, (int64_t)S * H, d, H, inst, ss, bc2, fb1, fb2, fe);
        adam(b1, mb1, vb1, gb1, NULL, (int64_t)S * H, 1, H, inst, ss, bc2, fb1, fb2, fe);
        adam(w2, mw2, vw2, gw2, mask2, (int64_t)S * H, 1, H, inst, ss, bc2, fb1, fb2, fe);
        adam(b2, mb2, vb2, gb2, NULL, (int64_t)S * J, 1, J, NULL, ss, bc2, fb1, fb2, fe);
    }
done:
    free(Z); free(xT); free(xr); free(yb); free(gw1); free(gb1); free(gw2); free(gb2); free(inst); free(ss); free(bc2);
    return rc;
}

/* The vector exp above on n floats (n a multiple of 8), for tests/test_concat.py. */
void fpe_vexp(const float *x, float *out, int n) {
    for (int i = 0; i < n; i += 8) st(out + i, vexp(ld(x + i)));
}
