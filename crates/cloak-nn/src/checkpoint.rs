//! Saving and loading one party's shares of a model.
//!
//! Each party writes its own file: its shares of every parameter and buffer, which alone
//! reveal nothing. Loading them back in a later session (same parties, same ranks) resumes
//! the model without any party learning the weights. The format is little-endian:
//! `CLOAKSH1`, the backend's name, the rank, the tensor count, then per tensor its name,
//! shape and words.

use std::io::{Read, Write};

use cloak_autograd::Backend;

use crate::error::{NnError, Result};
use crate::module::{Module, ModuleExt};

const MAGIC: &[u8; 8] = b"CLOAKSH1";

fn io(path: &str) -> impl Fn(std::io::Error) -> NnError + '_ {
    move |source| NnError::Io { path: path.to_string(), source }
}

fn put(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes this party's shares of `model` to `path`.
///
/// # Errors
/// [`NnError::Io`] if the file cannot be written.
pub fn save_shares<B: Backend, M: Module<B> + ?Sized>(model: &M, path: &str) -> Result<()> {
    let tensors = model.named_tensors();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    let (name, rank) = match tensors.first() {
        Some((_, v, _)) => (v.backend().name(), v.backend().rank()),
        None => ("none", 0),
    };
    put_str(&mut out, name);
    put(&mut out, rank as u64);
    put(&mut out, tensors.len() as u64);
    for (name, var, _) in &tensors {
        put_str(&mut out, name);
        let shape = var.shape();
        put(&mut out, shape.len() as u64);
        for &d in &shape {
            put(&mut out, d as u64);
        }
        for w in var.backend().export_words(&var.value()) {
            put(&mut out, w);
        }
    }
    let mut file = std::fs::File::create(path).map_err(io(path))?;
    file.write_all(&out).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

struct Reader<'a> {
    bytes: &'a [u8],
    path: &'a str,
}

impl Reader<'_> {
    fn fail(&self, reason: impl Into<String>) -> NnError {
        NnError::Format { path: self.path.to_string(), reason: reason.into() }
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.bytes.len() < n {
            return Err(self.fail("file ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn usize(&mut self, limit: usize, what: &str) -> Result<usize> {
        let v = self.u64()?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= limit)
            .ok_or_else(|| self.fail(format!("{what} {v} too large")))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.usize(1 << 16, "name length")?;
        let b = self.take(n)?.to_vec();
        String::from_utf8(b).map_err(|_| self.fail("name is not UTF-8"))
    }
}

/// Loads this party's shares of `model` from `path` (written by [`save_shares`] at the same
/// rank, for a model of the same architecture).
///
/// # Errors
/// [`NnError::Io`] if the file cannot be read; [`NnError::Format`] for another format, a
/// different backend or rank, or a truncated file; [`NnError::State`] for names or shapes
/// that do not match the model.
pub fn load_shares<B: Backend, M: Module<B> + ?Sized>(model: &M, path: &str) -> Result<()> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(io(path))?.read_to_end(&mut bytes).map_err(io(path))?;
    let mut r = Reader { bytes: &bytes, path };
    if r.take(8)? != MAGIC {
        return Err(r.fail("not a Cloak share file"));
    }
    let tensors = model.named_tensors();
    let backend_name = r.string()?;
    let rank = r.usize(1 << 20, "rank")?;
    let count = r.usize(1 << 20, "tensor count")?;
    if let Some((_, v, _)) = tensors.first() {
        let b = v.backend();
        if backend_name != b.name() || rank != b.rank() {
            return Err(r.fail(format!(
                "shares of the {backend_name} backend at rank {rank}, loaded by {} at rank {}",
                b.name(),
                b.rank()
            )));
        }
    }
    if count != tensors.len() {
        return Err(r.fail(format!("{count} tensors, the model has {}", tensors.len())));
    }
    let mut loaded = Vec::with_capacity(count);
    for (name, var, _) in &tensors {
        let saved = r.string()?;
        if &saved != name {
            return Err(NnError::State {
                name: name.clone(),
                reason: format!("file has {saved} here"),
            });
        }
        let nd = r.usize(8, "rank of tensor")?;
        let shape = (0..nd).map(|_| r.usize(1 << 40, "dimension")).collect::<Result<Vec<_>>>()?;
        if shape != var.shape() {
            return Err(NnError::State {
                name: name.clone(),
                reason: format!("saved shape {shape:?}, the model has {:?}", var.shape()),
            });
        }
        let n: usize = shape.iter().product();
        let words = (0..n).map(|_| r.u64()).collect::<Result<Vec<_>>>()?;
        loaded.push(var.backend().import_words(&shape, words)?);
    }
    if !r.bytes.is_empty() {
        return Err(r.fail("trailing bytes"));
    }
    // Replace only once the whole file has been read: a bad file changes nothing.
    for ((_, var, _), value) in tensors.iter().zip(loaded) {
        var.set_value(value)?;
    }
    Ok(())
}
