//! The API emulator behaves the way kube-rs and the controller rely on:
//! versions, generation, status isolation, finalizers, patches, watches.

use secgroup_test_support::emulator;

use std::time::Duration;

use emulator::Emulator;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[kube(
    group = "test.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
struct WidgetSpec {
    size: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
struct WidgetStatus {
    seen: u32,
}

fn widget(name: &str, size: u32) -> Widget {
    Widget::new(name, WidgetSpec { size })
}

#[tokio::test]
async fn metadata_generation_and_status_subresource() {
    let emu = Emulator::start().await;
    let api: Api<Widget> = Api::namespaced(emu.client(), "team");
    let w = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap();
    assert_eq!(
        w.namespace().as_deref(),
        Some("team"),
        "namespace from the URL"
    );
    assert!(w.uid().is_some());
    assert_eq!(w.metadata.generation, Some(1));
    assert!(w.metadata.creation_timestamp.is_some());
    let rv1: u64 = w.resource_version().unwrap().parse().unwrap();

    let err = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.reason == "AlreadyExists"));
    assert!(api.get_opt("missing").await.unwrap().is_none());

    // Status through /status: generation unchanged, version bumped.
    let pp = PatchParams::apply("test").force();
    let status = json!({"apiVersion": "test.io/v1", "kind": "Widget", "status": {"seen": 1}});
    let w = api
        .patch_status("a", &pp, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(w.status, Some(WidgetStatus { seen: 1 }));
    assert_eq!(w.metadata.generation, Some(1));
    let rv2: u64 = w.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1);

    // The same status again changes nothing: same version.
    let again = api
        .patch_status("a", &pp, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(again.resource_version(), w.resource_version());

    // A spec change bumps generation and cannot touch status.
    let patch = json!({"spec": {"size": 2}, "status": {"seen": 99}});
    let w = api
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(2));
    assert_eq!(w.spec.size, 2);
    assert_eq!(w.status, Some(WidgetStatus { seen: 1 }));

    // Replace with a stale resourceVersion conflicts.
    let mut stale = w.clone();
    stale.metadata.resource_version = Some(rv1.to_string());
    let err = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let emu = Emulator::start().await;
    let api: Api<Widget> = Api::namespaced(emu.client(), "team");
    api.create(&PostParams::default(), &widget("f", 1))
        .await
        .unwrap();
    // What kube-rs finalizer() sends first: test null, then add.
    let add = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x.io/cleanup"]}
    ]);
    let p: json_patch::Patch = serde_json::from_value(add).unwrap();
    let w = api
        .patch("f", &PatchParams::default(), &Patch::Json::<()>(p))
        .await
        .unwrap();
    assert_eq!(w.finalizers(), ["x.io/cleanup"]);

    api.delete("f", &DeleteParams::default()).await.unwrap();
    let w = api.get("f").await.unwrap();
    assert!(
        w.metadata.deletion_timestamp.is_some(),
        "held by the finalizer"
    );

    let remove = json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "x.io/cleanup"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]);
    let p: json_patch::Patch = serde_json::from_value(remove).unwrap();
    api.patch("f", &PatchParams::default(), &Patch::Json::<()>(p))
        .await
        .unwrap();
    assert!(
        api.get_opt("f").await.unwrap().is_none(),
        "gone once released"
    );

    api.create(&PostParams::default(), &widget("g", 1))
        .await
        .unwrap();
    api.delete("g", &DeleteParams::default()).await.unwrap();
    assert!(
        api.get_opt("g").await.unwrap().is_none(),
        "no finalizer: deleted at once"
    );
}

#[tokio::test]
async fn watcher_sees_changes_in_order_and_resumes() {
    let emu = Emulator::start().await;
    let client = emu.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |name: &str, shard: &str| -> ConfigMap {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"shard": shard}},
            "data": {"k": "v"}
        }))
        .unwrap()
    };
    api.create(&PostParams::default(), &cm("before", "a"))
        .await
        .unwrap();

    let wc = watcher::Config::default().labels("shard=a");
    let mut stream = watcher(api.clone(), wc).applied_objects().boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("initial list")
        .unwrap()
        .unwrap();
    assert_eq!(first.name_any(), "before");

    api.create(&PostParams::default(), &cm("other-shard", "b"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("after", "a"))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("watch event")
        .unwrap()
        .unwrap();
    assert_eq!(next.name_any(), "after", "the other shard is filtered out");

    // The list answers with kind, apiVersion and a resourceVersion.
    let list = api.list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 3);
    assert!(list.metadata.resource_version.is_some());
}
