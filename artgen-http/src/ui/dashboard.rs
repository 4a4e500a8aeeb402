//! The admin dashboard's page (US-07): who spent what over a period, per model, over time (a
//! server-rendered SVG chart with the same figures as a table), budgets near or over their
//! limit, the upstreams' queues and quota, and user and key management.

use artgen_core::domain::{Money, UsageSummary, UserRecord};
use artgen_core::ports::KeyInfo;
use maud::{html, Markup, PreEscaped};

use super::pages::layout;
use crate::routes::admin::usage::usd;

/// One upstream model's admission state, as `/health` shows it.
#[derive(Debug, Clone)]
pub struct QueueRow {
    /// `upstream / model`.
    pub name: String,
    /// The adaptive limit on calls in flight.
    pub limit: u32,
    /// Calls in flight.
    pub in_flight: u32,
    /// Callers waiting.
    pub queued: u32,
}

/// What the dashboard shows.
#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    /// The signed-in admin.
    pub user: String,
    /// The CSRF token.
    pub csrf: String,
    /// The period's first day (`YYYY-MM-DD`).
    pub from: String,
    /// The period's last day, included (`YYYY-MM-DD`).
    pub to: String,
    /// Totals per user.
    pub by_user: Vec<UsageSummary>,
    /// Totals per model.
    pub by_model: Vec<UsageSummary>,
    /// Totals per day.
    pub by_day: Vec<UsageSummary>,
    /// Each user row's budget this period (limits in force, spent and held).
    pub budgets: Vec<artgen_core::domain::BudgetView>,
    /// User rows.
    pub users: Vec<UserRecord>,
    /// Keys.
    pub keys: Vec<KeyInfo>,
    /// Upstream queues.
    pub queues: Vec<QueueRow>,
    /// Upstream quota remaining: (model, kind, remaining).
    pub quota: Vec<(String, String, u64)>,
    /// The budget's soft threshold, percent.
    pub soft_threshold: u32,
    /// A notice (e.g. a key shown once).
    pub notice: Option<String>,
    /// An error.
    pub error: Option<String>,
}

fn dollars(money: Money) -> String {
    format!("${:.4}", usd(money))
}

fn tokens(summary: &UsageSummary) -> u64 {
    summary.input_tokens.saturating_add(summary.output_tokens)
}

/// A table that, on a screen narrower than itself (a phone), scrolls sideways inside its own
/// region instead of making the whole page scroll; the region is labelled and focusable, so
/// a keyboard can scroll it too.
fn scroller(label: &str, table: Markup) -> Markup {
    html! {
        div.table-scroll role="region" aria-label=(label) tabindex="0" { (table) }
    }
}

fn totals_table(id: &str, caption: &str, label: &str, rows: &[UsageSummary]) -> Markup {
    scroller(
        caption,
        html! {
            table id=(id) {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (label) } th scope="col" { "Requests" } th scope="col" { "Images" }
                    th scope="col" { "Tokens" } th scope="col" { "Cost" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            th scope="row" { (row.key.as_deref().unwrap_or("(none)")) }
                            td { (row.requests) } td { (row.images) } td { (tokens(row)) }
                            td { (dollars(row.cost)) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="5" { "No requests in this period." } } }
                }
            }
        },
    )
}

/// Cost per day as bars, scaled to the most expensive day; the table below it carries the
/// same figures for screen readers and for reading exact values.
pub fn cost_chart(days: &[UsageSummary]) -> Markup {
    const WIDTH: u64 = 720;
    const HEIGHT: u64 = 200;
    const PAD: u64 = 28;
    let max = days
        .iter()
        .map(|d| d.cost.micros())
        .max()
        .unwrap_or(0)
        .max(1);
    let count = u64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = (WIDTH - 2 * PAD) / count;
    let bar = slot.saturating_sub(2).max(1);
    let mut svg = format!(
        "<svg id=\"cost-chart\" role=\"img\" aria-labelledby=\"cost-chart-title\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\">\
         <title id=\"cost-chart-title\">Cost per day; the table below lists the figures</title>\
         <line x1=\"{PAD}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" class=\"axis\"/>",
        base = HEIGHT - PAD,
        right = WIDTH - PAD,
    );
    for (i, day) in days.iter().enumerate() {
        let i = u64::try_from(i).unwrap_or(0);
        let h = (HEIGHT - 2 * PAD) * day.cost.micros() / max;
        let x = PAD + i * slot + 1;
        let y = HEIGHT - PAD - h;
        let key = day.key.as_deref().unwrap_or("");
        // Keys are YYYY-MM-DD days and costs numbers: nothing here needs escaping but the
        // key, which is checked to be a date.
        let key = if key.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            key
        } else {
            ""
        };
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\">\
             <title>{key}: {}</title></rect>",
            dollars(day.cost)
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{PAD}\" y=\"{y}\" class=\"label\">max {}</text></svg>",
        dollars(Money::from_micros(if max == 1 { 0 } else { max })),
        y = PAD - 8
    ));
    PreEscaped(svg)
}

/// Budget status: `over`, `near` (past the soft threshold) or `ok`, with the percentage.
pub fn budget_status(spent: Money, limit: Option<Money>, soft: u32) -> Option<(u64, &'static str)> {
    let limit = limit?.micros();
    if limit == 0 {
        return Some((100, "over"));
    }
    let percent = spent.micros().saturating_mul(100) / limit;
    let state = if percent >= 100 {
        "over"
    } else if percent >= u64::from(soft) {
        "near"
    } else {
        "ok"
    };
    Some((percent, state))
}

/// The dashboard page.
pub fn dashboard(page: &Dashboard) -> Markup {
    let budget_of = |user: &str| page.budgets.iter().find(|b| b.scope.id() == user);
    let csrf = page.csrf.as_str();
    layout(
        "Admin",
        Some((&page.user, csrf)),
        html! {
            p { a href="/" { "← Back to Generate" } }
            @if let Some(error) = &page.error { p #error .error role="alert" { (error) } }
            @if let Some(notice) = &page.notice { p #notice .notice role="status" { (notice) } }
            section.panel aria-labelledby="usage-title" {
                h2 #usage-title { "Usage" }
                form #period method="get" action="/ui/admin" {
                    div.row {
                        div { label for="from" { "From" } input #from type="date" name="from" value=(page.from); }
                        div { label for="to" { "To (included)" } input #to type="date" name="to" value=(page.to); }
                    }
                    div.actions {
                        button type="submit" { "Show" }
                        a.button.secondary href={ "/ui/admin/usage.csv?group_by=user&from=" (page.from) "&to=" (page.to) } download="usage-by-user.csv" { "CSV by user" }
                        a.button.secondary href={ "/ui/admin/usage.csv?group_by=model&from=" (page.from) "&to=" (page.to) } download="usage-by-model.csv" { "CSV by model" }
                        a.button.secondary href={ "/ui/admin/usage.csv?group_by=day&from=" (page.from) "&to=" (page.to) } download="usage-by-day.csv" { "CSV by day" }
                    }
                }
                (totals_table("by-user", "Per user", "User", &page.by_user))
                (totals_table("by-model", "Per model", "Model", &page.by_model))
                h3 { "Cost over time" }
                (cost_chart(&page.by_day))
                (totals_table("by-day", "Per day", "Day", &page.by_day))
            }
            section.panel aria-labelledby="budgets-title" {
                h2 #budgets-title { "Budgets this month" }
                (scroller("Budgets this month", html! { table #budgets {
                    thead { tr { th scope="col" { "User" } th scope="col" { "Monthly budget" } th scope="col" { "Spent" } th scope="col" { "Status" } } }
                    tbody {
                        @for user in &page.users {
                            @let view = budget_of(&user.id);
                            @let spent = view.map_or(Money::ZERO, |v| Money::from_micros(v.spent.usd.micros().saturating_add(v.reserved.usd.micros())));
                            @let limit = view.and_then(|v| v.limits.usd);
                            @let status = budget_status(spent, limit, page.soft_threshold);
                            tr data-user=(user.id) data-status=(status.map_or("none", |s| s.1)) {
                                th scope="row" { (user.id) @if user.disabled { " (disabled)" } }
                                td {
                                    (limit.map_or("none".to_owned(), dollars))
                                    @if user.limits.budget_usd_per_month.is_none() && limit.is_some() { " (default)" }
                                }
                                td { (dollars(spent)) }
                                td {
                                    @match status {
                                        Some((percent, "over")) => { strong.flag-over { "Over: " (percent) "%" } }
                                        Some((percent, "near")) => { strong.flag-near { "Near: " (percent) "%" } }
                                        Some((percent, _)) => { (percent) "%" }
                                        None => { "no limit" }
                                    }
                                }
                            }
                        }
                        @if page.users.is_empty() { tr { td colspan="4" { "No user has limits of their own yet." } } }
                    }
                } }))
            }
            section.panel aria-labelledby="upstream-title" {
                h2 #upstream-title { "Upstream" }
                (scroller("Queues per model", html! { table #queues {
                    caption { "Queues per model" }
                    thead { tr { th scope="col" { "Upstream / model" } th scope="col" { "Limit" } th scope="col" { "In flight" } th scope="col" { "Waiting" } } }
                    tbody {
                        @for q in &page.queues { tr { th scope="row" { (q.name) } td { (q.limit) } td { (q.in_flight) } td { (q.queued) } } }
                        @if page.queues.is_empty() { tr { td colspan="4" { "No upstream call yet." } } }
                    }
                } }))
                (scroller("Quota remaining", html! { table #quota {
                    caption { "Quota remaining (from the upstream's headers)" }
                    thead { tr { th scope="col" { "Model" } th scope="col" { "Kind" } th scope="col" { "Remaining" } } }
                    tbody {
                        @for (model, kind, remaining) in &page.quota { tr { th scope="row" { (model) } td { (kind) } td { (remaining) } } }
                        @if page.quota.is_empty() { tr { td colspan="3" { "Not reported yet." } } }
                    }
                } }))
            }
            section.panel aria-labelledby="users-title" {
                h2 #users-title { "Users and keys" }
                form #create-user method="post" action="/ui/admin/users" {
                    input type="hidden" name="csrf" value=(csrf);
                    div.row {
                        div { label for="new-user" { "User" } input #new-user type="text" name="user" required; }
                        div { label for="new-org" { "Organisation (optional)" } input #new-org type="text" name="org"; }
                    }
                    div.actions { button type="submit" { "Create user" } }
                }
                form #set-limits method="post" action="/ui/admin/limits" {
                    input type="hidden" name="csrf" value=(csrf);
                    div.row {
                        div { label for="limits-user" { "User" } input #limits-user type="text" name="user" required; }
                        div { label for="limits-budget" { "Monthly budget, USD (empty: default)" } input #limits-budget type="text" name="budget_usd_per_month" inputmode="decimal"; }
                    }
                    div.row {
                        div { label for="limits-rate" { "Requests per minute (empty: default)" } input #limits-rate type="number" min="1" name="rate_limit_per_minute"; }
                        div { label for="limits-burst" { "Burst (empty: default)" } input #limits-burst type="number" min="1" name="rate_limit_burst"; }
                    }
                    div.actions { button type="submit" { "Set limits" } }
                }
                form #create-key method="post" action="/ui/admin/keys" {
                    input type="hidden" name="csrf" value=(csrf);
                    div.row {
                        div { label for="key-user" { "Key for user" } input #key-user type="text" name="user" required; }
                        div { label for="key-role" { "Role" } select #key-role name="role" { option value="user" selected { "user" } option value="admin" { "admin" } } }
                    }
                    div.actions { button type="submit" { "Create key" } }
                }
                (scroller("Keys", html! { table #keys {
                    caption { "Keys" }
                    thead { tr { th scope="col" { "Key" } th scope="col" { "User" } th scope="col" { "Role" } th scope="col" { "Last used" } th scope="col" { "State" } } }
                    tbody {
                        @for key in &page.keys {
                            tr {
                                th scope="row" { (key.public_id) "…" (key.last_four) }
                                td { (key.user) } td { (key.role) }
                                td { (key.last_used_at_ms.map_or("never".to_owned(), |ms| artgen_core::domain::Date::from_unix_secs(ms / 1000).to_string())) }
                                td {
                                    @if key.revoked_at_ms.is_some() { "revoked" } @else {
                                        form.inline method="post" action="/ui/admin/keys/revoke" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="public_id" value=(key.public_id);
                                            button.secondary type="submit" aria-label={ "Revoke " (key.public_id) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }))
            }
        },
    )
}
