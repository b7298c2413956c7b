// Elementwise, strided, gather and reduction kernels of Cloak's CUDA device.
//
// Every element is a ring element of Z_2^64: unsigned long long, so that sums, differences
// and products wrap mod 2^64 exactly as on the host. Each kernel is a grid-stride loop over
// its output (any grid size is correct; the host picks one). Shapes and strides travel as
// small structs passed by value; their layout must match the #[repr(C)] structs of
// src/launch.rs field for field (every field is a u64; MAX_RANK must equal launch::MAX_RANK).

typedef unsigned long long u64;
typedef long long i64;

#define MAX_RANK 8

// A row-major index space of `rank` axes and `n` elements, read through two strided
// operands: element i of the output is at a[offset_a + sum_d c_d * sa[d]] and
// b[offset_b + sum_d c_d * sb[d]], where (c_0, ..., c_{rank-1}) are i's coordinates.
// A stride of 0 repeats an element (broadcasting).
struct Indexing {
    u64 rank;
    u64 n;
    u64 offset_a;
    u64 offset_b;
    u64 shape[MAX_RANK];
    u64 sa[MAX_RANK];
    u64 sb[MAX_RANK];
};

// The two source positions of output element i.
__device__ __forceinline__ void locate(const Indexing& p, u64 i, u64* ia, u64* ib) {
    u64 rem = i;
    u64 a = p.offset_a;
    u64 b = p.offset_b;
    for (int d = (int)p.rank - 1; d >= 0; --d) {
        u64 extent = p.shape[d];
        u64 c = rem % extent;
        rem /= extent;
        a += c * p.sa[d];
        b += c * p.sb[d];
    }
    *ia = a;
    *ib = b;
}

// Binary operation codes: must match BinaryCode in src/launch.rs.
#define OP_ADD 0u
#define OP_SUB 1u
#define OP_MUL 2u
#define OP_XOR 3u
#define OP_AND 4u
#define OP_OR 5u

__device__ __forceinline__ u64 apply_binary(unsigned int op, u64 x, u64 y) {
    switch (op) {
        case OP_ADD: return x + y;
        case OP_SUB: return x - y;
        case OP_MUL: return x * y;
        case OP_XOR: return x ^ y;
        case OP_AND: return x & y;
        default: return x | y;
    }
}

// Unary operation codes: must match UnaryCode in src/launch.rs. `s` is the constant or the
// shift (the host checks shifts are below 64).
#define UOP_NEG 0u
#define UOP_NOT 1u
#define UOP_ADD 2u
#define UOP_SUB 3u
#define UOP_MUL 4u
#define UOP_AND 5u
#define UOP_XOR 6u
#define UOP_SHR_ARITH 7u
#define UOP_SHR_LOGICAL 8u
#define UOP_SHL 9u

__device__ __forceinline__ u64 apply_unary(unsigned int op, u64 x, u64 s) {
    switch (op) {
        case UOP_NEG: return (u64)0 - x;
        case UOP_NOT: return ~x;
        case UOP_ADD: return x + s;
        case UOP_SUB: return x - s;
        case UOP_MUL: return x * s;
        case UOP_AND: return x & s;
        case UOP_XOR: return x ^ s;
        // Arithmetic shift: the sign bit is copied in (a signed shift of a two's complement
        // value, as Rust's i64 >> does).
        case UOP_SHR_ARITH: return (u64)(((i64)x) >> s);
        case UOP_SHR_LOGICAL: return x >> s;
        default: return x << s;
    }
}

#define GRID_STRIDE_LOOP(i, n) \
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (u64)gridDim.x * blockDim.x)

// out[i] = value.
extern "C" __global__ void fill_u64(u64* out, u64 n, u64 value) {
    GRID_STRIDE_LOOP(i, n) { out[i] = value; }
}

// out[i] = op(a[i], b[i]): operands of the output's shape, the common case.
extern "C" __global__ void binary_same_u64(const u64* a, const u64* b, u64* out, u64 n,
                                           unsigned int op) {
    GRID_STRIDE_LOOP(i, n) { out[i] = apply_binary(op, a[i], b[i]); }
}

// out[i] = op(a[...], b[...]) with both operands broadcast to the output's shape.
extern "C" __global__ void binary_broadcast_u64(const u64* a, const u64* b, u64* out,
                                                unsigned int op, Indexing p) {
    GRID_STRIDE_LOOP(i, p.n) {
        u64 ia, ib;
        locate(p, i, &ia, &ib);
        out[i] = apply_binary(op, a[ia], b[ib]);
    }
}

// out[i] = op(a[i]) with the constant (or shift) s.
extern "C" __global__ void unary_u64(const u64* a, u64* out, u64 n, unsigned int op, u64 s) {
    GRID_STRIDE_LOOP(i, n) { out[i] = apply_unary(op, a[i], s); }
}

// out[i] = src[view position of i] (side a of the indexing; side b unused): permutes,
// broadcasts and slices.
extern "C" __global__ void strided_copy_u64(const u64* src, u64* out, Indexing p) {
    GRID_STRIDE_LOOP(i, p.n) {
        u64 ia, ib;
        locate(p, i, &ia, &ib);
        out[i] = src[ia];
    }
}

// out[position b of i] = src[position a of i]: writes one part of an assembly (concat, pad).
// The host guarantees that distinct i write distinct positions.
extern "C" __global__ void scatter_u64(const u64* src, u64* out, Indexing p) {
    GRID_STRIDE_LOOP(i, p.n) {
        u64 ia, ib;
        locate(p, i, &ia, &ib);
        out[ib] = src[ia];
    }
}

// out[i] = src[idx[i]] (the host checked every index).
extern "C" __global__ void take_u64(const u64* src, const u64* idx, u64* out, u64 n) {
    GRID_STRIDE_LOOP(i, n) { out[i] = src[idx[i]]; }
}

// Wrapping sum over the middle axis of a row-major [outer, len, inner] tensor: one thread per
// output element [outer, inner], neighbouring threads reading neighbouring elements.
extern "C" __global__ void sum_axis_u64(const u64* src, u64* out, u64 outer, u64 len,
                                        u64 inner) {
    GRID_STRIDE_LOOP(i, outer * inner) {
        u64 o = i / inner;
        u64 j = i % inner;
        const u64* base = src + o * len * inner + j;
        u64 acc = 0;
        for (u64 a = 0; a < len; ++a) {
            acc += base[a * inner];
        }
        out[i] = acc;
    }
}
