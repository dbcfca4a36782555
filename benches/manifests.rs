//! Reading hostile manifests: how long the one-shot CLI takes to read,
//! check and resolve inputs built to cost time or memory (unclosed `[`
//! flow sequences, a membership of 1.25 million ports), and, for scale, a
//! membership at the size the CRD allows. Everything measured here happens
//! before the first cloud call (`manifest::load`, then
//! `accounts::resolve_documents`); nothing talks to a cloud.
//!
//! Run: `cargo bench --bench manifests` (prints a Markdown table of wall
//! and CPU time per input). An argument filters inputs by substring, e.g.
//! `cargo bench --bench manifests -- unclosed`. Under `cargo test` the
//! file is built and skipped.

use std::time::Instant;

use secgroup_controller::cli::{accounts, manifest};
use secgroup_test_support::thread_cpu_ns;

const ACCOUNT: &str = "apiVersion: secgroup.io/v1alpha1
kind: CloudAccount
metadata:
  name: huawei-prod
spec:
  provider: huawei
  region: cn-north-4
  projectId: 0a1b2c3d4e5f40718293a4b5c6d7e8f9
  credentialsSecretRef:
    name: huawei-credentials
";

/// A membership of `ports` port ids (36-character UUIDs, as Huawei's).
fn membership(ports: usize) -> String {
    let mut text = String::with_capacity(200 + ports * 45);
    text.push_str(
        "apiVersion: secgroup.io/v1alpha1
kind: SecurityGroupMembership
metadata:
  name: fleet
spec:
  accountRef:
    name: huawei-prod
  securityGroupId: 8e2f4a6c-1b3d-4e5f-a7b9-c1d3e5f7a902
  policy: Additive
  ports:
",
    );
    for i in 0..ports {
        text.push_str(&format!("    - 5d3f9c2a-0b6e-4f1a-9c7d-{i:012x}\n"));
    }
    text
}

fn inputs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Unclosed flow sequences as a mapping's value (`kind: [[[[...`): the
    // shape that made the previous YAML parser quadratic.
    for bytes in [12_500, 50_000, 100_000] {
        out.push((
            format!("{} KB of unclosed `[` after a key", bytes as f64 / 1000.0),
            format!("kind: {}", "[".repeat(bytes - 6)),
        ));
    }
    out.push(("100 KB of unclosed `[`".into(), "[".repeat(100_000)));
    out.push((
        "membership of 10,000 ports (the CRD's maxItems)".into(),
        membership(10_000),
    ));
    out.push((
        "membership of 180,000 ports (7.7 MB, under the file size limit)".into(),
        membership(180_000),
    ));
    out.push((
        "membership of 1,250,000 ports (48 MB)".into(),
        membership(1_250_000),
    ));
    out
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` builds this and runs it
    // once with no arguments: skip the work then.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    println!("| input | bytes | outcome | wall ms | CPU ms |");
    println!("|---|---:|---|---:|---:|");
    for (name, text) in inputs() {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("account.yaml"), ACCOUNT).expect("write");
        std::fs::write(dir.path().join("input.yaml"), &text).expect("write");
        let cpu = thread_cpu_ns();
        let start = Instant::now();
        let outcome = match manifest::load(&[dir.path().to_path_buf()], "default") {
            Err(errors) => format!("refused: {}", first_line(&errors[0].to_string())),
            Ok(docs) => match accounts::resolve_documents(&docs) {
                Err(errors) => format!("refused: {}", first_line(&errors[0].to_string())),
                Ok(resolved) => format!("accepted ({} accounts)", resolved.len()),
            },
        };
        let wall = start.elapsed().as_secs_f64() * 1e3;
        let cpu = match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => format!("{:.1}", b.saturating_sub(a) as f64 / 1e6),
            _ => "n/a".into(),
        };
        println!(
            "| {name} | {} | {} | {wall:.1} | {cpu} |",
            text.len(),
            outcome.replace('|', "\\|")
        );
    }
}

/// The first line of an error, cut to 100 characters for the table.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let cut: String = line.chars().take(100).collect();
    if cut.len() < line.len() {
        format!("{cut}...")
    } else {
        cut
    }
}
