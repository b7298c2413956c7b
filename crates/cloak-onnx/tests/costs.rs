//! The report's per-kind costs (`cloak_onnx::report::COSTS`) against the protocols they stand
//! for, measured on 2 parties: rounds exactly, bytes per element within 20%.

use cloak_mpc::{AShare, MpcError, SessionConfig, run_local};
use cloak_onnx::COSTS;
use ndarray::{ArrayD, IxDyn};

const N: usize = 4096;

fn measure(kind: &str) -> (u64, f64) {
    let x = ArrayD::from_shape_fn(IxDyn(&[N]), |i| 0.5 + (i[0] % 97) as f64 / 50.0);
    let out = run_local(2, &SessionConfig::default(), |s| {
        let a = AShare::share(s, 0, (s.rank() == 0).then_some(&x), &[N])?;
        s.reset_stats();
        let _ = match kind {
            "compare" => a.relu()?,
            "clamp" => a.clamp(0.0, 1.0)?,
            "exp" => a.exp()?,
            "sigmoid" => a.sigmoid()?,
            "reciprocal" => a.reciprocal()?,
            "sqrt" => a.inv_sqrt()?,
            "log" => a.log()?,
            other => return Err(MpcError::InvalidArgument { op: "costs", reason: other.into() }),
        };
        let t = s.comm_stats().total();
        Ok((t.rounds, t.bytes_sent as f64 / N as f64))
    });
    out.into_iter().next().unwrap().expect("party 0")
}

#[test]
fn report_costs_match_the_protocols() {
    let measured: Vec<(u64, f64)> = COSTS.iter().map(|c| measure(c.kind)).collect();
    for (c, (rounds, bytes)) in COSTS.iter().zip(&measured) {
        println!(
            "{}: {rounds} rounds, {bytes:.1} bytes per element (table: {}, {})",
            c.kind, c.rounds, c.bytes_per_element
        );
    }
    for (c, &(rounds, bytes)) in COSTS.iter().zip(&measured) {
        assert_eq!(rounds, c.rounds, "{}: rounds", c.kind);
        let ratio = c.bytes_per_element / bytes;
        assert!(
            (0.8..1.25).contains(&ratio),
            "{}: table {} bytes, measured {bytes:.1}",
            c.kind,
            c.bytes_per_element
        );
    }
}
