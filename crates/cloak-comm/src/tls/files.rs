//! Reading one party's credentials from files.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{TlsConfig, Trust};
use crate::CommError;

fn bad(path: &Path, reason: impl ToString) -> CommError {
    CommError::Credentials { what: path.display().to_string(), reason: reason.to_string() }
}

/// Every certificate in a PEM file (a chain, or a set of roots).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CommError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(path, e))?;
    if certs.is_empty() {
        return Err(bad(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CommError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| bad(path, e))
}

impl TlsConfig {
    /// Reads rank `rank`'s credentials from `dir`, laid out as `cloak certs` writes them:
    /// its own `rank-<rank>.pem` and `rank-<rank>.key`, and either the authority's
    /// `ca.pem` (trust by authority) or, without one, every rank's `rank-<r>.pem` for
    /// `r < world` (pinned trust). A party needs only its own key.
    pub fn from_dir(dir: &Path, rank: usize, world: usize) -> Result<TlsConfig, CommError> {
        let file = |name: String| -> PathBuf { dir.join(name) };
        let chain = read_certs(&file(format!("rank-{rank}.pem")))?;
        let key = read_key(&file(format!("rank-{rank}.key")))?;
        let ca = file("ca.pem".into());
        let trust = if ca.exists() {
            Trust::Authority(read_certs(&ca)?)
        } else {
            let pinned = (0..world)
                .map(|r| {
                    let path = file(format!("rank-{r}.pem"));
                    if !path.exists() {
                        return Err(bad(
                            &path,
                            "missing: without ca.pem every rank's certificate must be pinned",
                        ));
                    }
                    read_certs(&path).map(|mut c| c.swap_remove(0))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Trust::Pinned(pinned)
        };
        TlsConfig::new(rank, chain, key, trust)
    }

    /// Reads an identity from a certificate chain file and a key file, trusting `trust`.
    pub fn from_files(
        rank: usize,
        cert: &Path,
        key: &Path,
        trust: Trust,
    ) -> Result<TlsConfig, CommError> {
        TlsConfig::new(rank, read_certs(cert)?, read_key(key)?, trust)
    }
}
