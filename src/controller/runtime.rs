//! Wiring: one shared watcher and store per kind, one kube-rs `Controller`
//! per kind on top, the watches between kinds, the metrics/health server,
//! leader election and graceful shutdown.
//!
//! Watches between kinds (all in the object's own namespace):
//! - a `CloudAccount` change requeues every object using it;
//! - a `SecurityGroup` change requeues the `PortSecurityGroups` and
//!   `SecurityGroupMembership`s naming it, and the groups whose rules name
//!   it as `remoteGroupRef`.
//!
//! Triggers ignore status-only updates (the controller's own writes):
//! objects whose status a cycle changed are requeued explicitly instead
//! (see `reconciler`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};

use crate::crd::{CloudAccount, PortSecurityGroups, SecurityGroup, SecurityGroupMembership};

use super::args::RunArgs;
use super::cycle::{ProviderFactory, Resolver};
use super::error::Error;
use super::events::EventRecorder;
use super::http::{self, Readiness};
use super::leader::LeaderElector;
use super::metrics::Metrics;
use super::objects::Managed;
use super::reconciler::{Context, Requeuers, Stores, error_policy, reconcile, resync_timer};
use super::sharing;

/// What `run` plugs in: how to build cloud clients and how to resolve an
/// account's objects. Tests substitute their own.
#[derive(Clone)]
pub struct Plugins {
    pub providers: Arc<dyn ProviderFactory>,
    pub resolver: Resolver,
}

/// A hash of what a user can change: what a cycle reads of the object
/// ([`sharing::user_input`]) plus labels and finalizers. Status-only
/// writes hash the same.
fn trigger_hash<K: kube::Resource>(obj: &K) -> u64 {
    let m = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sharing::user_input(m).hash(&mut h);
    m.labels.hash(&mut h);
    m.finalizers.hash(&mut h);
    h.finish()
}

/// Drop events that change nothing but status (or nothing at all).
fn user_changes<K>(
    stream: impl Stream<Item = Arc<K>> + Send + 'static,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: kube::Resource + Send + Sync + 'static,
{
    let seen: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    stream.filter(move |obj| {
        let key = format!(
            "{}/{}",
            obj.meta().namespace.clone().unwrap_or_default(),
            obj.meta().name.clone().unwrap_or_default()
        );
        let hash = trigger_hash(obj.as_ref());
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let changed = seen.insert(key, hash) != Some(hash);
        std::future::ready(changed)
    })
}

/// Drop what the controller never reads before an object is stored:
/// managed fields, and the copy of the whole object that `kubectl apply`
/// keeps in an annotation. In a real cluster they are often most of an
/// object's size; the store holds every object of four kinds.
fn slim<K: Managed>(obj: &mut K) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(LAST_APPLIED);
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

struct Shared<K: Managed> {
    store: Store<K>,
    subscriber: reflector::ReflectHandle<K>,
}

fn shared<K>(
    client: &Client,
    args: &RunArgs,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Shared<K>
where
    K: Managed,
{
    let (store, writer) = reflector::store_shared::<K>(1024);
    // Subscribing before the writer moves cannot fail for a shared writer.
    let subscriber = match writer.subscribe() {
        Some(s) => s,
        None => unreachable!("store_shared always has a dispatcher"),
    };
    let api: Api<K> = match &args.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut wc = watcher::Config::default();
    if let Some(selector) = &args.label_selector {
        wc = wc.labels(selector);
    }
    let stream = watcher(api, wc)
        .default_backoff()
        .modify(slim)
        .reflect_shared(writer)
        .for_each(|event| {
            if let Err(e) = event {
                tracing::warn!(kind = K::KIND, error = %e, "watch failed; retrying");
            }
            std::future::ready(())
        });
    tasks.push(tokio::spawn(stream));
    Shared { store, subscriber }
}

fn same_ns<K: ResourceExt>(obj: &K, ns: &Option<String>) -> bool {
    obj.namespace() == *ns
}

fn refs<K: Managed>(objs: impl Iterator<Item = Arc<K>>) -> Vec<ObjectRef<K>> {
    objs.map(|o| ObjectRef::from(o.as_ref())).collect()
}

fn receiver_stream<T: Send + 'static>(
    rx: mpsc::UnboundedReceiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

/// Run the four controllers until `stop` turns true.
async fn run_controllers(
    client: Client,
    args: &RunArgs,
    metrics: Metrics,
    plugins: Plugins,
    identity: &str,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    let accounts = shared::<CloudAccount>(&client, args, &mut tasks);
    let groups = shared::<SecurityGroup>(&client, args, &mut tasks);
    let ports = shared::<PortSecurityGroups>(&client, args, &mut tasks);
    let memberships = shared::<SecurityGroupMembership>(&client, args, &mut tasks);

    let (acc_tx, acc_rx) = mpsc::unbounded_channel();
    let (grp_tx, grp_rx) = mpsc::unbounded_channel();
    let (port_tx, port_rx) = mpsc::unbounded_channel();
    let (mem_tx, mem_rx) = mpsc::unbounded_channel();
    let stores = Stores {
        accounts: accounts.store.clone(),
        groups: groups.store.clone(),
        ports: ports.store.clone(),
        memberships: memberships.store.clone(),
    };
    let recorder = EventRecorder::new(client.clone(), "secgroup-controller", identity);
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        recorder,
        plugins.providers,
        plugins.resolver,
        args.plan_options(),
        args.resync_period,
        args.max_backoff,
        stores.clone(),
        Requeuers {
            accounts: acc_tx,
            groups: grp_tx,
            ports: port_tx,
            memberships: mem_tx,
        },
    ));
    let config = ControllerConfig::default().concurrency(args.concurrency);
    let shutdown = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };

    let account_ctl = Controller::for_shared_stream(
        user_changes(accounts.subscriber.clone()),
        stores.accounts.clone(),
    )
    .with_config(config.clone())
    .reconcile_on(receiver_stream(acc_rx))
    .graceful_shutdown_on(shutdown())
    .run(
        reconcile::<CloudAccount>,
        error_policy::<CloudAccount>,
        ctx.clone(),
    )
    .for_each(|_| std::future::ready(()));

    let group_ctl =
        {
            let by_account = {
                let store = stores.groups.clone();
                move |acct: Arc<CloudAccount>| {
                    let ns = acct.namespace();
                    let name = acct.name_any();
                    refs(store.state().into_iter().filter(move |g| {
                        same_ns(g.as_ref(), &ns) && g.spec.account_ref.name == name
                    }))
                }
            };
            let by_remote = {
                let store = stores.groups.clone();
                move |changed: Arc<SecurityGroup>| {
                    let ns = changed.namespace();
                    let name = changed.name_any();
                    refs(store.state().into_iter().filter(move |g| {
                        same_ns(g.as_ref(), &ns)
                            && g.spec.rules.iter().flatten().any(|r| {
                                r.remote_group_ref.as_ref().is_some_and(|r| r.name == name)
                            })
                    }))
                }
            };
            Controller::for_shared_stream(
                user_changes(groups.subscriber.clone()),
                stores.groups.clone(),
            )
            .with_config(config.clone())
            .reconcile_on(receiver_stream(grp_rx))
            .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
            .watches_shared_stream(user_changes(groups.subscriber.clone()), by_remote)
            .graceful_shutdown_on(shutdown())
            .run(
                reconcile::<SecurityGroup>,
                error_policy::<SecurityGroup>,
                ctx.clone(),
            )
            .for_each(|_| std::future::ready(()))
        };

    let port_ctl = {
        let by_account =
            {
                let store = stores.ports.clone();
                move |acct: Arc<CloudAccount>| {
                    let ns = acct.namespace();
                    let name = acct.name_any();
                    refs(store.state().into_iter().filter(move |p| {
                        same_ns(p.as_ref(), &ns) && p.spec.account_ref.name == name
                    }))
                }
            };
        let by_group = {
            let store = stores.ports.clone();
            move |g: Arc<SecurityGroup>| {
                let ns = g.namespace();
                let name = g.name_any();
                refs(store.state().into_iter().filter(move |p| {
                    same_ns(p.as_ref(), &ns)
                        && p.spec
                            .security_groups
                            .iter()
                            .any(|r| r.name.as_deref() == Some(name.as_str()))
                }))
            }
        };
        Controller::for_shared_stream(user_changes(ports.subscriber.clone()), stores.ports.clone())
            .with_config(config.clone())
            .reconcile_on(receiver_stream(port_rx))
            .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
            .watches_shared_stream(user_changes(groups.subscriber.clone()), by_group)
            .graceful_shutdown_on(shutdown())
            .run(
                reconcile::<PortSecurityGroups>,
                error_policy::<PortSecurityGroups>,
                ctx.clone(),
            )
            .for_each(|_| std::future::ready(()))
    };

    let membership_ctl = {
        let by_account = {
            let store = stores.memberships.clone();
            let groups = stores.groups.clone();
            move |acct: Arc<CloudAccount>| {
                let ns = acct.namespace();
                let name = acct.name_any();
                let groups = groups.clone();
                refs(store.state().into_iter().filter(move |m| {
                    same_ns(m.as_ref(), &ns) && m.account_name(&groups).as_deref() == Some(&name)
                }))
            }
        };
        let by_group = {
            let store = stores.memberships.clone();
            move |g: Arc<SecurityGroup>| {
                let ns = g.namespace();
                let name = g.name_any();
                refs(store.state().into_iter().filter(move |m| {
                    same_ns(m.as_ref(), &ns)
                        && m.spec
                            .security_group_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                }))
            }
        };
        Controller::for_shared_stream(
            user_changes(memberships.subscriber.clone()),
            stores.memberships.clone(),
        )
        .with_config(config)
        .reconcile_on(receiver_stream(mem_rx))
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .watches_shared_stream(user_changes(groups.subscriber.clone()), by_group)
        .graceful_shutdown_on(shutdown())
        .run(
            reconcile::<SecurityGroupMembership>,
            error_policy::<SecurityGroupMembership>,
            ctx.clone(),
        )
        .for_each(|_| std::future::ready(()))
    };

    // Every subscriber handle is a receiver of its reflector's broadcast
    // channel; one that is never read fills the channel and then stops the
    // reflector (and with it every controller of the kind). The controllers
    // hold their own clones; drop the originals.
    drop((
        accounts.subscriber,
        groups.subscriber,
        ports.subscriber,
        memberships.subscriber,
    ));
    let resync = resync_timer(ctx, shutdown());
    tokio::join!(account_ctl, group_ctl, port_ctl, membership_ctl, resync);
    for t in tasks {
        t.abort();
    }
}

/// Run the controller: serve metrics, win the Lease (unless disabled), run
/// the controllers until `shutdown` completes or leadership is lost, then
/// stop gracefully and release the Lease.
pub async fn run_with_plugins(
    args: RunArgs,
    client: Client,
    plugins: Plugins,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let metrics = Metrics::new();
    let readiness = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
    }
    let stopped = {
        let stop_rx = stop_rx.clone();
        move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };
    let (addr, server) = http::serve(
        args.metrics_addr,
        metrics.clone(),
        readiness.clone(),
        stopped(),
    )
    .await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    // A standby is ready too: it is healthy and takes over when the leader
    // goes. Were it unready, a rolling update of a two-replica Deployment
    // would wait forever for the new (standby) pod.
    readiness.set(true);

    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("secgroup-controller-{}", uuid::Uuid::new_v4()));
    let elector = (!args.disable_leader_election).then(|| {
        LeaderElector::new(
            client.clone(),
            &args.lease_namespace,
            &args.lease_name,
            &identity,
            args.lease_duration,
        )
    });
    if let Some(e) = &elector {
        tokio::select! {
            _ = e.acquire(args.lease_renew_period) => {}
            _ = stopped() => {
                let _ = server.await;
                return Ok(());
            }
        }
    }
    metrics.set_leader(true);

    let controllers = run_controllers(
        client.clone(),
        &args,
        metrics.clone(),
        plugins,
        &identity,
        stop_rx.clone(),
    );
    let lost = async {
        match &elector {
            Some(e) => e.hold(args.lease_renew_period).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(controllers);
    let result = tokio::select! {
        _ = &mut controllers => Ok(()),
        _ = lost => {
            tracing::error!("lost leadership; stopping controllers");
            readiness.set(false);
            metrics.set_leader(false);
            let _ = stop_tx.send(true);
            controllers.await;
            return Err(Error::LeadershipLost(args.lease_name.clone()));
        }
    };
    readiness.set(false);
    metrics.set_leader(false);
    if let Some(e) = &elector
        && let Err(err) = e.release().await
    {
        tracing::warn!(error = %err, "cannot release the lease");
    }
    let _ = stop_tx.send(true);
    let _ = server.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn slim_drops_managed_fields_and_last_applied_only() {
        let mut obj: PortSecurityGroups = serde_json::from_value(serde_json::json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "PortSecurityGroups",
            "metadata": {
                "name": "web",
                "annotations": {
                    LAST_APPLIED: "{\"big\": \"copy\"}",
                    "secgroup.io/paused": "true"
                },
                "finalizers": ["secgroup.io/cleanup"]
            },
            "spec": {"accountRef": {"name": "acct"}, "portId": "p1", "securityGroups": [{"id": "sg-1"}]}
        }))
        .expect("a PortSecurityGroups");
        obj.managed_fields_mut().push(ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..ManagedFieldsEntry::default()
        });
        let before = obj.clone();
        slim(&mut obj);
        assert!(obj.managed_fields().is_empty());
        assert_eq!(
            obj.annotations().keys().collect::<Vec<_>>(),
            vec!["secgroup.io/paused"]
        );
        assert_eq!(obj.spec, before.spec);
        assert_eq!(obj.finalizers(), before.finalizers());
    }
}
