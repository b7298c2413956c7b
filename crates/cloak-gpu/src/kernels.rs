//! The CUDA C sources, compiled by NVRTC on first use and cached per device.
//!
//! The kernels are CUDA C in `kernels/*.cu`, embedded in the library, so a release binary
//! carries them and needs no CUDA toolkit at build time: NVRTC compiles a source file to PTX
//! the first time one of its kernels is launched on a device, and the driver loads it. A
//! compilation or load failure is kept too (it would fail again) and reported on every use.
//! NVRTC compiles for its default virtual architecture; the driver JIT-compiles that PTX for
//! the GPU it runs on.

use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction};
use cudarc::nvrtc::{CompileError, CompileOptions, compile_ptx_with_opts};

use crate::probe::guarded;

/// A source file of kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Module {
    /// Fill, elementwise, strided, gather and reduction kernels.
    Elementwise,
    /// The wrapping GEMM.
    Gemm,
    /// im2col and col2im.
    Conv,
    /// The AES-128-CTR keystream.
    Aes,
    /// Splitting into and recombining from 16-bit limbs (the FP64 GEMM's two ends).
    Limbs,
}

impl Module {
    /// Every module, in the order of [`ModuleCache`]'s slots.
    pub(crate) const ALL: [Module; 5] =
        [Module::Elementwise, Module::Gemm, Module::Conv, Module::Aes, Module::Limbs];

    /// The file name under `kernels/`.
    pub(crate) fn file(self) -> &'static str {
        match self {
            Module::Elementwise => "elementwise.cu",
            Module::Gemm => "gemm.cu",
            Module::Conv => "conv.cu",
            Module::Aes => "aes.cu",
            Module::Limbs => "limbs.cu",
        }
    }

    /// The CUDA C source.
    pub(crate) fn source(self) -> &'static str {
        match self {
            Module::Elementwise => include_str!("../kernels/elementwise.cu"),
            Module::Gemm => include_str!("../kernels/gemm.cu"),
            Module::Conv => include_str!("../kernels/conv.cu"),
            Module::Aes => include_str!("../kernels/aes.cu"),
            Module::Limbs => include_str!("../kernels/limbs.cu"),
        }
    }

    fn slot(self) -> usize {
        match self {
            Module::Elementwise => 0,
            Module::Gemm => 1,
            Module::Conv => 2,
            Module::Aes => 3,
            Module::Limbs => 4,
        }
    }
}

/// Every kernel the device launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// `fill_u64(out, n, value)`.
    Fill,
    /// `binary_same_u64(a, b, out, n, op)`.
    BinarySame,
    /// `binary_broadcast_u64(a, b, out, op, Indexing)`.
    BinaryBroadcast,
    /// `unary_u64(a, out, n, op, s)`.
    Unary,
    /// `strided_copy_u64(src, out, Indexing)`.
    StridedCopy,
    /// `scatter_u64(src, out, Indexing)`.
    Scatter,
    /// `take_u64(src, idx, out, n)`.
    Take,
    /// `sum_axis_u64(src, out, outer, len, inner)`.
    SumAxis,
    /// `gemm_u64(a, b, c, GemmArgs)`.
    Gemm,
    /// `im2col_u64(x, cols, ConvGeometry)`.
    Im2col,
    /// `col2im_u64(cols, dx, ConvGeometry)`.
    Col2im,
    /// `aes_ctr_u64(out, first_word, len, RoundKeys)`.
    Keystream,
    /// `limb_split_u64(x, planes, LimbArgs)`.
    LimbSplit,
    /// `limb_combine_u64(products, c, LimbArgs)`.
    LimbCombine,
}

impl Kernel {
    /// Every kernel.
    pub(crate) const ALL: [Kernel; 14] = [
        Kernel::Fill,
        Kernel::BinarySame,
        Kernel::BinaryBroadcast,
        Kernel::Unary,
        Kernel::StridedCopy,
        Kernel::Scatter,
        Kernel::Take,
        Kernel::SumAxis,
        Kernel::Gemm,
        Kernel::Im2col,
        Kernel::Col2im,
        Kernel::Keystream,
        Kernel::LimbSplit,
        Kernel::LimbCombine,
    ];

    /// The `extern "C"` name in the source.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Fill => "fill_u64",
            Kernel::BinarySame => "binary_same_u64",
            Kernel::BinaryBroadcast => "binary_broadcast_u64",
            Kernel::Unary => "unary_u64",
            Kernel::StridedCopy => "strided_copy_u64",
            Kernel::Scatter => "scatter_u64",
            Kernel::Take => "take_u64",
            Kernel::SumAxis => "sum_axis_u64",
            Kernel::Gemm => "gemm_u64",
            Kernel::Im2col => "im2col_u64",
            Kernel::Col2im => "col2im_u64",
            Kernel::Keystream => "aes_ctr_u64",
            Kernel::LimbSplit => "limb_split_u64",
            Kernel::LimbCombine => "limb_combine_u64",
        }
    }

    /// The source file that defines it.
    pub(crate) fn module(self) -> Module {
        match self {
            Kernel::Gemm => Module::Gemm,
            Kernel::Im2col | Kernel::Col2im => Module::Conv,
            Kernel::Keystream => Module::Aes,
            Kernel::LimbSplit | Kernel::LimbCombine => Module::Limbs,
            _ => Module::Elementwise,
        }
    }
}

/// A compiled and loaded module: its kernels, looked up once.
struct Loaded {
    functions: Vec<(Kernel, CudaFunction)>,
}

/// The modules of one device, each compiled and loaded at its first use.
#[derive(Default)]
pub(crate) struct ModuleCache {
    slots: [OnceLock<Result<Loaded, String>>; Module::ALL.len()],
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state: Vec<_> = Module::ALL
            .iter()
            .map(|m| match self.slots[m.slot()].get() {
                None => format!("{}: not compiled", m.file()),
                Some(Ok(_)) => format!("{}: loaded", m.file()),
                Some(Err(_)) => format!("{}: failed", m.file()),
            })
            .collect();
        write!(f, "ModuleCache({})", state.join(", "))
    }
}

impl ModuleCache {
    /// The kernel, compiling and loading its module into `ctx` on first use.
    ///
    /// # Errors
    /// Why the module did not compile or load (the same message on every later call).
    pub(crate) fn function(
        &self,
        ctx: &Arc<CudaContext>,
        kernel: Kernel,
    ) -> Result<CudaFunction, String> {
        let module = kernel.module();
        let loaded = self.slots[module.slot()].get_or_init(|| load(ctx, module));
        match loaded {
            Ok(l) => {
                l.functions.iter().find(|(k, _)| *k == kernel).map(|(_, f)| f.clone()).ok_or_else(
                    || format!("kernel {} missing from {}", kernel.name(), module.file()),
                )
            }
            Err(e) => Err(e.clone()),
        }
    }
}

/// Compiles a module with NVRTC, loads it into `ctx` and looks up its kernels.
fn load(ctx: &Arc<CudaContext>, module: Module) -> Result<Loaded, String> {
    let opts = CompileOptions { name: Some(module.file().to_owned()), ..Default::default() };
    let ptx = guarded("compiling kernels", || compile_ptx_with_opts(module.source(), opts))
        .map_err(|e| e.to_string())?
        .map_err(|e| compile_message(module, &e))?;
    let loaded = guarded("loading kernels", || ctx.load_module(ptx))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("loading {}: {e}", module.file()))?;
    let mut functions = Vec::new();
    for kernel in Kernel::ALL.into_iter().filter(|k| k.module() == module) {
        let f = guarded("looking up kernels", || loaded.load_function(kernel.name()))
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("kernel {} of {}: {e}", kernel.name(), module.file()))?;
        functions.push((kernel, f));
    }
    Ok(Loaded { functions })
}

/// A compilation failure with NVRTC's log, readable.
fn compile_message(module: Module, e: &CompileError) -> String {
    match e {
        CompileError::CompileError { nvrtc, log, .. } => format!(
            "NVRTC could not compile {} ({nvrtc:?}):\n{}",
            module.file(),
            log.to_string_lossy()
        ),
        other => format!("NVRTC failed on {}: {other}", module.file()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::{self, MAX_RANK};
    use cloak_ring::device::{BinaryOp, UnaryOp};

    /// The `u64` fields of `struct name { ... };` in `source`, arrays counted by length.
    fn struct_words(source: &str, name: &str) -> usize {
        let start = source.find(&format!("struct {name} {{")).expect("struct defined");
        let body = &source[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        body.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("u64 "))
            .map(|l| match (l.find('['), l.find(']')) {
                (Some(a), Some(b)) => match &l[a + 1..b] {
                    "MAX_RANK" => MAX_RANK,
                    n => n.parse().expect("array length"),
                },
                _ => 1,
            })
            .sum()
    }

    /// The value of `#define name <n>u` in `source`.
    fn define(source: &str, name: &str) -> u32 {
        let line = source
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("#define {name} missing"));
        let value = line.split_whitespace().nth(2).expect("a value");
        value.trim_end_matches('u').parse().expect("a number")
    }

    #[test]
    fn every_launched_kernel_is_defined_in_its_source() {
        for kernel in Kernel::ALL {
            let src = kernel.module().source();
            // Unmangled (extern "C"): the name is looked up as written.
            let declared = src.lines().any(|l| {
                l.starts_with("extern \"C\" __global__ void ")
                    && l.contains(&format!(" {}(", kernel.name()))
            });
            assert!(declared, "{} does not define {}", kernel.module().file(), kernel.name());
        }
        for module in Module::ALL {
            let defined = module.source().matches("extern \"C\" __global__").count();
            let launched = Kernel::ALL.iter().filter(|k| k.module() == module).count();
            assert_eq!(defined, launched, "{}: kernels defined vs launched", module.file());
            assert!(!module.source().contains('\0'), "NVRTC takes a C string");
        }
    }

    #[test]
    fn every_source_file_is_a_module_with_its_own_slot() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("kernels/ readable")
            .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".cu"))
            .collect();
        files.sort();
        let mut modules: Vec<String> = Module::ALL.iter().map(|m| m.file().to_owned()).collect();
        modules.sort();
        assert_eq!(files, modules, "kernels/*.cu against Module::ALL");
        let mut slots: Vec<usize> = Module::ALL.iter().map(|m| m.slot()).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..Module::ALL.len()).collect::<Vec<_>>());
        // The keystream kernel is launched, so the check above covers it.
        assert!(Kernel::ALL.contains(&Kernel::Keystream));
        assert_eq!(Kernel::Keystream.module().file(), "aes.cu");
    }

    #[test]
    fn argument_structs_match_their_cuda_twins() {
        let words = |bytes: usize| bytes / 8;
        let ew = Module::Elementwise.source();
        assert_eq!(define(ew, "MAX_RANK"), MAX_RANK as u32);
        assert_eq!(struct_words(ew, "Indexing"), words(size_of::<launch::Indexing>()));
        assert_eq!(
            struct_words(Module::Gemm.source(), "GemmArgs"),
            words(size_of::<launch::GemmArgs>())
        );
        assert_eq!(
            struct_words(Module::Conv.source(), "ConvGeometry"),
            words(size_of::<launch::ConvGeometry>())
        );
        let limbs = Module::Limbs.source();
        assert_eq!(struct_words(limbs, "LimbArgs"), words(size_of::<launch::LimbArgs>()));
        assert_eq!(define(limbs, "LIMB_PRODUCTS") as usize, launch::PAIRS.len());
    }

    #[test]
    fn operation_codes_match_the_kernels() {
        let ew = Module::Elementwise.source();
        for (op, name) in [
            (BinaryOp::Add, "OP_ADD"),
            (BinaryOp::Sub, "OP_SUB"),
            (BinaryOp::Mul, "OP_MUL"),
            (BinaryOp::Xor, "OP_XOR"),
            (BinaryOp::And, "OP_AND"),
            (BinaryOp::Or, "OP_OR"),
        ] {
            assert_eq!(launch::binary_code(op), define(ew, name), "{name}");
        }
        for (op, name) in [
            (UnaryOp::Neg, "UOP_NEG"),
            (UnaryOp::Not, "UOP_NOT"),
            (UnaryOp::AddScalar(1), "UOP_ADD"),
            (UnaryOp::SubScalar(1), "UOP_SUB"),
            (UnaryOp::MulScalar(1), "UOP_MUL"),
            (UnaryOp::AndScalar(1), "UOP_AND"),
            (UnaryOp::XorScalar(1), "UOP_XOR"),
            (UnaryOp::ShrArithmetic(1), "UOP_SHR_ARITH"),
            (UnaryOp::ShrLogical(1), "UOP_SHR_LOGICAL"),
            (UnaryOp::Shl(1), "UOP_SHL"),
        ] {
            assert_eq!(launch::unary_code(op).unwrap().0, define(ew, name), "{name}");
        }
    }
}
