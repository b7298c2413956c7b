// The 16-bit-limb GEMM of Cloak's CUDA device: the two ends of a wrapping u64 product run as
// FP64 GEMMs (cuBLAS DGEMM), as CrypTen does.
//
// limb_split_u64 writes the four 16-bit limbs of each word as doubles, one plane per limb:
// planes[l * plane + e] = (x[e] >> 16 l) & 0xffff, exactly representable.
//
// limb_combine_u64 takes the ten limb-pair products A_i * B_j with i + j < 4 (computed by
// DGEMM; each entry is an exact integer below 2^53 as long as the inner dimension is at most
// 2^21), in the order (0,0) (0,1) (0,2) (0,3) (1,0) (1,1) (1,2) (2,0) (2,1) (3,0), plane
// q at p + q * plane, and writes (or, with accumulate non-zero, adds to) c[e] the sum of
// product << 16 (i + j), mod 2^64: the wrapping product. Pairs with i + j >= 4 are shifted
// out entirely.
//
// Both are grid-stride loops over the n elements. The layout of LimbArgs must match
// src/launch.rs (every field a u64, in this order).

typedef unsigned long long u64;

#define LIMB_PRODUCTS 10u

struct LimbArgs {
    u64 n;
    u64 plane;
    u64 accumulate;
};

extern "C" __global__ void limb_split_u64(const u64* __restrict__ x, double* __restrict__ planes, LimbArgs a) {
    for (u64 e = (u64)blockIdx.x * blockDim.x + threadIdx.x; e < a.n; e += (u64)gridDim.x * blockDim.x) {
        u64 v = x[e];
        planes[e] = (double)(v & 0xffffull);
        planes[a.plane + e] = (double)((v >> 16) & 0xffffull);
        planes[2 * a.plane + e] = (double)((v >> 32) & 0xffffull);
        planes[3 * a.plane + e] = (double)(v >> 48);
    }
}

extern "C" __global__ void limb_combine_u64(const double* __restrict__ p, u64* __restrict__ c, LimbArgs a) {
    for (u64 e = (u64)blockIdx.x * blockDim.x + threadIdx.x; e < a.n; e += (u64)gridDim.x * blockDim.x) {
        u64 acc = 0;
        unsigned q = 0;
        for (unsigned i = 0; i < 4; i++) {
            for (unsigned j = 0; i + j < 4; j++) {
                u64 term = (u64)p[q * a.plane + e];
                acc += term << (16 * (i + j));
                q++;
            }
        }
        c[e] = a.accumulate ? c[e] + acc : acc;
    }
}
