//! The module cycle check: inside each crate of `crates/`, the top-level modules must form
//! a DAG.
//!
//! A module that imports one that imports it back cannot be read, tested or split off on its
//! own; cycles between top-level modules are how a crate's internal layering erodes without
//! anyone deciding it. So each crate root (`src/lib.rs`, and `src/main.rs`, which is a
//! separate crate) is read for the modules it declares from files (`mod x;`, found as
//! `src/x.rs` or `src/x/`); each such module is a node, and module `a` has an edge to `b`
//! when any file of `a` names `crate::b` (see [`crate::imports`] for what counts). The root
//! itself is not a node: it re-exports everything, so every module "depends" on it. Every
//! strongly connected component of more than one module is reported, with one cycle
//! through it and the file behind each of its edges.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::imports::{blank_comments_and_literals, crate_path_heads, declared_modules};
use crate::scc::{components, cycle_through};

/// The module graph of one crate root.
#[derive(Debug)]
pub struct ModuleGraph {
    /// The crate's name, with ` (bin)` for a binary root beside a library.
    pub label: String,
    /// The top-level modules, in declaration order.
    pub modules: Vec<String>,
    /// `(from, to)` -> the first file (relative to the crate) where `from` names `to`.
    pub edges: BTreeMap<(usize, usize), PathBuf>,
}

/// A set of modules that import each other, with one cycle through them.
#[derive(Debug)]
pub struct Cycle {
    /// The crate label.
    pub label: String,
    /// Module names along the cycle, first repeated at the end.
    pub path: Vec<String>,
    /// Every module of the component (when larger than the cycle shown).
    pub members: Vec<String>,
    /// `from -> to: file` for each edge of `path`.
    pub evidence: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.label, self.path.join(" -> "))?;
        if self.members.len() + 1 > self.path.len() {
            write!(f, " (component: {})", self.members.join(", "))?;
        }
        for line in &self.evidence {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// Reads every crate under `crates_dir` and builds its module graphs.
pub fn read_graphs(crates_dir: &Path) -> Result<Vec<ModuleGraph>, String> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(crates_dir)
        .map_err(|e| format!("cannot list {}: {e}", crates_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.join("src").is_dir())
        .collect();
    dirs.sort();
    let mut graphs = Vec::new();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let src = dir.join("src");
        let has_lib = src.join("lib.rs").is_file();
        for (root, suffix) in [("lib.rs", ""), ("main.rs", " (bin)")] {
            let root = src.join(root);
            if root.is_file() {
                let label = if has_lib { format!("{name}{suffix}") } else { name.clone() };
                graphs.push(graph_of_root(&dir, &root, label)?);
            }
        }
    }
    Ok(graphs)
}

/// Every cycle among the top-level modules of `graph`, one per strongly connected
/// component of more than one module.
pub fn cycles(graph: &ModuleGraph) -> Vec<Cycle> {
    let mut adj = vec![Vec::new(); graph.modules.len()];
    for &(from, to) in graph.edges.keys() {
        adj[from].push(to);
    }
    let mut found: Vec<Cycle> = components(&adj)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|component| {
            let path = cycle_through(&adj, &component, component[0]);
            let evidence = path
                .windows(2)
                .map(|w| {
                    let file = graph.edges[&(w[0], w[1])].display();
                    format!("{} -> {}: {file}", graph.modules[w[0]], graph.modules[w[1]])
                })
                .collect();
            Cycle {
                label: graph.label.clone(),
                path: path.iter().map(|&i| graph.modules[i].clone()).collect(),
                members: component.iter().map(|&i| graph.modules[i].clone()).collect(),
                evidence,
            }
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn graph_of_root(crate_dir: &Path, root: &Path, label: String) -> Result<ModuleGraph, String> {
    let src = root.parent().unwrap_or(crate_dir);
    let declared = declared_modules(&blank_comments_and_literals(&read(root)?));
    let mut modules = Vec::new();
    let mut files = Vec::new();
    for name in declared {
        let mut own = Vec::new();
        let file = src.join(format!("{name}.rs"));
        if file.is_file() {
            own.push(file);
        }
        rust_files_under(&src.join(&name), &mut own)?;
        if !own.is_empty() {
            modules.push(name);
            files.push(own);
        }
    }
    let mut edges = BTreeMap::new();
    for (from, own) in files.iter().enumerate() {
        for file in own {
            for head in crate_path_heads(&blank_comments_and_literals(&read(file)?)) {
                let Some(to) = modules.iter().position(|m| *m == head) else { continue };
                if to != from {
                    let rel = file.strip_prefix(crate_dir).unwrap_or(file).to_path_buf();
                    edges.entry((from, to)).or_insert(rel);
                }
            }
        }
    }
    Ok(ModuleGraph { label, modules, edges })
}

fn rust_files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files_under(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway crate tree under the system temp dir, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str, files: &[(&str, &str)]) -> Self {
            let root =
                std::env::temp_dir().join(format!("xtask-modules-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            for (path, text) in files {
                let path = root.join(path);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            Tree(root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reports_a_cycle_through_a_directory_module() {
        let tree = Tree::new(
            "cycle",
            &[
                ("demo/src/lib.rs", "mod a;\nmod b;\nmod c;\npub use a::A;"),
                ("demo/src/a.rs", "use crate::b::B; pub struct A;"),
                ("demo/src/b/mod.rs", "mod inner;"),
                ("demo/src/b/inner.rs", "use crate::{a::A, c};"),
                ("demo/src/c.rs", "//! Uses [`A`](crate::a::A) in docs only.\n"),
            ],
        );
        let graphs = read_graphs(&tree.0).unwrap();
        assert_eq!(graphs.len(), 1);
        assert_eq!(graphs[0].modules, ["a", "b", "c"]);
        let found = cycles(&graphs[0]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "demo: a -> b -> a\n    a -> b: src/a.rs\n    b -> a: src/b/inner.rs"
        );
    }

    #[test]
    fn a_dag_and_a_binary_root_have_no_cycles() {
        let tree = Tree::new(
            "dag",
            &[
                ("tool/src/lib.rs", "mod a;\nmod b;"),
                ("tool/src/a.rs", "use crate::b;"),
                ("tool/src/b.rs", "use crate::Thing;"),
                ("tool/src/main.rs", "mod cli;"),
                ("tool/src/cli.rs", "use crate::a;"),
            ],
        );
        let graphs = read_graphs(&tree.0).unwrap();
        let labels: Vec<_> = graphs.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["tool", "tool (bin)"]);
        assert!(graphs.iter().all(|g| cycles(g).is_empty()));
    }
}
