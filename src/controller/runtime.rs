//! Wiring: one shared watcher and store per kind; on top, the account
//! controller (one cycle per `CloudAccount`, triggered by a change to any
//! of its objects) and one thin controller per finalized kind (finalizer,
//! orphans); the metrics/health server, leader election with its write
//! fence, and graceful shutdown.
//!
//! Watches between kinds (all in the object's own namespace):
//! - any object's change triggers its account's cycle;
//! - a `CloudAccount` change triggers the objects naming it (they may have
//!   become orphans, or stopped being ones);
//! - a `SecurityGroup` change triggers the memberships naming it (their
//!   account is the group's);
//! - a Node's change (labels, annotations, providerID, InternalIP; not its
//!   heartbeats) or deletion triggers every account with an object that
//!   selects Nodes (`super::nodes`).
//!
//! Triggers ignore status-only updates (the controller's own writes).

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
use tokio::sync::watch;

use crate::crd::{
    CloudAccount, NodeSecurityGroups, PortSecurityGroups, SecurityGroup, SecurityGroupMembership,
    SecurityGroupRules,
};

use super::account;
use super::admission;
use super::args::RunArgs;
use super::clients::ProviderFactory;
use super::context::{Context, Settings, Stores};
use super::cycle::Timing;
use super::error::Error;
use super::events::EventRecorder;
use super::http::{self, Readiness};
use super::leader::{Fence, LeaderElector};
use super::metrics::Metrics;
use super::nodes::{Selectors, watch_nodes};
use super::objects::{Managed, slim};

/// A hash of what a user can change: spec (generation), labels,
/// annotations, finalizers and deletion. Status-only writes hash the same.
fn trigger_hash<K: kube::Resource>(obj: &K) -> u64 {
    let m = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.uid.hash(&mut h);
    m.generation.hash(&mut h);
    m.annotations.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
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
    // Keyed by a hash of namespace and name, not a copy of them: each
    // watching controller keeps one entry per object of the kind. Two
    // names that hash alike and also carry equal inputs would lose one
    // trigger; with 64 bits that is not a case to plan for.
    let seen: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    stream.filter(move |obj| {
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            obj.meta().namespace.hash(&mut h);
            obj.meta().name.hash(&mut h);
            h.finish()
        };
        let hash = trigger_hash(obj.as_ref());
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let changed = seen.insert(key, hash) != Some(hash);
        std::future::ready(changed)
    })
}

/// Only objects that have no account to act in: for every other object
/// the object controller's reconcile does nothing (its account's cycle
/// speaks for it), and queueing 10,000 of them at start kept kube's
/// scheduler at that size. The reconcile decides again when it runs; the
/// first objects wait until the accounts and groups are listed, so that
/// an account not listed yet does not make all of its objects orphans.
fn orphans<K: Managed>(
    stream: impl Stream<Item = Arc<K>> + Send + 'static,
    ctx: Arc<Context>,
) -> impl Stream<Item = Arc<K>> + Send + 'static {
    stream.filter(move |obj| {
        let ctx = ctx.clone();
        let obj = obj.clone();
        async move {
            // A dropped writer means shutdown; the object passes.
            let _ = ctx.stores.accounts.wait_until_ready().await;
            let _ = ctx.stores.groups.wait_until_ready().await;
            ctx.account_of(obj.as_ref()).is_err()
        }
    })
}

/// Whether `obj` has left its store or is being deleted: only then can
/// objects that name it lose their account. When it appears or changes,
/// its objects' statuses come from the account's cycle.
fn is_gone<K: Managed>(obj: &K, store: &Store<K>) -> bool {
    obj.meta().deletion_timestamp.is_some() || store.get(&ObjectRef::from(obj)).is_none()
}

/// The objects of `store` that act in an account, when that account went:
/// they have none to act in now (see [`is_gone`]).
fn objects_of_gone_account<K: Managed>(
    stores: &Stores,
    store: Store<K>,
) -> impl Fn(Arc<CloudAccount>) -> Vec<ObjectRef<K>> + Send + Sync + 'static {
    let accounts = stores.accounts.clone();
    let groups = stores.groups.clone();
    move |acct: Arc<CloudAccount>| {
        if !is_gone(acct.as_ref(), &accounts) {
            return Vec::new();
        }
        let ns = acct.namespace();
        let name = acct.name_any();
        refs(store.state().into_iter().filter(|o| {
            same_ns(o.as_ref(), &ns) && o.account_name(&groups).as_deref() == Some(name.as_str())
        }))
    }
}

/// The objects of `store` that act in a group's account through
/// `securityGroupRef`, when that group went: they have no account now.
fn objects_of_gone_group<K: Managed>(
    stores: &Stores,
    store: Store<K>,
) -> impl Fn(Arc<SecurityGroup>) -> Vec<ObjectRef<K>> + Send + Sync + 'static {
    let groups = stores.groups.clone();
    move |g: Arc<SecurityGroup>| {
        if !is_gone(g.as_ref(), &groups) {
            return Vec::new();
        }
        let ns = g.namespace();
        let name = g.name_any();
        refs(
            store
                .state()
                .into_iter()
                .filter(|o| same_ns(o.as_ref(), &ns) && o.group_name() == Some(name.as_str())),
        )
    }
}

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

/// Run the account controller and the three object controllers until
/// `stop` turns true.
async fn run_controllers(
    client: Client,
    args: &RunArgs,
    metrics: Metrics,
    providers: Arc<dyn ProviderFactory>,
    identity: &str,
    fence: Fence,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = Vec::new();
    let accounts = shared::<CloudAccount>(&client, args, &mut tasks);
    let groups = shared::<SecurityGroup>(&client, args, &mut tasks);
    let ports = shared::<PortSecurityGroups>(&client, args, &mut tasks);
    let memberships = shared::<SecurityGroupMembership>(&client, args, &mut tasks);
    let node_groups = shared::<NodeSecurityGroups>(&client, args, &mut tasks);
    let rule_sets = shared::<SecurityGroupRules>(&client, args, &mut tasks);
    // Nodes are cluster-scoped: watched whole cluster whatever
    // `--namespace` says, cut to what node selectors read.
    let (nodes, node_writer) = reflector::store::<k8s_openapi::api::core::v1::Node>();
    let node_triggers = watch_nodes(
        &client,
        node_writer,
        Selectors {
            groups: groups.store.clone(),
            memberships: memberships.store.clone(),
            node_groups: node_groups.store.clone(),
        },
        &mut tasks,
    );

    let stores = Stores {
        accounts: accounts.store.clone(),
        groups: groups.store.clone(),
        ports: ports.store.clone(),
        memberships: memberships.store.clone(),
        node_groups: node_groups.store.clone(),
        rule_sets: rule_sets.store.clone(),
        nodes,
    };
    let recorder = EventRecorder::new(client.clone(), "secgroup-controller", identity);
    let ctx = Arc::new(Context::new(
        client.clone(),
        recorder,
        providers,
        stores.clone(),
        metrics,
        fence,
        Settings {
            plan_options: args.plan_options(),
            timing: Timing {
                resync: args.resync_period,
                max_backoff: args.max_backoff,
            },
            coalesce_window: args.coalesce_window,
        },
    ));
    let config = ControllerConfig::default().concurrency(args.concurrency);
    let shutdown = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };

    // Every object triggers its account's cycle.
    let account_ctl = {
        let to_account = |namespace: Option<String>, name: String| {
            namespace.map(|ns| ObjectRef::<CloudAccount>::new(&name).within(&ns))
        };
        let group_account =
            move |g: Arc<SecurityGroup>| to_account(g.namespace(), g.spec.account_ref.name.clone());
        let port_account = move |p: Arc<PortSecurityGroups>| {
            to_account(p.namespace(), p.spec.account_ref.name.clone())
        };
        let membership_account = {
            let groups = stores.groups.clone();
            move |m: Arc<SecurityGroupMembership>| {
                to_account(m.namespace(), m.account_name(&groups)?)
            }
        };
        let rules_account = {
            let groups = stores.groups.clone();
            move |r: Arc<SecurityGroupRules>| to_account(r.namespace(), r.account_name(&groups)?)
        };
        Controller::for_shared_stream(
            user_changes(accounts.subscriber.clone()),
            stores.accounts.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(groups.subscriber.clone()), group_account)
        .watches_shared_stream(user_changes(ports.subscriber.clone()), port_account)
        .watches_shared_stream(
            user_changes(memberships.subscriber.clone()),
            membership_account,
        )
        .watches_shared_stream(
            user_changes(node_groups.subscriber.clone()),
            move |n: Arc<NodeSecurityGroups>| {
                to_account(n.namespace(), n.spec.account_ref.name.clone())
            },
        )
        .watches_shared_stream(user_changes(rule_sets.subscriber.clone()), rules_account)
        .reconcile_on(node_triggers)
        .graceful_shutdown_on(shutdown())
        .run(account::reconcile, account::error_policy, ctx.clone())
        .for_each(|_| std::future::ready(()))
    };

    // Object controllers: the status of objects that have no account. Only
    // such objects are queued: their own changes while they have none, and
    // the objects of an account (or, for memberships, a group) that went.
    let group_ctl = {
        let by_account = objects_of_gone_account(&stores, stores.groups.clone());
        Controller::for_shared_stream(
            orphans(user_changes(groups.subscriber.clone()), ctx.clone()),
            stores.groups.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .graceful_shutdown_on(shutdown())
        .run(
            admission::reconcile::<SecurityGroup>,
            admission::error_policy::<SecurityGroup>,
            ctx.clone(),
        )
        .for_each(|_| std::future::ready(()))
    };
    let port_ctl = {
        let by_account = objects_of_gone_account(&stores, stores.ports.clone());
        Controller::for_shared_stream(
            orphans(user_changes(ports.subscriber.clone()), ctx.clone()),
            stores.ports.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .graceful_shutdown_on(shutdown())
        .run(
            admission::reconcile::<PortSecurityGroups>,
            admission::error_policy::<PortSecurityGroups>,
            ctx.clone(),
        )
        .for_each(|_| std::future::ready(()))
    };
    let membership_ctl = {
        let by_account = objects_of_gone_account(&stores, stores.memberships.clone());
        let by_group = objects_of_gone_group(&stores, stores.memberships.clone());
        Controller::for_shared_stream(
            orphans(user_changes(memberships.subscriber.clone()), ctx.clone()),
            stores.memberships.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .watches_shared_stream(user_changes(groups.subscriber.clone()), by_group)
        .graceful_shutdown_on(shutdown())
        .run(
            admission::reconcile::<SecurityGroupMembership>,
            admission::error_policy::<SecurityGroupMembership>,
            ctx.clone(),
        )
        .for_each(|_| std::future::ready(()))
    };

    let node_groups_ctl = {
        let by_account = objects_of_gone_account(&stores, stores.node_groups.clone());
        Controller::for_shared_stream(
            orphans(user_changes(node_groups.subscriber.clone()), ctx.clone()),
            stores.node_groups.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .graceful_shutdown_on(shutdown())
        .run(
            admission::reconcile::<NodeSecurityGroups>,
            admission::error_policy::<NodeSecurityGroups>,
            ctx.clone(),
        )
        .for_each(|_| std::future::ready(()))
    };

    let rule_sets_ctl = {
        let by_account = objects_of_gone_account(&stores, stores.rule_sets.clone());
        let by_group = objects_of_gone_group(&stores, stores.rule_sets.clone());
        Controller::for_shared_stream(
            orphans(user_changes(rule_sets.subscriber.clone()), ctx.clone()),
            stores.rule_sets.clone(),
        )
        .with_config(config.clone())
        .watches_shared_stream(user_changes(accounts.subscriber.clone()), by_account)
        .watches_shared_stream(user_changes(groups.subscriber.clone()), by_group)
        .graceful_shutdown_on(shutdown())
        .run(
            admission::reconcile::<SecurityGroupRules>,
            admission::error_policy::<SecurityGroupRules>,
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
        node_groups.subscriber,
        rule_sets.subscriber,
    ));
    tokio::join!(
        account_ctl,
        group_ctl,
        port_ctl,
        membership_ctl,
        node_groups_ctl,
        rule_sets_ctl
    );
    for t in tasks {
        t.abort();
    }
}

/// Run the controller: serve metrics, win the Lease (unless disabled), run
/// the controllers until `shutdown` completes or leadership is lost, then
/// stop gracefully and release the Lease. `providers` builds the cloud
/// clients (tests substitute fakes).
pub async fn run_with_providers(
    args: RunArgs,
    client: Client,
    providers: Arc<dyn ProviderFactory>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    args.check().map_err(Error::Config)?;
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
    let fence = match &elector {
        Some(_) => Fence::closed(),
        None => Fence::open(),
    };
    if let Some(e) = &elector {
        tokio::select! {
            _ = e.acquire(args.lease_renew_period, args.lease_renew_deadline, &fence) => {}
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
        providers,
        &identity,
        fence.clone(),
        stop_rx.clone(),
    );
    let lost = async {
        match &elector {
            Some(e) => {
                e.hold(args.lease_renew_period, args.lease_renew_deadline, &fence)
                    .await
            }
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
    use crate::controller::objects::LAST_APPLIED;
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

    fn from_json<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> K {
        serde_json::from_value(value).expect("a valid object")
    }

    #[test]
    fn an_account_triggers_its_objects_only_when_it_went() {
        let (accounts, mut account_writer) = reflector::store::<CloudAccount>();
        let (groups, _groups_writer) = reflector::store::<SecurityGroup>();
        let (ports, mut port_writer) = reflector::store::<PortSecurityGroups>();
        let (memberships, _membership_writer) = reflector::store::<SecurityGroupMembership>();
        let (node_groups, _node_groups_writer) = reflector::store::<NodeSecurityGroups>();
        let (rule_sets, _rule_sets_writer) = reflector::store::<SecurityGroupRules>();
        let (nodes, _nodes_writer) = reflector::store::<k8s_openapi::api::core::v1::Node>();
        let stores = Stores {
            accounts,
            groups,
            ports: ports.clone(),
            memberships,
            node_groups,
            rule_sets,
            nodes,
        };
        let account: CloudAccount = from_json(serde_json::json!({
            "apiVersion": "secgroup.io/v1alpha1",
            "kind": "CloudAccount",
            "metadata": {"name": "acct", "namespace": "prod", "uid": "u-acct"},
            "spec": {"provider": "huawei", "region": "cn-north-4", "projectId": "p",
                     "credentialsSecretRef": {"name": "creds"}}
        }));
        let port = |name: &str, account: &str| -> PortSecurityGroups {
            from_json(serde_json::json!({
                "apiVersion": "secgroup.io/v1alpha1",
                "kind": "PortSecurityGroups",
                "metadata": {"name": name, "namespace": "prod"},
                "spec": {"accountRef": {"name": account}, "portId": "p1",
                         "securityGroups": [{"id": "sg-1"}]}
            }))
        };
        port_writer.apply_watcher_event(&watcher::Event::Apply(port("mine", "acct")));
        port_writer.apply_watcher_event(&watcher::Event::Apply(port("other", "elsewhere")));
        account_writer.apply_watcher_event(&watcher::Event::Apply(account.clone()));
        let map = objects_of_gone_account(&stores, ports);

        // Created or changed: its objects' statuses come from its cycle.
        assert!(map(Arc::new(account.clone())).is_empty());
        // Being deleted, or gone from the store: its objects are orphans.
        let mut deleting = account.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        let names = |refs: Vec<ObjectRef<PortSecurityGroups>>| {
            refs.into_iter().map(|r| r.name).collect::<Vec<_>>()
        };
        assert_eq!(names(map(Arc::new(deleting))), ["mine"]);
        account_writer.apply_watcher_event(&watcher::Event::Delete(account.clone()));
        assert_eq!(names(map(Arc::new(account))), ["mine"]);
    }
}
