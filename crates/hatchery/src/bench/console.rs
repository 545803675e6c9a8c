//! `hatchery bench console`: server time of the console's contact pages on a large pool.
//!
//! Fills a pool as `bench list` does, with what a customer's pool also holds — tags, accounts,
//! contacts placed in business units — and a few contacts with long timelines (page views, track
//! calls, identify, segment and score events). Then it starts `hatchery serve` from this binary
//! (as `bench ingest` does), signs in through the sign-in form (CSRF token and cookies as a
//! browser sends them) as an administrator and as a sales rep limited to one business unit under
//! the `bu_isolated` policy, and times the pages over HTTP: the time from sending a request to
//! having the whole response body, on localhost, one request at a time.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use hatchery_domain::ids::BusinessUnitId;
use hatchery_domain::{ContactId, Grant, Identifier, IdentityKind, OrgId, PoolPolicy, Role};
use hatchery_store::ingest::{IngestWrite, NewEvent, NewIdentity};
use hatchery_store::users::NewUser;
use hatchery_store::{Backend, Store};
use hatchery_web::console::session::{FORM_COOKIE, SESSION_COOKIE};
use hatchery_web::console::{password, urlencode};
use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::header;
use serde_json::json;

use super::{
    fill_pool, mib, ms, print_latency_heading, print_latency_row, verdict, FreshDb, PoolExtras,
    Sample, Search, ServerProcess, EVENTS, PATHS, SOURCES, UTM,
};
use crate::config::Config;
use crate::demo::thousands;

#[derive(clap::Args, Debug)]
pub(super) struct ConsoleArgs {
    /// Contacts in the pool.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=20_000_000))]
    contacts: u64,
    /// Contacts given a long timeline, for the contact 360° page (spread over the pool and its
    /// business units).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    timeline_contacts: u64,
    /// Events on each of those contacts.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    events: u64,
    /// Timed requests of each page (each with different values where the page takes any).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    iterations: u64,
    /// Untimed requests of each page before its timed ones.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=1_000))]
    warmup: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    db: super::DbArgs,
}

impl ConsoleArgs {
    pub(super) fn db(&self) -> &super::DbArgs {
        &self.db
    }
}

/// Business units; contacts are placed in them by id, one unit in five each, and the fifth share
/// stays in the group-level pool (no unit).
const UNITS: [&str; 4] = ["华东事业部", "华南事业部", "华北事业部", "西南事业部"];
/// Tags and the share of contacts carrying each: common campaign tags and rare ones.
const TAGS: [(&str, f64); 5] = [
    ("展会线索 2026", 0.15),
    ("白皮书下载", 0.10),
    ("老客户激活 2026-11", 0.05),
    ("高意向", 0.02),
    ("VIP", 0.005),
];
const DAY: i64 = 86_400_000;

/// Who is signed in for a page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    Admin,
    /// A sales rep whose only grant is in the first business unit (`bu_isolated` pool).
    Rep,
}

#[derive(Clone, Copy)]
enum Page {
    /// `/contacts`
    First,
    /// `/contacts?cursor=…` anywhere in the pool.
    Deep,
    Source,
    Tag,
    Search(Search),
    /// `/contacts?sort=name`, from the start or (`true`) from a name in the middle.
    ByName(bool),
    /// `/contacts?sort=oldest`
    Oldest,
    /// `/contacts/{id}` of a contact with a long timeline.
    Contact,
    /// The same with the timeline limited to one kind of event.
    ContactKind,
}

struct Case {
    label: &'static str,
    page: Page,
    user: As,
}

const CASES: [Case; 23] = [
    Case {
        label: "list: first page",
        page: Page::First,
        user: As::Admin,
    },
    Case {
        label: "list: deep page (cursor)",
        page: Page::Deep,
        user: As::Admin,
    },
    Case {
        label: "list: filter by source",
        page: Page::Source,
        user: As::Admin,
    },
    Case {
        label: "list: filter by tag",
        page: Page::Tag,
        user: As::Admin,
    },
    Case {
        label: "search: name prefix (surname)",
        page: Page::Search(Search::Name),
        user: As::Admin,
    },
    Case {
        label: "search: company prefix",
        page: Page::Search(Search::Company),
        user: As::Admin,
    },
    Case {
        label: "search: email prefix",
        page: Page::Search(Search::Email),
        user: As::Admin,
    },
    Case {
        label: "search: mobile prefix",
        page: Page::Search(Search::Mobile),
        user: As::Admin,
    },
    Case {
        label: "contact 360°",
        page: Page::Contact,
        user: As::Admin,
    },
    Case {
        label: "contact 360°, one kind of event",
        page: Page::ContactKind,
        user: As::Admin,
    },
    Case {
        label: "list: first page",
        page: Page::First,
        user: As::Rep,
    },
    Case {
        label: "list: deep page (cursor)",
        page: Page::Deep,
        user: As::Rep,
    },
    Case {
        label: "list: filter by source",
        page: Page::Source,
        user: As::Rep,
    },
    Case {
        label: "list: filter by tag",
        page: Page::Tag,
        user: As::Rep,
    },
    Case {
        label: "search: name prefix (surname)",
        page: Page::Search(Search::Name),
        user: As::Rep,
    },
    Case {
        label: "search: email prefix",
        page: Page::Search(Search::Email),
        user: As::Rep,
    },
    Case {
        label: "contact 360°",
        page: Page::Contact,
        user: As::Rep,
    },
    Case {
        label: "list: sorted by name",
        page: Page::ByName(false),
        user: As::Admin,
    },
    Case {
        label: "list: sorted by name, from a surname",
        page: Page::ByName(true),
        user: As::Admin,
    },
    Case {
        label: "list: oldest first",
        page: Page::Oldest,
        user: As::Admin,
    },
    Case {
        label: "list: sorted by name",
        page: Page::ByName(false),
        user: As::Rep,
    },
    Case {
        label: "list: sorted by name, from a surname",
        page: Page::ByName(true),
        user: As::Rep,
    },
    Case {
        label: "list: oldest first",
        page: Page::Oldest,
        user: As::Rep,
    },
];

/// What the timed requests draw their values from.
struct Pool {
    first: i64,
    newest: i64,
    sample: Sample,
    tags: Vec<&'static str>,
    /// Contacts with long timelines, and those among them the rep may open.
    rich: Vec<ContactId>,
    rich_in_unit: Vec<ContactId>,
}

pub(super) async fn run(cfg: &Config, db: &FreshDb, a: &ConsoleArgs) -> Result<()> {
    let total = a.contacts as usize;
    let (store, org, now) = super::open_bench_org(cfg, db).await?;
    let mut rng = StdRng::seed_from_u64(a.seed);

    // The pool, untimed.
    let mut units = Vec::new();
    for name in UNITS {
        units.push(store.create_business_unit(org, name, now).await?.id);
    }
    let mut extras = PoolExtras {
        accounts: true,
        ..PoolExtras::default()
    };
    for (name, share) in TAGS {
        extras
            .tags
            .push((store.ensure_tag(org, name, None, now).await?.id, share));
    }
    let (_, sample) = fill_pool(&store, org, total, &mut rng, now, &extras).await?;
    let first = super::first_of_newest(&store, org, total).await?;
    let t = Instant::now();
    place_in_units(&store, org, &units).await?;
    println!(
        "placed:   four contacts in five in one of {} business units (by id), the rest in the group pool, in {:.1} s",
        units.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let rich = long_timelines(
        &store,
        org,
        first,
        total,
        a.timeline_contacts as usize,
        a.events as usize,
        &mut rng,
        now,
    )
    .await?;
    println!(
        "timeline: {} contacts with {} events each (page, track, identify, screen, group, segment and score events over 180 days) in {:.1} s",
        rich.len(),
        thousands(a.events),
        t.elapsed().as_secs_f64()
    );
    // Statistics as the server keeps them (PostgreSQL; SQLite keeps none), and on PostgreSQL the
    // tables vacuumed as autovacuum would have done by now (the placement rewrote every contact;
    // index-only scans need the visibility map).
    if let Backend::Postgres(p) = store.backend() {
        sqlx::raw_sql("VACUUM").execute(p).await?;
    }
    store.analyze().await?;
    if let Some(f) = db.sqlite_file() {
        println!(
            "  database file: {:.0} MiB",
            super::file_size(&f) as f64 / 1024.0 / 1024.0
        );
    }

    // Users: an administrator, and a sales rep whose only grant is in the first unit.
    store.set_pool_policy(org, PoolPolicy::BuIsolated).await?;
    let secret: String = StdRng::from_entropy()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let hash = password::hash(secret.clone()).await;
    let admin_email = "admin@bench.example";
    let rep_email = "rep@bench.example";
    for (email, name, grant) in [
        (admin_email, "管理员", Grant::org_wide(Role::Admin)),
        (
            rep_email,
            "销售代表",
            Grant::in_bu(Role::SalesRep, units[0]),
        ),
    ] {
        store
            .create_user(
                org,
                &NewUser {
                    email,
                    name,
                    password_hash: &hash,
                    locale: Some("zh-CN"),
                },
                &[grant],
                false,
                now,
            )
            .await?;
    }
    let rich_in_unit: Vec<ContactId> = rich
        .iter()
        .copied()
        .filter(|c| unit_of(c.0) == Some(0))
        .collect();
    ensure!(
        !rich_in_unit.is_empty(),
        "no contact with a long timeline sits in the rep's business unit"
    );
    let outside = rich.iter().copied().find(|c| unit_of(c.0) != Some(0));
    let pool = Pool {
        first,
        newest: first + total as i64 - 1,
        sample,
        tags: TAGS.iter().map(|t| t.0).collect(),
        rich,
        rich_in_unit,
    };
    store.close().await;

    let server = ServerProcess::start(&db.url).await?;
    let result = time_pages(&server, a, &pool, admin_email, rep_email, &secret, outside).await;
    let server_cpu = server.cpu_time();
    let server_hwm = server.stop().await?;
    let worst = result?;
    println!();
    println!(
        "console:  worst p95 {:.1} ms ({}) at {} contacts (target < 100 ms: {})",
        ms(worst.1),
        worst.0,
        thousands(total as u64),
        verdict(worst.1)
    );
    println!(
        "server:   {:.1} s CPU (user+system), peak RSS {:.0} MiB (VmHWM of the `hatchery serve` process, whole life)",
        server_cpu.as_secs_f64(),
        mib(server_hwm)
    );
    Ok(())
}

/// Which unit (index into [`UNITS`]) the placement puts a contact id in; `None` for the group pool.
fn unit_of(id: i64) -> Option<usize> {
    let r = id.rem_euclid(5) as usize;
    (r < UNITS.len()).then_some(r)
}

/// Places contacts in business units by id (the rule of [`unit_of`]) with one statement; the
/// store places contacts one at a time, which at a million contacts is setup time for nothing.
async fn place_in_units(store: &Store, org: OrgId, units: &[BusinessUnitId]) -> Result<()> {
    let sql =
        "UPDATE contacts SET bu_id = CASE id % 5 WHEN 0 THEN $2 WHEN 1 THEN $3 WHEN 2 THEN $4 \
               WHEN 3 THEN $5 ELSE NULL END WHERE org_id = $1";
    macro_rules! place {
        ($p:expr) => {{
            let mut q = sqlx::query(sql).bind(org.0);
            for u in units {
                q = q.bind(u.0);
            }
            q.execute($p).await?;
        }};
    }
    match store.backend() {
        Backend::Sqlite(p) => place!(p),
        Backend::Postgres(p) => place!(p),
    }
    Ok(())
}

/// Gives `n` contacts spread over the pool (an equal number in each unit and in the group pool)
/// `per` events each over the last 180 days, with a few more browser ids; returns them.
#[expect(
    clippy::too_many_arguments,
    reason = "setup parameters of one benchmark step"
)]
async fn long_timelines(
    store: &Store,
    org: OrgId,
    first: i64,
    total: usize,
    n: usize,
    per: usize,
    rng: &mut StdRng,
    now: i64,
) -> Result<Vec<ContactId>> {
    let n = n.min(total);
    let mut rich: Vec<ContactId> = Vec::with_capacity(n);
    for j in 0..n {
        // Evenly spaced, then moved to the id whose unit comes next in turn.
        let mut id = first + (j * total / n) as i64;
        while id.rem_euclid(5) != (j % 5) as i64 && id + 1 < first + total as i64 {
            id += 1;
        }
        if !rich.contains(&ContactId(id)) {
            rich.push(ContactId(id));
        }
    }
    for &contact in &rich {
        let mut w = IngestWrite::default();
        for d in 0..3 {
            w.identities.push(NewIdentity {
                identifier: Identifier::new(IdentityKind::AnonymousId, crate::demo::uuid(rng)),
                contact,
                origin: format!("bench:browser-{d}"),
            });
        }
        for k in 0..per {
            let at = now - rng.gen_range(0..180 * DAY);
            w.events.push(timeline_event(contact, k, at, rng));
        }
        store.write_ingest(org, w, now).await?;
    }
    Ok(rich)
}

/// One event of a long timeline: mostly page views and track calls, some identify, screen and
/// group calls, and the segment and score events the evaluator writes.
fn timeline_event(contact: ContactId, k: usize, at: i64, rng: &mut StdRng) -> NewEvent {
    let (path, title) = *PATHS.choose(rng).expect("paths");
    let page = json!({"path": path, "url": format!("https://www.hatchery-demo.example{path}"), "title": title, "referrer": ""});
    let context = json!({
        "page": page.clone(), "locale": "zh-CN", "library": {"name": "analytics.js", "version": "4.1.0"},
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",
    });
    let campaign = rng.gen_bool(0.1).then(|| *UTM.choose(rng).expect("utm"));
    let r: f64 = rng.gen();
    let (kind, name, properties) = if r < 0.45 {
        ("page", Some(title.to_owned()), page.clone())
    } else if r < 0.80 {
        let event = *EVENTS.choose(rng).expect("events");
        (
            "track",
            Some(event.to_owned()),
            json!({"path": path, "value": rng.gen_range(1..100), "asset_id": "wp-private-traffic-2026"}),
        )
    } else if r < 0.88 {
        (
            "identify",
            None,
            json!({"traits": ["title", "company", "industry"]}),
        )
    } else if r < 0.92 {
        (
            "screen",
            Some("小程序首页".to_owned()),
            json!({"name": "小程序首页"}),
        )
    } else if r < 0.95 {
        ("group", None, json!({"groupId": "acct-00001"}))
    } else if r < 0.98 {
        let entered = rng.gen_bool(0.7);
        (
            if entered {
                "segment.entered"
            } else {
                "segment.exited"
            },
            Some("看了两次价格页".to_owned()),
            json!({"segment_id": "seg_1"}),
        )
    } else {
        (
            "score.crossed",
            Some("engagement ≥ 50".to_owned()),
            json!({"score": "engagement", "value": 50}),
        )
    };
    NewEvent {
        contact,
        message_id: format!("bench-timeline-{}-{k}", contact.0),
        client_at: at,
        kind: kind.to_owned(),
        name,
        occurred_at: at,
        sent_at: Some(at),
        received_at: at + rng.gen_range(0..5_000),
        source_id: None,
        channel: Some(
            if kind == "screen" {
                "miniprogram"
            } else {
                "web"
            }
            .to_owned(),
        ),
        utm_source: campaign.map(|c| c.0.to_owned()),
        utm_medium: campaign.map(|c| c.1.to_owned()),
        utm_campaign: campaign.map(|c| c.2.to_owned()),
        properties: properties.to_string(),
        context: context.to_string(),
    }
}

/// Signs in through the sign-in form as a browser does — the form's CSRF token and its cookie,
/// then the posted form — and returns the session cookie (`name=value`).
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    secret: &str,
) -> Result<String> {
    let form = client
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .context("the sign-in page did not answer")?;
    ensure!(
        form.status() == reqwest::StatusCode::OK,
        "the sign-in page answered {}",
        form.status()
    );
    let form_cookie =
        set_cookie(form.headers(), FORM_COOKIE).context("the sign-in page set no form cookie")?;
    let html = form.text().await?;
    let csrf = hidden_field(&html, "csrf").context("the sign-in form has no CSRF token")?;
    let body = format!(
        "csrf={}&email={}&password={}&next={}",
        urlencode(&csrf),
        urlencode(email),
        urlencode(secret),
        urlencode("/contacts")
    );
    let resp = client
        .post(format!("{base}/sign-in"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("{FORM_COOKIE}={form_cookie}"))
        .body(body)
        .send()
        .await
        .context("the sign-in form did not answer")?;
    ensure!(
        resp.status().is_redirection(),
        "signing in answered {} instead of a redirect",
        resp.status()
    );
    let session =
        set_cookie(resp.headers(), SESSION_COOKIE).context("signing in set no session cookie")?;
    Ok(format!("{SESSION_COOKIE}={session}"))
}

/// The value a response sets for a cookie.
fn set_cookie(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, v)| k.trim() == name && !v.is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// The value of a hidden form field (`<input type="hidden" name="…" value="…">`).
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The path of the `i`-th request of a case.
fn path_of(case: &Case, i: usize, pool: &Pool, rng: &mut StdRng) -> String {
    let contacts = match case.user {
        As::Admin => &pool.rich,
        As::Rep => &pool.rich_in_unit,
    };
    match case.page {
        Page::First => "/contacts".to_owned(),
        Page::Deep => {
            let id = rng.gen_range(pool.first..=pool.newest);
            format!("/contacts?cursor={}", ContactId(id))
        }
        Page::Source => format!(
            "/contacts?source={}",
            urlencode(SOURCES[i % SOURCES.len()].0)
        ),
        Page::Tag => format!(
            "/contacts?tag={}",
            urlencode(pool.tags[i % pool.tags.len()])
        ),
        Page::Search(what) => format!(
            "/contacts?q={}",
            urlencode(&pool.sample.search_term(what, i, rng))
        ),
        Page::ByName(false) => "/contacts?sort=name".to_owned(),
        Page::ByName(true) => {
            // A name-sorted page that starts where a surname's names start.
            let term = pool.sample.search_term(Search::Name, i, rng);
            format!(
                "/contacts?sort=name&cursor={}",
                urlencode(&format!(
                    "n:0:{}",
                    hatchery_store::ingest::search_key(&term)
                ))
            )
        }
        Page::Oldest => "/contacts?sort=oldest".to_owned(),
        Page::Contact => format!("/contacts/{}", contacts[i % contacts.len()]),
        Page::ContactKind => {
            let kind = ["page", "track", "identify"][i % 3];
            format!("/contacts/{}?kind={kind}", contacts[i % contacts.len()])
        }
    }
}

/// Rows a page shows: contacts of a list, events of a timeline.
fn rows_of(page: Page, html: &str) -> usize {
    match page {
        Page::Contact | Page::ContactKind => html.matches("<li><time>").count(),
        _ => html.matches("<td><a href=\"/contacts/").count(),
    }
}

/// Signs both users in and times every case; returns the worst p95 and its case.
async fn time_pages(
    server: &ServerProcess,
    a: &ConsoleArgs,
    pool: &Pool,
    admin_email: &str,
    rep_email: &str,
    secret: &str,
    outside: Option<ContactId>,
) -> Result<(String, Duration)> {
    let base = server.addr.clone();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .build()?;
    let t = Instant::now();
    let admin = sign_in(&client, &base, admin_email, secret).await?;
    let rep = sign_in(&client, &base, rep_email, secret).await?;
    println!(
        "signed in: an administrator and a sales rep of {} (bu_isolated pool) through the sign-in form in {:.2} s",
        UNITS[0],
        t.elapsed().as_secs_f64()
    );
    // The rep's view is limited: a contact of another unit is refused.
    if let Some(c) = outside {
        let status = client
            .get(format!("{base}/contacts/{c}"))
            .header(header::COOKIE, &rep)
            .send()
            .await?
            .status();
        ensure!(
            status == reqwest::StatusCode::FORBIDDEN,
            "the rep opened a contact outside their unit: {status}"
        );
    }

    let iterations = a.iterations as usize;
    let warmup = a.warmup as usize;
    let mut rng = StdRng::seed_from_u64(a.seed ^ 0xc0_501e);
    let mut worst = (String::new(), Duration::ZERO);
    let mut user = None;
    println!();
    print_latency_heading(
        &format!("page ({iterations} requests each)"),
        &["rows", "KiB"],
    );
    for case in &CASES {
        if user != Some(case.user) {
            user = Some(case.user);
            println!(
                "{}",
                match case.user {
                    As::Admin => "as administrator (whole pool)".to_owned(),
                    As::Rep => format!("as sales rep of {} (a fifth of the pool)", UNITS[0]),
                }
            );
        }
        let cookie = match case.user {
            As::Admin => &admin,
            As::Rep => &rep,
        };
        let mut times = Vec::with_capacity(iterations);
        let (mut rows, mut bytes) = (0usize, 0usize);
        for i in 0..warmup + iterations {
            let path = path_of(case, i, pool, &mut rng);
            let t = Instant::now();
            let resp = client
                .get(format!("{base}{path}"))
                .header(header::COOKIE, cookie)
                .send()
                .await
                .with_context(|| format!("{}: the server did not answer", case.label))?;
            let status = resp.status();
            let body = resp.bytes().await?;
            let took = t.elapsed();
            if status != reqwest::StatusCode::OK {
                // The path may hold a search term (made-up data, but kept out of output anyway).
                bail!("{}: the page answered {status}", case.label);
            }
            if i >= warmup {
                times.push(took);
                rows += rows_of(case.page, &String::from_utf8_lossy(&body));
                bytes += body.len();
            }
        }
        let label = format!("  {}", case.label);
        let p95 = print_latency_row(
            &label,
            &mut times,
            &[
                rows as f64 / iterations as f64,
                bytes as f64 / iterations as f64 / 1024.0,
            ],
        );
        if p95 > worst.1 {
            let who = match case.user {
                As::Admin => "administrator",
                As::Rep => "sales rep",
            };
            worst = (format!("{}, {who}", case.label), p95);
        }
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_csrf_field_and_cookies_as_a_browser_would() {
        let html = r#"<form><input type="hidden" name="csrf" value="abc123"><input type="hidden" name="next" value="/"></form>"#;
        assert_eq!(hidden_field(html, "csrf").as_deref(), Some("abc123"));
        assert_eq!(hidden_field(html, "next").as_deref(), Some("/"));
        assert_eq!(hidden_field(html, "other"), None);
        let mut h = header::HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            "hatchery_form=t0k; Path=/; HttpOnly".parse().unwrap(),
        );
        h.append(
            header::SET_COOKIE,
            "hatchery_session=s3ss; Path=/; Max-Age=43200"
                .parse()
                .unwrap(),
        );
        assert_eq!(set_cookie(&h, "hatchery_form").as_deref(), Some("t0k"));
        assert_eq!(set_cookie(&h, "hatchery_session").as_deref(), Some("s3ss"));
        assert_eq!(set_cookie(&h, "hatchery_lang"), None);
    }

    #[test]
    fn four_contacts_in_five_sit_in_a_unit() {
        let placed = (1..=1000).filter(|&id| unit_of(id).is_some()).count();
        assert_eq!(placed, 800);
        assert_eq!(unit_of(10), Some(0));
        assert_eq!(unit_of(14), None);
    }
}
