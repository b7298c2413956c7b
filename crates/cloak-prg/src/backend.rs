//! Which AES implementation the `aes` crate runs on this CPU.

/// Names the AES implementation that the `aes` crate picks on this machine:
/// `"vaes512"`, `"vaes256"`, `"aes-ni"`, `"armv8-aes"` or `"soft"`.
///
/// The `aes` crate (0.9) chooses its backend by itself, at run time, on every call; it offers no
/// way to ask which one it chose, so this function repeats its rules with the standard
/// library's `is_x86_feature_detected!`. What the `aes` 0.9.4 source does (checked in
/// `src/lib.rs` and `cpufeatures` 0.3.1 `src/x86.rs`):
///
/// - key expansion uses AES-NI when CPUID reports `aes`, else the bitsliced software AES;
/// - encryption tries, in this order, VAES-512 (`avx512f` and `vaes`, 64 blocks per batch),
///   VAES-256 (`vaes` alone, 32 blocks), AES-NI (`aes`, 8 blocks), software;
/// - `cpufeatures` counts `vaes` as present only when the OS has enabled the AVX-512 (ZMM)
///   register state in XCR0, even for the 256-bit path. So a CPU with VAES but without
///   AVX-512 (AMD Zen 3, Intel Alder Lake) gets AES-NI, not VAES-256. The standard library
///   reports an AVX-512 feature only when that same ZMM state is enabled, which is how this
///   function mirrors the rule; in practice `"vaes256"` never appears with aes 0.9.4;
/// - building with `--cfg aes_backend="soft"` forces software AES; `aes::hardware_accelerated()`
///   then answers `false`, and so does this function (`"soft"`).
#[must_use]
pub fn aes_backend() -> &'static str {
    if !aes::hardware_accelerated() {
        return "soft";
    }
    x86_or_arm_backend()
}

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn x86_or_arm_backend() -> &'static str {
    let vaes = std::arch::is_x86_feature_detected!("vaes");
    if vaes && std::arch::is_x86_feature_detected!("avx512f") {
        return "vaes512";
    }
    // Any AVX-512 feature implies that the OS saves ZMM state, which cpufeatures requires.
    let zmm_state = std::arch::is_x86_feature_detected!("avx512vl")
        || std::arch::is_x86_feature_detected!("avx512bw")
        || std::arch::is_x86_feature_detected!("avx512dq")
        || std::arch::is_x86_feature_detected!("avx512cd");
    if vaes && zmm_state {
        return "vaes256";
    }
    if std::arch::is_x86_feature_detected!("aes") { "aes-ni" } else { "soft" }
}

#[cfg(target_arch = "aarch64")]
fn x86_or_arm_backend() -> &'static str {
    if std::arch::is_aarch64_feature_detected!("aes") { "armv8-aes" } else { "soft" }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
fn x86_or_arm_backend() -> &'static str {
    "soft"
}
