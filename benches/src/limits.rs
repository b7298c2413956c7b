//! Limits measured on this kind of machine (2-core Xeon with AVX-512, loopback networking) with
//! plain C programs: what the Rust figures are compared with.

/// u64 GEMM with a register-tiled AVX-512 (`vpmullq`) micro-kernel: 12.4-13.6 G MAC/s per
/// core; the middle of the range.
pub const GEMM_GMACS_PER_CORE: f64 = 13.0;
/// AES-128-CTR keystream, one core.
pub const AES_CTR_GBPS: f64 = 9.4;
/// Loopback TCP, one stream.
pub const TCP_GBPS: f64 = 5.2;
/// Loopback TCP ping-pong round trip, microseconds.
pub const PING_PONG_US: f64 = 58.0;
