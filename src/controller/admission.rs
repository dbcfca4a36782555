//! The reconcile of each object (`SecurityGroup`, `PortSecurityGroups`,
//! `SecurityGroupMembership`), kept thin: it speaks for objects that have
//! no account to act in. Everything else, the finalizer included, happens
//! in the account's cycle (`super::account`).
//!
//! - An object with an account: nothing; its account's cycle adds the
//!   finalizer, plans it, and writes its status.
//! - An object without one (its `CloudAccount`, or the `SecurityGroup` it
//!   names, does not exist): its status says what it waits for; being
//!   deleted, it is released at once, since nothing can be done in the
//!   cloud without an account (holding it would only block its namespace).

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use tracing::Instrument;

use super::account::publish;
use super::context::{Context, Missing};
use super::error::Error;
use super::events::EventType;
use super::objects::{
    Managed, add_finalizer, has_finalizer, key_of, patch_status, remove_finalizer,
};
use super::outcome::{ObjectOutcome, Reason, Verdict};
use super::requeue;
use super::status::{self, EventSpec, Stamp};
use super::telemetry;

/// The reconcile of each finalized kind's controller.
pub async fn reconcile<K: Managed>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let span = telemetry::reconcile_span(K::KIND, &namespace, &obj.name_any());
    async move {
        let _timer = ctx.metrics.reconcile_started(K::KIND);
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        let deleting = obj.meta().deletion_timestamp.is_some();
        let result = match ctx.account_of(obj.as_ref()) {
            Ok(_) => Ok(Action::await_change()),
            Err(missing) if deleting => release(&api, obj.as_ref(), &missing, &ctx).await,
            Err(missing) => orphan(&api, obj.as_ref(), &missing, &ctx).await,
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "reconcile failed");
        }
        result
    }
    .instrument(span)
    .await
}

/// The requeue after an `Err` from [`reconcile`].
pub fn error_policy<K: Managed>(_obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(K::KIND, err.reason());
    Action::requeue(requeue::BASE_BACKOFF)
}

/// Say what the object waits for. Also add the finalizer, so it is
/// admitted the moment its account appears.
async fn orphan<K: Managed>(
    api: &Api<K>,
    obj: &K,
    missing: &Missing,
    ctx: &Context,
) -> Result<Action, Error> {
    if !has_finalizer(obj) {
        add_finalizer(api, obj).await?;
    }
    write_status(api, obj, &waiting(missing)).await?;
    // The watches bring it back when the account or group appears; the
    // timer is a safety net.
    Ok(Action::requeue(requeue::jittered(
        ctx.timing.resync,
        rand::random::<f64>(),
    )))
}

/// Release an object being deleted that has no account.
async fn release<K: Managed>(
    api: &Api<K>,
    obj: &K,
    missing: &Missing,
    ctx: &Context,
) -> Result<Action, Error> {
    if !has_finalizer(obj) {
        return Ok(Action::await_change());
    }
    let note = format!(
        "released without cloud cleanup: {}",
        waiting(missing).message()
    );
    let event = EventSpec {
        type_: EventType::Warning,
        reason: "CleanupSkipped",
        action: "Cleanup",
        note,
    };
    publish(ctx, obj, vec![event]).await;
    remove_finalizer(api, obj).await?;
    Ok(Action::await_change())
}

fn waiting(missing: &Missing) -> Verdict {
    match missing {
        Missing::Group => Verdict::waiting(
            Reason::ReferenceNotFound,
            "waiting for the referenced SecurityGroup to exist",
            false,
        ),
        Missing::Account { namespace, name } => Verdict::waiting(
            Reason::AccountNotFound,
            format!("waiting for CloudAccount {namespace}/{name}"),
            false,
        ),
    }
}

/// Write the status `verdict` gives the object, when it differs.
async fn write_status<K: Managed>(api: &Api<K>, obj: &K, verdict: &Verdict) -> Result<(), Error> {
    let outcome = ObjectOutcome::new(key_of(obj), verdict.clone());
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let new = status::desired_status(obj, &outcome, now, Stamp::OnChange);
    if !status::needs_write(obj.status(), &new) {
        return Ok(());
    }
    patch_status(api, obj, &new).await?;
    Ok(())
}
