// Wrapping 64-bit integer GEMM of Cloak's CUDA device: C = A * B mod 2^64, for any m, n, k.
//
// Tiled through shared memory: a block of 256 threads computes a 64 x 64 tile of C, each
// thread a 4 x 4 sub-tile (rows ty + 16 i, columns tx + 16 j), walking k in slices of 16.
// Tiles at the edges load zeros outside the matrices and write only inside C, so m, n and k
// need not be multiples of anything.
//
// The operands are strided: A(i, p) = A[i * a_rs + p * a_cs], B(p, j) = B[p * b_rs + j * b_cs],
// C(i, j) = C[i * c_rs + j], so a transposed operand (a weight read as W^T, an im2col matrix
// read transposed) is a matter of strides. A batch of products runs on gridDim.z: product z
// (counted from z_base) is split as z1 = z / batch_inner, z2 = z % batch_inner and offsets each
// operand by z1 * s1 + z2 * s2 (a convolution's images and channel groups in one launch).
//
// With `accumulate` non-zero the product is added to C instead of replacing it (a weight
// gradient summed over chunks of images).
//
// The layout of GemmArgs must match src/launch.rs (every field a u64, in this order).

typedef unsigned long long u64;

#define BM 64
#define BN 64
#define BK 16
#define THREADS 256

struct GemmArgs {
    u64 m;
    u64 n;
    u64 k;
    u64 a_rs;
    u64 a_cs;
    u64 b_rs;
    u64 b_cs;
    u64 c_rs;
    u64 batch_inner;
    u64 a_s1;
    u64 a_s2;
    u64 b_s1;
    u64 b_s2;
    u64 c_s1;
    u64 c_s2;
    u64 tiles_n;
    u64 z_base;
    u64 accumulate;
};

extern "C" __global__ void __launch_bounds__(THREADS) gemm_u64(
    const u64* __restrict__ a, const u64* __restrict__ b, u64* __restrict__ c, GemmArgs p) {
    // One padding column: threads storing down a column hit different banks.
    __shared__ u64 as[BK][BM + 1];
    __shared__ u64 bs[BK][BN + 1];

    const u64 z = p.z_base + blockIdx.z;
    const u64 z1 = z / p.batch_inner;
    const u64 z2 = z % p.batch_inner;
    const u64* A = a + z1 * p.a_s1 + z2 * p.a_s2;
    const u64* B = b + z1 * p.b_s1 + z2 * p.b_s2;
    u64* C = c + z1 * p.c_s1 + z2 * p.c_s2;

    const u64 row0 = ((u64)blockIdx.x / p.tiles_n) * BM;
    const u64 col0 = ((u64)blockIdx.x % p.tiles_n) * BN;
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;

    // Which index neighbouring threads share while loading: the one along which the operand
    // is contiguous, so that loads coalesce.
    const bool a_k_contiguous = p.a_cs == 1;
    const bool b_n_contiguous = p.b_cs == 1 || p.b_rs != 1;

    u64 acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            acc[i][j] = 0;
        }
    }

    for (u64 k0 = 0; k0 < p.k; k0 += BK) {
        for (int l = tid; l < BM * BK; l += THREADS) {
            int r, kk;
            if (a_k_contiguous) {
                r = l / BK;
                kk = l % BK;
            } else {
                r = l % BM;
                kk = l / BM;
            }
            const u64 gr = row0 + r;
            const u64 gk = k0 + kk;
            as[kk][r] = (gr < p.m && gk < p.k) ? A[gr * p.a_rs + gk * p.a_cs] : 0;
        }
        for (int l = tid; l < BK * BN; l += THREADS) {
            int kk, cc;
            if (b_n_contiguous) {
                kk = l / BN;
                cc = l % BN;
            } else {
                kk = l % BK;
                cc = l / BK;
            }
            const u64 gk = k0 + kk;
            const u64 gc = col0 + cc;
            bs[kk][cc] = (gk < p.k && gc < p.n) ? B[gk * p.b_rs + gc * p.b_cs] : 0;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            u64 av[4];
            u64 bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                av[i] = as[kk][ty + 16 * i];
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                bv[j] = bs[kk][tx + 16 * j];
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    acc[i][j] += av[i] * bv[j];
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const u64 r = row0 + ty + 16 * i;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const u64 cc = col0 + tx + 16 * j;
            if (r < p.m && cc < p.n) {
                u64* out = &C[r * p.c_rs + cc];
                *out = p.accumulate ? *out + acc[i][j] : acc[i][j];
            }
        }
    }
}
