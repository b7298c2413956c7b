//! Creating a deployment's credentials: what `cloak certs` writes.

use std::fs;
use std::io::Write;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{TlsConfig, Trust, rank_name};
use crate::CommError;

/// One rank's certificate and private key, PEM-encoded.
#[derive(Clone)]
pub struct Credentials {
    /// The rank the certificate names.
    pub rank: usize,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PEM). Only this rank's operator should ever hold it.
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    /// Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("rank", &self.rank).finish_non_exhaustive()
    }
}

/// The credentials of a whole deployment: one per rank (the dealer included), and the
/// authority's certificate and key unless the certificates are pinned.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Indexed by rank.
    pub ranks: Vec<Credentials>,
    /// The authority that signed every rank's certificate (certificate PEM, key PEM), or
    /// `None` when each rank's certificate is self-signed and pinned by the others.
    pub authority: Option<Authority>,
}

/// A deployment's certificate authority. Its key signs new ranks' certificates and belongs
/// offline with whoever runs the deployment, never with a party.
#[derive(Clone)]
pub struct Authority {
    /// The authority's certificate (PEM): every party's trust root.
    pub cert_pem: String,
    /// The authority's private key (PEM).
    pub key_pem: String,
}

impl std::fmt::Debug for Authority {
    /// Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn failed(what: &str) -> impl Fn(rcgen::Error) -> CommError + '_ {
    move |e| CommError::Credentials { what: what.to_owned(), reason: e.to_string() }
}

/// The parameters of rank `rank`'s certificate: its rank name, usable both to accept and to
/// make connections.
fn rank_params(rank: usize) -> Result<CertificateParams, CommError> {
    let name = rank_name(rank);
    let mut params = CertificateParams::new(vec![name.clone()]).map_err(failed(&name))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

impl Deployment {
    /// Fresh credentials for ranks `0..world`: signed by a new authority, or self-signed and
    /// pinned when `pinned`. Keys are ECDSA P-256 from the operating system's randomness.
    pub fn generate(world: usize, pinned: bool) -> Result<Deployment, CommError> {
        if world == 0 {
            return Err(CommError::Credentials {
                what: "deployment".into(),
                reason: "no ranks".into(),
            });
        }
        let mut ranks = Vec::with_capacity(world);
        if pinned {
            for rank in 0..world {
                let key = KeyPair::generate().map_err(failed("key"))?;
                let cert = rank_params(rank)?.self_signed(&key).map_err(failed("certificate"))?;
                ranks.push(Credentials {
                    rank,
                    cert_pem: cert.pem(),
                    key_pem: key.serialize_pem(),
                });
            }
            return Ok(Deployment { ranks, authority: None });
        }
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed("authority"))?;
        ca.distinguished_name.push(DnType::CommonName, "Cloak deployment authority");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(failed("key"))?;
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = CertifiedIssuer::self_signed(ca, ca_key).map_err(failed("authority"))?;
        for rank in 0..world {
            let key = KeyPair::generate().map_err(failed("key"))?;
            let cert =
                rank_params(rank)?.signed_by(&key, &issuer).map_err(failed("certificate"))?;
            ranks.push(Credentials { rank, cert_pem: cert.pem(), key_pem: key.serialize_pem() });
        }
        let authority = Authority { cert_pem: issuer.pem(), key_pem: ca_key_pem };
        Ok(Deployment { ranks, authority: Some(authority) })
    }

    /// How every rank of this deployment recognises the others.
    pub fn trust(&self) -> Result<Trust, CommError> {
        match &self.authority {
            Some(ca) => Ok(Trust::Authority(vec![parse_cert(ca.cert_pem.as_bytes(), "ca")?])),
            None => Ok(Trust::Pinned(
                self.ranks
                    .iter()
                    .map(|c| parse_cert(c.cert_pem.as_bytes(), &rank_name(c.rank)))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }

    /// Rank `rank`'s TLS configuration.
    pub fn config(&self, rank: usize) -> Result<TlsConfig, CommError> {
        let own = self.ranks.get(rank).ok_or_else(|| CommError::Credentials {
            what: rank_name(rank),
            reason: format!("the deployment has {} ranks", self.ranks.len()),
        })?;
        let cert = parse_cert(own.cert_pem.as_bytes(), &rank_name(rank))?;
        let key = PrivateKeyDer::from_pem_slice(own.key_pem.as_bytes())
            .map_err(|e| CommError::Credentials { what: rank_name(rank), reason: e.to_string() })?;
        TlsConfig::new(rank, vec![cert], key, self.trust()?)
    }

    /// Writes the deployment into `dir` (created if missing): `rank-<r>.pem` and
    /// `rank-<r>.key` per rank, and `ca.pem` and `ca.key` under an authority. Keys are
    /// written readable by their owner only. Existing files are not overwritten.
    pub fn write_to(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>, CommError> {
        let io = |path: &Path| {
            let shown = path.display().to_string();
            move |e: std::io::Error| CommError::Credentials {
                what: shown.clone(),
                reason: e.to_string(),
            }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut files: Vec<(String, &str, bool)> = Vec::new();
        if let Some(ca) = &self.authority {
            files.push(("ca.pem".into(), &ca.cert_pem, false));
            files.push(("ca.key".into(), &ca.key_pem, true));
        }
        for c in &self.ranks {
            files.push((format!("rank-{}.pem", c.rank), &c.cert_pem, false));
            files.push((format!("rank-{}.key", c.rank), &c.key_pem, true));
        }
        let mut written = Vec::new();
        for (name, contents, secret) in files {
            let path = dir.join(name);
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(if secret { 0o600 } else { 0o644 });
            }
            let mut file = options.open(&path).map_err(io(&path))?;
            file.write_all(contents.as_bytes()).map_err(io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The first certificate of a PEM text.
pub(super) fn parse_cert(pem: &[u8], what: &str) -> Result<CertificateDer<'static>, CommError> {
    CertificateDer::from_pem_slice(pem)
        .map_err(|e| CommError::Credentials { what: what.to_owned(), reason: e.to_string() })
}
