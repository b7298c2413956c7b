//! The reported AES backend agrees with the `aes` crate and the CPU.

use cloak_prg::aes_backend;

#[test]
fn backend_is_known_and_agrees_with_the_aes_crate() {
    let backend = aes_backend();
    eprintln!("aes backend on this machine: {backend}");
    assert!(["vaes512", "vaes256", "aes-ni", "armv8-aes", "soft"].contains(&backend), "{backend}");
    assert_eq!(backend != "soft", aes::hardware_accelerated());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn backend_follows_cpu_features() {
    let backend = aes_backend();
    let vaes = std::arch::is_x86_feature_detected!("vaes");
    let avx512f = std::arch::is_x86_feature_detected!("avx512f");
    let aes_ni = std::arch::is_x86_feature_detected!("aes");
    match backend {
        "vaes512" => assert!(vaes && avx512f && aes_ni),
        "vaes256" => assert!(vaes && !avx512f && aes_ni),
        "aes-ni" => assert!(aes_ni && !(vaes && avx512f)),
        other => assert!(!aes_ni, "{other} reported on a CPU with AES-NI"),
    }
}
