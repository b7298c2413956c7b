//! The peers file: parsing, its errors, and whole TLS meshes built from one file.

mod common;

use std::path::{Path, PathBuf};
use std::thread;

use cloak_comm::runner::{free_local_port, run_parties};
use cloak_comm::tls::Deployment;
use cloak_comm::{CommConfig, CommError, Communicator, PeersFile, Rendezvous, Security, TcpComm};
use common::{all_ok, config};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cloak-peers-{tag}-{}-{}",
        std::process::id(),
        free_local_port().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(text: &str) -> Result<PeersFile, CommError> {
    PeersFile::parse(text, Path::new("/etc/cloak"), Path::new("peers.toml"))
}

#[test]
fn a_file_gives_every_rank_its_launch_and_resolves_paths() {
    let file = parse(
        r#"
        ca = "certs/ca.pem"
        [[party]]
        rank = 1
        address = "10.0.0.2:7001"
        certificate = "certs/rank-1.pem"
        [[party]]
        rank = 0
        address = "alice.example.org:7000"
        certificate = "/abs/rank-0.pem"
        "#,
    )
    .expect("a valid file");
    assert_eq!(file.world(), 2);
    assert_eq!(file.ca.as_deref(), Some(Path::new("/etc/cloak/certs/ca.pem")));
    assert_eq!(file.parties[0].certificate.as_deref(), Some(Path::new("/abs/rank-0.pem")));
    assert_eq!(
        file.parties[1].certificate.as_deref(),
        Some(Path::new("/etc/cloak/certs/rank-1.pem"))
    );
    let launch = file.launch(1).unwrap();
    assert_eq!(launch.world_size, 2);
    assert_eq!(
        launch.rendezvous,
        Rendezvous::Parties(vec!["alice.example.org:7000".into(), "10.0.0.2:7001".into()])
    );
    assert!(matches!(file.launch(2), Err(CommError::InvalidRank { rank: 2, world: 2 })));
    // Certificates listed: the key is required.
    let err = file.security(0, None).unwrap_err();
    assert!(err.to_string().contains("--key"), "{err}");
}

#[test]
fn bad_files_are_configuration_errors_that_say_what_is_wrong() {
    let entry =
        |rank: usize, address: &str| format!("[[party]]\nrank = {rank}\naddress = \"{address}\"\n");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "no [[party]]"),
        (entry(0, "a:1") + &entry(0, "b:2"), "listed twice"),
        (entry(0, "a:1") + &entry(2, "b:2"), "rank 2 in a file of 2"),
        (entry(0, "a:1") + &entry(1, "b"), "not host:port"),
        (entry(0, "a:1") + &entry(1, "b:0"), "fixed port"),
        (entry(0, "a:1") + &entry(1, ":5"), "needs a host"),
        (
            entry(0, "a:1") + "[[party]]\nrank = 1\naddress = \"b:2\"\ncertificate = \"c.pem\"\n",
            "1 of 2 ranks",
        ),
        (
            "ca = \"ca.pem\"\n".to_owned() + &entry(0, "a:1") + &entry(1, "b:2"),
            "a ca but no certificates",
        ),
        (entry(0, "a:1") + "colour = \"blue\"\n", "unknown field"),
        ("[[party]]\nrank = -1\naddress = \"a:1\"\n".to_owned(), "line 2"),
        ("this is not toml".to_owned(), ""),
    ];
    for (text, expected) in cases {
        match parse(&text) {
            Err(e @ CommError::Config { .. }) => {
                assert!(e.to_string().contains(expected), "{text:?}: {e}");
                assert!(e.to_string().contains("peers.toml"), "{e}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    // Plain deployments are fine: security is left to the loopback rule.
    let plain = parse(&(entry(0, "127.0.0.1:1") + &entry(1, "127.0.0.1:2"))).unwrap();
    assert_eq!(plain.security(1, None).unwrap(), Security::Auto);
}

/// Writes a deployment and a peers file for it on fixed loopback ports; returns the file.
fn deployment_file(dir: &Path, n: usize, pinned: bool) -> PathBuf {
    Deployment::generate(n, pinned).unwrap().write_to(&dir.join("certs")).unwrap();
    let mut text = if pinned { String::new() } else { "ca = \"certs/ca.pem\"\n".to_owned() };
    for rank in 0..n {
        let port = free_local_port().unwrap();
        text += &format!(
            "[[party]]\nrank = {rank}\naddress = \"127.0.0.1:{port}\"\ncertificate = \"certs/rank-{rank}.pem\"\n"
        );
    }
    let path = dir.join("peers.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_tls_mesh_from_one_peers_file_under_both_kinds_of_trust() {
    for pinned in [false, true] {
        let n = 3;
        let dir = temp_dir(if pinned { "pinned" } else { "ca" });
        let path = deployment_file(&dir, n, pinned);
        let comms: Vec<TcpComm> = thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|rank| {
                    let (path, dir) = (&path, &dir);
                    s.spawn(move || {
                        let file = PeersFile::load(path)?;
                        let key = dir.join(format!("certs/rank-{rank}.key"));
                        let security = file.security(rank, Some(&key))?;
                        assert!(matches!(security, Security::Tls(_)));
                        TcpComm::from_launch(
                            &file.launch(rank)?,
                            &CommConfig { security, ..config(5000) },
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("mesh from the file")).collect()
        });
        let sums = all_ok(
            run_parties(comms, |mut c| {
                let mut v = [c.rank() as u64 + 1];
                c.all_reduce_sum_u64(&mut v)?;
                Ok(v[0])
            }),
            "peers file",
        );
        assert_eq!(sums, [6, 6, 6]);
        // Another rank's key does not fit this rank's certificate.
        let file = PeersFile::load(&path).unwrap();
        let err = file.security(0, Some(&dir.join("certs/rank-1.key"))).unwrap_err();
        assert!(matches!(err, CommError::Credentials { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
