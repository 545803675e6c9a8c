//! The segment language compiled to SQL must agree with its in-process predicate. Random filters
//! run against random contacts (profile, traits, tags, identities, account, events) stored in a real
//! database — a SQLite file, or PostgreSQL when `HATCHERY_TEST_DATABASE=postgres` — and the SQL
//! result set must equal the contacts for which `Filter::matches` is true.

use std::collections::BTreeSet;

use hatchery_domain::ids::SegmentId;
use hatchery_domain::scoring::{Grade, ScoreSnapshot, Scored};
use hatchery_domain::segment::{
    AccountField, AccountSnapshot, ContactSnapshot, EventRecord, Filter, DAY_MS,
};
use hatchery_domain::{ContactId, Identifier, IdentityKind, OrgId, StandardField};
use hatchery_store::{Store, StoreOptions, Tx};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

const NOW: i64 = 1_795_000_000_000;
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

struct TestDb {
    store: Store,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    async fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_name) = if std::env::var("HATCHERY_TEST_DATABASE").as_deref() == Ok("postgres")
        {
            let name = format!(
                "hatchery_test_seg_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            let pool = sqlx::PgPool::connect(PG_ADMIN)
                .await
                .expect("PostgreSQL for tests on 127.0.0.1:5432");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = PG_ADMIN.rsplit_once('/').unwrap().0;
            (format!("{base}/{name}"), Some(name))
        } else {
            (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            )
        };
        let opts = StoreOptions {
            sqlite_fsync_every_commit: false,
            ..StoreOptions::default()
        };
        TestDb {
            store: Store::connect(&url, &opts).await.unwrap(),
            _dir: dir,
            pg_name,
        }
    }

    async fn drop_database(self) {
        self.store.close().await;
        if let Some(name) = self.pg_name {
            let pool = sqlx::PgPool::connect(PG_ADMIN).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

/// A bound value of the test's own inserts.
enum A {
    I(i64),
    OI(Option<i64>),
    F(f64),
    T(String),
    OT(Option<String>),
}

/// Runs one statement in the open transaction; returns the `RETURNING id` value if there is one.
async fn exec(tx: &mut Tx, sql: &str, args: Vec<A>) -> Option<i64> {
    macro_rules! run {
        ($c:expr) => {{
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for a in args {
                q = match a {
                    A::I(i) => q.bind(i),
                    A::OI(i) => q.bind(i),
                    A::F(f) => q.bind(f),
                    A::T(t) => q.bind(t),
                    A::OT(t) => q.bind(t),
                };
            }
            q.fetch_optional($c).await.unwrap()
        }};
    }
    match tx {
        Tx::Sqlite(t, _) => run!(&mut **t),
        Tx::Postgres(t) => run!(&mut **t),
    }
}

// ---- random pools: few values, so filters and contacts often meet, with traps (case, prefixes,
// ---- typed JSON, window edges).

const STAGES: [&str; 3] = ["lead", "mql", "customer"];
const TIERS: [&str; 3] = ["ka", "mid", "smb"];
const TEXTS: [&str; 6] = ["深圳", "北京", "wechat", "Acme", "acme", "Acme Robotics"];
const FIELDS: [StandardField; 4] = [
    StandardField::City,
    StandardField::Source,
    StandardField::Company,
    StandardField::Title,
];
const ACCOUNT_FIELDS: [AccountField; 2] = [AccountField::Industry, AccountField::City];
const KEYS: [&str; 3] = ["plan", "budget", "trial"];
const TAGS: [&str; 3] = ["vip", "VIP", "lead"];
const APPS: [&str; 3] = ["wx1", "wx2", "wx10"];
/// Days before now of events and window bounds, shared so events often sit exactly on an edge.
const DAYS: [i64; 7] = [0, 1, 2, 3, 7, 10, 30];
/// Scores and thresholds, so that decayed scores land exactly on thresholds (40 halves to 20 in
/// 30 days with a 30-day half-life).
const SCORES: [f64; 8] = [-40.0, -20.0, 0.0, 5.0, 20.0, 40.0, 60.0, 80.0];

fn text() -> impl Strategy<Value = String> {
    prop::sample::select(&TEXTS[..]).prop_map(str::to_owned)
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        // NUL cannot be read by PostgreSQL's jsonb; U+FFFD is what it is read as there.
        prop::sample::select(
            &[
                "pro",
                "Pro",
                "basic",
                "10",
                "pro plan",
                "pr\u{0}o",
                "pro\u{FFFD}"
            ][..]
        )
        .prop_map(|s| json!(s)),
        prop::sample::select(&[-5.0, 0.0, 3.0, 10.0, 10.5, 100.0][..]).prop_map(|n| json!(n)),
        // 2⁵³ + 1 is not a 64-bit float: both evaluations must round it the same way.
        prop::sample::select(&[0_i64, 3, 10, 100, 9_007_199_254_740_993][..])
            .prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn json_object(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(keys), json_value()), 0..3).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>()
    })
}

#[derive(Debug, Clone)]
struct GenEvent {
    kind: &'static str,
    name: Option<&'static str>,
    occurred_at: i64,
    properties: Map<String, Value>,
}

#[derive(Debug, Clone)]
struct GenContact {
    merged: bool,
    fields: Vec<(StandardField, String)>,
    traits: Map<String, Value>,
    tags: BTreeSet<&'static str>,
    /// (kind, app) — the value is made unique per contact when stored.
    identities: BTreeSet<(IdentityKind, &'static str)>,
    account: Option<usize>,
    events: Vec<GenEvent>,
    /// (fit, engagement, days before now it was scored, half-life in days)
    score: Option<(f64, f64, i64, Option<i64>)>,
    /// Ids of saved segments the contact is stored as a member of.
    segments: BTreeSet<i64>,
    /// Lifecycle stage key.
    stage: Option<&'static str>,
    /// Tier in the `size` dimension, and how many contacts it referred.
    tier: Option<&'static str>,
    referrals: u32,
    /// (purpose, channel, granted)
    consents: BTreeSet<(&'static str, &'static str, bool)>,
}

#[derive(Debug, Clone)]
struct GenAccount {
    fields: Vec<(AccountField, String)>,
    traits: Map<String, Value>,
}

fn gen_event() -> impl Strategy<Value = GenEvent> {
    (
        prop::sample::select(&["page", "track"][..]),
        prop::sample::select(&[Some("Pricing"), Some("Demo"), None][..]),
        prop::sample::select(&DAYS[..]),
        prop::sample::select(&[0_i64, 0, -1, 1, 3_600_000][..]),
        json_object(&["plan", "seconds"]),
    )
        .prop_map(|(kind, name, days, nudge, properties)| GenEvent {
            kind,
            name,
            occurred_at: NOW - days * DAY_MS + nudge,
            properties,
        })
}

fn gen_contact() -> impl Strategy<Value = GenContact> {
    (
        prop::bool::weighted(0.1),
        prop::collection::vec((prop::sample::select(&FIELDS[..]), text()), 0..4),
        json_object(&KEYS),
        prop::collection::btree_set(prop::sample::select(&TAGS[..]), 0..3),
        prop::collection::btree_set(
            prop_oneof![
                Just((IdentityKind::Email, "")),
                Just((IdentityKind::Mobile, "")),
                prop::sample::select(&APPS[..]).prop_map(|a| (IdentityKind::WechatOpenid, a)),
            ],
            0..3,
        ),
        prop::option::of(0_usize..2),
        prop::collection::vec(gen_event(), 0..6),
        prop::option::of((
            prop::sample::select(&SCORES[..]),
            prop::sample::select(&SCORES[..]),
            prop::sample::select(&DAYS[..]),
            prop::sample::select(&[None, Some(30_i64), Some(7)][..]),
        )),
        prop::collection::btree_set(1_i64..3, 0..3),
        prop::option::of(prop::sample::select(&STAGES[..])),
        (
            prop::option::of(prop::sample::select(&TIERS[..])),
            0_u32..4,
            prop::collection::btree_set(
                (
                    prop::sample::select(&["marketing", "newsletter"][..]),
                    prop::sample::select(&["email", "sms"][..]),
                    any::<bool>(),
                ),
                0..3,
            ),
        ),
    )
        .prop_map(
            |(
                merged,
                fields,
                traits,
                tags,
                identities,
                account,
                events,
                score,
                segments,
                stage,
                (tier, referrals, consents),
            )| {
                GenContact {
                    merged,
                    fields,
                    traits,
                    tags,
                    identities,
                    account,
                    events,
                    score,
                    segments,
                    stage,
                    tier,
                    referrals,
                    consents,
                }
            },
        )
}

fn gen_account() -> impl Strategy<Value = GenAccount> {
    (
        prop::collection::vec((prop::sample::select(&ACCOUNT_FIELDS[..]), text()), 0..2),
        json_object(&["tier"]),
    )
        .prop_map(|(fields, traits)| GenAccount { fields, traits })
}

// ---- random filters, as JSON, so the parser is exercised too.

fn text_test() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"op": "exists"})),
        Just(json!({"op": "not_exists"})),
        text().prop_map(|v| json!({"op": "eq", "value": v})),
        text().prop_map(|v| json!({"op": "ne", "value": v})),
        prop::collection::vec(text(), 1..3).prop_map(|v| json!({"op": "in", "value": v})),
        prop::sample::select(&["Acme", "cme", "深", "wechat", "A"][..])
            .prop_map(|v| json!({"op": "contains", "value": v})),
        prop::sample::select(&["Acme", "acme", "深", "we", "Acme R"][..])
            .prop_map(|v| json!({"op": "starts_with", "value": v})),
    ]
}

fn json_test() -> impl Strategy<Value = Value> {
    // Filters cannot mention NUL or U+FFFD.
    let scalar = || {
        json_value().prop_filter("a value filters may hold", |v| {
            !v.is_null() && !v.as_str().is_some_and(|s| s.contains(['\0', '\u{FFFD}']))
        })
    };
    prop_oneof![
        Just(json!({"op": "exists"})),
        Just(json!({"op": "not_exists"})),
        scalar().prop_map(|v| json!({"op": "eq", "value": v})),
        scalar().prop_map(|v| json!({"op": "ne", "value": v})),
        prop::collection::vec(scalar(), 1..3).prop_map(|v| json!({"op": "in", "value": v})),
        prop::sample::select(&["pro", "ro", "10"][..])
            .prop_map(|v| json!({"op": "contains", "value": v})),
        prop::sample::select(&["pro", "Pro", "1"][..])
            .prop_map(|v| json!({"op": "starts_with", "value": v})),
        (
            prop::sample::select(&["lt", "lte", "gt", "gte"][..]),
            prop::sample::select(&[-1.0, 0.0, 3.0, 10.0, 10.5, 50.0, 9_007_199_254_740_992.0][..])
        )
            .prop_map(|(op, v)| json!({"op": op, "value": v})),
    ]
}

fn with(mut test: Value, key: &str, v: Value) -> Value {
    test.as_object_mut().unwrap().insert(key.into(), v);
    test
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        (prop::sample::select(&FIELDS[..]), text_test()).prop_map(|(f, t)| with(
            t,
            "field",
            json!(f.as_str())
        )),
        (prop::sample::select(&KEYS[..]), json_test()).prop_map(|(k, t)| with(
            t,
            "trait",
            json!(k)
        )),
        (prop::sample::select(&ACCOUNT_FIELDS[..]), text_test()).prop_map(|(f, t)| with(
            t,
            "account",
            json!(f.as_str())
        )),
        json_test().prop_map(|t| with(t, "account_trait", json!("tier"))),
        prop::sample::select(&TAGS[..]).prop_map(|t| json!({"tag": t})),
        prop_oneof![
            Just(json!({"identity": "email"})),
            Just(json!({"identity": "wechat_openid"})),
            prop::sample::select(&APPS[..])
                .prop_map(|a| json!({"identity": "wechat_openid", "app": a})),
        ],
        event_condition(),
        (
            prop::sample::select(&["fit", "engagement"][..]),
            prop::sample::select(&["lt", "lte", "gt", "gte"][..]),
            prop::sample::select(&SCORES[..]),
        )
            .prop_map(|(s, op, v)| json!({"score": s, "op": op, "value": v})),
        (1_i64..4).prop_map(|s| json!({"segment": format!("seg_{s}")})),
        prop_oneof![
            prop::sample::select(&STAGES[..]).prop_map(|s| json!({"stage": s})),
            prop::collection::vec(prop::sample::select(&STAGES[..]), 1..3)
                .prop_map(|s| json!({"stage": s})),
        ],
        prop_oneof![
            prop::sample::select(&TIERS[..]).prop_map(|t| json!({"tier": t, "dimension": "size"})),
            prop::collection::vec(prop::sample::select(&TIERS[..]), 1..3)
                .prop_map(|t| json!({"tier": t, "dimension": "size"})),
            Just(json!({"tier": "ka", "dimension": "value"})),
        ],
        (
            prop::sample::select(&["marketing", "newsletter"][..]),
            prop::option::of(prop::sample::select(&["email", "sms"][..])),
        )
            .prop_map(|(p, ch)| match ch {
                Some(c) => json!({"consent": p, "channel": c}),
                None => json!({"consent": p}),
            }),
        (0_u32..4, prop::option::of(0_u32..4)).prop_map(|(lo, hi)| match hi {
            Some(h) => json!({"referrals": {"at_least": lo.min(h), "at_most": h}}),
            None => json!({"referrals": {"at_least": lo}}),
        }),
    ]
}

fn event_condition() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(
            &[
                (Some("page"), Some("Pricing")),
                (Some("track"), None),
                (None, Some("Demo")),
                (Some("page"), None),
            ][..],
        ),
        prop::collection::vec(
            (prop::sample::select(&["plan", "seconds"][..]), json_test())
                .prop_map(|(k, t)| with(t, "property", json!(k))),
            0..2,
        ),
        0_u32..4,
        prop::option::of(0_u32..4),
        prop_oneof![
            Just(None),
            prop::sample::select(&DAYS[1..]).prop_map(|d| Some(json!({"within_days": d}))),
            prop::sample::select(&DAYS[..]).prop_map(|d| Some(json!({"since": NOW - d * DAY_MS}))),
        ],
    )
        .prop_map(|((kind, name), props, least, most, window)| {
            let mut o = Map::new();
            let mut ev = Map::new();
            if let Some(k) = kind {
                ev.insert("kind".into(), json!(k));
            }
            if let Some(n) = name {
                ev.insert("name".into(), json!(n));
            }
            o.insert("event".into(), Value::Object(ev));
            if !props.is_empty() {
                o.insert("where".into(), Value::Array(props));
            }
            match most {
                Some(m) => {
                    o.insert("at_least".into(), json!(least.min(m)));
                    o.insert("at_most".into(), json!(m));
                }
                None => {
                    o.insert("at_least".into(), json!(least));
                }
            }
            if let Some(Value::Object(w)) = window {
                o.extend(w);
            }
            Value::Object(o)
        })
}

fn filter() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"all": v})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"any": v})),
            inner.prop_map(|f| json!({"not": f})),
        ]
    })
}

// ---- storing a generated pool and building the snapshots the predicate sees.

/// The snapshot the in-process predicate sees for the `i`-th generated contact.
fn snapshot(c: &GenContact, i: usize, accounts: &[GenAccount]) -> ContactSnapshot {
    ContactSnapshot {
        // Later values of a field win, as when stored.
        fields: c.fields.iter().cloned().collect(),
        traits: c.traits.clone(),
        tags: c.tags.iter().map(|t| (*t).to_owned()).collect(),
        identities: c
            .identities
            .iter()
            .map(|(kind, app)| {
                let value = match kind {
                    IdentityKind::WechatOpenid => format!("{app}:o{i}"),
                    IdentityKind::Email => format!("p{i}@example.cn"),
                    _ => format!("+86138000000{i:02}"),
                };
                Identifier::new(*kind, value)
            })
            .collect(),
        account: c.account.map(|a| AccountSnapshot {
            fields: accounts[a].fields.iter().cloned().collect(),
            traits: accounts[a].traits.clone(),
        }),
        events: c
            .events
            .iter()
            .map(|e| EventRecord {
                kind: e.kind.into(),
                name: e.name.map(str::to_owned),
                occurred_at: e.occurred_at,
                properties: e.properties.clone(),
            })
            .collect(),
        scores: c.score.map_or(ScoreSnapshot::default(), score_snapshot),
        segments: c.segments.iter().map(|s| SegmentId(*s)).collect(),
        stage: c.stage.map(str::to_owned),
        stage_since: c.stage.map(|_| NOW),
        tiers: c
            .tier
            .map(|t| [("size".to_owned(), t.to_owned())].into())
            .unwrap_or_default(),
        referrals: c.referrals,
        // One answer per (purpose, channel): the stored row is the last one generated.
        consents: c
            .consents
            .iter()
            .map(|(p, ch, g)| (((*p).to_owned(), (*ch).to_owned()), *g))
            .collect(),
    }
}

fn score_snapshot(
    (fit, engagement, days, half_life): (f64, f64, i64, Option<i64>),
) -> ScoreSnapshot {
    ScoreSnapshot::of(
        &Scored {
            fit,
            engagement,
            at: NOW - days * DAY_MS,
            grade: Grade::D,
            reasons: vec![],
        },
        half_life.map(|d| d * DAY_MS),
    )
}

struct Stored {
    org: OrgId,
    /// (id, snapshot) of every live contact.
    live: Vec<(ContactId, ContactSnapshot)>,
}

async fn store_pool(
    store: &Store,
    n: usize,
    accounts: &[GenAccount],
    contacts: &[GenContact],
) -> Stored {
    let org = store
        .create_org(&format!("case {n}"), NOW)
        .await
        .unwrap()
        .id;
    let mut tx = store.begin().await.unwrap();
    let mut account_ids = Vec::new();
    for a in accounts {
        let get = |f: AccountField| {
            a.fields
                .iter()
                .rev()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.clone())
        };
        let id = exec(
            &mut tx,
            "INSERT INTO accounts (org_id, industry, city, traits, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            vec![
                A::I(org.0),
                A::OT(get(AccountField::Industry)),
                A::OT(get(AccountField::City)),
                A::T(Value::Object(a.traits.clone()).to_string()),
                A::I(NOW),
            ],
        )
        .await
        .unwrap();
        account_ids.push(id);
    }
    let mut tag_ids = std::collections::BTreeMap::new();
    for t in TAGS {
        let id = exec(
            &mut tx,
            "INSERT INTO tags (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
            vec![A::I(org.0), A::T(t.into()), A::I(NOW)],
        )
        .await
        .unwrap();
        tag_ids.insert(t, id);
    }
    let mut live = Vec::new();
    let mut first_live = None;
    for (i, c) in contacts.iter().enumerate() {
        let get = |f: StandardField| {
            c.fields
                .iter()
                .rev()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.clone())
        };
        let merged_into = if c.merged {
            first_live.or(Some(1))
        } else {
            None
        };
        let id = exec(
            &mut tx,
            "INSERT INTO contacts (org_id, merged_into, city, source, company, title, account_id, traits, created_at, updated_at, \
             stage, stage_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $9) RETURNING id",
            vec![
                A::I(org.0),
                A::OI(merged_into),
                A::OT(get(StandardField::City)),
                A::OT(get(StandardField::Source)),
                A::OT(get(StandardField::Company)),
                A::OT(get(StandardField::Title)),
                A::OI(c.account.map(|a| account_ids[a])),
                A::T(Value::Object(c.traits.clone()).to_string()),
                A::I(NOW),
                A::OT(c.stage.map(str::to_owned)),
            ],
        )
        .await
        .unwrap();
        if !c.merged && first_live.is_none() {
            first_live = Some(id);
        }
        let snap = snapshot(c, i, accounts);
        for t in &c.tags {
            exec(
                &mut tx,
                "INSERT INTO contact_tags (org_id, contact_id, tag_id, created_at) VALUES ($1, $2, $3, $4)",
                vec![A::I(org.0), A::I(id), A::I(tag_ids[t]), A::I(NOW)],
            )
            .await;
        }
        for ident in &snap.identities {
            exec(
                &mut tx,
                "INSERT INTO identities (org_id, kind, value, contact_id, origin, created_at) VALUES ($1, $2, $3, $4, 'api', $5)",
                vec![A::I(org.0), A::T(ident.kind.as_str().into()), A::T(ident.value.clone()), A::I(id), A::I(NOW)],
            )
            .await;
        }
        for (j, e) in c.events.iter().enumerate() {
            exec(
                &mut tx,
                "INSERT INTO events (org_id, contact_id, message_id, kind, name, occurred_at, received_at, properties, context) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, '{}')",
                vec![
                    A::I(org.0),
                    A::I(id),
                    A::T(format!("m{i}-{j}")),
                    A::T(e.kind.into()),
                    A::OT(e.name.map(str::to_owned)),
                    A::I(e.occurred_at),
                    A::T(Value::Object(e.properties.clone()).to_string()),
                ],
            )
            .await;
        }
        if let Some(t) = c.tier {
            exec(
                &mut tx,
                "INSERT INTO contact_tiers (org_id, contact_id, dimension, tier, since) VALUES ($1, $2, 'size', $3, $4)",
                vec![A::I(org.0), A::I(id), A::T(t.into()), A::I(NOW)],
            )
            .await;
        }
        for (p, ch, g) in &c.consents {
            exec(
                &mut tx,
                "INSERT INTO consents (org_id, contact_id, purpose, channel, granted, source, at) VALUES ($1, $2, $3, $4, $5, 'test', $6) \
                 ON CONFLICT (org_id, contact_id, purpose, channel) DO UPDATE SET granted = excluded.granted",
                vec![A::I(org.0), A::I(id), A::T((*p).into()), A::T((*ch).into()), A::I(i64::from(*g)), A::I(NOW)],
            )
            .await;
        }
        for k in 0..c.referrals {
            exec(
                &mut tx,
                "INSERT INTO referrals (org_id, referred_id, referrer_id, created_at) VALUES ($1, $2, $3, $4)",
                vec![A::I(org.0), A::I(1_000_000 + id * 10 + i64::from(k)), A::I(id), A::I(NOW)],
            )
            .await;
        }
        for seg in &c.segments {
            exec(
                &mut tx,
                "INSERT INTO segment_members (org_id, segment_id, contact_id, entered_at) VALUES ($1, $2, $3, $4)",
                vec![A::I(org.0), A::I(*seg), A::I(id), A::I(NOW)],
            )
            .await;
        }
        if let Some(s) = c.score {
            let ss = score_snapshot(s);
            exec(
                &mut tx,
                "INSERT INTO contact_scores (org_id, contact_id, fit, engagement, engagement_sign, engagement_log, \
                 half_life_ms, grade, reasons, scored_at, model_version) VALUES ($1, $2, $3, $4, $5, $6, $7, 'D', '[]', $8, 1)",
                vec![
                    A::I(org.0),
                    A::I(id),
                    A::F(s.0),
                    A::F(s.1),
                    A::I(i64::from(ss.engagement_sign)),
                    A::F(ss.engagement_log),
                    A::OI(ss.half_life_ms),
                    A::I(NOW - s.2 * DAY_MS),
                ],
            )
            .await;
        }
        if !c.merged {
            live.push((ContactId(id), snap));
        }
    }
    tx.commit().await.unwrap();
    Stored { org, live }
}

#[test]
fn sql_and_in_process_evaluation_select_the_same_contacts() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(TestDb::new());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(gen_account(), 2),
        prop::collection::vec(gen_contact(), 1..14),
        prop::collection::vec(filter(), 6),
    );
    let case = std::cell::Cell::new(0);
    // Filters that selected some but not all live contacts: the comparison must not be vacuous.
    let discriminating = std::cell::Cell::new(0_u32);
    // Contacts given a timer: the timer comparison must not be vacuous either.
    let timed = std::cell::Cell::new(0_u32);
    let result = runner.run(&strategy, |(accounts, contacts, filters)| {
        case.set(case.get() + 1);
        rt.block_on(async {
            let stored = store_pool(&db.store, case.get(), &accounts, &contacts).await;
            // The same contacts as the store loads them for the in-process evaluator.
            let mut loaded = Vec::new();
            for (id, _) in &stored.live {
                let snap = db
                    .store
                    .contact_snapshot(stored.org, *id, Some(i64::MIN))
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                loaded.push(snap);
            }
            for json in &filters {
                let f = Filter::parse(json)
                    .map_err(|e| TestCaseError::fail(format!("generated filter refused: {e}")))?;
                prop_assert_eq!(&Filter::parse(&f.to_json()).unwrap(), &f, "round trip");
                let expected: Vec<ContactId> = stored
                    .live
                    .iter()
                    .filter(|(_, s)| f.matches(s, NOW))
                    .map(|(id, _)| *id)
                    .collect();
                let got = db
                    .store
                    .segment_contact_ids(stored.org, &f, NOW)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{e} for {json}")))?;
                if !expected.is_empty() && expected.len() < stored.live.len() {
                    discriminating.set(discriminating.get() + 1);
                }
                prop_assert_eq!(&got, &expected, "filter {}", json);
                // Loaded with only the events the filter's dependencies ask for, the snapshots
                // give the same answer.
                let since = f.dependencies().events_needed_since(NOW);
                let from_store: Vec<ContactId> = stored
                    .live
                    .iter()
                    .zip(&loaded)
                    .filter(|(_, snap)| {
                        let mut snap = (*snap).clone();
                        snap.events
                            .retain(|e| since.is_some_and(|s| e.occurred_at >= s));
                        f.matches(&snap, NOW)
                    })
                    .map(|((id, _), _)| *id)
                    .collect();
                prop_assert_eq!(&from_store, &expected, "loaded snapshots, filter {}", json);
                // The timers a materialisation sets by query are the instants the in-process
                // evaluation would set.
                let timers = db
                    .store
                    .first_timers(stored.org, &f, NOW)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{e} for {json}")))?;
                timed.set(timed.get() + timers.len() as u32);
                for (id, s) in &stored.live {
                    prop_assert_eq!(
                        timers.get(&id.0).copied(),
                        f.next_change_at(s, NOW),
                        "timer of contact {} for filter {}",
                        id.0,
                        json
                    );
                }
                let count = db.store.segment_count(stored.org, &f, NOW).await.unwrap();
                prop_assert_eq!(
                    count as usize,
                    stored
                        .live
                        .iter()
                        .filter(|(_, s)| f.matches(s, NOW))
                        .count()
                );
            }
            Ok(())
        })
    });
    rt.block_on(db.drop_database());
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        discriminating.get() >= cases,
        "only {} of {} filters told contacts apart; the generators need more overlap",
        discriminating.get(),
        cases * 6
    );
    assert!(
        timed.get() >= cases / 4,
        "only {} timers in {} cases; the generators need more rolling windows",
        timed.get(),
        cases
    );
    eprintln!(
        "{} of {} filters told contacts apart",
        discriminating.get(),
        cases * 6
    );
}

#[test]
fn segments_are_saved_listed_changed_and_deleted_per_organisation() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        let s = &db.store;
        let org = s.create_org("a", NOW).await.unwrap().id;
        let other = s.create_org("b", NOW).await.unwrap().id;
        let vip = Filter::parse(&json!({"tag": "vip"})).unwrap();
        let seg = s
            .create_segment(org, "VIPs", Some("tagged vip"), &vip, NOW)
            .await
            .unwrap();
        assert_eq!(seg.parsed_filter().unwrap(), vip);
        assert_eq!(seg.filter, json!({"tag": "vip"}));
        let dup = s.create_segment(org, "VIPs", None, &vip, NOW).await;
        assert!(
            matches!(dup, Err(hatchery_store::StoreError::Conflict(_))),
            "{dup:?}"
        );
        s.create_segment(other, "VIPs", None, &vip, NOW)
            .await
            .unwrap();
        assert!(
            s.get_segment(other, seg.id).await.is_err(),
            "other organisation"
        );

        let pricing =
            Filter::parse(&json!({"event": {"name": "Pricing"}, "within_days": 7})).unwrap();
        let changed = s
            .update_segment(
                org,
                seg.id,
                &hatchery_store::segments::SegmentChange {
                    filter: Some(pricing.clone()),
                    description: Some(None),
                    ..Default::default()
                },
                NOW + 1,
            )
            .await
            .unwrap();
        assert_eq!(changed.name, "VIPs");
        assert_eq!(changed.description, None);
        assert_eq!(changed.parsed_filter().unwrap(), pricing);
        assert_eq!(changed.updated_at, NOW + 1);

        s.create_segment(org, "Second", None, &vip, NOW)
            .await
            .unwrap();
        let (page, more) = s.list_segments(org, None, 1).await.unwrap();
        assert_eq!(page[0].name, "Second");
        assert!(more);
        let (rest, more) = s.list_segments(org, Some(page[0].id), 1).await.unwrap();
        assert_eq!(rest[0].name, "VIPs");
        assert!(!more);

        s.delete_segment(org, seg.id).await.unwrap();
        assert!(matches!(
            s.delete_segment(org, seg.id).await,
            Err(hatchery_store::StoreError::NotFound(_))
        ));
        db.drop_database().await;
    });
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    /// `next_change_at` is never late: at every instant where an event can leave a window (and
    /// either side of it) before the promised instant, the answer is still the one at `now`.
    /// Pure, so it shares the generators but needs no database.
    #[test]
    fn the_answer_does_not_change_before_next_change_at(
        contact in gen_contact(),
        accounts in prop::collection::vec(gen_account(), 2),
        json in filter(),
    ) {
        let f = Filter::parse(&json).unwrap();
        let snap = snapshot(&contact, 0, &accounts);
        let answer = f.matches(&snap, NOW);
        let until = f.next_change_at(&snap, NOW);
        prop_assert!(until.is_none_or(|t| t > NOW));
        let until = until.unwrap_or(i64::MAX);
        for e in &snap.events {
            for d in &DAYS[1..] {
                let leaves = e.occurred_at + d * DAY_MS + 1;
                for u in [leaves - 1, leaves, leaves + 1] {
                    if u > NOW && u < until {
                        prop_assert_eq!(f.matches(&snap, u), answer, "at {} for {}", u - NOW, json);
                    }
                }
            }
        }
        if until > NOW + 1 {
            prop_assert_eq!(f.matches(&snap, NOW + 1), answer);
        }
    }
}

#[test]
fn the_largest_filter_the_limits_allow_runs_on_the_database() {
    use hatchery_domain::segment::limits::{MAX_CONDITIONS, MAX_DEPTH, MAX_IN_VALUES, MAX_WHERE};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        let org = db.store.create_org("big", NOW).await.unwrap().id;
        // Every value distinct, so none can share a parameter.
        let n = std::cell::Cell::new(0);
        let values = || -> Vec<Value> {
            (0..MAX_IN_VALUES)
                .map(|_| {
                    n.set(n.get() + 1);
                    json!(format!("v{}", n.get()))
                })
                .collect()
        };
        let tests = || -> Vec<Value> {
            (0..MAX_WHERE)
                .map(|_| json!({"property": "plan", "op": "in", "value": values()}))
                .collect()
        };
        // Event conditions with full `where` lists, then trait `in` lists, up to the limit.
        let per_event = 1 + MAX_WHERE;
        let events = MAX_CONDITIONS / per_event / 2;
        let mut leaves: Vec<Value> = (0..events)
            .map(|_| json!({"event": {"kind": "page"}, "where": tests(), "within_days": 7}))
            .collect();
        while leaves.len() - events + events * per_event < MAX_CONDITIONS {
            leaves.push(json!({"trait": "plan", "op": "in", "value": values()}));
        }
        let mut node = json!({"any": leaves});
        for _ in 0..MAX_DEPTH - 2 {
            node = json!({"not": node});
        }
        let f = Filter::parse(&node).expect("within the limits");
        assert_eq!(f.condition_count(), MAX_CONDITIONS);
        assert_eq!(f.depth(), MAX_DEPTH);
        assert_eq!(db.store.segment_count(org, &f, NOW).await.unwrap(), 0);
        db.drop_database().await;
    });
}

#[test]
fn a_claim_with_nothing_due_does_not_wait_for_the_writer() {
    use hatchery_store::jobs::JobKind::EvaluateContact;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        let s = &db.store;
        let org = s.create_org("a", NOW).await.unwrap().id;
        s.enqueue_jobs(org, EvaluateContact, &[1, 2], NOW + 60_000)
            .await
            .unwrap();
        // A long write transaction is open (on SQLite it holds the one write lock): an idle
        // worker's claim finds nothing due without waiting for it.
        let open = s.begin().await.unwrap();
        let claimed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            s.claim_jobs(EvaluateContact, NOW, 1_000, 10),
        )
        .await
        .expect("the claim waited for the open write transaction")
        .unwrap();
        assert!(claimed.is_empty());
        open.rollback().await.unwrap();
        // Once due, the same claim takes them.
        let claimed = s
            .claim_jobs(EvaluateContact, NOW + 60_000, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        db.drop_database().await;
    });
}

#[test]
fn due_work_is_found_by_kind_among_timers_and_leases() {
    use hatchery_store::jobs::JobKind::{EvaluateContact, MaterialiseSegment};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = TestDb::new().await;
        let s = &db.store;
        let org = s.create_org("a", NOW).await.unwrap().id;
        // Timers of one kind, all in the future: nothing of either kind is due.
        let timers: Vec<i64> = (1..=300).collect();
        s.enqueue_jobs(org, EvaluateContact, &timers, NOW + 60_000)
            .await
            .unwrap();
        assert!(!s.job_due(MaterialiseSegment, NOW).await.unwrap());
        assert!(!s.job_due(EvaluateContact, NOW).await.unwrap());
        assert_eq!(s.due_jobs(org, NOW).await.unwrap(), 0);
        // A segment waiting now is found, and not once it is leased to a worker.
        s.enqueue_jobs(org, MaterialiseSegment, &[7], NOW)
            .await
            .unwrap();
        assert!(s.job_due(MaterialiseSegment, NOW).await.unwrap());
        assert!(!s.job_due(EvaluateContact, NOW).await.unwrap());
        let claimed = s
            .claim_jobs(MaterialiseSegment, NOW, 1_000, 4)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(!s.job_due(MaterialiseSegment, NOW).await.unwrap());
        // Leased work still counts as due for the organisation until it is done; so do the
        // timers once their time has come.
        assert_eq!(s.due_jobs(org, NOW).await.unwrap(), 1);
        assert_eq!(s.due_jobs(org, NOW + 60_000).await.unwrap(), 301);
        assert!(s.job_due(EvaluateContact, NOW + 60_000).await.unwrap());
        db.drop_database().await;
    });
}
