//! The crate layering check: which workspace crates each crate may depend on.
//!
//! Cloak is a stack: the ring, the PRG and the transport at the bottom, the dealer, then MPC
//! protocols, autograd, layers and the ONNX importer, with the facade and tools on top. An
//! arrow pointing up (the ring importing MPC, say) would make a low layer impossible to
//! test, reuse or reason about without everything above it, so every arrow is checked
//! here, including dev- and build-dependencies: a test that reaches up couples the layers
//! just as well.

use std::path::PathBuf;

use serde_json::Value;

/// The crates at the bottom of the stack, allowed to every layer above them.
const BASE: [&str; 3] = ["cloak-ring", "cloak-prg", "cloak-comm"];

/// Each layered crate and the workspace crates it may depend on. A crate may use only crates
/// strictly below it; crates at one level (autograd and the extra protocols) do not use each
/// other.
pub fn allowed(name: &str) -> Option<Vec<&'static str>> {
    let below =
        |extra: &[&'static str]| BASE.iter().copied().chain(extra.iter().copied()).collect();
    Some(match name {
        "cloak-ring" | "cloak-prg" | "cloak-comm" => Vec::new(),
        "cloak-gpu" => vec!["cloak-ring"],
        "cloak-dealer" => below(&[]),
        "cloak-mpc" => below(&["cloak-dealer"]),
        "cloak-autograd" | "cloak-protocols-extra" => below(&["cloak-dealer", "cloak-mpc"]),
        "cloak-nn" => below(&["cloak-dealer", "cloak-mpc", "cloak-autograd"]),
        "cloak-onnx" => below(&["cloak-dealer", "cloak-mpc", "cloak-autograd", "cloak-nn"]),
        _ => return None,
    })
}

/// Packages above the stack (facade, CLI, test kits, benchmarks, examples, this tool): they
/// may use any workspace crate.
pub const TOP: [&str; 6] =
    ["cloak", "cloak-cli", "cloak-testkit", "cloak-benches", "cloak-examples", "xtask"];

/// A workspace package and its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// `(dependency package name, kind)` where kind is `normal`, `dev` or `build`.
    pub deps: Vec<(String, String)>,
}

/// What the checks need from `cargo metadata`.
#[derive(Debug)]
pub struct Metadata {
    /// The workspace root directory.
    pub workspace_root: PathBuf,
    /// The workspace members.
    pub packages: Vec<Package>,
}

/// Reads `cargo metadata --format-version 1 --no-deps` output. With `--no-deps`, every
/// listed package is a workspace member.
pub fn parse_metadata(json: &str) -> Result<Metadata, String> {
    let root: Value =
        serde_json::from_str(json).map_err(|e| format!("cargo metadata is not JSON: {e}"))?;
    let workspace_root =
        root["workspace_root"].as_str().ok_or("cargo metadata has no `workspace_root`")?.into();
    let packages = root["packages"].as_array().ok_or("cargo metadata has no `packages` array")?;
    let packages = packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("a package without a name")?.to_owned();
            let deps = p["dependencies"]
                .as_array()
                .ok_or_else(|| format!("package {name} has no `dependencies` array"))?
                .iter()
                .map(|d| {
                    let dep = d["name"].as_str().ok_or("a dependency without a name")?;
                    let kind = d["kind"].as_str().unwrap_or("normal");
                    Ok((dep.to_owned(), kind.to_owned()))
                })
                .collect::<Result<_, String>>()?;
            Ok(Package { name, deps })
        })
        .collect::<Result<_, String>>()?;
    Ok(Metadata { workspace_root, packages })
}

/// Every broken arrow among `packages`, one line each. Dependencies outside the workspace
/// are not layered and are ignored.
pub fn violations(packages: &[Package]) -> Vec<String> {
    let members: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut out = Vec::new();
    for p in packages {
        if TOP.contains(&p.name.as_str()) {
            continue;
        }
        let Some(ok) = allowed(&p.name) else {
            out.push(format!("{}: not in the layer table (xtask/src/layers.rs)", p.name));
            continue;
        };
        for (dep, kind) in &p.deps {
            if members.contains(&dep.as_str()) && !ok.contains(&dep.as_str()) {
                let may =
                    if ok.is_empty() { "no workspace crate".to_owned() } else { ok.join(", ") };
                out.push(format!(
                    "{} -> {dep} ({kind}): not allowed; {} may use {may}",
                    p.name, p.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, deps: &[(&str, &str)]) -> Package {
        Package {
            name: name.into(),
            deps: deps.iter().map(|(d, k)| (d.to_string(), k.to_string())).collect(),
        }
    }

    #[test]
    fn parses_kinds_from_metadata() {
        let json = r#"{"workspace_root":"/w","packages":[{"name":"cloak-mpc","dependencies":[
            {"name":"cloak-ring","kind":null},{"name":"proptest","kind":"dev"},
            {"name":"cc","kind":"build"}]}]}"#;
        let got = parse_metadata(json).unwrap();
        assert_eq!(got.workspace_root, PathBuf::from("/w"));
        assert_eq!(
            got.packages,
            [pkg("cloak-mpc", &[("cloak-ring", "normal"), ("proptest", "dev"), ("cc", "build")])]
        );
    }

    #[test]
    fn upward_arrows_of_every_kind_are_reported() {
        let packages = [
            pkg("cloak-ring", &[("cloak-mpc", "dev")]),
            pkg("cloak-mpc", &[("cloak-ring", "normal"), ("cloak-nn", "build")]),
            pkg("cloak-nn", &[("cloak-mpc", "normal"), ("thiserror", "normal")]),
            pkg("cloak-autograd", &[("cloak-protocols-extra", "normal")]),
            pkg("cloak-protocols-extra", &[("cloak-mpc", "normal")]),
        ];
        assert_eq!(
            violations(&packages),
            [
                "cloak-ring -> cloak-mpc (dev): not allowed; cloak-ring may use no workspace crate",
                "cloak-mpc -> cloak-nn (build): not allowed; cloak-mpc may use cloak-ring, \
                 cloak-prg, cloak-comm, cloak-dealer",
                "cloak-autograd -> cloak-protocols-extra (normal): not allowed; cloak-autograd \
                 may use cloak-ring, cloak-prg, cloak-comm, cloak-dealer, cloak-mpc",
            ]
        );
    }

    #[test]
    fn top_packages_use_anything_and_strangers_are_named() {
        let packages = [
            pkg("cloak", &[("cloak-onnx", "normal"), ("xtask", "dev")]),
            pkg("xtask", &[]),
            pkg("cloak-onnx", &[]),
            pkg("cloak-new", &[]),
        ];
        assert_eq!(
            violations(&packages),
            ["cloak-new: not in the layer table (xtask/src/layers.rs)"]
        );
    }
}
