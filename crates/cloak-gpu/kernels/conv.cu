// im2col and col2im of Cloak's CUDA device: convolutions become GEMMs (src/conv.rs).
//
// For an NCHW input of `groups` channel groups of `channels` channels each, the im2col matrix
// of image n and group g has rows r = (c, ki, kj) (channel-major, then kernel row, then kernel
// column: rows = channels * kh * kw) and columns col = (oy, ox) (cols = oh * ow). Its entry
// is the input pixel that kernel tap (ki, kj) of channel c sees at output position (oy, ox),
//   x[n, g * channels + c, oy * sh - ph + ki * dh, ox * sw - pw + kj * dw],
// or 0 in the padding. Entry (n, g, r, col) is stored at n * s_n + g * s_g + r * s_r + col,
// so that the caller chooses the layout its GEMM reads.
//
// The layout of ConvGeometry must match src/launch.rs (every field a u64, in this order).

typedef unsigned long long u64;
typedef long long i64;

struct ConvGeometry {
    u64 images;
    u64 groups;
    u64 channels;
    u64 h;
    u64 w;
    u64 kh;
    u64 kw;
    u64 sh;
    u64 sw;
    u64 ph;
    u64 pw;
    u64 dh;
    u64 dw;
    u64 oh;
    u64 ow;
    u64 s_n;
    u64 s_g;
    u64 s_r;
};

#define GRID_STRIDE_LOOP(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (u64)gridDim.x * blockDim.x)

// One thread per im2col entry, in (n, g, r, col) order: neighbouring threads write
// neighbouring columns.
extern "C" __global__ void im2col_u64(const u64* x, u64* cols, ConvGeometry p) {
    const u64 taps = p.kh * p.kw;
    const u64 rows = p.channels * taps;
    const u64 ncols = p.oh * p.ow;
    const u64 total = p.images * p.groups * rows * ncols;
    GRID_STRIDE_LOOP(i, total) {
        const u64 col = i % ncols;
        u64 t = i / ncols;
        const u64 r = t % rows;
        t /= rows;
        const u64 g = t % p.groups;
        const u64 n = t / p.groups;
        const u64 c = r / taps;
        const u64 tap = r % taps;
        const u64 ki = tap / p.kw;
        const u64 kj = tap % p.kw;
        const u64 oy = col / p.ow;
        const u64 ox = col % p.ow;
        const i64 iy = (i64)(oy * p.sh + ki * p.dh) - (i64)p.ph;
        const i64 ix = (i64)(ox * p.sw + kj * p.dw) - (i64)p.pw;
        u64 v = 0;
        if (iy >= 0 && iy < (i64)p.h && ix >= 0 && ix < (i64)p.w) {
            const u64 plane = n * p.groups * p.channels + g * p.channels + c;
            v = x[(plane * p.h + (u64)iy) * p.w + (u64)ix];
        }
        cols[n * p.s_n + g * p.s_g + r * p.s_r + col] = v;
    }
}

// The adjoint of im2col: every input pixel gathers the im2col entries that read it,
// dx[n, g * channels + c, y, x] = sum over taps (ki, kj) and output positions (oy, ox) with
// oy * sh - ph + ki * dh = y and ox * sw - pw + kj * dw = x of entry (n, g, (c, ki, kj), (oy, ox)).
// One thread per pixel, so no two threads write one element (no atomics, same sums in the same
// order on every run). (oh, ow) are the output gradient's spatial size, taken as given.
extern "C" __global__ void col2im_u64(const u64* cols, u64* dx, ConvGeometry p) {
    const u64 taps = p.kh * p.kw;
    const u64 total = p.images * p.groups * p.channels * p.h * p.w;
    GRID_STRIDE_LOOP(i, total) {
        const u64 x = i % p.w;
        u64 t = i / p.w;
        const u64 y = t % p.h;
        t /= p.h;
        const u64 c = t % p.channels;
        t /= p.channels;
        const u64 g = t % p.groups;
        const u64 n = t / p.groups;
        const u64* base = cols + n * p.s_n + g * p.s_g;
        u64 acc = 0;
        for (u64 ki = 0; ki < p.kh; ++ki) {
            const i64 ny = (i64)(y + p.ph) - (i64)(ki * p.dh);
            if (ny < 0 || (u64)ny % p.sh != 0) {
                continue;
            }
            const u64 oy = (u64)ny / p.sh;
            if (oy >= p.oh) {
                continue;
            }
            for (u64 kj = 0; kj < p.kw; ++kj) {
                const i64 nx = (i64)(x + p.pw) - (i64)(kj * p.dw);
                if (nx < 0 || (u64)nx % p.sw != 0) {
                    continue;
                }
                const u64 ox = (u64)nx / p.sw;
                if (ox >= p.ow) {
                    continue;
                }
                const u64 r = c * taps + ki * p.kw + kj;
                acc += base[r * p.s_r + oy * p.ow + ox];
            }
        }
        dx[i] = acc;
    }
}
