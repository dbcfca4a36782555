//! Kubernetes Events (`events.k8s.io/v1`) about the objects a cycle
//! touched, with repeats folded into a series (`kubectl describe` shows
//! "(x3 over 5m)").
//!
//! Why not kube-runtime's `Recorder`: it keeps every Event it published,
//! whole, for six minutes and walks all of them on every publish. With
//! 10,000 objects each reporting one change that is ~24 MB held (a fifth
//! of the controller's heap, measured with heaptrack under
//! `cargo bench --bench controller -- footprint`) and a quadratic walk.
//! This one keeps, per recent Event, a 64-bit hash of what makes two
//! Events the same plus the Event's name and count, and sweeps at most
//! once a minute.
//!
//! Two Events are the same when they regard the same object (kind,
//! namespace, name, uid; not its resourceVersion, which every status
//! write changes) and have the same type, reason, action and note. A
//! repeat within six minutes of the last one patches the first Event's
//! `series`; anything else creates a new Event.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
pub use kube::runtime::events::{Event, EventType};

/// How long a published Event can still grow a series.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// How often forgotten Events are swept out.
const SWEEP_EVERY: SignedDuration = SignedDuration::from_mins(1);

/// What is kept of a recently published Event.
#[derive(Debug)]
struct Recent {
    namespace: Box<str>,
    name: Box<str>,
    count: i32,
    last: Timestamp,
}

#[derive(Debug, Default)]
struct Memory {
    recent: HashMap<u64, Recent>,
    swept: Option<Timestamp>,
}

impl Memory {
    fn sweep(&mut self, now: Timestamp) {
        if self.swept.is_some_and(|t| t + SWEEP_EVERY > now) {
            return;
        }
        self.recent.retain(|_, r| r.last + SERIES_WINDOW > now);
        self.swept = Some(now);
    }
}

/// What one publish does.
#[derive(Debug, PartialEq)]
enum Write {
    Create(Box<K8sEvent>),
    /// Patch the series of `name` in `namespace` to `count`.
    Repeat {
        namespace: String,
        name: String,
        count: i32,
    },
}

/// Publishes Events for one controller instance.
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: String,
    memory: Mutex<Memory>,
}

impl EventRecorder {
    /// `controller` is the reporting controller (`secgroup-controller`),
    /// `instance` this replica's identity.
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            memory: Mutex::default(),
        }
    }

    /// How many Events are remembered for series.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.lock().recent.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn identity(&self, ev: &Event, regarding: &ObjectReference) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            &regarding.api_version,
            &regarding.kind,
            &regarding.namespace,
            &regarding.name,
            &regarding.uid,
        )
            .hash(&mut h);
        let type_ = matches!(ev.type_, EventType::Warning);
        (type_, &ev.reason, &ev.action, &ev.note).hash(&mut h);
        h.finish()
    }

    /// Decide what publishing `ev` at `now` writes.
    fn write_for(&self, id: u64, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> Write {
        let mut memory = self.lock();
        memory.sweep(now);
        if let Some(r) = memory.recent.get(&id)
            && r.last + SERIES_WINDOW > now
        {
            return Write::Repeat {
                namespace: r.namespace.to_string(),
                name: r.name.to_string(),
                count: r.count.saturating_add(1),
            };
        }
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let base = regarding.name.as_deref().unwrap_or(&self.controller);
        let name = format!("{base}.{:x}", now.as_nanosecond());
        Write::Create(Box::new(K8sEvent {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            reason: Some(ev.reason.clone()),
            action: Some(ev.action.clone()),
            note: ev.note.clone(),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        }))
    }

    fn remember(&self, id: u64, write: &Write, now: Timestamp) {
        let recent = match write {
            Write::Create(e) => Recent {
                namespace: e.metadata.namespace.as_deref().unwrap_or_default().into(),
                name: e.metadata.name.as_deref().unwrap_or_default().into(),
                count: 1,
                last: now,
            },
            Write::Repeat {
                namespace,
                name,
                count,
            } => Recent {
                namespace: namespace.as_str().into(),
                name: name.as_str().into(),
                count: *count,
                last: now,
            },
        };
        self.lock().recent.insert(id, recent);
    }

    /// Publish `ev` about `regarding`: create an Event, or count a repeat
    /// on the Event published for the same thing in the last six minutes.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let id = self.identity(ev, regarding);
        let write = self.write_for(id, ev, regarding, now);
        match &write {
            Write::Create(event) => {
                let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
                api.create(&PostParams::default(), event).await?;
            }
            Write::Repeat {
                namespace,
                name,
                count,
            } => {
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
                let patch = serde_json::json!({
                    "series": EventSeries {
                        count: *count,
                        last_observed_time: MicroTime(now),
                    }
                });
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
        }
        self.remember(id, &write, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> EventRecorder {
        let (service, _handle) = tower_test::mock::pair::<
            ::http::Request<kube::client::Body>,
            ::http::Response<kube::client::Body>,
        >();
        EventRecorder::new(Client::new(service, "default"), "ctl", "ctl-1")
    }

    fn reference(name: &str, uid: &str, version: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("secgroup.io/v1alpha1".into()),
            kind: Some("SecurityGroup".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            resource_version: Some(version.into()),
            ..ObjectReference::default()
        }
    }

    fn event(note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: "Applied".into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        }
    }

    fn publish_at(
        r: &EventRecorder,
        ev: &Event,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Write {
        let id = r.identity(ev, regarding);
        let write = r.write_for(id, ev, regarding, now);
        r.remember(id, &write, now);
        write
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn a_first_event_is_created_with_its_fields() {
        let r = recorder();
        let Write::Create(e) = publish_at(
            &r,
            &event("2 rules added"),
            &reference("web", "u1", "7"),
            t(0),
        ) else {
            panic!("expected a create");
        };
        assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));
        assert!(
            e.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web."))
        );
        assert_eq!(e.reason.as_deref(), Some("Applied"));
        assert_eq!(e.note.as_deref(), Some("2 rules added"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.reporting_controller.as_deref(), Some("ctl"));
        assert_eq!(e.reporting_instance.as_deref(), Some("ctl-1"));
        assert_eq!(e.event_time, Some(MicroTime(t(0))));
        assert_eq!(
            e.regarding.as_ref().and_then(|r| r.uid.as_deref()),
            Some("u1")
        );
    }

    #[tokio::test]
    async fn a_repeat_counts_on_the_first_event_even_after_a_status_write() {
        let r = recorder();
        let Write::Create(first) = publish_at(&r, &event("n"), &reference("web", "u1", "7"), t(0))
        else {
            panic!("expected a create");
        };
        let name = first.metadata.name.clone().unwrap_or_default();
        for (i, version) in ["8", "9"].iter().enumerate() {
            let w = publish_at(
                &r,
                &event("n"),
                &reference("web", "u1", version),
                t(60 * (i as i64 + 1)),
            );
            assert_eq!(
                w,
                Write::Repeat {
                    namespace: "ns".into(),
                    name: name.clone(),
                    count: i as i32 + 2
                }
            );
        }
    }

    #[tokio::test]
    async fn another_note_object_or_uid_is_another_event() {
        let r = recorder();
        publish_at(&r, &event("n"), &reference("web", "u1", "1"), t(0));
        for (ev, regarding) in [
            (event("other"), reference("web", "u1", "1")),
            (event("n"), reference("db", "u2", "1")),
            (event("n"), reference("web", "u3", "1")),
        ] {
            assert!(matches!(
                publish_at(&r, &ev, &regarding, t(1)),
                Write::Create(_)
            ));
        }
        assert_eq!(r.remembered(), 4);
    }

    #[tokio::test]
    async fn events_older_than_the_window_start_over_and_are_swept() {
        let r = recorder();
        publish_at(&r, &event("n"), &reference("web", "u1", "1"), t(0));
        publish_at(&r, &event("n"), &reference("db", "u2", "1"), t(0));
        // Six minutes after the last repeat: a new Event, and the other
        // one is forgotten by the sweep.
        let w = publish_at(&r, &event("n"), &reference("web", "u1", "1"), t(360));
        assert!(matches!(w, Write::Create(_)));
        assert_eq!(r.remembered(), 1);
    }

    #[tokio::test]
    async fn publish_creates_then_patches_the_series() {
        use http_body_util::BodyExt;
        let (service, mut handle) = tower_test::mock::pair::<
            ::http::Request<kube::client::Body>,
            ::http::Response<kube::client::Body>,
        >();
        let r = EventRecorder::new(Client::new(service, "default"), "ctl", "ctl-1");
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let Some((request, send)) = handle.next_request().await else {
                    break;
                };
                let method = request.method().to_string();
                let path = request.uri().path().to_string();
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                // Answer with the created object (or anything) as JSON.
                let answer = if method == "POST" {
                    body.clone()
                } else {
                    serde_json::json!({"metadata": {"name": "x"}})
                };
                send.send_response(
                    ::http::Response::builder()
                        .status(if method == "POST" { 201 } else { 200 })
                        .body(kube::client::Body::from(
                            serde_json::to_vec(&answer).unwrap_or_default(),
                        ))
                        .expect("a response"),
                );
                seen.push((method, path, body));
            }
            seen
        });
        let regarding = reference("web", "u1", "1");
        r.publish(&event("n"), &regarding).await.expect("created");
        r.publish(&event("n"), &reference("web", "u1", "2"))
            .await
            .expect("patched");
        let seen = server.await.expect("the mock server");
        assert_eq!(seen.len(), 2, "{seen:?}");
        let (m1, p1, b1) = &seen[0];
        assert_eq!(
            (m1.as_str(), p1.as_str()),
            ("POST", "/apis/events.k8s.io/v1/namespaces/ns/events")
        );
        let name = b1["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(name.starts_with("web."), "{b1}");
        let (m2, p2, b2) = &seen[1];
        assert_eq!(m2, "PATCH");
        assert_eq!(
            p2,
            &format!("/apis/events.k8s.io/v1/namespaces/ns/events/{name}")
        );
        assert_eq!(b2["series"]["count"], 2, "{b2}");
        assert!(b2["series"]["lastObservedTime"].is_string(), "{b2}");
    }
}
