//! The tables `cloak` prints: predictions, the comparison with plain `f64`, and the
//! per-layer cost. Pure formatting of revealed values and statistics, so it can be tested
//! without running anything.

use std::fmt::Write;
use std::time::Duration;

use ndarray::{ArrayD, Axis};

use super::lines::Cost;

/// How many nodes the per-layer table lists (the most expensive by time).
pub(crate) const TOP_NODES: usize = 15;

/// One node's cost, named.
#[derive(Clone, Debug)]
pub(crate) struct NodeCost {
    pub name: String,
    pub op: String,
    pub cost: Cost,
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// `s` cut to `width` characters (an ellipsis marks the cut).
fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn add(total: &mut Cost, c: &Cost) {
    total.time += c.time;
    total.rounds += c.rounds;
    total.bytes += c.bytes;
}

/// The per-layer table at `party`: the [`TOP_NODES`] most expensive nodes by time, the rest
/// summed on one line, the stages around them, and the total.
pub(crate) fn layers(party: usize, nodes: &[NodeCost], stages: &[(String, Cost)]) -> String {
    let mut out = String::new();
    let row = |out: &mut String, name: &str, op: &str, c: &Cost| {
        let _ = writeln!(
            out,
            "  {:<30} {:<14} {:>10} {:>7} {:>12}",
            fit(name, 30),
            fit(op, 14),
            ms(c.time),
            c.rounds,
            bytes(c.bytes)
        );
    };
    let _ = writeln!(
        out,
        "per-layer cost at party {party} (wall time there; rounds and bytes it sent), {} of {} nodes by time:",
        nodes.len().min(TOP_NODES),
        nodes.len()
    );
    let _ = writeln!(
        out,
        "  {:<30} {:<14} {:>10} {:>7} {:>12}",
        "node", "op", "time (ms)", "rounds", "bytes sent"
    );
    let mut sorted: Vec<&NodeCost> = nodes.iter().collect();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.cost.time));
    let mut all_nodes = Cost::default();
    for n in &sorted {
        add(&mut all_nodes, &n.cost);
    }
    for n in sorted.iter().take(TOP_NODES) {
        row(&mut out, &n.name, &n.op, &n.cost);
    }
    if sorted.len() > TOP_NODES {
        let mut rest = Cost::default();
        for n in &sorted[TOP_NODES..] {
            add(&mut rest, &n.cost);
        }
        row(&mut out, &format!("({} more nodes)", sorted.len() - TOP_NODES), "", &rest);
    }
    row(&mut out, &format!("all {} nodes", nodes.len()), "", &all_nodes);
    let mut total = all_nodes;
    for (name, c) in stages {
        row(&mut out, &format!("[{name}]"), "", c);
        add(&mut total, c);
    }
    row(&mut out, "total", "", &total);
    out
}

/// The top `k` classes of each row of a classifier's output, with the true labels if known;
/// any other output as its shape and first values.
pub(crate) fn predictions(out: &ArrayD<f64>, k: usize, labels: Option<&[usize]>) -> String {
    let mut s = String::new();
    let Ok(top) = cloak::top_k(out, k) else {
        let first: Vec<String> = out.iter().take(10).map(|v| format!("{v:.4}")).collect();
        let more = if out.len() > 10 { ", ..." } else { "" };
        let _ = writeln!(s, "output {:?}: [{}{more}]", out.shape(), first.join(", "));
        return s;
    };
    let _ = writeln!(
        s,
        "output {:?}: top {} classes per row (class: score)",
        out.shape(),
        k.min(out.shape()[1])
    );
    let _ = writeln!(s, "  {:>4}  {:>5}  predictions", "row", "label");
    let mut correct = 0;
    for (i, row) in top.iter().enumerate() {
        let label = labels.and_then(|l| l.get(i));
        if label.is_some_and(|&l| row.first().is_some_and(|p| p.0 == l)) {
            correct += 1;
        }
        let preds: Vec<String> = row.iter().map(|(c, v)| format!("{c:>3}: {v:>9.4}")).collect();
        let label = label.map_or_else(|| "-".to_string(), ToString::to_string);
        let _ = writeln!(s, "  {i:>4}  {label:>5}  {}", preds.join("   "));
    }
    if let Some(l) = labels {
        let _ = writeln!(
            s,
            "accuracy against the labels: {correct} of {} rows",
            l.len().min(top.len())
        );
    }
    s
}

/// The comparison of the private output with the plain `f64` one: per row for a
/// classifier (both predicted classes and the largest difference), then the largest
/// difference overall. Returns the text and that difference.
pub(crate) fn check(secure: &ArrayD<f64>, plain: &ArrayD<f64>) -> (String, f64) {
    let mut s = String::new();
    let max_diff = |a: ndarray::ArrayViewD<'_, f64>, b: ndarray::ArrayViewD<'_, f64>| {
        a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0f64, f64::max)
    };
    if secure.shape() != plain.shape() {
        let _ =
            writeln!(s, "shapes differ: private {:?}, plain {:?}", secure.shape(), plain.shape());
        return (s, f64::INFINITY);
    }
    let overall = max_diff(secure.view(), plain.view());
    let _ = writeln!(s, "check against plain f64 (the same model and input, run at the launcher):");
    if let (Ok(a), Ok(b)) = (cloak::predicted_classes(secure), cloak::predicted_classes(plain)) {
        let _ =
            writeln!(s, "  {:>4}  {:>7}  {:>5}  {:>10}", "row", "private", "plain", "max |diff|");
        for (i, (x, y)) in secure.axis_iter(Axis(0)).zip(plain.axis_iter(Axis(0))).enumerate() {
            let mark = if a[i] == b[i] { "" } else { "  <- differs" };
            let _ =
                writeln!(s, "  {i:>4}  {:>7}  {:>5}  {:>10.2e}{mark}", a[i], b[i], max_diff(x, y));
        }
        let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        let _ = writeln!(s, "predicted classes: {agree} of {} rows agree", a.len());
    }
    let _ = writeln!(s, "max abs difference: {overall:.3e} over {} values", secure.len());
    (s, overall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    fn cost(ms: u64) -> Cost {
        Cost { time: Duration::from_millis(ms), rounds: ms, bytes: ms * 1000 }
    }

    #[test]
    fn the_layer_table_lists_the_slowest_nodes_and_sums_the_rest() {
        let nodes: Vec<NodeCost> = (1..=20)
            .map(|i| NodeCost { name: format!("n{i}"), op: "Relu".into(), cost: cost(i) })
            .collect();
        let t = layers(1, &nodes, &[("setup".into(), cost(100))]);
        assert!(t.contains("  n20 ") && t.contains("  n6 ") && !t.contains("  n5 "), "{t}");
        assert!(t.contains("(5 more nodes)"), "{t}");
        // 1 + ... + 20 = 210 ms of nodes, 310 in all.
        let total = t.lines().last().unwrap();
        assert!(
            total.contains("total") && total.contains("310.00") && total.contains("310"),
            "{t}"
        );
    }

    #[test]
    fn predictions_name_the_best_classes_and_count_the_correct_rows() {
        let out = arr2(&[[0.1, 2.0, -1.0], [3.0, 0.0, 1.0]]).into_dyn();
        let t = predictions(&out, 2, Some(&[1, 2]));
        assert!(t.contains("1:    2.0000     0:    0.1000"), "{t}");
        assert!(t.contains("1 of 2 rows"), "{t}");
        let (c, d) = check(&out, &(&out + 0.001));
        assert!((d - 0.001).abs() < 1e-12 && c.contains("2 of 2 rows agree"), "{c}");
    }
}
