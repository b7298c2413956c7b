// The AES-128-CTR keystream of Cloak's CUDA device: the pseudo-random words a party derives
// from a seed, made directly in GPU memory (Device::keystream).
//
// The stream is the concatenation of the blocks AES_key(i), i = 0, 1, 2, ..., with the counter
// i written big-endian in 16 bytes; word w of the u64 stream is bytes 8w..8w + 8 read
// little-endian, so counter block c holds stream words 2c (its bytes 0..8) and 2c + 1 (its
// bytes 8..16). The kernel writes stream words first_word .. first_word + len - 1 to
// out[0 .. len - 1]: it encrypts the counter blocks first_word / 2 + j for
// j = 0 .. blocks - 1, one block per thread and grid-stride step, and writes the words of
// each that fall inside the range (a stream that starts at an odd word skips the first
// block's low word; one that ends at an even word drops the last block's high word).
//
// AES-128 as in FIPS-197, with the state as four big-endian column words and the rounds as
// table look-ups ("T-tables"): te[0][x] is the MixColumns column of the substituted byte
// S[x] (bytes 2S, S, S, 3S from the top), te[1..3] are te[0] rotated right by 8, 16 and 24
// bits. Each block builds the tables in shared memory from the S-box (in constant memory)
// before its threads start. The round keys are expanded on the host (src/keystream.rs) and
// passed by value: 44 big-endian words, the layout of RoundKeys there.
//
// The counter is 128-bit, as in AES-CTR: block first_word / 2 + j with the carry into the
// high half. A u64 word offset never reaches it (first_word / 2 < 2^63 and j < 2^63), so the
// high half is 0 in practice; the carry keeps the kernel right for any base it is given.

typedef unsigned long long u64;
typedef unsigned int u32;

// The 11 round keys of AES-128: w[4r .. 4r + 3] is round r's key, as big-endian words.
struct RoundKeys {
    u32 w[44];
};

// The AES S-box (FIPS-197, figure 7).
__constant__ unsigned char AES_SBOX[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

// Multiplication by x (that is, 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, of a byte.
__device__ __forceinline__ u32 xtime(u32 b) {
    return ((b << 1) ^ ((b & 0x80u) ? 0x1bu : 0u)) & 0xffu;
}

__device__ __forceinline__ u32 rotr8(u32 x) {
    return (x >> 8) | (x << 24);
}

// The bytes of x in the opposite order: a big-endian word read little-endian.
__device__ __forceinline__ u32 bswap32(u32 x) {
    return __byte_perm(x, 0u, 0x0123u);
}

extern "C" __global__ void aes_ctr_u64(u64* out, u64 first_word, u64 len, RoundKeys rk) {
    __shared__ u32 te[4][256];
    for (u32 x = threadIdx.x; x < 256u; x += blockDim.x) {
        u32 s = AES_SBOX[x];
        u32 t = (xtime(s) << 24) | (s << 16) | (s << 8) | (xtime(s) ^ s);
        te[0][x] = t;
        te[1][x] = rotr8(t);
        te[2][x] = rotr8(rotr8(t));
        te[3][x] = rotr8(rotr8(rotr8(t)));
    }
    __syncthreads();

    // Stream word first_word + k goes to out[k]; the blocks cover the words from 2 * base on,
    // so shifted word v = 2 * j + h of block j is out[v - skip].
    u64 skip = first_word & 1ull;
    u64 base = first_word >> 1;
    u64 blocks = (len >> 1) + ((len | skip) & 1ull);
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x; j < blocks; j += stride) {
        // Counter block base + j, in 128 bits.
        u64 lo = base + j;
        u64 hi = (lo < base) ? 1ull : 0ull;
        u32 s0 = (u32)(hi >> 32) ^ rk.w[0];
        u32 s1 = (u32)hi ^ rk.w[1];
        u32 s2 = (u32)(lo >> 32) ^ rk.w[2];
        u32 s3 = (u32)lo ^ rk.w[3];
#pragma unroll
        for (int r = 1; r < 10; ++r) {
            u32 t0 = te[0][s0 >> 24] ^ te[1][(s1 >> 16) & 0xffu] ^ te[2][(s2 >> 8) & 0xffu]
                     ^ te[3][s3 & 0xffu] ^ rk.w[4 * r];
            u32 t1 = te[0][s1 >> 24] ^ te[1][(s2 >> 16) & 0xffu] ^ te[2][(s3 >> 8) & 0xffu]
                     ^ te[3][s0 & 0xffu] ^ rk.w[4 * r + 1];
            u32 t2 = te[0][s2 >> 24] ^ te[1][(s3 >> 16) & 0xffu] ^ te[2][(s0 >> 8) & 0xffu]
                     ^ te[3][s1 & 0xffu] ^ rk.w[4 * r + 2];
            u32 t3 = te[0][s3 >> 24] ^ te[1][(s0 >> 16) & 0xffu] ^ te[2][(s1 >> 8) & 0xffu]
                     ^ te[3][s2 & 0xffu] ^ rk.w[4 * r + 3];
            s0 = t0;
            s1 = t1;
            s2 = t2;
            s3 = t3;
        }
        // The last round has no MixColumns: S[x] alone, taken from the byte of a table entry
        // that holds it (te[2]'s top byte, te[3]'s second, te[0]'s third, te[1]'s bottom).
        u32 o0 = (te[2][s0 >> 24] & 0xff000000u) ^ (te[3][(s1 >> 16) & 0xffu] & 0x00ff0000u)
                 ^ (te[0][(s2 >> 8) & 0xffu] & 0x0000ff00u) ^ (te[1][s3 & 0xffu] & 0x000000ffu)
                 ^ rk.w[40];
        u32 o1 = (te[2][s1 >> 24] & 0xff000000u) ^ (te[3][(s2 >> 16) & 0xffu] & 0x00ff0000u)
                 ^ (te[0][(s3 >> 8) & 0xffu] & 0x0000ff00u) ^ (te[1][s0 & 0xffu] & 0x000000ffu)
                 ^ rk.w[41];
        u32 o2 = (te[2][s2 >> 24] & 0xff000000u) ^ (te[3][(s3 >> 16) & 0xffu] & 0x00ff0000u)
                 ^ (te[0][(s0 >> 8) & 0xffu] & 0x0000ff00u) ^ (te[1][s1 & 0xffu] & 0x000000ffu)
                 ^ rk.w[42];
        u32 o3 = (te[2][s3 >> 24] & 0xff000000u) ^ (te[3][(s0 >> 16) & 0xffu] & 0x00ff0000u)
                 ^ (te[0][(s1 >> 8) & 0xffu] & 0x0000ff00u) ^ (te[1][s2 & 0xffu] & 0x000000ffu)
                 ^ rk.w[43];
        // Bytes 0..8 and 8..16 of the block, little-endian.
        u64 w0 = (u64)bswap32(o0) | ((u64)bswap32(o1) << 32);
        u64 w1 = (u64)bswap32(o2) | ((u64)bswap32(o3) << 32);
        u64 v = 2ull * j;
        if (v >= skip && v - skip < len) {
            out[v - skip] = w0;
        }
        if (v + 1ull - skip < len) {
            out[v + 1ull - skip] = w1;
        }
    }
}
