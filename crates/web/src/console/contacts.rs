//! The contact list (search, source and tag filters, keyset paging) and the contact 360° page
//! (profile, identities, custom fields, tags, account, merges, timeline by day).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use hatchery_domain::access::ContactScope;
use hatchery_domain::{ContactId, Permission};
use hatchery_store::contacts::{ContactFilter, ListOrder, VisibleTo};
use hatchery_store::events::TimelineCursor;
use serde::Deserialize;
use serde_json::Value;

use super::i18n::EVENT_KINDS;
use super::page::{render, Chrome, PageError};
use super::session::Viewer;
use super::urlencode;
use crate::AppState;

const PAGE_SIZE: u32 = 50;
const TIMELINE_PAGE: u32 = 100;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    source: Option<String>,
    tag: Option<String>,
    stage: Option<String>,
    bu: Option<String>,
    owner: Option<String>,
    /// `oldest` or `name`; newest first when absent.
    sort: Option<String>,
    cursor: Option<String>,
}

struct Row {
    id: String,
    href: String,
    name: String,
    company: String,
    title: String,
    email: String,
    mobile: String,
    source: String,
    created: String,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    source: String,
    tag: String,
    tags: Vec<String>,
    stage: String,
    /// (key, name) of the lifecycle stages, when stages are on.
    stages: Vec<(String, String)>,
    bu: String,
    /// (id, name) of the business units.
    bus: Vec<(String, String)>,
    owner: String,
    /// (id, name) of the users who may own contacts.
    owners: Vec<(String, String)>,
    /// `newest`, `oldest` or `name`.
    sort: &'static str,
    /// May tag contacts in bulk, with the form's token and the page to return to.
    writer: bool,
    csrf: String,
    here: String,
    /// The list with the filters and without a sort or cursor, ending in `?` or `&`.
    sort_base: String,
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
    filtered: bool,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn or_dash(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The filter limiting a user to what they may see, or `Forbidden` when they may see nothing.
pub(crate) fn visibility(v: &Viewer) -> Result<Option<VisibleTo>, PageError> {
    match v.access.contact_scope(Permission::ContactsRead) {
        ContactScope::All => Ok(None),
        ContactScope::Limited { bus, owner } => Ok(Some(VisibleTo { bus, owner })),
        ContactScope::Nothing => Err(PageError::Forbidden(v.lang, "error.forbidden.body")),
    }
}

pub async fn list(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let local = v.local();
    let org = v.org();
    let visible_to = visibility(&v)?;
    let store_err = |e| PageError::from_store(e, lang);
    let search = nonempty(&q.q);
    if search.as_ref().is_some_and(|x| x.chars().count() > 100) {
        return Err(PageError::BadRequest(
            lang,
            format!("{}: q ≤ 100", lang.t("contacts.search")),
        ));
    }
    let source = nonempty(&q.source);
    let tag = nonempty(&q.tag);
    let stage = nonempty(&q.stage);
    let bu = nonempty(&q.bu);
    let owner = nonempty(&q.owner);
    let bad = |what: &str, e: hatchery_domain::ids::BadId| {
        PageError::BadRequest(lang, format!("{what}: {e}"))
    };
    let bu_id = bu
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| bad(lang.t("contact.business_unit"), e))?;
    let owner_id = owner
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| bad(lang.t("contact.owner"), e))?;
    let bus: Vec<(String, String)> = s
        .store
        .list_business_units(org)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|b| (b.id.to_string(), b.name))
        .collect();
    let owners: Vec<(String, String)> = s
        .store
        .list_users(org)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|u| (u.id.to_string(), u.name))
        .collect();
    let stages: Vec<(String, String)> = s
        .store
        .lifecycle(org)
        .await
        .map_err(store_err)?
        .map(|l| {
            l.model
                .stages
                .iter()
                .map(|st| (st.key.clone(), super::lifecycle::stage_name(st, lang)))
                .collect()
        })
        .unwrap_or_default();
    let order = match nonempty(&q.sort).as_deref() {
        None | Some("newest") => None,
        Some(o) => Some(ListOrder::parse(o).ok_or_else(|| {
            PageError::BadRequest(lang, format!("{}: {o}", lang.t("contacts.sort")))
        })?),
    };
    // A search is ranked newest first.
    let order = order.filter(|_| search.is_none());
    let before = match nonempty(&q.cursor).filter(|_| order.is_none()) {
        Some(c) => Some(
            c.parse::<ContactId>()
                .map_err(|e| PageError::BadRequest(lang, e.to_string()))?,
        ),
        None => None,
    };
    let tags = s.store.tag_names(org).await.map_err(store_err)?;
    let tag_id = match &tag {
        Some(name) => s
            .store
            .tag_by_name(org, name)
            .await
            .map_err(store_err)?
            .map(|t| t.id),
        None => None,
    };
    let mut sorted_next: Option<String> = None;
    let (contacts, more) = if tag.is_some() && tag_id.is_none() {
        (vec![], false)
    } else if let Some(order) = order {
        let filter = ContactFilter {
            source: source.clone(),
            tag_id,
            stage: stage.clone(),
            bu: bu_id,
            owner: owner_id,
            limit: PAGE_SIZE,
            visible_to,
            ..ContactFilter::default()
        };
        let (rows, next) = s
            .store
            .list_contacts_sorted(org, &filter, order, nonempty(&q.cursor).as_deref())
            .await
            .map_err(|e| match e {
                hatchery_store::StoreError::Conflict(_) => {
                    PageError::BadRequest(lang, lang.t("error.bad_request.title").to_owned())
                }
                other => store_err(other),
            })?;
        sorted_next = next;
        let more = sorted_next.is_some();
        (rows, more)
    } else {
        let filter = ContactFilter {
            q: search.clone(),
            source: source.clone(),
            tag_id,
            stage: stage.clone(),
            bu: bu_id,
            owner: owner_id,
            before,
            limit: PAGE_SIZE,
            visible_to,
            ..ContactFilter::default()
        };
        s.store
            .list_contacts(org, &filter)
            .await
            .map_err(store_err)?
    };
    let mut base = String::from("/contacts?");
    for (k, val) in [
        ("q", &search),
        ("source", &source),
        ("tag", &tag),
        ("stage", &stage),
        ("bu", &bu),
        ("owner", &owner),
    ] {
        if let Some(x) = val {
            base.push_str(&format!("{k}={}&", urlencode(x)));
        }
    }
    let sort_base = base.clone();
    let sort = match order {
        None => "newest",
        Some(ListOrder::Oldest) => "oldest",
        Some(ListOrder::Name) => "name",
    };
    if order.is_some() {
        base.push_str(&format!("sort={sort}&"));
    }
    let next_href = match &sorted_next {
        Some(c) => Some(format!("{base}cursor={}", urlencode(c))),
        None => more
            .then(|| contacts.last().map(|c| format!("{base}cursor={}", c.id)))
            .flatten(),
    };
    let first_href = (before.is_some() || (order.is_some() && nonempty(&q.cursor).is_some()))
        .then(|| base.trim_end_matches(['&', '?']).to_owned());
    let rows = contacts
        .into_iter()
        .map(|c| Row {
            id: c.id.0.to_string(),
            href: format!("/contacts/{}", c.id),
            name: c
                .name
                .clone()
                .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
            company: or_dash(&c.company),
            title: or_dash(&c.title),
            email: or_dash(&c.email),
            mobile: or_dash(&c.mobile),
            source: or_dash(&c.source),
            created: local.datetime(c.created_at),
        })
        .collect();
    let here = base.trim_end_matches(['&', '?']).to_owned();
    let page = ListPage {
        chrome: Chrome::signed_in(&v, "contacts", &here),
        filtered: search.is_some()
            || source.is_some()
            || tag.is_some()
            || stage.is_some()
            || bu.is_some()
            || owner.is_some(),
        q: search.unwrap_or_default(),
        source: source.unwrap_or_default(),
        tag: tag.unwrap_or_default(),
        tags,
        stage: stage.unwrap_or_default(),
        stages,
        bu: bu.unwrap_or_default(),
        bus,
        owner: owner.unwrap_or_default(),
        owners,
        sort,
        sort_base,
        writer: v.access.may(Permission::ContactsWrite),
        csrf: v.session.csrf_token.clone(),
        here: here.clone(),
        rows,
        next_href,
        first_href,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct ShowQuery {
    kind: Option<String>,
    cursor: Option<String>,
}

struct Field {
    label: &'static str,
    value: String,
}

struct IdentityRow {
    kind: String,
    value: String,
    origin: String,
    since: String,
}

struct MergeRow {
    merged: String,
    linked_by: String,
    cause: String,
    at: String,
}

struct EventRow {
    time: String,
    kind: String,
    name: String,
    detail: String,
}

struct Day {
    heading: String,
    events: Vec<EventRow>,
}

struct KindLink {
    label: String,
    href: String,
    current: bool,
}

struct AccountView {
    name: String,
    domain: String,
    industry: String,
}

struct ScoreView {
    fit: String,
    engagement: String,
    grade: &'static str,
    /// (rule, points)
    reasons: Vec<(String, String)>,
    /// Thresholds crossed, newest first: (when, score label, ↑/↓ threshold, value then).
    history: Vec<(String, &'static str, String, String)>,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    name: String,
    subtitle: String,
    fields: Vec<Field>,
    traits: Vec<(String, String)>,
    /// (name, category label; empty when none)
    tags: Vec<(String, String)>,
    /// (segment name, entered at, localised)
    segments: Vec<(String, String)>,
    score: Option<ScoreView>,
    stage: Option<super::lifecycle::StageView>,
    /// (purpose, channel, granted, source, when)
    consents: Vec<(String, String, bool, String, String)>,
    /// (dimension, tier, since) and the referral count, when tiers are on.
    tiers: Option<(Vec<(String, String, String)>, u32)>,
    /// When the profile last changed: relative (`3 天前`) and in full.
    changed_ago: String,
    changed_at: String,
    /// The contact's id and the session's form token, for the stage form.
    id: String,
    csrf: String,
    account: Option<AccountView>,
    identities: Vec<IdentityRow>,
    merges: Vec<MergeRow>,
    kinds: Vec<KindLink>,
    days: Vec<Day>,
    older_href: Option<String>,
    newest_href: Option<String>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub async fn show(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let local = v.local();
    let org = v.org();
    let store_err = |e| PageError::from_store(e, lang);
    let id: ContactId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| PageError::BadRequest(lang, e.to_string()))?;
    let contact = s.store.get_contact(org, id).await.map_err(store_err)?;
    let placement = s
        .store
        .contact_placement(org, contact.id)
        .await
        .map_err(store_err)?;
    if !v.access.may_on_contact(Permission::ContactsRead, placement) {
        tracing::info!(
            org.id = org.0,
            user.id = v.user.id.0,
            contact.id = contact.id.0,
            "contact refused: outside the user's business units"
        );
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let kind = nonempty(&q.kind);
    if let Some(k) = &kind {
        if !EVENT_KINDS.contains(&k.as_str()) {
            return Err(PageError::BadRequest(
                lang,
                format!("{}: {k}", lang.t("contact.filter_kind")),
            ));
        }
    }
    let before = match nonempty(&q.cursor) {
        Some(c) => Some(TimelineCursor::decode(&c).ok_or_else(|| {
            PageError::BadRequest(lang, lang.t("error.bad_request.title").to_owned())
        })?),
        None => None,
    };
    let tags = s
        .store
        .contact_tags_by_category(org, contact.id)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|(category, name)| {
            let label = category
                .as_deref()
                .map_or_else(String::new, |c| super::tags::category_label(Some(c), lang));
            (name, label)
        })
        .collect();
    let segments = s
        .store
        .contact_segments(org, contact.id)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|m| (m.name, local.datetime(m.entered_at)))
        .collect();
    let (crossed, _) = s
        .store
        .timeline(org, contact.id, Some("score.crossed"), None, 20)
        .await
        .map_err(store_err)?;
    let history: Vec<(String, &'static str, String, String)> = crossed
        .into_iter()
        .map(|e| {
            let p = &e.properties;
            let label = if p.get("score").and_then(Value::as_str) == Some("fit") {
                lang.t("contact.fit")
            } else {
                lang.t("contact.engagement")
            };
            let arrow = if p.get("direction").and_then(Value::as_str) == Some("up") {
                "↑"
            } else {
                "↓"
            };
            let num = |k: &str| {
                p.get(k)
                    .and_then(Value::as_f64)
                    .map_or_else(String::new, |x| lang.decimal(x))
            };
            (
                local.datetime(e.occurred_at),
                label,
                format!("{arrow} {}", num("threshold")),
                num("value"),
            )
        })
        .collect();
    let score = s
        .store
        .contact_score(org, contact.id, s.now())
        .await
        .map_err(store_err)?
        .map(|sc| ScoreView {
            history,
            fit: lang.decimal(sc.fit),
            engagement: lang.decimal(sc.engagement),
            grade: sc.grade.as_str(),
            reasons: sc
                .reasons
                .into_iter()
                .map(|r| {
                    let sign = if r.points >= 0.0 { "+" } else { "" };
                    (r.rule, format!("{sign}{}", lang.decimal(r.points)))
                })
                .collect(),
        });
    let stage = super::lifecycle::contact_stage(
        &s,
        &v,
        contact.id,
        contact.stage.as_deref(),
        contact.stage_at,
        v.access
            .may_on_contact(Permission::ContactsWrite, placement),
    )
    .await?;
    let tiers = super::tiers::contact_tiers(&s, &v, contact.id).await?;
    let consents = s
        .store
        .contact_consents(org, contact.id)
        .await
        .map_err(store_err)?
        .into_iter()
        .map(|k| {
            (
                k.purpose,
                k.channel,
                k.granted,
                k.source,
                local.datetime(k.at),
            )
        })
        .collect();
    let identities = s
        .store
        .contact_identities(org, contact.id)
        .await
        .map_err(store_err)?;
    let merges = s
        .store
        .contact_merges(org, contact.id)
        .await
        .map_err(store_err)?;
    let account = match contact.account_id {
        Some(a) => match s.store.get_account(org, a).await {
            Ok(a) => Some(AccountView {
                name: a.name.unwrap_or_else(|| a.id.to_string()),
                domain: a.domain.unwrap_or_default(),
                industry: a.industry.unwrap_or_default(),
            }),
            Err(hatchery_store::StoreError::NotFound(_)) => None,
            Err(e) => return Err(store_err(e)),
        },
        None => None,
    };
    let (events, next) = s
        .store
        .timeline(org, contact.id, kind.as_deref(), before, TIMELINE_PAGE)
        .await
        .map_err(store_err)?;
    let bu_name = match placement.bu {
        Some(bu) => match s.store.get_business_unit(org, bu).await {
            Ok(b) => b.name,
            Err(_) => bu.to_string(),
        },
        None => String::new(),
    };
    let owner_name = match placement.owner {
        Some(u) => match s.store.get_user(org, u).await {
            Ok(u) => u.name,
            Err(_) => u.to_string(),
        },
        None => String::new(),
    };

    let base = format!("/contacts/{}", contact.id);
    let kind_q = kind
        .as_ref()
        .map(|k| format!("kind={}&", urlencode(k)))
        .unwrap_or_default();
    let mut kinds = vec![KindLink {
        label: lang.t("contact.all_kinds").to_owned(),
        href: base.clone(),
        current: kind.is_none(),
    }];
    kinds.extend(EVENT_KINDS.iter().map(|k| KindLink {
        label: lang.event_kind(k),
        href: format!("{base}?kind={k}"),
        current: kind.as_deref() == Some(*k),
    }));
    let mut days: Vec<Day> = vec![];
    let mut current_day = None;
    for e in events {
        let key = local.day_key(e.occurred_at);
        if current_day != Some(key) {
            current_day = Some(key);
            days.push(Day {
                heading: local.day(e.occurred_at),
                events: vec![],
            });
        }
        let mut detail = vec![];
        for x in [&e.channel, &e.utm_source, &e.utm_campaign]
            .into_iter()
            .flatten()
        {
            detail.push(x.clone());
        }
        if let Some(url) = e.properties.get("url").and_then(Value::as_str) {
            detail.push(url.to_owned());
        }
        days.last_mut()
            .expect("pushed above")
            .events
            .push(EventRow {
                time: local.time(e.occurred_at),
                kind: lang.event_kind(&e.kind),
                name: e.name.unwrap_or_default(),
                detail: detail.join(" · "),
            });
    }
    let region = [&contact.province, &contact.city]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let field = |label, value: &Option<String>| Field {
        label,
        value: or_dash(value),
    };
    let fields = vec![
        field("field.email", &contact.email),
        field("contact.mobile", &contact.mobile),
        field("contact.landline", &contact.landline),
        field("contacts.company", &contact.company),
        field("contacts.title_col", &contact.title),
        field("contact.department", &contact.department),
        field("contact.industry", &contact.industry),
        field("contact.company_size", &contact.company_size),
        Field {
            label: "contact.region",
            value: region,
        },
        field("contacts.source", &contact.source),
        Field {
            label: "contact.business_unit",
            value: bu_name,
        },
        Field {
            label: "contact.owner",
            value: owner_name,
        },
        Field {
            label: "contacts.created",
            value: local.datetime(contact.created_at),
        },
        Field {
            label: "contact.updated",
            value: local.datetime(contact.updated_at),
        },
    ];
    let subtitle = [&contact.title, &contact.company]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" · ");
    let page = ContactPage {
        chrome: Chrome::signed_in(&v, "contacts", &base),
        name: contact
            .name
            .clone()
            .unwrap_or_else(|| lang.t("contacts.unnamed").to_owned()),
        subtitle,
        fields,
        traits: contact
            .traits
            .iter()
            .map(|(k, val)| (k.clone(), value_text(val)))
            .collect(),
        tags,
        segments,
        score,
        stage,
        tiers,
        consents,
        changed_ago: local.relative(contact.updated_at, s.now()),
        changed_at: local.datetime(contact.updated_at),
        id: contact.id.to_string(),
        csrf: v.session.csrf_token.clone(),
        account,
        identities: identities
            .into_iter()
            .map(|i| IdentityRow {
                kind: lang.identity_kind(i.kind.as_str()),
                value: i.value,
                origin: i.origin,
                since: local.datetime(i.created_at),
            })
            .collect(),
        merges: merges
            .into_iter()
            .map(|m| MergeRow {
                merged: m.merged_id.to_string(),
                linked_by: m
                    .linked_by
                    .iter()
                    .map(|i| format!("{}: {}", lang.identity_kind(i.kind.as_str()), i.value))
                    .collect::<Vec<_>>()
                    .join(", "),
                cause: m.cause,
                at: local.datetime(m.created_at),
            })
            .collect(),
        kinds,
        days,
        older_href: next.map(|c| format!("{base}?{kind_q}cursor={}", c.encode())),
        newest_href: before.map(|_| {
            format!("{base}?{kind_q}")
                .trim_end_matches(['&', '?'])
                .to_owned()
        }),
    };
    Ok(render(&page)?.into_response())
}

/// Most contacts one bulk change may name (a page shows 50).
const MAX_BULK: usize = 200;

/// Adds a tag to, or removes it from, the contacts ticked on a list page (fields `c_<id>`). Every
/// contact must be one the user may change; otherwise nothing is written.
pub async fn bulk_tag(
    State(s): State<AppState>,
    super::session::SignedForm { viewer: v, fields }: super::session::SignedForm<
        std::collections::HashMap<String, String>,
    >,
) -> Result<Response, PageError> {
    let lang = v.lang;
    let org = v.org();
    if !v.access.may(Permission::ContactsWrite) {
        return Err(PageError::Forbidden(lang, "error.forbidden.body"));
    }
    let tag = fields.get("tag").map(|t| t.trim()).unwrap_or_default();
    crate::api::tags::check_tag_name(tag).map_err(|m| {
        PageError::BadRequest(lang, format!("{}: {m}", lang.t("contacts.bulk_tag")))
    })?;
    let on = match fields.get("action").map(String::as_str) {
        Some("add") => true,
        Some("remove") => false,
        _ => {
            return Err(PageError::BadRequest(
                lang,
                lang.t("error.bad_request.title").to_owned(),
            ))
        }
    };
    let mut ids: Vec<ContactId> = Vec::new();
    for k in fields.keys().filter_map(|k| k.strip_prefix("c_")) {
        let id = k.parse::<i64>().map_err(|_| {
            PageError::BadRequest(lang, lang.t("error.bad_request.title").to_owned())
        })?;
        ids.push(ContactId(id));
    }
    if ids.is_empty() {
        return Err(PageError::BadRequest(
            lang,
            lang.t("contacts.bulk_none").to_owned(),
        ));
    }
    if ids.len() > MAX_BULK {
        return Err(PageError::BadRequest(
            lang,
            format!("{} ≤ {MAX_BULK}", lang.t("contacts.select")),
        ));
    }
    let store_err = |e| PageError::from_store(e, lang);
    for id in &ids {
        let placement = s
            .store
            .contact_placement(org, *id)
            .await
            .map_err(store_err)?;
        if !v
            .access
            .may_on_contact(Permission::ContactsWrite, placement)
        {
            tracing::info!(
                org.id = org.0,
                user.id = v.user.id.0,
                contact.id = id.0,
                "bulk tag refused: contact outside the user's units"
            );
            return Err(PageError::Forbidden(lang, "error.forbidden.body"));
        }
    }
    let tag_id = if on {
        Some(
            s.store
                .ensure_tag(org, tag, None, s.now())
                .await
                .map_err(store_err)?
                .id,
        )
    } else {
        s.store
            .tag_by_name(org, tag)
            .await
            .map_err(store_err)?
            .map(|t| t.id)
    };
    if let Some(t) = tag_id {
        let n = s
            .store
            .set_tag(org, t, &ids, on, s.now())
            .await
            .map_err(store_err)?;
        tracing::info!(
            org.id = org.0,
            user.id = v.user.id.0,
            tag.id = t,
            changed = n,
            "bulk tag"
        );
    }
    let back = crate::console::safe_next(fields.get("back").map(String::as_str));
    Ok(
        axum::response::Redirect::to(if back.starts_with("/contacts") {
            &back
        } else {
            "/contacts"
        })
        .into_response(),
    )
}
