//! The CPU backend against the backend conformance suite, with rayon allowed and on the
//! calling thread only (the two take different kernel paths for large problems).

use cloak_ring::CpuBackend;

cloak_ring::backend_conformance_tests!(cpu, CpuBackend::default());
cloak_ring::backend_conformance_tests!(cpu_sequential, CpuBackend::sequential());
