// The head of a stacked layer stack, every lane in one pass: the last Linear layer, the
// cross-entropy loss, and the way back to the hidden layer's pre-activation.
//
// lrlab.stacked computes the same thing with torch as seven operations, each a pass over the
// (lanes, hidden, samples) activations in memory: the output product, the loss, the
// gradients of the last weights and of the hidden activations, and the activation's
// backward. Here each lane's slab of activations is read into cache once and every step
// runs on it there. Compiled at first use by lrlab.native, with this machine's vector
// instructions; see that module for how it is built, checked and chosen.
//
// Layouts (row-major, contiguous), for K lanes, H hidden units, C classes, n samples:
//   a      (K, H, n)  in: the hidden layer's activations; out: dL/d its pre-activations
//   w      (K, C, H)  the last layer's weights;  b (K, C) its bias, or null
//   target (n)        class indices in [0, C), checked by the caller
//   gw     (K, C, H)  dL/dw, set when `first`, else added to;  gb (K, C) likewise, or null
//   loss   (K)        the sum over these samples of each lane's loss is added to it
// The gradients are those of the mean over `count` samples (the whole batch, of which this
// call may see one block).

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr int V = 16;  // floats per vector: one AVX-512 register, two AVX2 ones
typedef float vf __attribute__((vector_size(V * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(V * sizeof(int32_t))));

inline vf load(const float *p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float *p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return vf{} + x; }
inline float total(vf v) { float s = 0; for (int i = 0; i < V; i++) s += v[i]; return s; }

// The first m < V floats at p, zeros after them (a block's last, partial, vector).
inline vf load_part(const float *p, int m) {
    vf v = splat(0.f);
    for (int i = 0; i < m; i++) v[i] = p[i];
    return v;
}

inline void store_part(float *p, vf v, int m) {
    for (int i = 0; i < m; i++) p[i] = v[i];
}

// exp(x) for finite x <= 0 (Cephes' expf: Cody-Waite reduction, a degree-5 polynomial;
// within 2 ulp). Below -87 it returns exp(-87), which the caller flushes to zero anyway.
inline vf exp_neg(vf x) {
    x = x > -87.0f ? x : splat(-87.0f);
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return p * (vf)e;
}

// log(x) for finite x >= 1 (Cephes' logf; within 2 ulp).
inline vf log_ge1(vf x) {
    vi bits = (vi)x;
    vf m = (vf)((bits & 0x007fffff) | 0x3f000000);  // x = m 2^e, m in [0.5, 1)
    vi small = m < 0.707106781186547524f;
    vf e = __builtin_convertvector((bits >> 23) - 126, vf) - (small ? splat(1.f) : splat(0.f));
    m = (small ? m + m : m) - 1.0f;
    vf z = m * m;
    vf y = splat(7.0376836292e-2f);
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += e * -2.12194440e-4f;
    y += -0.5f * z;
    return m + y + e * 0.693359375f;
}

// The activation's derivative from its output h (what torch's tanh_backward,
// sigmoid_backward and threshold_backward compute).
enum Act { IDENTITY = 0, TANH = 1, SIGMOID = 2, RELU = 3 };

inline vf derivative(int act, vf h) {
    switch (act) {
        case TANH: return 1.f - h * h;
        case SIGMOID: return h * (1.f - h);
        case RELU: return h > 0.f ? splat(1.f) : splat(0.f);
        default: return splat(1.f);
    }
}

// The loops below hold one vector per class of a group of CB classes in registers; CB is a
// template argument so that the compiler unrolls them (a runtime count would keep the
// accumulators in memory, one dependent chain each).
constexpr int MAX_GROUP = 16;

// out[c] = b[c] + sum_j w[c][j] h[j] for one vector of samples, classes [c0, c0 + CB).
template <int CB>
inline void outputs(int H, int stride, const float *h, const float *w, const float *b, int c0,
                    float *out) {
    vf acc[CB];
    for (int c = 0; c < CB; c++) acc[c] = splat(b ? b[c0 + c] : 0.f);
    for (int j = 0; j < H; j++) {
        vf hj = load(h + j * V);
        for (int c = 0; c < CB; c++) acc[c] += w[(c0 + c) * H + j] * hj;
    }
    for (int c = 0; c < CB; c++) store(out + (c0 + c) * stride, acc[c]);
}

// gw[c][j] (+)= sum over the n samples of g[c] a[j], classes [c0, c0 + CB).
template <int CB>
inline void weight_grads(int H, int n, int stride, const float *a, const float *g, int c0,
                         float *gw, bool first) {
    for (int j = 0; j < H; j++) {
        const float *aj = a + (int64_t)j * n;
        vf acc[CB];
        for (int c = 0; c < CB; c++) acc[c] = splat(0.f);
        for (int s = 0; s < n; s += V) {
            vf h = s + V <= n ? load(aj + s) : load_part(aj + s, n - s);
            for (int c = 0; c < CB; c++) acc[c] += load(g + (c0 + c) * stride + s) * h;
        }
        for (int c = 0; c < CB; c++) {
            float *o = gw + (c0 + c) * H + j;
            *o = (first ? 0.f : *o) + total(acc[c]);
        }
    }
}

// d[j] (+)= sum_c w[c][j] g[c] for one vector of samples, classes [c0, c0 + CB).
template <int CB>
inline void input_grads(int H, int stride, const float *g, const float *w, int c0, float *d,
                        bool first) {
    vf gc[CB];
    for (int c = 0; c < CB; c++) gc[c] = load(g + (c0 + c) * stride);
    for (int j = 0; j < H; j++) {
        vf even = first ? splat(0.f) : load(d + j * V), odd = splat(0.f);  // two chains
        int c = 0;
        for (; c + 1 < CB; c += 2) {
            even += w[(c0 + c) * H + j] * gc[c];
            odd += w[(c0 + c + 1) * H + j] * gc[c + 1];
        }
        if (c < CB) even += w[(c0 + c) * H + j] * gc[c];
        store(d + j * V, even + odd);
    }
}

// Calls f<CB>(c0) for each group of classes.
#define GROUPS(C, CALL)                                                            \
    for (int c0 = 0; c0 < (C); c0 += MAX_GROUP) {                                  \
        switch ((C) - c0 < MAX_GROUP ? (C) - c0 : MAX_GROUP) {                     \
            case 1: CALL(1); break;   case 2: CALL(2); break;                      \
            case 3: CALL(3); break;   case 4: CALL(4); break;                      \
            case 5: CALL(5); break;   case 6: CALL(6); break;                      \
            case 7: CALL(7); break;   case 8: CALL(8); break;                      \
            case 9: CALL(9); break;   case 10: CALL(10); break;                    \
            case 11: CALL(11); break; case 12: CALL(12); break;                    \
            case 13: CALL(13); break; case 14: CALL(14); break;                    \
            case 15: CALL(15); break; default: CALL(16); break;                    \
        }                                                                          \
    }

// One lane. g: (C, stride) scratch for the outputs, then dL/d output; h, d: (H, V) scratch.
void lane(int H, int C, int n, int stride, float count, float flush, int act, bool first,
          float *a, const float *w, const float *b, const int64_t *target, float *gw, float *gb,
          float *loss, float *g, float *h, float *d) {
    const float per_sample = 1.f / count;
    vf sum = splat(0.f);
    vi bad = vi{};  // a non-finite output anywhere makes the whole lane NaN, as in torch
    for (int s = 0; s < n; s += V) {
        int m = n - s < V ? n - s : V;
        for (int j = 0; j < H; j++) {
            const float *row = a + (int64_t)j * n + s;
            __builtin_prefetch(row + 2 * V);  // H streams: too many for the hardware's prefetch
            store(h + j * V, m == V ? load(row) : load_part(row, m));
        }
        float *gs = g + s;
#define CALL(CB) outputs<CB>(H, stride, h, w, b, c0, gs)
        GROUPS(C, CALL)
#undef CALL
        vi t;
        for (int i = 0; i < V; i++) t[i] = i < m ? (int32_t)target[s + i] : -1;
        vf top = load(gs);
        for (int c = 1; c < C; c++) {
            vf o = load(gs + c * stride);
            top = o > top ? o : top;
        }
        vf picked = splat(0.f), exps = splat(0.f);
        for (int c = 0; c < C; c++) {
            vf o = load(gs + c * stride);
            bad |= (o - o) != 0.f;  // inf - inf and NaN - NaN are NaN
            picked = t == c ? o : picked;
            vf e = exp_neg(o - top);
            exps += e;
            store(gs + c * stride, e);
        }
        vf inv = 1.f / exps;
        for (int c = 0; c < C; c++) {
            // dL/d output = (softmax - onehot) / count, as torch's backward (a product with
            // 1 / count: within an ulp of its quotient), with the softmax flushed to zero
            // where lrlab.stacked flushes it (see `flush` there).
            vf p = load(gs + c * stride) * inv;
            p = p > flush ? p : splat(0.f);
            vf grad = (p - (t == c ? splat(1.f) : splat(0.f))) * per_sample;
            store(gs + c * stride, t >= 0 ? grad : splat(0.f));
        }
        vf each = top + log_ge1(exps) - picked;  // -log softmax at the target
        sum += t >= 0 ? each : splat(0.f);
    }
    bool lost = false;
    for (int i = 0; i < V; i++) lost |= bad[i] != 0;
    if (lost) {
        *loss = NAN;
        for (int i = 0; i < C * stride; i++) g[i] = NAN;
    } else {
        *loss += total(sum);
    }
#define CALL(CB) weight_grads<CB>(H, n, stride, a, g, c0, gw, first)
    GROUPS(C, CALL)
#undef CALL
    if (gb) {
        for (int c = 0; c < C; c++) {
            vf s = splat(0.f);
            for (int i = 0; i < stride; i += V) s += load(g + c * stride + i);
            gb[c] = (first ? 0.f : gb[c]) + total(s);
        }
    }
    for (int s = 0; s < n; s += V) {
        int m = n - s < V ? n - s : V;
        const float *gs = g + s;
        bool fresh = true;
#define CALL(CB) { input_grads<CB>(H, stride, gs, w, c0, d, fresh); fresh = false; }
        GROUPS(C, CALL)
#undef CALL
        for (int j = 0; j < H; j++) {
            float *dst = a + (int64_t)j * n + s;
            vf hj = m == V ? load(dst) : load_part(dst, m);
            vf r = load(d + j * V) * derivative(act, hj);
            if (m == V) store(dst, r); else store_part(dst, r, m);
        }
    }
}

}  // namespace

extern "C" {

// The interface's version: lrlab.native refuses a library whose version differs.
int lrlab_head_version() { return 1; }

// Returns 0, or -1 when scratch memory could not be had (nothing was written then).
int lrlab_head_cross_entropy(int K, int H, int C, int n, float count, float flush, int act,
                             int first, float *a, const float *w, const float *b,
                             const int64_t *target, float *gw, float *gb, float *loss,
                             int threads) {
    const int stride = (n + V - 1) / V * V;
    const size_t floats = (size_t)C * stride + 2 * (size_t)H * V;
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    const int teams = threads < 1 ? 1 : (threads < K ? threads : (K < 1 ? 1 : K));
    float *scratch = (float *)std::aligned_alloc(64, bytes * teams);
    if (!scratch) return -1;
#pragma omp parallel num_threads(teams)
    {
#ifdef _OPENMP
        float *mine = scratch + bytes / sizeof(float) * omp_get_thread_num();
#else
        float *mine = scratch;
#endif
        float *g = mine, *h = mine + (size_t)C * stride, *d = h + (size_t)H * V;
#pragma omp for schedule(static)
        for (int k = 0; k < K; k++) {
            lane(H, C, n, stride, count, flush, act, first != 0, a + (int64_t)k * H * n,
                 w + (int64_t)k * C * H, b ? b + (int64_t)k * C : nullptr, target,
                 gw + (int64_t)k * C * H, gb ? gb + (int64_t)k * C : nullptr, loss + k, g, h,
                 d);
        }
    }
    std::free(scratch);
    return 0;
}

}  // extern "C"
