/* The split-sum form of an FPE layer (fpe/cost/inference.py, SplitSumLinear; the paper, as we read it,
 * section 6): an FPE layer whose children split their parent's inputs disjointly is stored parent-major,
 * as the parent's row of weights w (h, d) (each input's weight is that of the one child that keeps it,
 * 0 where none does) plus each weight's child label in B bit planes bits (B, h, d/8), bit j%8 of byte
 * j/8 (B = ceil(log2 alpha): two planes, a quarter byte per weight, for alpha = 4).
 *
 * y[n, p*alpha + c] = sum_j w[p, j] x[n, j] [label(p, j) == c]
 *
 * Per 8 inputs the AVX2 path multiplies w by x once and adds the products, masked by every product of
 * label bits (each byte's 8 lane masks come from one load of an 8 KB table), into 2^B subset sums A_T = sum over inputs whose label has all bits of T; the child sums
 * follow by inclusion-exclusion, y_c = sum over T containing bits(c) of (-1)^|T - bits(c)| A_T (exact
 * in integer arithmetic; with floats, rounding of the order of the row's sum). The weights are
 * prefetched a few KB ahead. Rows are split over `threads` OpenMP threads. Without AVX2 a scalar loop
 * adds each product to its child's sum.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

typedef struct {
  int batch, h, d, planes, alpha, p0, p1;
  const float *w, *x;
  const uint8_t *bits;
  float *y;
} job_t;

static void rows_scalar(const job_t *j, int p, int n) {
  const int d = j->d, nb = d / 8;
  const float *wp = j->w + (size_t)p * d, *xn = j->x + (size_t)n * d;
  float out[8] = {0};
  for (int i = 0; i < d; i++) {
    int c = 0;
    for (int b = 0; b < j->planes; b++) c |= ((j->bits[((size_t)b * j->h + p) * nb + i / 8] >> (i % 8)) & 1) << b;
    out[c] += wp[i] * xn[i];
  }
  memcpy(j->y + (size_t)n * j->h * j->alpha + (size_t)p * j->alpha, out, sizeof(float) * j->alpha);
}

#ifdef __AVX2__
/* software prefetch distance in floats (4 KB): one cache line per 16 inputs, well ahead of the masked
 * arithmetic, which alone keeps too few loads in flight to stream at the memory's bandwidth (measured
 * here: 4.9 ms without, 2.2-2.4 ms with, against 2.1 ms for a plain dense mat-vec, d 4096, h 1024) */
#define PREFETCH 1024
static inline float hsum(__m256 v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

/* LANES[b]: the 8 lane masks of byte b (lane l all ones when bit l of b is set), 8 KB, built once */
static float LANES[256][8] __attribute__((aligned(32)));
static void build_lanes(void) {
  for (int b = 0; b < 256; b++)
    for (int l = 0; l < 8; l++) {
      uint32_t v = ((b >> l) & 1) ? 0xFFFFFFFFu : 0u;
      memcpy(&LANES[b][l], &v, 4);
    }
}
static pthread_once_t LANES_ONCE = PTHREAD_ONCE_INIT;
static inline __m256 lanes(uint8_t byte) { return _mm256_load_ps(LANES[byte]); }

/* subset sums A[T] for T = 0 .. 2^B - 1 (bit b of T: plane b), then inclusion-exclusion */
#define ROW_KERNEL(B)                                                                                   \
  static void row_b##B(const job_t *j, int p, int n) {                                                  \
    const int d = j->d, nb = d / 8, S = 1 << B;                                                         \
    const float *wp = j->w + (size_t)p * d, *xn = j->x + (size_t)n * d;                                 \
    const uint8_t *pl[3];                                                                               \
    for (int b = 0; b < B; b++) pl[b] = j->bits + ((size_t)b * j->h + p) * nb;                          \
    __m256 acc[2][1 << B];                                                                              \
    for (int u = 0; u < 2; u++)                                                                         \
      for (int t = 0; t < S; t++) acc[u][t] = _mm256_setzero_ps();                                      \
    int k = 0;                                                                                          \
    for (; k + 2 <= nb; k += 2) {                                                                       \
      for (int u = 0; u < 2; u++) {                                                                     \
        const int i = (k + u) * 8;                                                                      \
        if (u == 0) _mm_prefetch((const char *)(wp + i + PREFETCH), _MM_HINT_T0);                      \
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(wp + i), _mm256_loadu_ps(xn + i));                     \
        __m256 m[1 << B];                                                                               \
        m[0] = _mm256_castsi256_ps(_mm256_set1_epi32(-1));                                              \
        for (int b = 0; b < B; b++) {                                                                   \
          __m256 mb = lanes(pl[b][k + u]);                                                         \
          for (int t = 0; t < (1 << b); t++) m[t | (1 << b)] = _mm256_and_ps(m[t], mb);                 \
        }                                                                                               \
        acc[u][0] = _mm256_add_ps(acc[u][0], v);                                                        \
        for (int t = 1; t < S; t++) acc[u][t] = _mm256_add_ps(acc[u][t], _mm256_and_ps(m[t], v));       \
      }                                                                                                 \
    }                                                                                                   \
    float A[1 << B];                                                                                    \
    for (int t = 0; t < S; t++) A[t] = hsum(_mm256_add_ps(acc[0][t], acc[1][t]));                       \
    for (; k < nb; k++) /* an odd last byte */                                                          \
      for (int l = 0; l < 8; l++) {                                                                     \
        const int i = k * 8 + l;                                                                        \
        int c = 0;                                                                                      \
        for (int b = 0; b < B; b++) c |= ((pl[b][k] >> l) & 1) << b;                                    \
        const float v = wp[i] * xn[i];                                                                  \
        for (int t = 0; t < S; t++)                                                                     \
          if ((t & c) == t) A[t] += v;                                                                  \
      }                                                                                                 \
    float *yp = j->y + (size_t)n * j->h * j->alpha + (size_t)p * j->alpha;                             \
    for (int c = 0; c < j->alpha; c++) {                                                                \
      float s = 0.f;                                                                                    \
      for (int t = 0; t < S; t++)                                                                       \
        if ((t & c) == c) s += (__builtin_popcount(t ^ c) & 1) ? -A[t] : A[t];                          \
      yp[c] = s;                                                                                        \
    }                                                                                                   \
  }
ROW_KERNEL(1)
ROW_KERNEL(2)
ROW_KERNEL(3)
#endif

static void *run(void *arg) {
  const job_t *j = (const job_t *)arg;
  for (int n = 0; n < j->batch; n++)
    for (int p = j->p0; p < j->p1; p++) {
#ifdef __AVX2__
      if (j->planes == 1) { row_b1(j, p, n); continue; }
      if (j->planes == 2) { row_b2(j, p, n); continue; }
      if (j->planes == 3) { row_b3(j, p, n); continue; }
#endif
      rows_scalar(j, p, n);
    }
  return NULL;
}

/* returns 0, or 1 for bad arguments (d not a multiple of 8, planes outside 1..3, alpha > 2^planes) */
int fpe_splitsum(int batch, int h, int d, int planes, int alpha, const float *w, const uint8_t *bits,
                 const float *x, float *y, int threads) {
  if (d % 8 || planes < 1 || planes > 3 || alpha < 2 || alpha > (1 << planes) || threads < 1) return 1;
#ifdef __AVX2__
  pthread_once(&LANES_ONCE, build_lanes);
#endif
  if (threads > h) threads = h;
  /* one row block per thread, in an OpenMP team: built with -fopenmp and loaded after PyTorch, the
   * library shares PyTorch's OpenMP runtime and therefore its thread pool (its threads, still spinning
   * after a PyTorch operation, take the blocks at once; threads of our own would compete with them
   * for the cores) */
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; t++) {
    const job_t job = {batch, h, d, planes, alpha, (int)((long)h * t / threads), (int)((long)h * (t + 1) / threads), w, x, bits, y};
    run(&job);
  }
  return 0;
}
