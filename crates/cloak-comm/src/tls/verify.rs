//! Certificate checks: which rank a certificate identifies, under either kind of trust, and
//! the rustls verifiers that apply them during the handshake.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::{Trust, rank_name};

/// Whether `cert` (with its `intermediates`) identifies `rank` under `trust`; else why not.
/// Under an authority, the chain must lead to one of `roots` and the certificate must name
/// the rank; pinned, it must be exactly the rank's certificate.
pub(super) fn identifies(
    trust: &Trust,
    roots: Option<&RootCertStore>,
    provider: &CryptoProvider,
    cert: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    rank: usize,
) -> Result<(), String> {
    match (trust, roots) {
        (Trust::Pinned(certs), _) => match certs.get(rank) {
            Some(pinned) if pinned.as_ref() == cert.as_ref() => Ok(()),
            Some(_) => Err(format!("it is not the certificate pinned for rank {rank}")),
            None => Err(format!("no certificate is pinned for rank {rank}")),
        },
        (Trust::Authority(_), Some(roots)) => {
            let ee = webpki::EndEntityCert::try_from(cert)
                .map_err(|e| format!("unreadable certificate: {e}"))?;
            let algs = provider.signature_verification_algorithms.all;
            ee.verify_for_usage(
                algs,
                &roots.roots,
                intermediates,
                UnixTime::now(),
                webpki::KeyUsage::client_auth(),
                None,
                None,
            )
            .map_err(|e| format!("not signed by this deployment's authority ({e})"))?;
            let name = ServerName::try_from(rank_name(rank))
                .map_err(|_| "invalid rank name".to_owned())?;
            ee.verify_is_valid_for_subject_name(&name)
                .map_err(|_| format!("the certificate does not name {}", rank_name(rank)))
        }
        (Trust::Authority(_), None) => Err("no authority roots".into()),
    }
}

/// How a connecting party checks the listener: the rank it meant to reach is the server name.
pub(super) fn server_verifier(
    trust: &Trust,
    roots: Option<Arc<RootCertStore>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    match (trust, roots) {
        (Trust::Authority(_), Some(roots)) => {
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
                .build()
                .map_err(|e| Error::General(e.to_string()))?;
            Ok(verifier)
        }
        (Trust::Pinned(certs), _) => {
            Ok(Arc::new(Pinned { certs: certs.clone(), provider: Arc::clone(provider) }))
        }
        (Trust::Authority(_), None) => Err(Error::General("no authority roots".into())),
    }
}

/// How a listener checks a connecting party's certificate during the handshake: it belongs
/// to the deployment (which rank it is, is checked against the introduction afterwards).
pub(super) fn client_verifier(
    trust: &Trust,
    roots: Option<Arc<RootCertStore>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    match (trust, roots) {
        (Trust::Authority(_), Some(roots)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(provider))
                .build()
                .map_err(|e| Error::General(e.to_string()))?;
            Ok(verifier)
        }
        (Trust::Pinned(certs), _) => {
            Ok(Arc::new(Pinned { certs: certs.clone(), provider: Arc::clone(provider) }))
        }
        (Trust::Authority(_), None) => Err(Error::General("no authority roots".into())),
    }
}

/// Trust in exactly the listed certificates (one per rank).
#[derive(Debug)]
struct Pinned {
    certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Pinned {
    fn unknown() -> Error {
        Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    }
}

/// The rank a server name stands for (`cloak-rank-<r>`).
fn rank_of(name: &ServerName<'_>) -> Option<usize> {
    let ServerName::DnsName(dns) = name else {
        return None;
    };
    dns.as_ref().strip_prefix("cloak-rank-")?.parse().ok()
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let rank = rank_of(server_name).ok_or_else(Self::unknown)?;
        match self.certs.get(rank) {
            Some(pinned) if pinned.as_ref() == end_entity.as_ref() => {
                Ok(ServerCertVerified::assertion())
            }
            _ => Err(Self::unknown()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(Self::unknown())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
