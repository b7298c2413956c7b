//! A deployment's peers file: every rank's address and certificate, in one TOML file that
//! every party (and the dealer) is given, as an alternative to launcher variables.
//!
//! ```toml
//! # Trust: the deployment authority's certificate. Without it, each rank's certificate
//! # below is pinned (trusted exactly, and only for its rank).
//! ca = "certs/ca.pem"
//!
//! [[party]]
//! rank = 0
//! address = "alice.example.org:29500"
//! certificate = "certs/rank-0.pem"
//!
//! [[party]]
//! rank = 1
//! address = "10.0.0.7:29500"
//! certificate = "certs/rank-1.pem"
//! ```
//!
//! Relative paths are relative to the file's directory. Each process adds only its rank and
//! its own private key (never in the shared file). A file without certificates describes a
//! plain-TCP deployment, which [`Security::Auto`] allows only on loopback.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::tls::{TlsConfig, Trust, files};
use crate::{CommError, Launch, Rendezvous, Security};

/// The largest peers file read (a deployment has a handful of ranks).
const MAX_FILE: u64 = 1 << 20;

/// One rank's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    /// The rank.
    pub rank: usize,
    /// Where it listens (`host:port`).
    pub address: String,
    /// Its certificate (PEM), resolved against the file's directory.
    pub certificate: Option<PathBuf>,
}

/// A parsed peers file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeersFile {
    /// Every rank, in rank order.
    pub parties: Vec<PeerEntry>,
    /// The deployment authority's certificate, if trust is by authority.
    pub ca: Option<PathBuf>,
    /// The file, for messages.
    pub path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    ca: Option<PathBuf>,
    #[serde(default)]
    party: Vec<RawParty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParty {
    rank: usize,
    address: String,
    certificate: Option<PathBuf>,
}

impl PeersFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<PeersFile, CommError> {
        let bad = |reason: String| CommError::Config { var: path.display().to_string(), reason };
        let size = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?.len();
        if size > MAX_FILE {
            return Err(bad(format!("{size} bytes; a peers file is at most {MAX_FILE}")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, path)
    }

    /// Parses the text of a peers file, resolving relative paths against `base`; `path`
    /// names it in errors.
    pub fn parse(text: &str, base: &Path, path: &Path) -> Result<PeersFile, CommError> {
        let bad = |reason: String| CommError::Config { var: path.display().to_string(), reason };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            // One line: the message and where, not toml's multi-line excerpt.
            let line =
                e.span().map(|s| text.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1);
            bad(match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_owned(),
            })
        })?;
        let world = raw.party.len();
        if world == 0 {
            return Err(bad("no [[party]] entries".into()));
        }
        let mut slots: Vec<Option<PeerEntry>> = vec![None; world];
        for p in raw.party {
            if p.rank >= world {
                return Err(bad(format!("rank {} in a file of {world} parties", p.rank)));
            }
            if slots[p.rank].is_some() {
                return Err(bad(format!("rank {} listed twice", p.rank)));
            }
            let (host, port) = p.address.rsplit_once(':').ok_or_else(|| {
                bad(format!("rank {}: address {:?} is not host:port", p.rank, p.address))
            })?;
            if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad(format!(
                    "rank {}: address {:?} needs a host and a fixed port",
                    p.rank, p.address
                )));
            }
            let certificate = p.certificate.map(|c| base.join(c));
            slots[p.rank] = Some(PeerEntry { rank: p.rank, address: p.address, certificate });
        }
        // Every rank below `world` appears once: `world` distinct ranks, all below it.
        let parties: Vec<PeerEntry> = slots.into_iter().flatten().collect();
        let certified = parties.iter().filter(|p| p.certificate.is_some()).count();
        if certified != 0 && certified != world {
            return Err(bad(format!(
                "{certified} of {world} ranks have a certificate: give every rank one, or none"
            )));
        }
        let ca = raw.ca.map(|c| base.join(c));
        if ca.is_some() && certified == 0 {
            return Err(bad("a ca but no certificates: give every rank its certificate".into()));
        }
        Ok(PeersFile { parties, ca, path: path.to_owned() })
    }

    /// The number of ranks.
    pub fn world(&self) -> usize {
        self.parties.len()
    }

    /// Rank `rank`'s place in this deployment.
    pub fn launch(&self, rank: usize) -> Result<Launch, CommError> {
        let world = self.world();
        if rank >= world {
            return Err(CommError::InvalidRank { rank, world });
        }
        let addrs = self.parties.iter().map(|p| p.address.clone()).collect();
        Ok(Launch { rank, world_size: world, rendezvous: Rendezvous::Parties(addrs) })
    }

    /// How rank `rank` protects its links: TLS with its certificate from this file and
    /// `key` (its private key, which only it holds) when the file lists certificates, trusting
    /// the authority or the pinned certificates; otherwise [`Security::Auto`].
    pub fn security(&self, rank: usize, key: Option<&Path>) -> Result<Security, CommError> {
        let world = self.world();
        let own = self.parties.get(rank).ok_or(CommError::InvalidRank { rank, world })?;
        let Some(cert) = &own.certificate else {
            return Ok(Security::Auto);
        };
        let key = key.ok_or_else(|| CommError::Credentials {
            what: crate::tls::rank_name(rank),
            reason: format!(
                "{} lists certificates: this party needs its private key (--key)",
                self.path.display()
            ),
        })?;
        let trust = match &self.ca {
            Some(ca) => Trust::Authority(files::read_certs(ca)?),
            None => Trust::Pinned(
                self.parties
                    .iter()
                    .filter_map(|p| p.certificate.as_deref())
                    .map(|c| files::read_certs(c).map(|mut v| v.swap_remove(0)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Security::Tls(TlsConfig::from_files(rank, cert, key, trust)?))
    }
}
