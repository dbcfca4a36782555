//! The layout stays readable: no two files of one module folder under
//! `src/` import each other in a circle (through `super::x`,
//! `use super::{x, ..}` or `crate::<folder>::x`), so each folder can be
//! read leaves first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source without `//` comments.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `.rs` file at or below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out
}

fn mentions(text: &str, pattern: &str, name: &str) -> bool {
    text.match_indices(pattern).any(|(i, _)| {
        let rest = &text[i + pattern.len()..];
        rest.strip_prefix(name)
            .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

fn in_use_group(text: &str, name: &str) -> bool {
    text.match_indices("use super::{").any(|(i, _)| {
        let group = &text[i..];
        let group = &group[..group.find('}').unwrap_or(group.len())];
        group
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == name)
    })
}

/// The sibling modules of one folder, and which of them each uses.
fn edges(dir: &Path, root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if p.is_dir() && p.join("mod.rs").exists() {
            modules.insert(name, p.join("mod.rs"));
        } else if p.extension().is_some_and(|e| e == "rs")
            && !["mod", "lib", "main"].contains(&name.as_str())
        {
            modules.insert(name, p);
        }
    }
    let relative = dir.strip_prefix(root).unwrap_or(dir);
    let crate_path = std::iter::once("crate".to_string())
        .chain(relative.iter().map(|s| s.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join("::")
        + "::";
    modules
        .iter()
        .map(|(m, path)| {
            let own = code(path);
            let deep: String = if path.ends_with("mod.rs") {
                files_below(path.parent().unwrap_or(dir))
                    .iter()
                    .map(|f| code(f))
                    .collect()
            } else {
                own.clone()
            };
            let uses = modules
                .keys()
                .filter(|o| *o != m)
                .filter(|o| {
                    mentions(&own, "super::", o)
                        || in_use_group(&own, o)
                        || mentions(&deep, &crate_path, o)
                })
                .cloned()
                .collect();
            (m.clone(), uses)
        })
        .collect()
}

/// A circle in `graph`, if any.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut c = path[i..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_finds_a_circle_and_passes_a_chain() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        circle(&graph(&[("cycle", "outcome"), ("outcome", "cycle")])),
        Some(vec!["cycle".into(), "outcome".into(), "cycle".into()])
    );
    assert_eq!(circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert!(mentions(
        "use super::outcome::Verdict;",
        "super::",
        "outcome"
    ));
    assert!(!mentions("use super::outcomes;", "super::", "outcome"));
    assert!(in_use_group(
        "use super::{account, outcome::Verdict};",
        "outcome"
    ));
}

#[test]
fn no_module_folder_has_an_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders = vec![root.clone()];
    let mut found = Vec::new();
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                folders.push(entry.path());
            }
        }
        if let Some(c) = circle(&edges(&dir, &root)) {
            found.push(format!("{}: {}", dir.display(), c.join(" -> ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}
