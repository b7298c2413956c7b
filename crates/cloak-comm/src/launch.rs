//! Where a party learns its rank, the world size and how to reach the others: the
//! variables that common launchers set.
//!
//! Rank and world size come from the first launcher found, in this order: torchrun
//! (`RANK`, `WORLD_SIZE`), Slurm (`SLURM_PROCID`, `SLURM_NTASKS`), Open MPI
//! (`OMPI_COMM_WORLD_RANK`, `OMPI_COMM_WORLD_SIZE`). A Kubernetes Indexed Job comes last:
//! when none of those rank variables is set, the pod's `JOB_COMPLETION_INDEX` is the rank
//! and `WORLD_SIZE` (which the Job's pod template sets: Kubernetes gives no pod count) the
//! world size. Peers are found through `CLOAK_PARTIES` (comma-separated `host:port` per
//! rank) when set, otherwise through rank 0 at `MASTER_ADDR`:`MASTER_PORT`.

use crate::CommError;

/// The rank and world-size variables of each supported launcher, in order of precedence.
pub const LAUNCHERS: [(&str, &str); 3] = [
    ("RANK", "WORLD_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
];

/// The rank variable of a Kubernetes Indexed Job (its world size is `WORLD_SIZE`), read only
/// when no rank variable of [`LAUNCHERS`] is set. Not in [`LAUNCHERS`]: Kubernetes sets it in
/// every pod of any Indexed Job, so on its own it does not make a process a party (see
/// [`Launch::present`]), and clearing the launchers' variables leaves it harmless.
pub(crate) const INDEXED_JOB_RANK: &str = "JOB_COMPLETION_INDEX";

/// How the parties find each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendezvous {
    /// Every party's listening address (`host:port`), indexed by rank.
    Parties(Vec<String>),
    /// Rank 0's address (`host:port`); the other parties register with it.
    Master(String),
}

/// One party's place in a launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// This party's rank.
    pub rank: usize,
    /// The number of parties.
    pub world_size: usize,
    /// How to reach the others.
    pub rendezvous: Rendezvous,
}

impl Launch {
    /// Whether any launcher's rank or world-size variable is set for this process: a program
    /// that can either start its own local parties or be one party of a launch decides with
    /// this (a set but broken configuration is then reported by [`Launch::from_env`] rather
    /// than papered over by a local run). A Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`
    /// alone does not count (Kubernetes sets it in every such pod); with `WORLD_SIZE` it does.
    #[must_use]
    pub fn present() -> bool {
        LAUNCHERS.iter().any(|(rank, world)| {
            std::env::var_os(rank).is_some() || std::env::var_os(world).is_some()
        })
    }

    /// Reads the launcher variables of this process.
    pub fn from_env() -> Result<Launch, CommError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads launcher variables through `lookup` (name to value), so that parsing can be
    /// tested without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Launch, CommError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned());
        let indexed_job = get(INDEXED_JOB_RANK).is_some()
            && LAUNCHERS.iter().all(|(rank, _)| get(rank).is_none());
        let (rank_var, world_var) = if indexed_job {
            (INDEXED_JOB_RANK, "WORLD_SIZE")
        } else {
            LAUNCHERS.into_iter().find(|(r, w)| get(r).is_some() || get(w).is_some()).ok_or_else(
                || CommError::Config {
                    var: "RANK".into(),
                    reason: "no launcher variables set (RANK/WORLD_SIZE, \
                             SLURM_PROCID/SLURM_NTASKS, OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE \
                             or JOB_COMPLETION_INDEX/WORLD_SIZE)"
                        .into(),
                },
            )?
        };
        let rank: usize = parse(rank_var, get(rank_var))?;
        let world = get(world_var);
        if indexed_job && world.is_none() {
            return Err(CommError::Config {
                var: world_var.into(),
                reason: format!(
                    "not set, but {INDEXED_JOB_RANK} is: a Kubernetes Indexed Job must set \
                     {world_var} to its number of completions"
                ),
            });
        }
        let world_size: usize = parse(world_var, world)?;
        if world_size == 0 {
            return Err(bad(world_var, "0", "there must be at least one party"));
        }
        if rank >= world_size {
            return Err(bad(
                rank_var,
                &rank.to_string(),
                &format!("not below {world_var}={world_size}"),
            ));
        }

        let rendezvous = if let Some(list) = get("CLOAK_PARTIES") {
            let parties: Vec<String> = list.split(',').map(|p| p.trim().to_owned()).collect();
            if parties.len() != world_size || parties.iter().any(String::is_empty) {
                return Err(bad(
                    "CLOAK_PARTIES",
                    &list,
                    &format!("expected {world_size} comma-separated host:port entries"),
                ));
            }
            Rendezvous::Parties(parties)
        } else if world_size == 1 && get("MASTER_ADDR").is_none() {
            // A party alone needs no network; it only listens, on any free loopback port.
            Rendezvous::Parties(vec!["127.0.0.1:0".to_owned()])
        } else {
            let host =
                get("MASTER_ADDR").filter(|h| !h.is_empty()).ok_or_else(|| CommError::Config {
                    var: "MASTER_ADDR".into(),
                    reason: "not set (needed with more than one party unless CLOAK_PARTIES is set)"
                        .into(),
                })?;
            let port: u16 = parse("MASTER_PORT", get("MASTER_PORT"))?;
            if port == 0 {
                return Err(bad("MASTER_PORT", "0", "must be a fixed port"));
            }
            // An IPv6 literal needs brackets before the port.
            let master = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            Rendezvous::Master(master)
        };
        Ok(Launch { rank, world_size, rendezvous })
    }
}

fn parse<T: std::str::FromStr>(var: &str, value: Option<String>) -> Result<T, CommError>
where
    T::Err: std::fmt::Display,
{
    let value =
        value.ok_or_else(|| CommError::Config { var: var.into(), reason: "not set".into() })?;
    value.parse().map_err(|e: T::Err| bad(var, &value, &e.to_string()))
}

fn bad(var: &str, value: &str, reason: &str) -> CommError {
    CommError::Config { var: format!("{var}={value:?}"), reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(vars: &[(&str, &str)]) -> Result<Launch, CommError> {
        Launch::from_lookup(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
    }

    fn config_var(result: Result<Launch, CommError>) -> String {
        match result {
            Err(CommError::Config { var, .. }) => var,
            other => format!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn torchrun_variables() {
        let got = launch(&[
            ("RANK", "2"),
            ("WORLD_SIZE", "3"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29500"),
        ]);
        let want = Launch {
            rank: 2,
            world_size: 3,
            rendezvous: Rendezvous::Master("10.0.0.1:29500".into()),
        };
        assert_eq!(got.ok(), Some(want));
    }

    #[test]
    fn slurm_and_openmpi_variables() {
        let master = [("MASTER_ADDR", "node1"), ("MASTER_PORT", "1234")];
        let slurm =
            launch(&[&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")], &master[..]].concat());
        assert_eq!(slurm.as_ref().map(|l| (l.rank, l.world_size)).ok(), Some((1, 4)));
        let ompi = launch(
            &[&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2")], &master[..]]
                .concat(),
        );
        assert_eq!(
            ompi.map(|l| (l.rank, l.world_size, l.rendezvous)).ok(),
            Some((0, 2, Rendezvous::Master("node1:1234".into())))
        );
    }

    #[test]
    fn torchrun_wins_over_slurm() {
        let got = launch(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1"),
        ]);
        assert_eq!(got.map(|l| (l.rank, l.world_size)).ok(), Some((1, 2)));
    }

    #[test]
    fn kubernetes_indexed_job_variables() {
        let got = launch(&[
            ("JOB_COMPLETION_INDEX", "2"),
            ("WORLD_SIZE", "3"),
            ("MASTER_ADDR", "cloak-0.cloak"),
            ("MASTER_PORT", "29500"),
        ]);
        let want = Launch {
            rank: 2,
            world_size: 3,
            rendezvous: Rendezvous::Master("cloak-0.cloak:29500".into()),
        };
        assert_eq!(got.ok(), Some(want));
        // Any other launcher's rank wins, torchrun's first.
        let both = launch(&[
            ("JOB_COMPLETION_INDEX", "2"),
            ("RANK", "1"),
            ("WORLD_SIZE", "3"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1"),
        ]);
        assert_eq!(both.map(|l| (l.rank, l.world_size)).ok(), Some((1, 3)));
        let slurm = launch(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "4"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1"),
        ]);
        assert_eq!(slurm.map(|l| (l.rank, l.world_size)).ok(), Some((3, 4)));
    }

    #[test]
    fn an_indexed_job_without_world_size_is_a_clear_error() {
        match launch(&[("JOB_COMPLETION_INDEX", "1"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1")]) {
            Err(CommError::Config { var, reason }) => {
                assert_eq!(var, "WORLD_SIZE");
                assert!(reason.contains("JOB_COMPLETION_INDEX") && reason.contains("Indexed Job"));
            }
            other => panic!("{other:?}"),
        }
        let m = [("MASTER_ADDR", "h"), ("MASTER_PORT", "1")];
        let with = |extra: &[(&'static str, &'static str)]| launch(&[extra, &m[..]].concat());
        let beyond = with(&[("JOB_COMPLETION_INDEX", "3"), ("WORLD_SIZE", "3")]);
        assert!(config_var(beyond).starts_with("JOB_COMPLETION_INDEX="));
        let garbage = with(&[("JOB_COMPLETION_INDEX", "one"), ("WORLD_SIZE", "3")]);
        assert!(config_var(garbage).starts_with("JOB_COMPLETION_INDEX=\"one\""));
    }

    #[test]
    fn a_single_party_needs_no_address() {
        let got = launch(&[("RANK", "0"), ("WORLD_SIZE", "1")]);
        assert_eq!(
            got.map(|l| l.rendezvous).ok(),
            Some(Rendezvous::Parties(vec!["127.0.0.1:0".into()]))
        );
    }

    #[test]
    fn explicit_party_list_and_ipv6_master() {
        let got = launch(&[("RANK", "1"), ("WORLD_SIZE", "2"), ("CLOAK_PARTIES", "a:1, b:2")]);
        assert_eq!(
            got.map(|l| l.rendezvous).ok(),
            Some(Rendezvous::Parties(vec!["a:1".into(), "b:2".into()]))
        );
        let v6 = launch(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "::1"),
            ("MASTER_PORT", "9"),
        ]);
        assert_eq!(v6.map(|l| l.rendezvous).ok(), Some(Rendezvous::Master("[::1]:9".into())));
    }

    #[test]
    fn bad_values_are_typed_errors_naming_the_variable() {
        let m = [("MASTER_ADDR", "h"), ("MASTER_PORT", "1")];
        let with = |extra: &[(&'static str, &'static str)]| launch(&[extra, &m[..]].concat());
        assert!(config_var(launch(&[])).starts_with("RANK"));
        assert!(config_var(with(&[("RANK", "x"), ("WORLD_SIZE", "2")])).starts_with("RANK=\"x\""));
        assert!(config_var(with(&[("RANK", "-1"), ("WORLD_SIZE", "2")])).starts_with("RANK="));
        assert!(config_var(with(&[("RANK", "2"), ("WORLD_SIZE", "2")])).starts_with("RANK="));
        assert!(config_var(with(&[("RANK", "0"), ("WORLD_SIZE", "0")])).starts_with("WORLD_SIZE="));
        assert_eq!(config_var(with(&[("RANK", "0")])), "WORLD_SIZE");
        assert_eq!(config_var(with(&[("SLURM_NTASKS", "2")])), "SLURM_PROCID");
        assert!(
            config_var(with(&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "two")]))
                .starts_with("OMPI_COMM_WORLD_SIZE=")
        );
        let no_master = launch(&[("RANK", "0"), ("WORLD_SIZE", "2")]);
        assert_eq!(config_var(no_master), "MASTER_ADDR");
        let bad_port = launch(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "70000"),
        ]);
        assert!(config_var(bad_port).starts_with("MASTER_PORT="));
        let zero_port = launch(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "0"),
        ]);
        assert!(config_var(zero_port).starts_with("MASTER_PORT="));
        let short_list =
            launch(&[("RANK", "0"), ("WORLD_SIZE", "3"), ("CLOAK_PARTIES", "a:1,b:2")]);
        assert!(config_var(short_list).starts_with("CLOAK_PARTIES="));
    }
}
