//! The AES-128-CTR keystream on the device
//! ([`Device::keystream`](cloak_ring::Device::keystream)): the key schedule on the host, a
//! launch of `aes_ctr_u64` (`kernels/aes.cu`).
//!
//! The stream is the ring layer's reference
//! ([`cloak_ring::device::keystream::keystream`]): counter block `i` is `AES_key(i)` with `i`
//! big-endian in 16 bytes, read as little-endian `u64` words, so block `c` holds words `2c`
//! and `2c + 1`. The kernel encrypts the blocks `first_word / 2 ..` and writes the words of
//! each that fall in the range asked for; the host expands the key (FIPS-197, section 5.2)
//! and passes the 44 round-key words by value, so nothing is uploaded: the words are made in
//! GPU memory, and a party's seed-derived shares never cross from the host.

use cloak_ring::RingError;
use cudarc::driver::{DeviceRepr, PushKernelArg};

use crate::buffer::GpuBuffer;
use crate::context::Gpu;
use crate::kernels::Kernel;
use crate::launch::elementwise_config;

/// The AES S-box (FIPS-197, figure 7); `AES_SBOX` in `aes.cu` is the same table.
pub(crate) const SBOX: [u8; 256] = [
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
];

/// The round constants of AES-128's key schedule: `Rcon[i]` is `x^(i-1)` in GF(2^8), in the
/// top byte of a word.
const RCON: [u8; 10] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];

/// Round-key words of AES-128.
pub(crate) const ROUND_KEY_WORDS: usize = 44;

/// The 11 round keys of AES-128 (`RoundKeys` in `aes.cu`): `w[4r..4r + 4]` is round `r`'s
/// key, each word the big-endian reading of four key-schedule bytes (FIPS-197's `w[i]`).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoundKeys {
    /// The expanded key.
    pub(crate) w: [u32; ROUND_KEY_WORDS],
}

// SAFETY: `#[repr(C)]`, 44 plain `u32`s (176 bytes, no padding); the kernel declares the same
// struct.
unsafe impl DeviceRepr for RoundKeys {}

impl std::fmt::Debug for RoundKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the words: they are the key.
        f.write_str("RoundKeys(..)")
    }
}

/// The AES-128 key schedule (FIPS-197, section 5.2, `KeyExpansion`).
pub(crate) fn expand_key(key: &[u8; 16]) -> RoundKeys {
    let mut w = [0u32; ROUND_KEY_WORDS];
    for (i, chunk) in key.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for i in 4..ROUND_KEY_WORDS {
        let mut temp = w[i - 1];
        if i % 4 == 0 {
            temp = sub_word(temp.rotate_left(8)) ^ (u32::from(RCON[i / 4 - 1]) << 24);
        }
        w[i] = w[i - 4] ^ temp;
    }
    RoundKeys { w }
}

/// The S-box applied to each byte of a word (`SubWord`).
fn sub_word(x: u32) -> u32 {
    u32::from_be_bytes(x.to_be_bytes().map(|b| SBOX[usize::from(b)]))
}

/// The counter blocks a stream of `len` words from word `first_word` touches: the kernel's
/// `blocks`, `ceil((first_word % 2 + len) / 2)` without overflow.
pub(crate) fn counter_blocks(first_word: u64, len: u64) -> u64 {
    (len >> 1) + ((len | (first_word & 1)) & 1)
}

/// Words `first_word..first_word + len` of the AES-128-CTR keystream under `key`, made on
/// the GPU.
///
/// # Errors
/// [`RingError::Device`] if the allocation, the kernel's compilation or the launch fails.
pub(crate) fn keystream(
    gpu: &Gpu,
    key: &[u8; 16],
    first_word: u64,
    len: usize,
) -> Result<GpuBuffer, RingError> {
    let mut out = gpu.alloc(len)?;
    if len == 0 {
        return Ok(out);
    }
    let rk = expand_key(key);
    let n = len as u64;
    let blocks = counter_blocks(first_word, n);
    let f = gpu.function(Kernel::Keystream)?;
    let mut launch = gpu.stream().launch_builder(&f);
    launch.arg(&mut out.slice).arg(&first_word).arg(&n).arg(&rk);
    // SAFETY: aes_ctr_u64(u64* out, u64 first_word, u64 len, RoundKeys rk); the kernel writes
    // out[k] only for k < len, and out holds len elements. The parameters are copied when the
    // launch is queued, so `rk` may go right after.
    unsafe { launch.launch(elementwise_config(blocks as usize)) }
        .map_err(|e| gpu.err("keystream", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The kernel cannot run without a GPU, so its per-thread code is emulated here line by
    //! line (the same tables, built the same way from the S-box parsed out of `aes.cu`; the
    //! same rounds; the same counter, skip and bounds arithmetic; the same grid-stride loop)
    //! and compared with the ring layer's reference stream, which uses the `aes` crate.

    use super::*;
    use crate::kernels::Module;
    use cloak_ring::device::keystream::keystream as reference;

    /// `AES_SBOX` as written in `aes.cu`.
    fn kernel_sbox() -> [u8; 256] {
        let src = Module::Aes.source();
        let start = src.find("AES_SBOX[256] = {").expect("AES_SBOX defined");
        let body = &src[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        let bytes: Vec<u8> = body
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).expect("a hex byte"))
            .collect();
        bytes.try_into().expect("256 entries")
    }

    // --- The kernel, emulated. -----------------------------------------------------------

    fn xtime(b: u32) -> u32 {
        ((b << 1) ^ if b & 0x80 != 0 { 0x1b } else { 0 }) & 0xff
    }

    /// The kernel's `(x >> 8) | (x << 24)`.
    fn rotr8(x: u32) -> u32 {
        x.rotate_right(8)
    }

    /// CUDA's `__byte_perm(x, y, s)`: byte n of the result is byte `s`'s nibble n of `y:x`.
    fn byte_perm(x: u32, y: u32, s: u32) -> u32 {
        let bytes = ((u64::from(y) << 32) | u64::from(x)).to_le_bytes();
        (0..4).fold(0, |acc, n| acc | (u32::from(bytes[((s >> (4 * n)) & 7) as usize]) << (8 * n)))
    }

    fn bswap32(x: u32) -> u32 {
        byte_perm(x, 0, 0x0123)
    }

    /// The shared tables of one block, built by its `block_dim` threads as the kernel does.
    fn tables(sbox: &[u8; 256], block_dim: u32) -> [[u32; 256]; 4] {
        let mut te = [[0u32; 256]; 4];
        for thread in 0..block_dim {
            let mut x = thread;
            while x < 256 {
                let s = u32::from(sbox[x as usize]);
                let t = (xtime(s) << 24) | (s << 16) | (s << 8) | (xtime(s) ^ s);
                te[0][x as usize] = t;
                te[1][x as usize] = rotr8(t);
                te[2][x as usize] = rotr8(rotr8(t));
                te[3][x as usize] = rotr8(rotr8(rotr8(t)));
                x += block_dim;
            }
        }
        te
    }

    /// The kernel's counter: block `base + j` in 128 bits, as (high, low) halves.
    fn counter(base: u64, j: u64) -> (u64, u64) {
        let lo = base.wrapping_add(j);
        let hi = u64::from(lo < base);
        (hi, lo)
    }

    /// The kernel's encryption of the counter block (hi, lo): the output column words.
    fn encrypt(te: &[[u32; 256]; 4], rk: &RoundKeys, (hi, lo): (u64, u64)) -> [u32; 4] {
        let t = |k: usize, x: u32| te[k][x as usize];
        let mut s0 = (hi >> 32) as u32 ^ rk.w[0];
        let mut s1 = hi as u32 ^ rk.w[1];
        let mut s2 = (lo >> 32) as u32 ^ rk.w[2];
        let mut s3 = lo as u32 ^ rk.w[3];
        for r in 1..10 {
            let t0 = t(0, s0 >> 24)
                ^ t(1, (s1 >> 16) & 0xff)
                ^ t(2, (s2 >> 8) & 0xff)
                ^ t(3, s3 & 0xff)
                ^ rk.w[4 * r];
            let t1 = t(0, s1 >> 24)
                ^ t(1, (s2 >> 16) & 0xff)
                ^ t(2, (s3 >> 8) & 0xff)
                ^ t(3, s0 & 0xff)
                ^ rk.w[4 * r + 1];
            let t2 = t(0, s2 >> 24)
                ^ t(1, (s3 >> 16) & 0xff)
                ^ t(2, (s0 >> 8) & 0xff)
                ^ t(3, s1 & 0xff)
                ^ rk.w[4 * r + 2];
            let t3 = t(0, s3 >> 24)
                ^ t(1, (s0 >> 16) & 0xff)
                ^ t(2, (s1 >> 8) & 0xff)
                ^ t(3, s2 & 0xff)
                ^ rk.w[4 * r + 3];
            (s0, s1, s2, s3) = (t0, t1, t2, t3);
        }
        let o0 = (t(2, s0 >> 24) & 0xff00_0000)
            ^ (t(3, (s1 >> 16) & 0xff) & 0x00ff_0000)
            ^ (t(0, (s2 >> 8) & 0xff) & 0x0000_ff00)
            ^ (t(1, s3 & 0xff) & 0x0000_00ff)
            ^ rk.w[40];
        let o1 = (t(2, s1 >> 24) & 0xff00_0000)
            ^ (t(3, (s2 >> 16) & 0xff) & 0x00ff_0000)
            ^ (t(0, (s3 >> 8) & 0xff) & 0x0000_ff00)
            ^ (t(1, s0 & 0xff) & 0x0000_00ff)
            ^ rk.w[41];
        let o2 = (t(2, s2 >> 24) & 0xff00_0000)
            ^ (t(3, (s3 >> 16) & 0xff) & 0x00ff_0000)
            ^ (t(0, (s0 >> 8) & 0xff) & 0x0000_ff00)
            ^ (t(1, s1 & 0xff) & 0x0000_00ff)
            ^ rk.w[42];
        let o3 = (t(2, s3 >> 24) & 0xff00_0000)
            ^ (t(3, (s0 >> 16) & 0xff) & 0x00ff_0000)
            ^ (t(0, (s1 >> 8) & 0xff) & 0x0000_ff00)
            ^ (t(1, s2 & 0xff) & 0x0000_00ff)
            ^ rk.w[43];
        [o0, o1, o2, o3]
    }

    /// `aes_ctr_u64` on a grid of `grid` blocks of `block_dim` threads, writing into `out`
    /// (`None`: not written); panics if a word is written twice or out of bounds.
    fn emulate(
        (grid, block_dim): (u32, u32),
        out: &mut [Option<u64>],
        first_word: u64,
        len: u64,
        rk: &RoundKeys,
    ) {
        let sbox = kernel_sbox();
        let mut write = |k: u64, w: u64| {
            let slot = out.get_mut(k as usize).expect("a write inside out");
            assert!(slot.replace(w).is_none(), "word {k} written twice");
        };
        for block in 0..grid {
            let te = tables(&sbox, block_dim);
            for thread in 0..block_dim {
                let skip = first_word & 1;
                let base = first_word >> 1;
                let blocks = (len >> 1) + ((len | skip) & 1);
                let stride = u64::from(grid) * u64::from(block_dim);
                let mut j = u64::from(block) * u64::from(block_dim) + u64::from(thread);
                while j < blocks {
                    let [o0, o1, o2, o3] = encrypt(&te, rk, counter(base, j));
                    let w0 = u64::from(bswap32(o0)) | (u64::from(bswap32(o1)) << 32);
                    let w1 = u64::from(bswap32(o2)) | (u64::from(bswap32(o3)) << 32);
                    let v = 2 * j;
                    if v >= skip && v - skip < len {
                        write(v - skip, w0);
                    }
                    if v + 1 - skip < len {
                        write(v + 1 - skip, w1);
                    }
                    j += stride;
                }
            }
        }
    }

    /// What the kernel writes for a stream, on the grid the host launches and on `grid`.
    fn emulated_stream(key: &[u8; 16], first_word: u64, len: usize, grid: (u32, u32)) -> Vec<u64> {
        let rk = expand_key(key);
        let mut out = vec![None; len];
        emulate(grid, &mut out, first_word, len as u64, &rk);
        out.into_iter()
            .enumerate()
            .map(|(k, w)| w.unwrap_or_else(|| panic!("word {k} of {len} never written")))
            .collect()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn key_of(s: &str) -> [u8; 16] {
        hex(s).try_into().expect("16 bytes")
    }

    /// The emulated block function on a 16-byte block, as 16 bytes.
    fn encrypt_bytes(key: &[u8; 16], block: &[u8]) -> Vec<u8> {
        let te = tables(&kernel_sbox(), 256);
        let hi = u64::from_be_bytes(block[..8].try_into().unwrap());
        let lo = u64::from_be_bytes(block[8..].try_into().unwrap());
        encrypt(&te, &expand_key(key), (hi, lo)).iter().flat_map(|o| o.to_be_bytes()).collect()
    }

    // --- The kernel's own source, compiled for the host. ------------------------------------

    /// Definitions that make `aes.cu` plain C++: qualifiers dropped, shared and constant
    /// memory as statics, the thread indices as globals, `__byte_perm` as CUDA defines it.
    const HOST_PRELUDE: &str = r#"
#include <cstdio>
#include <cstdlib>
#include <vector>
struct Dim3 { unsigned int x, y, z; };
static Dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __constant__ static
#define __shared__ static
#define __syncthreads() ((void)0)
static inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
    unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned int r = 0;
    for (int n = 0; n < 4; ++n) {
        r |= (unsigned int)((v >> (8 * ((s >> (4 * n)) & 7u))) & 0xffu) << (8 * n);
    }
    return r;
}
"#;

    /// Reads cases from stdin (44 round-key words, first word, length, grid, block size: hex
    /// and decimal) and prints each stream's words, or `guard` on a write outside the range.
    /// The threads of a block run one after another; the first, single-threaded launch fills
    /// the shared tables, so later threads never read an entry before it is written (the
    /// barrier's job on a GPU).
    const HOST_MAIN: &str = r#"
int main() {
    RoundKeys rk;
    unsigned long long first, len;
    unsigned int grid, block;
    blockDim.x = 1; gridDim.x = 1; blockIdx.x = 0; threadIdx.x = 0;
    aes_ctr_u64(nullptr, 0, 0, rk);
    for (;;) {
        for (int i = 0; i < 44; ++i) {
            if (scanf("%x", &rk.w[i]) != 1) return 0;
        }
        if (scanf("%llu %llu %u %u", &first, &len, &grid, &block) != 4) return 2;
        std::vector<u64> buf(len + 2, 0x5a5a5a5a5a5a5a5aull);
        gridDim.x = grid; blockDim.x = block;
        for (unsigned int b = 0; b < grid; ++b) {
            for (unsigned int t = 0; t < block; ++t) {
                blockIdx.x = b; threadIdx.x = t;
                aes_ctr_u64(buf.data() + 1, first, len, rk);
            }
        }
        if (buf[0] != 0x5a5a5a5a5a5a5a5aull || buf[len + 1] != 0x5a5a5a5a5a5a5a5aull) {
            printf("guard\n");
            continue;
        }
        for (unsigned long long k = 0; k < len; ++k) printf("%016llx ", buf[k + 1]);
        printf("\n");
    }
}
"#;

    /// `aes.cu` compiled with the host's C++ compiler (`$CXX`, else `c++`), or why not.
    fn host_kernel(dir: &std::path::Path) -> Result<std::path::PathBuf, String> {
        let kernel = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/aes.cu");
        let harness = dir.join("aes_host.cpp");
        let text = format!("{HOST_PRELUDE}\n#include \"{}\"\n{HOST_MAIN}", kernel.display());
        std::fs::write(&harness, text).map_err(|e| e.to_string())?;
        let exe = dir.join("aes_host");
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
        let out = std::process::Command::new(&cxx)
            .args(["-std=c++17", "-O1", "-o"])
            .arg(&exe)
            .arg(&harness)
            .output()
            .map_err(|e| format!("{cxx}: {e}"))?;
        if out.status.success() {
            Ok(exe)
        } else {
            // A compiler that runs but rejects the source is a failure, not a skip.
            panic!("{cxx} rejected aes.cu:\n{}", String::from_utf8_lossy(&out.stderr));
        }
    }

    // --- The tests. ----------------------------------------------------------------------

    #[test]
    fn the_kernel_source_run_on_the_host_makes_the_reference_stream() {
        let dir = std::env::temp_dir().join(format!("cloak-gpu-aes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let exe = match host_kernel(&dir) {
            Ok(exe) => exe,
            Err(why) => {
                eprintln!("skipped: no C++ compiler to run aes.cu on the host: {why}");
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        };
        let keys = [
            key_of("000102030405060708090a0b0c0d0e0f"),
            core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a),
        ];
        let mut cases = Vec::new();
        for key in &keys {
            for first in [0u64, 1, 2, 63, 64, 65, (1 << 40) + 1, u64::MAX] {
                for len in [0usize, 1, 2, 3, 1000] {
                    for (grid, block) in [(1u32, 1u32), (3, 1), (2, 5), (2, 256)] {
                        cases.push((key, first, len, grid, block));
                    }
                }
            }
        }
        let mut input = String::new();
        for &(key, first, len, grid, block) in &cases {
            for w in expand_key(key).w {
                input += &format!("{w:08x} ");
            }
            input += &format!("{first} {len} {grid} {block}\n");
        }
        // Through a file: a pipe would block the child's output while its input is written.
        let input_file = dir.join("cases.txt");
        std::fs::write(&input_file, input).expect("cases written");
        let stdin = std::fs::File::open(&input_file).expect("cases readable");
        let out = std::process::Command::new(&exe)
            .stdin(stdin)
            .output()
            .expect("the compiled kernel runs");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "the compiled kernel exited with {}", out.status);
        let text = String::from_utf8(out.stdout).expect("text");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), cases.len(), "one stream per case");
        for (&(key, first, len, grid, block), line) in cases.iter().zip(lines) {
            let what = format!("key {key:02x?}, from {first}, {len} words, grid {grid} x {block}");
            assert_ne!(line, "guard", "{what}: a write outside the stream");
            let got: Vec<u64> =
                line.split_whitespace().map(|w| u64::from_str_radix(w, 16).unwrap()).collect();
            assert_eq!(got, reference::<u64>(key, first, len), "{what}");
        }
    }

    #[test]
    fn the_key_schedule_is_fips_197_appendix_a1() {
        let rk = expand_key(&key_of("2b7e151628aed2a6abf7158809cf4f3c"));
        // w[4r..4r + 4], round r = 0..=10, as FIPS-197 lists them.
        let rounds = [
            "2b7e1516 28aed2a6 abf71588 09cf4f3c",
            "a0fafe17 88542cb1 23a33939 2a6c7605",
            "f2c295f2 7a96b943 5935807a 7359f67f",
            "3d80477d 4716fe3e 1e237e44 6d7a883b",
            "ef44a541 a8525b7f b671253b db0bad00",
            "d4d1c6f8 7c839d87 caf2b8bc 11f915bc",
            "6d88a37a 110b3efd dbf98641 ca0093fd",
            "4e54f70e 5f5fc9f3 84a64fb2 4ea6dc4f",
            "ead27321 b58dbad2 312bf560 7f8d292f",
            "ac7766f3 19fadc21 28d12941 575c006e",
            "d014f9a8 c9ee2589 e13f0cc8 b6630ca6",
        ];
        let want: Vec<u32> = rounds
            .iter()
            .flat_map(|r| r.split(' ').map(|w| u32::from_str_radix(w, 16).unwrap()))
            .collect();
        assert_eq!(want.len(), 44);
        for (i, (&got, &w)) in rk.w.iter().zip(&want).enumerate() {
            assert_eq!(got, w, "w[{i}] is {got:08x}, FIPS-197 says {w:08x}");
        }
        assert_eq!(format!("{rk:?}"), "RoundKeys(..)", "the key stays out of logs");
    }

    #[test]
    fn the_s_box_is_the_inverse_then_the_affine_map_and_the_kernels() {
        let mul = |mut a: u8, mut b: u8| {
            let mut r = 0u8;
            while b != 0 {
                if b & 1 != 0 {
                    r ^= a;
                }
                a = (a << 1) ^ if a & 0x80 != 0 { 0x1b } else { 0 };
                b >>= 1;
            }
            r
        };
        for x in 0..=255u8 {
            let inv = (1..=255u8).find(|&y| mul(x, y) == 1).unwrap_or(0);
            let affine = inv
                ^ inv.rotate_left(1)
                ^ inv.rotate_left(2)
                ^ inv.rotate_left(3)
                ^ inv.rotate_left(4)
                ^ 0x63;
            assert_eq!(SBOX[usize::from(x)], affine, "S[{x:#04x}]");
        }
        assert_eq!(kernel_sbox(), SBOX, "aes.cu's AES_SBOX differs from the host's");
    }

    #[test]
    fn round_keys_are_the_kernels_struct() {
        assert_eq!(size_of::<RoundKeys>(), 176);
        let src = Module::Aes.source();
        let start = src.find("struct RoundKeys {").expect("struct RoundKeys defined");
        let body = &src[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        let fields: Vec<&str> = body.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert_eq!(fields, [format!("u32 w[{ROUND_KEY_WORDS}];")]);
        assert!(src.contains("typedef unsigned int u32;"));
    }

    #[test]
    fn the_emulated_block_function_is_fips_197() {
        // Appendix C.1 (AES-128) and appendix B (the cipher example).
        for (key, plain, cipher) in [
            (
                "000102030405060708090a0b0c0d0e0f",
                "00112233445566778899aabbccddeeff",
                "69c4e0d86a7b0430d8cdb78070b4c55a",
            ),
            (
                "2b7e151628aed2a6abf7158809cf4f3c",
                "3243f6a8885a308d313198a2e0370734",
                "3925841d02dc09fbdc118597196a0b32",
            ),
        ] {
            assert_eq!(encrypt_bytes(&key_of(key), &hex(plain)), hex(cipher), "key {key}");
        }
    }

    #[test]
    fn the_counter_carries_into_the_high_half() {
        assert_eq!(counter(5, 3), (0, 8));
        assert_eq!(counter(u64::MAX, 0), (0, u64::MAX));
        assert_eq!(counter(u64::MAX, 1), (1, 0));
        assert_eq!(counter(u64::MAX - 2, 7), (1, 4));
        // The block past 2^64 - 1 is AES_key(2^64): the carried counter's bytes.
        let key = key_of("000102030405060708090a0b0c0d0e0f");
        let te = tables(&kernel_sbox(), 256);
        let got: Vec<u8> = encrypt(&te, &expand_key(&key), counter(u64::MAX, 1))
            .iter()
            .flat_map(|o| o.to_be_bytes())
            .collect();
        assert_eq!(got, encrypt_bytes(&key, &(1u128 << 64).to_be_bytes()));
        assert_ne!(got, encrypt_bytes(&key, &0u128.to_be_bytes()), "the carry was dropped");
    }

    #[test]
    fn the_launch_counts_the_blocks_the_kernel_walks() {
        for first in [0u64, 1, 2, 3, 63, 64, 65, u64::MAX - 1, u64::MAX] {
            for len in [0u64, 1, 2, 3, 4, 1000, 1001, u64::MAX - 1, u64::MAX] {
                let want = (u128::from(first % 2) + u128::from(len)).div_ceil(2);
                assert_eq!(u128::from(counter_blocks(first, len)), want, "{first}, {len}");
            }
        }
    }

    #[test]
    fn the_emulated_kernel_makes_the_reference_stream() {
        let keys = [
            key_of("000102030405060708090a0b0c0d0e0f"),
            key_of("2b7e151628aed2a6abf7158809cf4f3c"),
            [0u8; 16],
            [0xff; 16],
            core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a),
        ];
        let offsets = [0u64, 1, 2, 63, 64, 65, (1 << 40) + 1, u64::MAX - 2, u64::MAX];
        for key in &keys {
            for first in offsets {
                for len in [0usize, 1, 2, 3, 1000] {
                    let want = reference::<u64>(key, first, len);
                    let launched = elementwise_config(counter_blocks(first, len as u64) as usize);
                    let grids = [
                        (launched.grid_dim.0, launched.block_dim.0),
                        // Grid-stride steps, and fewer threads than table entries.
                        (2, 3),
                        (1, 1),
                    ];
                    for grid in grids {
                        let got = emulated_stream(key, first, len, grid);
                        assert_eq!(
                            got, want,
                            "key {key:02x?}, from {first}, {len} words, {grid:?}"
                        );
                    }
                }
            }
        }
    }
}
