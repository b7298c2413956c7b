//! Mutual TLS between parties: meshes under both kinds of trust, strangers and impostors
//! refused while the real parties get in, plain TCP refused off loopback, and a capture of
//! the wire that finds nothing in the clear.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use cloak_comm::runner::{free_local_port, run_parties};
use cloak_comm::tls::{Deployment, TlsConfig, Trust, rank_name};
use cloak_comm::wire::{FrameKind, Header};
use cloak_comm::{CommConfig, CommError, Communicator, Security, TcpComm, u64s_to_bytes};
use common::{all_ok, config};

fn secure(tls: TlsConfig, timeout_ms: u64) -> CommConfig {
    CommConfig { security: Security::Tls(tls), ..config(timeout_ms) }
}

/// Builds an `n`-party mesh from a list of addresses, each party with its rank's TLS
/// configuration from `deployment`; `addrs_for(rank, addrs)` may rewrite the list a party
/// is given (to route it through a proxy).
fn list_mesh(
    deployment: &Deployment,
    n: usize,
    addrs_for: impl Fn(usize, &[String]) -> Vec<String> + Sync,
) -> Vec<Result<TcpComm, CommError>> {
    let listeners: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    let addrs: Vec<String> =
        listeners.iter().map(|l| l.local_addr().expect("addr").to_string()).collect();
    thread::scope(|s| {
        let handles: Vec<_> = listeners
            .iter()
            .enumerate()
            .map(|(rank, listener)| {
                let parties = addrs_for(rank, &addrs);
                let config = secure(deployment.config(rank).expect("credentials"), 5000);
                s.spawn(move || TcpComm::with_listener(rank, listener, &parties, &config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    })
}

/// A sum and a large exchange on every pair: checks that the mesh works, including writes
/// that fill the socket buffers (TLS records left pending between calls).
fn exercise(comms: Vec<TcpComm>) {
    let n = comms.len();
    let got = all_ok(
        run_parties(comms, |mut c| {
            let mut v = [c.rank() as u64 + 1];
            c.all_reduce_sum_u64(&mut v)?;
            let big: Vec<u8> = (0..(6 << 20)).map(|i| (i % 251) as u8 ^ c.rank() as u8).collect();
            let all = c.exchange_all(&vec![&big[..]; c.world_size()])?;
            let ok = all.iter().enumerate().all(|(from, m)| {
                m.len() == 6 << 20
                    && m.iter().enumerate().all(|(j, &b)| b == (j % 251) as u8 ^ from as u8)
            });
            Ok((v[0], ok))
        }),
        "TLS mesh",
    );
    assert_eq!(got, vec![((n * (n + 1) / 2) as u64, true); n]);
}

#[test]
fn tls_meshes_work_for_2_and_3_parties_under_both_kinds_of_trust() {
    for pinned in [false, true] {
        for n in [2, 3] {
            let deployment = Deployment::generate(n, pinned).expect("credentials");
            let comms: Vec<TcpComm> = list_mesh(&deployment, n, |_, a| a.to_vec())
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("mesh");
            exercise(comms);
        }
    }
}

#[test]
fn a_tls_master_rendezvous_builds_a_working_mesh() {
    let n = 3;
    let deployment = Deployment::generate(n, false).expect("credentials");
    let master = format!("127.0.0.1:{}", free_local_port().expect("port"));
    let comms: Vec<TcpComm> = thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|rank| {
                let master = &master;
                let config = secure(deployment.config(rank).expect("credentials"), 5000);
                s.spawn(move || TcpComm::rendezvous(rank, n, master, &config))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic").expect("rendezvous")).collect()
    });
    exercise(comms);
}

/// Starts rank 0 of a TLS mesh of `n` (listening) in a thread that then runs `then`.
fn rank0_tls<R: Send + 'static>(
    deployment: &Deployment,
    parties: Vec<String>,
    listener: TcpListener,
    then: impl FnOnce(TcpComm) -> Result<R, CommError> + Send + 'static,
) -> thread::JoinHandle<Result<R, CommError>> {
    let config = secure(deployment.config(0).expect("credentials"), 5000);
    thread::spawn(move || then(TcpComm::with_listener(0, &listener, &parties, &config)?))
}

#[test]
fn strangers_and_other_deployments_are_refused_while_the_real_party_gets_in() {
    let deployment = Deployment::generate(2, false).expect("credentials");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr0 = listener.local_addr().expect("addr").to_string();
    let l1 = TcpListener::bind("127.0.0.1:0").expect("bind");
    let parties = vec![addr0.clone(), l1.local_addr().expect("addr").to_string()];
    let h = rank0_tls(&deployment, parties.clone(), listener, |mut c| c.exchange(1, b"zero"));

    // A stranger speaking plain Cloak frames: a TLS server reads garbage and drops it.
    let mut plain = TcpStream::connect(&addr0).expect("connect");
    let hello = Header { kind: FrameKind::Hello, seq: 0, aux: 1, len: 16 };
    plain.write_all(&hello.encode()).expect("write");
    plain.write_all(&u64s_to_bytes(&[2, 0])).expect("write");
    plain.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.windows(4).any(|w| w == b"CLOK"), "a stranger got a Cloak frame");

    // A party of another deployment, claiming rank 1: refused at the handshake, with the
    // reason at the impostor.
    let other = Deployment::generate(2, false).expect("credentials");
    let config = secure(other.config(1).expect("credentials"), 3000);
    let impostor =
        TcpComm::with_listener(1, &TcpListener::bind("127.0.0.1:0").unwrap(), &parties, &config);
    assert!(
        matches!(
            impostor,
            Err(CommError::Tls { peer: 0, .. } | CommError::Refused { peer: 0, .. })
        ),
        "{impostor:?}"
    );

    // The real rank 1 still gets in.
    let config = secure(deployment.config(1).expect("credentials"), 5000);
    let mut real = TcpComm::with_listener(1, &l1, &parties, &config).expect("the real party");
    assert_eq!(real.exchange(0, b"one").expect("exchange"), b"zero");
    assert_eq!(h.join().expect("no panic").expect("rank 0"), b"one");
}

/// A verifier that accepts any server: what an impostor who only wants to talk would use.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[test]
fn a_real_certificate_used_to_claim_another_rank_is_refused() {
    use rustls_pki_types::pem::PemObject;
    for pinned in [false, true] {
        let deployment = Deployment::generate(3, pinned).expect("credentials");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr0 = listener.local_addr().expect("addr").to_string();
        let (l1, l2) =
            (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
        let parties = vec![
            addr0.clone(),
            l1.local_addr().unwrap().to_string(),
            l2.local_addr().unwrap().to_string(),
        ];
        let h = rank0_tls(&deployment, parties.clone(), listener, |mut c| {
            let mut v = [1u64];
            c.all_reduce_sum_u64(&mut v)?;
            Ok(v[0])
        });

        // Rank 2's operator uses rank 2's genuine certificate to claim rank 1.
        let creds = &deployment.ranks[2];
        let chain = vec![
            rustls_pki_types::CertificateDer::from_pem_slice(creds.cert_pem.as_bytes()).unwrap(),
        ];
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_client_auth_cert(chain, key)
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from(rank_name(0)).unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&addr0).unwrap());
        tls.sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let hello = Header { kind: FrameKind::Hello, seq: 0, aux: 1, len: 16 };
        tls.write_all(&hello.encode()).unwrap();
        tls.write_all(&u64s_to_bytes(&[3, 0])).unwrap();
        let mut answer = [0u8; 32];
        tls.read_exact(&mut answer).expect("a refusal");
        let header = Header::decode(&answer).expect("a frame");
        assert_eq!(header.kind, FrameKind::Refuse, "pinned {pinned}");
        let mut reason = vec![0u8; header.len as usize];
        tls.read_exact(&mut reason).unwrap();
        let reason = String::from_utf8(reason).unwrap();
        assert!(reason.contains("does not identify rank 1"), "{reason}");

        // The real ranks 1 and 2 complete the mesh.
        let comms: Vec<TcpComm> = thread::scope(|s| {
            let handles: Vec<_> = [(1, &l1), (2, &l2)]
                .into_iter()
                .map(|(rank, l)| {
                    let parties = &parties;
                    let config = secure(deployment.config(rank).unwrap(), 5000);
                    s.spawn(move || TcpComm::with_listener(rank, l, parties, &config))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("real party")).collect()
        });
        let sums = all_ok(
            run_parties(comms, |mut c| {
                let mut v = [1u64];
                c.all_reduce_sum_u64(&mut v)?;
                Ok(v[0])
            }),
            "after the impostor",
        );
        assert_eq!(sums, [3, 3]);
        assert_eq!(h.join().unwrap().expect("rank 0"), 3);
    }
}

#[test]
fn credentials_for_another_rank_or_world_are_refused_before_connecting() {
    let deployment = Deployment::generate(3, true).expect("credentials");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let parties =
        [listener.local_addr().unwrap().to_string(), "127.0.0.1:9".into(), "127.0.0.1:9".into()];
    let config = secure(deployment.config(1).unwrap(), 1000);
    let err = TcpComm::with_listener(0, &listener, &parties, &config).unwrap_err();
    assert!(matches!(err, CommError::Credentials { .. }), "{err}");
    // Pinned for three, used in a world of two.
    let config = secure(deployment.config(0).unwrap(), 1000);
    let err = TcpComm::with_listener(0, &listener, &parties[..2], &config).unwrap_err();
    assert!(matches!(err, CommError::Credentials { .. }), "{err}");
    // A key that is not the certificate's.
    let ca = Deployment::generate(2, false).expect("credentials");
    let Trust::Authority(_) = ca.trust().unwrap() else { panic!("authority expected") };
    let mut mixed = ca.clone();
    mixed.ranks[0].key_pem = ca.ranks[1].key_pem.clone();
    assert!(matches!(mixed.config(0), Err(CommError::Credentials { .. })));
    // A certificate of another deployment's authority.
    let other = Deployment::generate(2, false).expect("credentials");
    let mut foreign = ca.clone();
    foreign.ranks[0] = other.ranks[0].clone();
    assert!(matches!(foreign.config(0), Err(CommError::Credentials { .. })));
}

#[test]
fn plain_tcp_is_refused_off_loopback_unless_asked_for() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let own = listener.local_addr().unwrap().to_string();
    // TEST-NET-1: not this machine, never reached (refused before connecting).
    let parties = [own, "192.0.2.1:7000".to_owned()];
    let err = TcpComm::with_listener(0, &listener, &parties, &config(500)).unwrap_err();
    assert!(matches!(&err, CommError::TlsRequired { addr } if addr == "192.0.2.1:7000"), "{err}");
    assert!(err.to_string().contains("CLOAK_TLS_DIR"), "{err}");
    let err = TcpComm::rendezvous(1, 2, "192.0.2.1:7000", &config(500)).unwrap_err();
    assert!(matches!(err, CommError::TlsRequired { .. }), "{err}");
    // Asked for: it goes on (and fails to connect, in this test).
    let insecure = CommConfig { security: Security::InsecurePlain, ..config(300) };
    let err =
        TcpComm::with_listener(1, &listener, &["192.0.2.1:7000".to_owned(), "x".into()], &insecure)
            .unwrap_err();
    assert!(matches!(err, CommError::Connect { peer: 0, .. }), "{err}");
}

/// Relays one connection from `listener` to `target`, recording every byte both ways.
fn recording_proxy(listener: TcpListener, target: String) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else { return };
        let Ok(server) = TcpStream::connect(&target) else { return };
        let pipe = |mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Vec<u8>>>| {
            thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
            })
        };
        let a = pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), Arc::clone(&record));
        let b = pipe(server, client, record);
        let _ = (a.join(), b.join());
    });
    seen
}

/// Runs a two-party exchange of recognisable secrets with rank 1 reaching rank 0 through a
/// recording proxy; returns what crossed the wire.
fn captured(security: impl Fn(usize) -> Security) -> Vec<u8> {
    let l0 = TcpListener::bind("127.0.0.1:0").unwrap();
    let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let real = [l0.local_addr().unwrap().to_string(), l1.local_addr().unwrap().to_string()];
    let via_proxy = [proxy.local_addr().unwrap().to_string(), real[1].clone()];
    let seen = recording_proxy(proxy, real[0].clone());
    let configs: Vec<CommConfig> =
        (0..2).map(|r| CommConfig { security: security(r), ..config(5000) }).collect();
    thread::scope(|s| {
        let configs = &configs;
        let (l0, l1, real, via_proxy) = (&l0, &l1, &real, &via_proxy);
        let a = s.spawn(move || {
            let mut c = TcpComm::with_listener(0, l0, real, &configs[0])?;
            c.exchange(1, SECRET)
        });
        let b = s.spawn(move || {
            let mut c = TcpComm::with_listener(1, l1, via_proxy, &configs[1])?;
            c.exchange(0, SECRET)
        });
        assert_eq!(a.join().unwrap().expect("rank 0"), SECRET);
        assert_eq!(b.join().unwrap().expect("rank 1"), SECRET);
    });
    thread::sleep(Duration::from_millis(100));
    seen.lock().map(|b| b.clone()).expect("capture")
}

const SECRET: &[u8] = b"seed=0x5eed5eed5eed share=0x0123456789abcdef weight=-0.7264591837";

#[test]
fn a_capture_of_the_wire_under_tls_holds_nothing_in_the_clear() {
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    // The same capture without TLS shows the secret: the check can fail.
    let plain = captured(|_| Security::InsecurePlain);
    assert!(contains(&plain, SECRET), "the plain capture must show the payload");
    assert!(contains(&plain, b"CLOK"));

    let deployment = Deployment::generate(2, false).expect("credentials");
    let wire = captured(|r| Security::Tls(deployment.config(r).unwrap()));
    assert!(wire.len() > SECRET.len(), "something crossed the wire");
    for needle in [SECRET, &SECRET[..16], &SECRET[16..40], b"CLOK"] {
        assert!(!contains(&wire, needle), "{:?} in the clear", String::from_utf8_lossy(needle));
    }
}

#[test]
fn a_deployment_written_to_disk_reads_back_for_every_rank() {
    for pinned in [false, true] {
        let dir = std::env::temp_dir().join(format!(
            "cloak-certs-{}-{pinned}-{}",
            std::process::id(),
            free_local_port().unwrap()
        ));
        let deployment = Deployment::generate(3, pinned).expect("credentials");
        let files = deployment.write_to(&dir).expect("write");
        assert_eq!(files.len(), if pinned { 6 } else { 8 });
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("rank-1.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "keys are private to their owner");
        }
        for rank in 0..3 {
            let config = TlsConfig::from_dir(&dir, rank, 3).expect("read back");
            assert_eq!(config.rank(), rank);
            assert_eq!(matches!(config.trust(), Trust::Pinned(_)), pinned);
        }
        // Not overwritten.
        assert!(deployment.write_to(&dir).is_err());
        if pinned {
            std::fs::remove_file(dir.join("rank-2.pem")).unwrap();
            let err = TlsConfig::from_dir(&dir, 0, 3).unwrap_err();
            assert!(err.to_string().contains("rank-2.pem"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn the_environment_chooses_tls_or_plain_tcp() {
    let dir = std::env::temp_dir().join(format!(
        "cloak-env-{}-{}",
        std::process::id(),
        free_local_port().unwrap()
    ));
    Deployment::generate(2, false).unwrap().write_to(&dir).unwrap();
    let shown = dir.display().to_string();
    let with = |vars: &'static [(&'static str, &'static str)], dir: Option<&str>| {
        let dir = dir.map(str::to_owned);
        Security::from_lookup(
            move |name| {
                if name == "CLOAK_TLS_DIR" {
                    return dir.clone();
                }
                vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
            },
            1,
            2,
        )
    };
    assert!(matches!(with(&[], Some(&shown)), Ok(Security::Tls(t)) if t.rank() == 1));
    assert!(matches!(with(&[("CLOAK_PLAINTEXT", "1")], None), Ok(Security::InsecurePlain)));
    assert!(matches!(with(&[], None), Ok(Security::Auto)));
    assert!(matches!(with(&[("CLOAK_PLAINTEXT", "yes")], None), Err(CommError::Config { .. })));
    assert!(matches!(
        with(&[("CLOAK_PLAINTEXT", "1")], Some(&shown)),
        Err(CommError::Config { .. })
    ));
    assert!(matches!(with(&[], Some("/nonexistent/cloak")), Err(CommError::Credentials { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_abort_travels_inside_tls_to_every_party() {
    let deployment = Deployment::generate(3, false).expect("credentials");
    let configs: Vec<CommConfig> =
        (0..3).map(|r| secure(deployment.config(r).unwrap(), 5000)).collect();
    let comms = TcpComm::create_local_each(&configs).expect("TLS mesh");
    let outcomes = run_parties(comms, |mut c| -> Result<(), CommError> {
        let mut v = [1u64];
        c.all_reduce_sum_u64(&mut v)?;
        if c.rank() == 2 {
            c.abort("input has NaN at element 2");
            return Err(CommError::Failed { cause: "aborted".into() });
        }
        c.all_reduce_sum_u64(&mut v)
    });
    for (rank, outcome) in outcomes.iter().enumerate().take(2) {
        match outcome {
            Err(cloak_comm::runner::PartyFailure::Error(CommError::Aborted {
                origin: 2,
                reason,
                ..
            })) => assert!(reason.contains("NaN at element 2"), "rank {rank}: {reason}"),
            other => panic!("rank {rank}: {other:?}"),
        }
    }
}
