//! The choice of GEMM micro-kernel: the families, which ones this CPU can run (detected once
//! at first use, then cached), and checked tokens for choosing one explicitly.

use std::sync::OnceLock;

/// Whether the CPU has all the given x86 features (`false` on other architectures).
macro_rules! detected {
    ($($feature:tt),+) => {{
        #[cfg(target_arch = "x86_64")]
        let yes = true $(&& std::arch::is_x86_feature_detected!($feature))+;
        #[cfg(not(target_arch = "x86_64"))]
        let yes = false;
        yes
    }};
}
pub(crate) use detected;

/// A family of GEMM micro-kernels.
///
/// [`gemm_u64`](super::gemm_u64) and [`gemm_u32`](super::gemm_u32) pick the fastest one the CPU supports; the `*_with` functions
/// take one explicitly (checked with [`GemmKernel::for_u64`] / [`GemmKernel::for_u32`]), so
/// that tests can check every path on one machine and benchmarks can compare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmKernel {
    /// `u64` only: AVX-512 IFMA, three 52-bit multiply-adds per eight products.
    Avx512Ifma,
    /// `u32` only: AVX-512 VNNI, three 16-bit dot products per 32 products.
    Avx512Vnni,
    /// AVX-512: `vpmullq` (`u64`, needs AVX-512DQ) or `vpmulld` (`u32`).
    Avx512,
    /// AVX2: 32-bit partial products for `u64`, `vpmulld` for `u32`.
    Avx2,
    /// Plain Rust: any CPU.
    Portable,
}

impl GemmKernel {
    /// Every kernel family, fastest first.
    pub const ALL: [GemmKernel; 5] =
        [Self::Avx512Ifma, Self::Avx512Vnni, Self::Avx512, Self::Avx2, Self::Portable];

    /// A short name for logs and benchmark tables: `"avx512ifma"`, `"avx512vnni"`,
    /// `"avx512"`, `"avx2"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Ifma => "avx512ifma",
            Self::Avx512Vnni => "avx512vnni",
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }

    /// Whether this kernel can run `u64` products on this CPU.
    pub fn supports_u64(self) -> bool {
        match self {
            Self::Avx512Ifma => detected!("avx512f", "avx512ifma"),
            Self::Avx512Vnni => false,
            Self::Avx512 => detected!("avx512f", "avx512dq"),
            Self::Avx2 => detected!("avx2"),
            Self::Portable => true,
        }
    }

    /// Whether this kernel can run `u32` products on this CPU.
    pub fn supports_u32(self) -> bool {
        match self {
            Self::Avx512Ifma => false,
            Self::Avx512Vnni => detected!("avx512f", "avx512vnni"),
            Self::Avx512 => detected!("avx512f"),
            Self::Avx2 => detected!("avx2"),
            Self::Portable => true,
        }
    }
}

/// A [`GemmKernel`] checked to run `u64` products on this CPU: the argument of
/// [`gemm_u64_with`](super::gemm_u64_with), so that an unsupported kernel cannot be requested at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct U64Kernel(GemmKernel);

/// A [`GemmKernel`] checked to run `u32` products on this CPU: the argument of
/// [`gemm_u32_with`](super::gemm_u32_with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct U32Kernel(GemmKernel);

impl GemmKernel {
    /// This kernel for `u64` products, if this CPU can run it.
    pub fn for_u64(self) -> Option<U64Kernel> {
        self.supports_u64().then_some(U64Kernel(self))
    }

    /// This kernel for `u32` products, if this CPU can run it.
    pub fn for_u32(self) -> Option<U32Kernel> {
        self.supports_u32().then_some(U32Kernel(self))
    }
}

impl U64Kernel {
    /// The kernel family.
    pub fn kernel(self) -> GemmKernel {
        self.0
    }
}

impl U32Kernel {
    /// The kernel family.
    pub fn kernel(self) -> GemmKernel {
        self.0
    }
}

/// The kernel [`gemm_u64`](super::gemm_u64) uses on this CPU (detected on first use).
pub fn gemm_u64_kernel() -> GemmKernel {
    static CHOICE: OnceLock<GemmKernel> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        GemmKernel::ALL.into_iter().find(|k| k.supports_u64()).unwrap_or(GemmKernel::Portable)
    })
}

/// The kernel [`gemm_u32`](super::gemm_u32) uses on this CPU (detected on first use).
pub fn gemm_u32_kernel() -> GemmKernel {
    static CHOICE: OnceLock<GemmKernel> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        GemmKernel::ALL.into_iter().find(|k| k.supports_u32()).unwrap_or(GemmKernel::Portable)
    })
}

/// The name of the kernel [`gemm_u64`](super::gemm_u64) dispatches to on this CPU: `"avx512ifma"`, `"avx512"`,
/// `"avx2"` or `"portable"`.
pub fn gemm_u64_kernel_name() -> &'static str {
    gemm_u64_kernel().name()
}

/// The name of the kernel [`gemm_u32`](super::gemm_u32) dispatches to on this CPU: `"avx512vnni"`, `"avx512"`,
/// `"avx2"` or `"portable"`.
pub fn gemm_u32_kernel_name() -> &'static str {
    gemm_u32_kernel().name()
}
