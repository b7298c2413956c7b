//! Strongly connected components (Tarjan) and one cycle through each, for the module check.
//!
//! A component of more than one node is a set of modules that all reach each other: none of
//! them can be understood, tested or moved without the others, which is what the check
//! reports. Graphs here have tens of nodes, so the recursive form is fine.

/// The strongly connected components of the graph with adjacency lists `adj` (nodes
/// `0..adj.len()`), each sorted, in reverse topological order (as Tarjan finds them).
pub fn components(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut t = Tarjan {
        adj,
        index: vec![None; adj.len()],
        low: vec![0; adj.len()],
        on_stack: vec![false; adj.len()],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..adj.len() {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    t.out
}

/// A shortest cycle through `start` using only nodes of `component` (which must contain
/// `start` and be strongly connected), as a node list that begins and ends with `start`.
pub fn cycle_through(adj: &[Vec<usize>], component: &[usize], start: usize) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; adj.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = vec![false; adj.len()];
    seen[start] = true;
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !component.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![start];
                let mut at = v;
                while at != start {
                    path.push(at);
                    at = parent[at].unwrap_or(start);
                }
                path.push(start);
                path.reverse();
                return path;
            }
            if !seen[w] {
                seen[w] = true;
                parent[w] = Some(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

struct Tarjan<'a> {
    adj: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    out: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.adj[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            self.out.push(component);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut c: Vec<_> = components(adj).into_iter().filter(|c| c.len() > 1).collect();
        c.sort();
        c
    }

    #[test]
    fn a_dag_has_only_singletons() {
        let adj = vec![vec![1, 2], vec![2], vec![], vec![0]];
        assert!(big(&adj).is_empty());
        assert_eq!(components(&adj).len(), 4);
    }

    #[test]
    fn finds_two_separate_cycles() {
        // 0 <-> 1, 2 -> 3 -> 4 -> 2, 5 alone but reached from both.
        let adj = vec![vec![1, 5], vec![0], vec![3], vec![4], vec![2, 5], vec![]];
        assert_eq!(big(&adj), [vec![0, 1], vec![2, 3, 4]]);
    }

    #[test]
    fn self_loops_are_not_components() {
        let adj = vec![vec![0]];
        assert!(big(&adj).is_empty());
    }

    #[test]
    fn components_come_in_reverse_topological_order() {
        // {0,1} -> {2,3}: the sink component is found first.
        let adj = vec![vec![1], vec![0, 2], vec![3], vec![2]];
        assert_eq!(components(&adj), [vec![2, 3], vec![0, 1]]);
    }

    #[test]
    fn cycle_is_shortest_and_closed() {
        // 0 -> 1 -> 2 -> 0 and 0 -> 3 -> 4 -> 1: the cycle through 0 is 0 1 2 0.
        let adj = vec![vec![3, 1], vec![2], vec![0], vec![4], vec![1]];
        let comp = vec![0, 1, 2, 3, 4];
        assert_eq!(cycle_through(&adj, &comp, 0), [0, 1, 2, 0]);
        assert_eq!(cycle_through(&adj, &comp, 3), [3, 4, 1, 2, 0, 3]);
    }
}
