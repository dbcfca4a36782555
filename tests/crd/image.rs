//! deploy/Dockerfile, checked without a Docker engine: the build takes
//! exactly Cargo.lock's dependencies on an exact toolchain release, copies
//! only what exists and what .dockerignore leaves, and the image agrees
//! with the Deployment (user, port, arguments) and with the version the
//! kustomize base deploys.

use k8s_openapi::api::apps::v1::Deployment;
use regex::Regex;
use serde_json::Value;

use super::tools;

fn dockerfile() -> String {
    std::fs::read_to_string(tools::repo().join("deploy/Dockerfile")).unwrap()
}

/// Instructions with continuation lines joined, comments dropped.
fn instructions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile().lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((op.to_uppercase(), args.trim().to_string()));
        current.clear();
    }
    out
}

fn arg_default(name: &str) -> String {
    instructions()
        .iter()
        .filter(|(op, _)| op == "ARG")
        .find_map(|(_, a)| a.strip_prefix(&format!("{name}=")).map(String::from))
        .unwrap_or_else(|| panic!("ARG {name} with a default"))
}

fn package_version() -> String {
    let text = std::fs::read_to_string(tools::repo().join("Cargo.toml")).unwrap();
    let version = Regex::new(r#"(?m)^version = "([^"]+)""#).unwrap();
    version.captures(&text).expect("package version")[1].to_string()
}

#[test]
fn build_uses_the_lock_file_and_an_exact_toolchain() {
    let runs: Vec<String> = instructions()
        .into_iter()
        .filter(|(op, _)| op == "RUN")
        .map(|(_, a)| a)
        .collect();
    let all = runs.join("\n");
    assert!(all.contains("cargo fetch --locked"), "{all}");
    assert!(
        all.contains("cargo build --release --frozen --bin secgroup-controller"),
        "{all}"
    );
    for r in &runs {
        if r.contains("cargo build") || r.contains("cargo install") {
            assert!(
                r.contains("--locked") || r.contains("--frozen"),
                "unlocked: {r}"
            );
        }
    }
    // rust:MAJOR.MINOR.PATCH-<debian>, new enough for the dependencies
    // (kube 5 needs Rust 1.89).
    let rust = arg_default("RUST_IMAGE");
    let tag = Regex::new(r"rust:(\d+)\.(\d+)\.(\d+)-bookworm(@sha256:[0-9a-f]{64})?$").unwrap();
    let caps = tag
        .captures(&rust)
        .unwrap_or_else(|| panic!("{rust}: not an exact rust release on bookworm"));
    let (major, minor): (u32, u32) = (caps[1].parse().unwrap(), caps[2].parse().unwrap());
    assert!((major, minor) >= (1, 89), "{rust}");
    // The runtime is Debian 12 too (same glibc), pinned by digest or by
    // the only tag distroless has for non-root.
    let runtime = arg_default("RUNTIME_IMAGE");
    assert!(
        runtime.starts_with("gcr.io/distroless/cc-debian12")
            && (runtime.contains("@sha256:") || runtime.ends_with(":nonroot")),
        "{runtime}"
    );
    let froms: Vec<String> = instructions()
        .into_iter()
        .filter(|(op, _)| op == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(froms, ["${RUST_IMAGE} AS build", "${RUNTIME_IMAGE}"]);
    assert!(tools::repo().join("Cargo.lock").is_file());
}

#[test]
fn copied_paths_exist_and_the_context_leaves_out_build_output() {
    for (op, args) in instructions() {
        if op != "COPY" || args.starts_with("--from=") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for src in &parts[..parts.len() - 1] {
            assert!(tools::repo().join(src).exists(), "COPY {src}: no such path");
        }
    }
    let ignore = std::fs::read_to_string(tools::repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for p in ["target/", ".git/"] {
        assert!(ignored.contains(&p), ".dockerignore lacks {p}");
    }
    // What the build needs is not ignored: the lock file, the sources, the
    // simulator seed the binary embeds, every workspace member.
    for needed in [
        "Cargo.lock",
        "src",
        "examples",
        "crates",
        "benches",
        "tests",
    ] {
        assert!(
            !ignored
                .iter()
                .any(|i| i.trim_end_matches('/') == needed || *i == "*"),
            ".dockerignore drops {needed}"
        );
    }
    let copy_from = instructions()
        .into_iter()
        .find(|(op, a)| op == "COPY" && a.starts_with("--from=build"))
        .expect("COPY --from=build");
    assert_eq!(
        copy_from.1,
        "--from=build /src/target/release/secgroup-controller /usr/local/bin/secgroup-controller"
    );
}

/// User, port, entrypoint and arguments are the Deployment's.
#[test]
fn image_matches_the_deployment() {
    let text = std::fs::read_to_string(tools::repo().join("deploy/deployment.yaml")).unwrap();
    let d: Deployment = serde_saphyr::from_str(&text).unwrap();
    let pod = d.spec.template.spec.unwrap();
    let psc = pod.security_context.unwrap();
    let c = &pod.containers[0];
    let get = |op: &str| -> String {
        instructions()
            .into_iter()
            .rfind(|(o, _)| o == op)
            .unwrap_or_else(|| panic!("no {op}"))
            .1
    };
    assert_eq!(
        get("USER"),
        format!("{}:{}", psc.run_as_user.unwrap(), psc.run_as_group.unwrap())
    );
    let port = c.ports.as_ref().unwrap()[0].container_port;
    assert_eq!(get("EXPOSE"), port.to_string());
    assert_eq!(
        get("ENTRYPOINT"),
        r#"["/usr/local/bin/secgroup-controller"]"#
    );
    let cmd: Vec<String> = serde_json::from_str(&get("CMD")).unwrap();
    assert_eq!(Some(&cmd), c.args.as_ref());
}

/// One version everywhere: the crate, the image's version label and the
/// tag the kustomize base deploys.
#[test]
fn image_tag_is_the_crate_version() {
    let version = package_version();
    assert_eq!(arg_default("VERSION"), version);
    let k: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(tools::repo().join("deploy/kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let image = k["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "secgroup-controller")
        .expect("images: secgroup-controller");
    assert_eq!(image["newTag"], version.as_str());
}
