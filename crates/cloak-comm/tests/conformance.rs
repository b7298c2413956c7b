//! Every transport against the communicator conformance suite, for 2 and 3 parties:
//! in-process channels, loopback TCP, and loopback TCP under mutual TLS (fresh credentials
//! from a new authority for every network).

use cloak_comm::conformance::boxed;
use cloak_comm::tls::Deployment;
use cloak_comm::{CommConfig, CommError, Communicator, LocalComm, Security, TcpComm};

fn channels(world: usize, config: &CommConfig) -> Result<Vec<Box<dyn Communicator>>, CommError> {
    Ok(LocalComm::create(world, config).into_iter().map(boxed).collect())
}

fn tcp(world: usize, config: &CommConfig) -> Result<Vec<Box<dyn Communicator>>, CommError> {
    Ok(TcpComm::create_local(world, config)?.into_iter().map(boxed).collect())
}

fn tls(world: usize, config: &CommConfig) -> Result<Vec<Box<dyn Communicator>>, CommError> {
    let deployment = Deployment::generate(world, false)?;
    let configs = (0..world)
        .map(|rank| {
            Ok(CommConfig { security: Security::Tls(deployment.config(rank)?), ..config.clone() })
        })
        .collect::<Result<Vec<_>, CommError>>()?;
    Ok(TcpComm::create_local_each(&configs)?.into_iter().map(boxed).collect())
}

cloak_comm::communicator_conformance_tests!(over_channels, channels);
cloak_comm::communicator_conformance_tests!(over_tcp, tcp);
cloak_comm::communicator_conformance_tests!(over_tls, tls);
