//! Mutual TLS between parties: who a peer is, and proof of it.
//!
//! Every party (the dealer included: it is a rank like the others) holds a private key and a
//! certificate that names its rank, as the DNS subject alternative name
//! [`rank_name`]`(r)` (`cloak-rank-<r>`). A party trusts its peers in one of two ways:
//!
//! - [`Trust::Authority`]: a deployment certificate authority signed every party's
//!   certificate; a peer is rank `r` if its chain leads to that authority and the
//!   certificate names `cloak-rank-<r>`;
//! - [`Trust::Pinned`]: every party's own certificate is listed, by rank (as MP-SPDZ
//!   deploys); a peer is rank `r` if it presents exactly the certificate pinned for `r`.
//!
//! Both sides authenticate: the connecting party checks that the listener is the rank it
//! meant to reach (rustls's server verification, with the rank as the name), and the
//! listener checks that the certificate it was shown is the one of the rank the connecting
//! party then claims in its introduction. A stranger, a certificate from another deployment,
//! or a real certificate used to claim another rank is refused at the handshake or at the
//! introduction, and the refused party gets the reason; the rendezvous carries on. Seeds,
//! session tokens, address tables and every message travel only inside the channel.
//!
//! [`Deployment::generate`] creates a deployment's credentials (what `cloak certs` writes);
//! [`TlsConfig::from_dir`] reads one party's.

pub(crate) mod files;
mod generate;
mod verify;

use std::fmt;
use std::sync::Arc;

use rustls::client::ClientConnection;
use rustls::crypto::CryptoProvider;
use rustls::server::ServerConnection;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use self::generate::{Authority, Credentials, Deployment};
use crate::CommError;

/// The name a rank's certificate carries (a DNS subject alternative name).
pub fn rank_name(rank: usize) -> String {
    format!("cloak-rank-{rank}")
}

/// How a party decides whether a certificate belongs to a rank of its deployment.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// The deployment's certificate authority (one or more root certificates).
    Authority(Vec<CertificateDer<'static>>),
    /// Every rank's own certificate, indexed by rank.
    Pinned(Vec<CertificateDer<'static>>),
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Authority(roots) => write!(f, "Authority({} roots)", roots.len()),
            Trust::Pinned(certs) => write!(f, "Pinned({} ranks)", certs.len()),
        }
    }
}

/// One party's TLS identity and trust: its rank, certificate chain and key, and how it
/// recognises the other ranks. Cheap to clone (shared).
#[derive(Clone)]
pub struct TlsConfig {
    inner: Arc<Inner>,
}

struct Inner {
    rank: usize,
    trust: Trust,
    /// The authority's roots, parsed once (`None` under pinned trust).
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    /// The rank and the kind of trust; never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("rank", &self.inner.rank)
            .field("trust", &self.inner.trust)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsConfig {
    /// The same configuration object (configurations hold keys, which are not compared).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for TlsConfig {}

impl TlsConfig {
    /// The identity of `rank`: its certificate chain (its own certificate first) and private
    /// key, trusting peers by `trust`. Fails with [`CommError::Credentials`] when the key
    /// does not fit the certificate or the certificate is not `rank`'s under `trust`, so a
    /// misconfigured party learns it before it contacts anyone.
    pub fn new(
        rank: usize,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        trust: Trust,
    ) -> Result<TlsConfig, CommError> {
        let bad = |reason: String| CommError::Credentials { what: rank_name(rank), reason };
        let own = chain.first().cloned().ok_or_else(|| bad("no certificate".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &trust {
            Trust::Authority(certs) => {
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots.add(cert.clone()).map_err(|e| bad(format!("CA certificate: {e}")))?;
                }
                Some(Arc::new(roots))
            }
            Trust::Pinned(_) => None,
        };
        verify::identifies(&trust, roots.as_deref(), &provider, &own, &chain[1..], rank)
            .map_err(|reason| bad(format!("this party's own certificate: {reason}")))?;

        let versions = rustls::DEFAULT_VERSIONS;
        let server_verifier = verify::server_verifier(&trust, roots.clone(), &provider)
            .map_err(|e| bad(e.to_string()))?;
        let mut client = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| bad(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(server_verifier)
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad(format!("key does not fit the certificate: {e}")))?;
        // Every connection is a fresh session: nothing to resume, nothing cached to leak.
        client.resumption = rustls::client::Resumption::disabled();
        client.enable_sni = false;

        let client_verifier = verify::client_verifier(&trust, roots.clone(), &provider)
            .map_err(|e| bad(e.to_string()))?;
        let mut server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| bad(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain, key)
            .map_err(|e| bad(format!("key does not fit the certificate: {e}")))?;
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});

        let inner = Inner {
            rank,
            trust,
            roots,
            provider,
            client: Arc::new(client),
            server: Arc::new(server),
        };
        Ok(TlsConfig { inner: Arc::new(inner) })
    }

    /// This party's rank, as its certificate says.
    pub fn rank(&self) -> usize {
        self.inner.rank
    }

    /// How peers are recognised.
    pub fn trust(&self) -> &Trust {
        &self.inner.trust
    }

    /// A client connection to `peer` (verifying that the listener is `peer`).
    pub(crate) fn client(&self, peer: usize) -> Result<ClientConnection, rustls::Error> {
        let name = ServerName::try_from(rank_name(peer))
            .map_err(|_| rustls::Error::General("invalid rank name".into()))?;
        ClientConnection::new(Arc::clone(&self.inner.client), name)
    }

    /// A server connection for an incoming peer (its rank is checked after it introduces
    /// itself, with [`TlsConfig::check_peer`]).
    pub(crate) fn server(&self) -> Result<ServerConnection, rustls::Error> {
        ServerConnection::new(Arc::clone(&self.inner.server))
    }

    /// Whether `cert`, which a peer authenticated with, is rank `rank`'s; else why not.
    pub(crate) fn check_peer(
        &self,
        cert: Option<&CertificateDer<'static>>,
        rank: usize,
    ) -> Result<(), String> {
        let cert = cert.ok_or("no client certificate")?;
        let inner = &self.inner;
        verify::identifies(&inner.trust, inner.roots.as_deref(), &inner.provider, cert, &[], rank)
            .map_err(|reason| format!("its certificate does not identify rank {rank}: {reason}"))
    }

    /// Whether this configuration can serve a world of `world` ranks (pinned trust lists
    /// exactly one certificate per rank).
    pub(crate) fn check_world(&self, world: usize) -> Result<(), CommError> {
        if self.inner.rank >= world {
            return Err(CommError::Credentials {
                what: rank_name(self.inner.rank),
                reason: format!(
                    "the certificate is for rank {} of a world of {world}",
                    self.inner.rank
                ),
            });
        }
        match &self.inner.trust {
            Trust::Pinned(certs) if certs.len() != world => Err(CommError::Credentials {
                what: "pinned certificates".into(),
                reason: format!("{} pinned for a world of {world} parties", certs.len()),
            }),
            _ => Ok(()),
        }
    }
}
