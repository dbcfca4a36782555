//! How plans, reports and progress look: a table for people, JSON for
//! pipelines, one line per executed operation.
//!
//! Ids, descriptions, messages and errors come from manifests and clouds;
//! every cell and line built from them is made [`printable`] here, so none
//! can break a line of its own (`escape` handles the rest of the stream).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::model::text::printable;
use crate::model::{ChangeCounts, GroupHandle, ObjectKey, Operation, Plan, ProviderKind, Step};
use crate::plan::{Conflict, ObjectReport, PlanOutcome, RuleConflict, Withheld};
use crate::reconcile::StepError;

/// Which account a plan is for, as the output names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountHeader {
    pub namespace: String,
    pub name: String,
    pub provider: ProviderKind,
    pub region: String,
    /// Where the calls go (the account's endpoint or the simulator's).
    pub endpoint: String,
    /// Where the keys came from (never the keys).
    pub credentials: String,
}

impl AccountHeader {
    pub fn title(&self) -> String {
        format!(
            "CloudAccount {}/{} ({} {}, {}; credentials from {})",
            self.namespace, self.name, self.provider, self.region, self.endpoint, self.credentials
        )
    }
}

/// How wide a line of ids in the detail column may grow before wrapping.
const ID_LINE_WIDTH: usize = 80;

/// The object a step serves, short: the namespace is the account's.
fn short(key: &ObjectKey) -> String {
    format!("{}/{}", key.kind, key.name)
}

fn handle(h: &GroupHandle) -> String {
    h.to_string()
}

fn id_lines(prefix: &str, ids: &[String]) -> Vec<String> {
    let mut lines = vec![prefix.to_string()];
    let mut line = String::new();
    for id in ids {
        if !line.is_empty() && line.len() + 2 + id.len() > ID_LINE_WIDTH {
            lines.push(format!("  {line},"));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(id);
    }
    if !line.is_empty() {
        lines.push(format!("  {line}"));
    }
    lines
}

/// The objects a step serves, short: `PortSecurityGroups/web-1,web-2`, and
/// `+N more` past three.
fn owners_text(owners: &[ObjectKey]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut last_kind: Option<&str> = None;
    for key in owners.iter().take(3) {
        if last_kind == Some(key.kind.as_ref()) {
            if let Some(p) = parts.last_mut() {
                p.push(',');
                p.push_str(&key.name);
            }
        } else {
            parts.push(short(key));
            last_kind = Some(&key.kind);
        }
    }
    let mut text = parts.join(", ");
    if owners.len() > 3 {
        text.push_str(&format!(" +{} more", owners.len() - 3));
    }
    text
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The group, port or id an operation acts on.
pub fn target(op: &Operation) -> String {
    printable(&raw_target(op)).into_owned()
}

fn raw_target(op: &Operation) -> String {
    match op {
        Operation::CreateGroup { owner, .. } => format!("<new {}>", owner.name),
        Operation::UpdateGroup { group, .. } | Operation::DeleteGroup { group } => group.clone(),
        Operation::CreateRules { group, .. } => handle(group),
        Operation::UpdateRule { group, .. } | Operation::DeleteRule { group, .. } => group.clone(),
        Operation::AddPortGroups { port, .. } | Operation::RemovePortGroups { port, .. } => {
            port.clone()
        }
        Operation::AttachPorts { group, .. } => handle(group),
        Operation::DetachPorts { group, .. } => group.clone(),
    }
}

/// A few words for a progress line: `20 ports`, `3 rules`.
pub fn brief(op: &Operation) -> String {
    printable(&raw_brief(op)).into_owned()
}

fn raw_brief(op: &Operation) -> String {
    match op {
        Operation::CreateGroup { name, .. } => format!("name {name:?}"),
        Operation::UpdateGroup { .. } => "name/description".into(),
        Operation::DeleteGroup { .. } => String::new(),
        Operation::CreateRules { rules, .. } => plural(rules.len(), "rule", "rules"),
        Operation::UpdateRule { to, .. } => format!("~ {to}"),
        Operation::DeleteRule { rule, .. } => format!("- {rule}"),
        Operation::AddPortGroups { groups, .. } => format!(
            "+ {}",
            groups.iter().map(handle).collect::<Vec<_>>().join(", ")
        ),
        Operation::RemovePortGroups { groups, .. } => format!("- {}", groups.join(", ")),
        Operation::AttachPorts { ports, .. } | Operation::DetachPorts { ports, .. } => {
            plural(ports.len(), "port", "ports")
        }
    }
}

/// The detail column: one or more lines saying exactly what changes.
pub fn detail(op: &Operation) -> Vec<String> {
    raw_detail(op)
        .into_iter()
        .map(|line| printable(&line).into_owned())
        .collect()
}

fn raw_detail(op: &Operation) -> Vec<String> {
    match op {
        Operation::CreateGroup {
            name,
            description,
            vpc_id,
            ..
        } => {
            let mut s = format!("name {name:?}");
            if !description.is_empty() {
                s.push_str(&format!(", description {description:?}"));
            }
            if let Some(vpc) = vpc_id {
                s.push_str(&format!(", vpc {vpc}"));
            }
            vec![s]
        }
        Operation::UpdateGroup {
            name, description, ..
        } => {
            let mut parts = Vec::new();
            if let Some(n) = name {
                parts.push(format!("name -> {n:?}"));
            }
            if let Some(d) = description {
                parts.push(format!("description -> {d:?}"));
            }
            vec![parts.join(", ")]
        }
        Operation::DeleteGroup { .. } => vec!["delete the group".into()],
        Operation::CreateRules { rules, .. } => rules.iter().map(|r| format!("+ {r}")).collect(),
        Operation::UpdateRule {
            rule_id, from, to, ..
        } => vec![format!("~ {from} (id {rule_id})"), format!("  -> {to}")],
        Operation::DeleteRule { rule_id, rule, .. } => vec![format!("- {rule} (id {rule_id})")],
        Operation::AddPortGroups { groups, index, .. } => {
            let list = groups.iter().map(handle).collect::<Vec<_>>().join(", ");
            match index {
                Some(i) => vec![format!("+ {list} at position {i}")],
                None => vec![format!("+ {list}")],
            }
        }
        Operation::RemovePortGroups { groups, .. } => vec![format!("- {}", groups.join(", "))],
        Operation::AttachPorts { ports, .. } => id_lines(
            &format!("+ {}:", plural(ports.len(), "port", "ports")),
            ports,
        ),
        Operation::DetachPorts { ports, .. } => id_lines(
            &format!("- {}:", plural(ports.len(), "port", "ports")),
            ports,
        ),
    }
}

fn summary_text(summary: &BTreeMap<&'static str, usize>) -> String {
    summary
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Write the plan as a table: `#`, operation, target, object, detail.
pub fn write_plan_table(w: &mut dyn Write, plan: &Plan) -> io::Result<()> {
    if plan.is_empty() {
        return writeln!(w, "  No changes: the cloud already matches the manifests.");
    }
    let rows: Vec<[String; 4]> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            [
                (i + 1).to_string(),
                s.op.kind().to_string(),
                target(&s.op),
                owners_text(&s.owners),
            ]
        })
        .collect();
    let headers = ["#", "OPERATION", "TARGET", "OBJECT"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let indent = widths.iter().map(|w| w + 2).sum::<usize>() + 2;
    let line = |w: &mut dyn Write, cells: [&str; 4], detail: &str| -> io::Result<()> {
        write!(
            w,
            "  {:>w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {detail}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )?;
        writeln!(w)
    };
    line(w, headers, "DETAIL")?;
    for (row, step) in rows.iter().zip(&plan.steps) {
        let detail = detail(&step.op);
        let mut lines = detail.iter();
        let first = lines.next().map(String::as_str).unwrap_or("");
        line(w, [&row[0], &row[1], &row[2], &row[3]], first.trim_end())?;
        for more in lines {
            writeln!(w, "{:indent$}{more}", "")?;
        }
    }
    writeln!(
        w,
        "  Plan: {} ({}).",
        plural(plan.steps.len(), "operation", "operations"),
        summary_text(&plan.summary())
    )
}

pub(crate) fn withheld_text(w: &Withheld) -> String {
    match w {
        Withheld::Paused => "paused (annotation secgroup.io/paused)".into(),
        Withheld::Observe => "observe only (annotation secgroup.io/mode: observe)".into(),
        Withheld::MassChange(why) if why.contains("allow-mass-change") => {
            format!("blast-radius guard: {why}")
        }
        Withheld::MassChange(why) => format!(
            "blast-radius guard: {why}; set annotation secgroup.io/allow-mass-change: \"true\" to allow"
        ),
    }
}

fn changes_text(changes: &ChangeCounts) -> String {
    changes
        .by_name()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn conflict_text(c: &Conflict) -> String {
    format!(
        "port {} / group {}: conflicts with {}: {}",
        c.port,
        c.group,
        short(&c.with),
        c.message
    )
}

fn rule_conflict_text(c: &RuleConflict) -> String {
    format!(
        "group {} rule \"{}\": conflicts with {}: {}",
        c.group,
        c.rule,
        short(&c.with),
        c.message
    )
}

/// Write what is withheld, in conflict or worth a warning, per object.
pub fn write_reports(
    w: &mut dyn Write,
    reports: &BTreeMap<ObjectKey, ObjectReport>,
) -> io::Result<()> {
    let withheld: Vec<_> = reports
        .iter()
        .filter_map(|(k, r)| r.withheld.as_ref().map(|wh| (k, wh, &r.changes)))
        .collect();
    if !withheld.is_empty() {
        writeln!(w, "  Withheld (planned but not applied):")?;
        for (k, wh, changes) in withheld {
            let what = if changes.is_empty() {
                String::new()
            } else {
                format!(" [{}]", changes_text(changes))
            };
            let line = format!("{}: {}{what}", short(k), withheld_text(wh));
            writeln!(w, "    {}", printable(&line))?;
        }
    }
    let conflicts: Vec<(&ObjectKey, String)> = reports
        .iter()
        .flat_map(|(k, r)| {
            let ports = r.conflicts.iter().map(conflict_text);
            let rules = r.rule_conflicts.iter().map(rule_conflict_text);
            ports.chain(rules).map(move |text| (k, text))
        })
        .collect();
    if !conflicts.is_empty() {
        writeln!(w, "  Conflicts (neither side is changed):")?;
        for (k, text) in conflicts {
            let line = format!("{}: {text}", short(k));
            writeln!(w, "    {}", printable(&line))?;
        }
    }
    let warnings: Vec<_> = reports
        .iter()
        .flat_map(|(k, r)| r.warnings.iter().map(move |m| (k, m)))
        .collect();
    if !warnings.is_empty() {
        writeln!(w, "  Warnings:")?;
        for (k, m) in warnings {
            let line = format!("{}: {m}", short(k));
            writeln!(w, "    {}", printable(&line))?;
        }
    }
    Ok(())
}

/// Whether an outcome leaves any difference between manifests and cloud:
/// planned steps, or changes withheld from the plan.
pub fn has_changes(outcome: &PlanOutcome) -> bool {
    !outcome.plan.is_empty()
        || outcome
            .reports
            .values()
            .any(|r| r.withheld.is_some() && !r.changes.is_empty())
}

/// Whether the blast-radius guard holds back changes anywhere: the cloud
/// stays different until someone reviews and allows them.
pub fn has_guarded_changes(outcome: &PlanOutcome) -> bool {
    outcome
        .reports
        .values()
        .any(|r| matches!(r.withheld, Some(Withheld::MassChange(_))) && !r.changes.is_empty())
}

/// Whether two objects contradict each other anywhere in the outcome.
pub fn has_conflicts(outcome: &PlanOutcome) -> bool {
    outcome.reports.values().any(ObjectReport::has_conflicts)
}

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

/// The start of a progress line: `[3/7] attachPorts sg-1 20 ports ...`.
pub fn progress_start(index: usize, total: usize, step: &Step) -> String {
    let brief = brief(&step.op);
    let sep = if brief.is_empty() { "" } else { " " };
    format!(
        "[{}/{total}] {} {}{sep}{brief} ...",
        index + 1,
        step.op.kind(),
        target(&step.op)
    )
}

/// The end of a progress line: ` ok (120ms)` or ` FAILED: why`.
pub fn progress_end(result: &Result<(), StepError>, elapsed: Duration) -> String {
    match result {
        Ok(()) => format!(" ok ({}ms)", elapsed.as_millis()),
        Err(e) => format!(
            " FAILED ({}ms): {}",
            elapsed.as_millis(),
            printable(&e.to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn key(kind: &str, name: &str) -> ObjectKey {
        ObjectKey::new(kind, "default", name)
    }

    fn rule() -> Rule {
        Rule {
            direction: Direction::Ingress,
            ethertype: Ethertype::IPv4,
            protocol: Protocol::Tcp,
            ports: Ports::Ranges(vec![PortRange {
                first: 443,
                last: 443,
            }]),
            remote: Remote::Cidr("10.0.0.0/8".parse().unwrap()),
            action: Action::Allow,
            priority: Some(1),
            description: String::new(),
        }
    }

    fn sample_plan() -> Plan {
        let web = key("SecurityGroup", "web");
        let ports: Vec<String> = (1..=7)
            .map(|i| format!("5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c10{i:02}"))
            .collect();
        Plan {
            steps: vec![
                Step {
                    op: Operation::CreateGroup {
                        owner: web.clone(),
                        owner_uid: "uid".into(),
                        name: "web".into(),
                        description: "front".into(),
                        vpc_id: None,
                    },
                    owners: vec![web.clone()],
                },
                Step {
                    op: Operation::CreateRules {
                        group: GroupHandle::New(web.clone()),
                        rules: vec![rule(), rule()],
                    },
                    owners: vec![web.clone()],
                },
                Step {
                    op: Operation::AttachPorts {
                        group: GroupHandle::New(web.clone()),
                        ports,
                    },
                    owners: vec![key("SecurityGroupMembership", "web-members")],
                },
            ],
        }
    }

    #[test]
    fn table_shows_each_step_with_detail_lines() {
        let mut out = Vec::new();
        write_plan_table(&mut out, &sample_plan()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].trim_start().starts_with("#  OPERATION    TARGET"),
            "{text}"
        );
        assert!(
            lines[1].contains("createGroup  <new web>  SecurityGroup/web"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("name \"web\", description \"front\""),
            "{text}"
        );
        assert!(
            lines[2].ends_with("+ ingress IPv4 tcp 443 from 10.0.0.0/8 prio 1"),
            "{text}"
        );
        // The second rule is on its own line, aligned under DETAIL.
        let col = lines[0].find("DETAIL").unwrap();
        assert_eq!(lines[3].find('+'), Some(col), "{text}");
        assert!(lines[4].ends_with("+ 7 ports:"), "{text}");
        // Ids wrap at 80 columns: two UUIDs a line, each line but the last
        // ending in a comma.
        let id = |i: u32| format!("5d3f9c2a-0b6e-4f1a-9c7d-2e8b4a6c10{i:02}");
        assert_eq!(lines[5].trim(), format!("{}, {},", id(1), id(2)), "{text}");
        assert_eq!(lines[8].trim(), id(7), "{text}");
        assert_eq!(
            lines[9],
            "  Plan: 3 operations (attachPorts 1, createGroup 1, createRules 1)."
        );
    }

    #[test]
    fn owners_are_grouped_by_kind_and_capped() {
        let k = |kind: &str, n: &str| key(kind, n);
        assert_eq!(
            owners_text(&[k("PortSecurityGroups", "a"), k("PortSecurityGroups", "b")]),
            "PortSecurityGroups/a,b"
        );
        assert_eq!(
            owners_text(&[
                k("PortSecurityGroups", "a"),
                k("SecurityGroupMembership", "m"),
                k("SecurityGroupMembership", "n"),
                k("SecurityGroupMembership", "o"),
                k("SecurityGroupMembership", "p"),
            ]),
            "PortSecurityGroups/a, SecurityGroupMembership/m,n +2 more"
        );
    }

    #[test]
    fn empty_plan_says_so() {
        let mut out = Vec::new();
        write_plan_table(&mut out, &Plan::default()).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("No changes"));
    }

    #[test]
    fn reports_list_withheld_conflicts_and_warnings() {
        let mut reports = BTreeMap::new();
        reports.insert(
            key("SecurityGroup", "db"),
            ObjectReport {
                changes: ChangeCounts::from_iter([("deleteRule", 4)]),
                withheld: Some(Withheld::MassChange("would revoke 4 of 6 rules".into())),
                conflicts: vec![],
                rule_conflicts: vec![],
                warnings: vec!["rule 3 duplicates rule 1".into()],
                held: vec![],
            },
        );
        reports.insert(
            key("PortSecurityGroups", "p1"),
            ObjectReport {
                conflicts: vec![Conflict {
                    port: "port-1".into(),
                    group: "sg-1".into(),
                    with: key("SecurityGroupMembership", "m"),
                    message: "one wants it in, the other out".into(),
                }],
                ..Default::default()
            },
        );
        let mut out = Vec::new();
        write_reports(&mut out, &reports).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("SecurityGroup/db: blast-radius guard: would revoke 4 of 6 rules; set annotation secgroup.io/allow-mass-change: \"true\" to allow [deleteRule 4]"), "{text}");
        assert!(text.contains("PortSecurityGroups/p1: port port-1 / group sg-1: conflicts with SecurityGroupMembership/m"), "{text}");
        assert!(
            text.contains("SecurityGroup/db: rule 3 duplicates rule 1"),
            "{text}"
        );
        let outcome = PlanOutcome {
            plan: Plan::default(),
            reports,
        };
        assert!(has_changes(&outcome));
        assert!(has_conflicts(&outcome));
    }

    #[test]
    fn paused_object_without_changes_is_not_pending() {
        let outcome = PlanOutcome {
            plan: Plan::default(),
            reports: BTreeMap::from([(
                key("SecurityGroup", "a"),
                ObjectReport {
                    withheld: Some(Withheld::Paused),
                    ..Default::default()
                },
            )]),
        };
        assert!(!has_changes(&outcome));
    }

    #[test]
    fn progress_line() {
        let plan = sample_plan();
        assert_eq!(
            progress_start(2, 3, &plan.steps[2]),
            "[3/3] attachPorts <new web> 7 ports ..."
        );
        assert_eq!(
            progress_end(&Ok(()), Duration::from_millis(120)),
            " ok (120ms)"
        );
        let err = Err(StepError::Cloud(crate::cloud::CloudError::Transport(
            "connection refused".into(),
        )));
        assert_eq!(
            progress_end(&err, Duration::from_millis(5)),
            " FAILED (5ms): transport error: connection refused"
        );
        // A cloud's message is one line, whatever it holds.
        let err = Err(StepError::Cloud(crate::cloud::CloudError::Transport(
            "reset\n[4/4] deleteGroup sg-1 ... ok\u{1b}[2K".into(),
        )));
        assert_eq!(
            progress_end(&err, Duration::from_millis(5)),
            " FAILED (5ms): transport error: reset\\n[4/4] deleteGroup sg-1 ... ok\\u{1b}[2K"
        );
    }
}
