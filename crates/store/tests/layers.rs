//! The store's module graph goes one way (see the layer list in
//! src/lib.rs): base ← rows ← local_state ← {reads, actions, apply} ←
//! sync_side / lib.rs. Actions and apply never use each other, a row module
//! uses no other row module, and only actions and apply (and the schema
//! migration) open transactions. This test reads every `crate::` path in
//! src/ and fails on an edge against the rule, or on a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer a module belongs to, by its path (`rows::outbox` → rows).
fn layer(module: &str) -> &'static str {
    let top = module.split("::").next().unwrap_or(module);
    match top {
        "db" | "encryption" | "error" | "migrations" | "multi_row" | "search" => "base",
        "rows" => "rows",
        "local_state" => "local_state",
        "reads" => "reads",
        "actions" => "actions",
        "apply" => "apply",
        "sync_side" => "sync_side",
        // lib.rs itself: the façade (Store, re-exports).
        "" | "lib" => "root",
        other => panic!("module `{other}` is in no layer: add it to tests/layers.rs"),
    }
}

/// Which layers a layer may use.
fn allowed(from: &str) -> &'static [&'static str] {
    match from {
        "base" => &["base"],
        "rows" => &["base"],
        "local_state" => &["base", "rows"],
        "reads" | "actions" | "apply" => &["base", "rows", "local_state", "root"],
        "sync_side" => &["base", "root", "rows", "reads", "actions", "apply"],
        "root" => &[
            "base",
            "rows",
            "local_state",
            "reads",
            "actions",
            "apply",
            "sync_side",
        ],
        other => panic!("no rule for layer {other}"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/rows/outbox.rs` → `rows::outbox`; `src/apply/mod.rs` → `apply`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    let module = parts.join("::");
    if module == "lib" {
        String::new()
    } else {
        module
    }
}

/// The modules `source` names through `crate::…` paths (the first one or
/// two segments that are modules; `crate::Store` and the root's
/// re-exports count as the root). Also reads `use super::…` in a submodule
/// as its own parent.
fn dependencies(source: &str, module: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    // Outside `#[cfg(test)]` only: unit tests may reach anywhere.
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
            .collect();
        let first = path.split("::").next().unwrap_or("").trim_matches('{');
        if first.is_empty() || first.chars().next().is_some_and(char::is_uppercase) {
            if !module.is_empty() {
                deps.insert(String::new());
            }
            continue;
        }
        let target = match first {
            // Uses name the submodule: rows::outbox, local_state::rebase.
            "rows" | "local_state" | "actions" | "apply" | "reads" => {
                let second = path.split("::").nth(1).unwrap_or("");
                let second = second.trim_matches('{');
                if second.is_empty() || second.chars().next().is_some_and(char::is_uppercase) {
                    first.to_owned()
                } else {
                    format!("{first}::{second}")
                }
            }
            other => other.to_owned(),
        };
        if target != module {
            deps.insert(target);
        }
    }
    // Braced lists (`crate::rows::{a, b}`) name several submodules.
    for block in code.split("crate::rows::{").skip(1) {
        let list = block.split('}').next().unwrap_or("");
        for name in list.split(',') {
            let name = name
                .trim()
                .split("::")
                .next()
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap_or("");
            if !name.is_empty() && name.chars().next().is_some_and(char::is_lowercase) {
                deps.insert(format!("rows::{name}"));
            }
        }
    }
    for block in code.split("crate::local_state::{").skip(1) {
        let list = block.split('}').next().unwrap_or("");
        for name in list.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                deps.insert(format!("local_state::{name}"));
            }
        }
    }
    deps.remove("rows");
    deps.remove("local_state");
    deps
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|file| {
            let module = module_of(&src, file);
            let source = std::fs::read_to_string(file).unwrap();
            let deps = dependencies(&source, &module);
            (module, deps)
        })
        .collect()
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let mut broken = Vec::new();
    for (module, deps) in graph() {
        let from = layer(&module);
        for dep in deps {
            let to = layer(&dep);
            let same_parent = module.split("::").next() == dep.split("::").next();
            let ok = allowed(from).contains(&to)
                // Inside actions or apply, a submodule may use its parent
                // (the transaction helper) and siblings.
                || (same_parent && matches!(from, "actions" | "apply" | "reads" | "local_state"));
            if !ok {
                broken.push(format!("{module} ({from}) uses {dep} ({to})"));
            }
            if from == "rows" && to == "rows" && dep != module {
                broken.push(format!("{module} uses another row module, {dep}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    // Depth-first search with colours; a grey node met again is a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(1) => {
                let start = path.iter().position(|p| p == node).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        // The root (lib.rs) is the façade: everything may name `crate::Store`
        // and the re-exported types, and the root declares every module, so
        // edges into the root are not module dependencies.
        for dep in graph
            .get(node)
            .into_iter()
            .flatten()
            .filter(|d| !d.is_empty())
        {
            // A submodule's parent (mod.rs) only declares it.
            let parent_of_node = node.split("::").next() == Some(dep.as_str());
            if parent_of_node {
                continue;
            }
            if let Some(cycle) = visit(dep, graph, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            panic!(
                "the store's modules call each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn only_actions_apply_and_migrations_open_transactions() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut openers = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap_or(&source);
        let opens = [
            ".transaction(",
            "transaction_with_behavior(",
            "BEGIN",
            "unchecked_transaction(",
        ]
        .iter()
        .any(|needle| code.contains(needle));
        if opens {
            openers.push(module_of(&src, file));
        }
    }
    openers.sort();
    assert_eq!(openers, vec!["actions", "apply", "migrations"]);
}

#[test]
fn the_checker_sees_a_planted_violation() {
    // The rules above are only as good as the parser: a row module that
    // reaches up to apply and a cycle must both be seen.
    let deps = dependencies(
        "use crate::apply::page::ServerBatch;\nuse crate::rows::{outbox, session};\nuse crate::Store;",
        "rows::media",
    );
    assert!(deps.contains("apply::page"), "{deps:?}");
    assert!(
        deps.contains("rows::outbox") && deps.contains("rows::session"),
        "{deps:?}"
    );
    assert!(deps.contains(""), "{deps:?}");
    assert!(!allowed(layer("rows::media")).contains(&layer("apply::page")));
}
