use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hatchery_domain::access::Placement;
use hatchery_domain::ids::{BusinessUnitId, UserId};
use hatchery_domain::normalize::{normalize_text, Email, Landline, Mobile};
use hatchery_domain::{ContactId, Identifier, IdentityKind};
use hatchery_engine::Touch;
use hatchery_store::contacts::{Contact, ContactFilter, IdentityRecord, MergeRecord};
use hatchery_store::events::{Event, TimelineCursor};
use hatchery_store::fields::FieldType;
use hatchery_store::ingest::ProfileFields;
use hatchery_store::keys::Scope;
use hatchery_store::scores::ContactScore;
use hatchery_store::segments::membership::ContactSegment;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{limit, Page};
use crate::auth::Caller;
use crate::error::{invalid_field, not_found, ApiResult, JsonBody};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/contacts", get(list_contacts))
        .route("/api/v1/contacts/tags", post(tag_contacts))
        .route(
            "/api/v1/contacts/{id}",
            get(get_contact)
                .patch(update_contact)
                .delete(delete_contact),
        )
        .route("/api/v1/contacts/{id}/events", get(list_contact_events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListContactsQuery {
    /// Matches the beginning of a name, company, email or mobile (`张`, `acme`, `ann@`, `138 0013`).
    pub q: Option<String>,
    /// Exact lookup by identity, `kind:value` (`email:ann@example.com`, `mobile:13800138000`).
    pub identity: Option<String>,
    pub source: Option<String>,
    /// Tag name.
    pub tag: Option<String>,
    /// Account id (`acc_7`).
    pub account: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// Lifecycle stage key (`mql`).
    pub stage: Option<String>,
    /// Business unit (`bu_2`).
    pub business_unit: Option<String>,
    /// Owner (`usr_3`).
    pub owner: Option<String>,
    /// `newest` (default), `oldest` or `name` (unnamed contacts last); not with `q`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

/// Parses `kind:value` and normalises the value the way the pool stores it.
pub fn parse_identity(s: &str) -> ApiResult<Identifier> {
    let (k, v) = s.split_once(':').ok_or_else(|| {
        invalid_field(
            "identity",
            "must be `kind:value`, e.g. email:ann@example.com",
        )
    })?;
    let kind = IdentityKind::parse(k)
        .ok_or_else(|| invalid_field("identity", format!("unknown identity kind `{k}`")))?;
    let value = match kind {
        IdentityKind::Email => Email::parse(v)
            .map_err(|e| invalid_field("identity", e.message))?
            .into_string(),
        IdentityKind::Mobile => Mobile::parse(v)
            .map_err(|e| invalid_field("identity", e.message))?
            .as_str()
            .to_owned(),
        _ => v.trim().to_owned(),
    };
    Ok(Identifier::new(kind, value))
}

#[utoipa::path(get, path = "/api/v1/contacts", params(ListContactsQuery), tag = "contacts",
    responses((status = 200, body = Page<Contact>), (status = 422, body = crate::error::ErrorBody)))]
pub async fn list_contacts(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListContactsQuery>,
) -> ApiResult<Json<Page<Contact>>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    if let Some(id) = &q.identity {
        let identifier = parse_identity(id)?;
        let data = match s.store.contact_by_identity(org, &identifier).await? {
            Some(c) => vec![s.store.get_contact(org, c).await?],
            None => vec![],
        };
        return Ok(Json(Page {
            data,
            next_cursor: None,
        }));
    }
    let tag_id = match &q.tag {
        Some(name) => match s.store.tag_by_name(org, name).await? {
            Some(t) => Some(t.id),
            None => {
                return Ok(Json(Page {
                    data: vec![],
                    next_cursor: None,
                }))
            }
        },
        None => None,
    };
    let order = match q.sort.as_deref() {
        None | Some("newest") => None,
        Some(o) => Some(
            hatchery_store::contacts::ListOrder::parse(o)
                .ok_or_else(|| invalid_field("sort", "must be newest, oldest or name"))?,
        ),
    };
    if order.is_some() && q.q.is_some() {
        return Err(invalid_field(
            "sort",
            "a search is ranked newest first; sort the list without `q`",
        ));
    }
    let before = match &q.cursor {
        Some(_) if order.is_some() => None,
        Some(c) => Some(
            c.parse::<ContactId>()
                .map_err(|_| invalid_field("cursor", "is not a cursor returned by this API"))?,
        ),
        None => None,
    };
    let account_id =
        match &q.account {
            Some(a) => Some(a.parse().map_err(|e: hatchery_domain::ids::BadId| {
                invalid_field("account", e.to_string())
            })?),
            None => None,
        };
    if q.q.as_ref().is_some_and(|x| x.chars().count() > 100) {
        return Err(invalid_field("q", "must be at most 100 characters"));
    }
    let filter = ContactFilter {
        q: q.q.clone(),
        source: q.source.clone(),
        tag_id,
        account_id,
        industry: q.industry.clone(),
        province: q
            .province
            .as_deref()
            .map(hatchery_domain::normalize::normalize_province),
        city: q.city.clone(),
        stage: q.stage.clone(),
        bu: q
            .business_unit
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: hatchery_domain::ids::BadId| {
                invalid_field("business_unit", e.to_string())
            })?,
        owner: q
            .owner
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: hatchery_domain::ids::BadId| invalid_field("owner", e.to_string()))?,
        before,
        limit: limit(q.limit)?,
        // API keys are org-wide: they see the whole pool.
        visible_to: None,
    };
    if let Some(order) = order {
        let (data, next_cursor) = s
            .store
            .list_contacts_sorted(org, &filter, order, q.cursor.as_deref())
            .await
            .map_err(|e| match e {
                hatchery_store::StoreError::Conflict(m) => invalid_field("cursor", m),
                other => other.into(),
            })?;
        return Ok(Json(Page { data, next_cursor }));
    }
    let (data, more) = s.store.list_contacts(org, &filter).await?;
    let next_cursor = if more {
        data.last().map(|c| c.id.to_string())
    } else {
        None
    };
    Ok(Json(Page { data, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactDetail {
    #[serde(flatten)]
    pub contact: Contact,
    pub tags: Vec<String>,
    pub identities: Vec<IdentityRecord>,
    /// Profiles merged into this contact, oldest first.
    pub merges: Vec<MergeRecord>,
    /// The segments the contact is in now, by name, with when it entered each.
    pub segments: Vec<ContactSegment>,
    /// Fit, engagement now (decay included), grade and the reasons, if the contact was scored.
    pub score: Option<ContactScore>,
    /// The contact's customer tier in each dimension of the tier model, with since when.
    pub tiers: Vec<hatchery_store::tiers::ContactTier>,
    /// How many contacts this contact referred (contacts whose `referred_by` names it).
    pub referrals: u32,
    /// The business unit the contact belongs to (`bu_…`), which decides who sees it when the
    /// organisation's pool is BU-isolated.
    #[schema(value_type = Option<String>, example = "bu_2")]
    pub business_unit: Option<BusinessUnitId>,
    /// The user who owns the contact (`usr_…`), e.g. its sales rep.
    #[schema(value_type = Option<String>, example = "usr_3")]
    pub owner: Option<UserId>,
}

fn contact_id(id: &str) -> ApiResult<ContactId> {
    id.parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id; an id merged away returns its survivor")),
    responses((status = 200, body = ContactDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ContactDetail>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    let contact = s.store.get_contact(org, contact_id(&id)?).await?;
    let placement = s.store.contact_placement(org, contact.id).await?;
    Ok(Json(ContactDetail {
        business_unit: placement.bu,
        owner: placement.owner,
        tags: s.store.contact_tags(org, contact.id).await?,
        identities: s.store.contact_identities(org, contact.id).await?,
        merges: s.store.contact_merges(org, contact.id).await?,
        segments: s.store.contact_segments(org, contact.id).await?,
        score: s.store.contact_score(org, contact.id, s.now()).await?,
        tiers: s.store.contact_tiers(org, contact.id).await?,
        referrals: s
            .store
            .referral_counts(org, &[contact.id])
            .await?
            .remove(&contact.id)
            .unwrap_or(0),
        contact,
    }))
}

/// Fields to change; omitted fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    pub name: Option<String>,
    /// Adds the email as an identity too (which may merge this contact with one holding it).
    pub email: Option<String>,
    /// Adds the mobile as an identity too.
    pub mobile: Option<String>,
    pub landline: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    /// Custom fields; values of defined fields must match their type.
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Map<String, Value>>,
    /// Business unit (`bu_…`) to place the contact in; `null` takes it out of every unit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "bu_2")]
    pub business_unit: Option<Option<String>>,
    /// User (`usr_…`) to make the contact's owner; `null` leaves it without one.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "usr_3")]
    pub owner: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`: clear it) from one left out (`None`: keep it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Checks the placement fields of an update before anything is written: the ids must be well
/// formed and name a business unit and a user of the caller's organisation.
async fn placement_change(
    s: &AppState,
    org: hatchery_domain::OrgId,
    u: &ContactUpdate,
) -> ApiResult<(Option<Option<BusinessUnitId>>, Option<Option<UserId>>)> {
    let bu = match &u.business_unit {
        None => None,
        Some(None) => Some(None),
        Some(Some(b)) => {
            let id: BusinessUnitId = b.parse().map_err(|e: hatchery_domain::ids::BadId| {
                invalid_field("business_unit", e.to_string())
            })?;
            match s.store.get_business_unit(org, id).await {
                Ok(_) => Some(Some(id)),
                Err(hatchery_store::StoreError::NotFound(_)) => {
                    return Err(invalid_field("business_unit", "no such business unit"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let owner = match &u.owner {
        None => None,
        Some(None) => Some(None),
        Some(Some(o)) => {
            let id: UserId = o
                .parse()
                .map_err(|e: hatchery_domain::ids::BadId| invalid_field("owner", e.to_string()))?;
            match s.store.get_user(org, id).await {
                Ok(_) => Some(Some(id)),
                Err(hatchery_store::StoreError::NotFound(_)) => {
                    return Err(invalid_field("owner", "no such user"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok((bu, owner))
}

#[utoipa::path(patch, path = "/api/v1/contacts/{id}", tag = "contacts", request_body = ContactUpdate,
    params(("id" = String, Path)),
    responses((status = 200, body = ContactDetail), (status = 422, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(u): JsonBody<ContactUpdate>,
) -> ApiResult<Json<ContactDetail>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    let id = s.store.resolve_contact_id(org, contact_id(&id)?).await?;
    let text = |f: &str, v: &Option<String>| -> ApiResult<Option<String>> {
        match v {
            Some(v) if v.chars().count() > 500 => {
                Err(invalid_field(f, "must be at most 500 characters"))
            }
            Some(v) => Ok(normalize_text(v)),
            None => Ok(None),
        }
    };
    let email = match &u.email {
        Some(e) => Some(Email::parse(e).map_err(|e| invalid_field("email", e.message))?),
        None => None,
    };
    let mobile = match &u.mobile {
        Some(m) => Some(Mobile::parse(m).map_err(|e| invalid_field("mobile", e.message))?),
        None => None,
    };
    let landline = match &u.landline {
        Some(l) => Some(
            Landline::parse(l)
                .map_err(|e| invalid_field("landline", e.message))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let (new_bu, new_owner) = placement_change(&s, org, &u).await?;
    let custom = u.traits.clone().unwrap_or_default();
    if custom.len() > 100 {
        return Err(invalid_field(
            "traits",
            "at most 100 custom fields per update",
        ));
    }
    let defs = s.store.list_fields(org).await?;
    for (k, v) in &custom {
        if let Some(d) = defs.iter().find(|d| &d.key == k) {
            let ok = v.is_null()
                || match d.field_type {
                    FieldType::Text => v.is_string(),
                    FieldType::Number => v.is_number(),
                    FieldType::Boolean => v.is_boolean(),
                    FieldType::Date => v
                        .as_str()
                        .is_some_and(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok()),
                };
            if !ok {
                return Err(invalid_field(
                    &format!("traits.{k}"),
                    format!("must be a {}", d.field_type.as_str()),
                ));
            }
        }
    }
    let profile = ProfileFields {
        name: text("name", &u.name)?,
        email: email.as_ref().map(|e| e.as_str().to_owned()),
        mobile: mobile.as_ref().map(|m| m.as_str().to_owned()),
        landline,
        company: text("company", &u.company)?,
        title: text("title", &u.title)?,
        department: text("department", &u.department)?,
        industry: text("industry", &u.industry)?,
        company_size: text("company_size", &u.company_size)?,
        province: text("province", &u.province)?
            .map(|p| hatchery_domain::normalize::normalize_province(&p)),
        city: text("city", &u.city)?,
        custom,
    };
    // The edit is a touch on this contact: its own identifiers find it, new email/mobile join it
    // under the organisation's identity rules.
    let mut identifiers: Vec<Identifier> = s
        .store
        .contact_identities(org, id)
        .await?
        .into_iter()
        .map(|r| Identifier::new(r.kind, r.value))
        .collect();
    if let Some(e) = email {
        identifiers.push(Identifier::new(IdentityKind::Email, e.into_string()));
    }
    if let Some(m) = mobile {
        identifiers.push(Identifier::new(IdentityKind::Mobile, m.as_str().to_owned()));
    }
    let touch = Touch {
        identifiers,
        profile,
        origin: "api".into(),
        cause: "api".into(),
        at: s.now(),
        ..Touch::default()
    };
    let result = s.ingestor.submit(org, vec![touch]).await?;
    let target = result
        .first()
        .and_then(|r| r.contact)
        .ok_or_else(|| not_found("contact"))?;
    if new_bu.is_some() || new_owner.is_some() {
        let now_at = s.store.contact_placement(org, target).await?;
        let placement = Placement {
            bu: new_bu.unwrap_or(now_at.bu),
            owner: new_owner.unwrap_or(now_at.owner),
        };
        s.store
            .place_contact(org, target, placement, s.now())
            .await?;
    }
    get_contact(State(s), caller, Path(target.to_string())).await
}

#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 204, description = "Erased with its events, identities and merge history"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::ContactsWrite)?;
    s.store
        .delete_contact(caller.org(), contact_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Only events of this kind (`track`, `page`, `identify`, `import` …).
    pub kind: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}/events", tag = "contacts", params(("id" = String, Path), TimelineQuery),
    responses((status = 200, body = Page<Event>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_contact_events(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> ApiResult<Json<Page<Event>>> {
    caller.require(Scope::ContactsRead)?;
    let org = caller.org();
    let id = s.store.resolve_contact_id(org, contact_id(&id)?).await?;
    let before = match &q.cursor {
        Some(c) => Some(
            TimelineCursor::decode(c)
                .ok_or_else(|| invalid_field("cursor", "is not a cursor returned by this API"))?,
        ),
        None => None,
    };
    let (data, next) = s
        .store
        .timeline(org, id, q.kind.as_deref(), before, limit(q.limit)?)
        .await?;
    Ok(Json(Page {
        data,
        next_cursor: next.map(|c| c.encode()),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagContacts {
    /// Up to 1,000 contact ids.
    pub contact_ids: Vec<String>,
    /// Tag names to add (created if missing).
    #[serde(default)]
    pub add: Vec<String>,
    /// Tag names to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagContactsResult {
    pub added: u64,
    pub removed: u64,
}

#[utoipa::path(post, path = "/api/v1/contacts/tags", tag = "contacts", request_body = TagContacts,
    responses((status = 200, body = TagContactsResult), (status = 422, body = crate::error::ErrorBody)))]
pub async fn tag_contacts(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<TagContacts>,
) -> ApiResult<Json<TagContactsResult>> {
    caller.require(Scope::ContactsWrite)?;
    let org = caller.org();
    if b.contact_ids.is_empty() || b.contact_ids.len() > 1000 {
        return Err(invalid_field("contact_ids", "must hold 1 to 1000 ids"));
    }
    let mut ids = Vec::with_capacity(b.contact_ids.len());
    for (i, c) in b.contact_ids.iter().enumerate() {
        let id = c
            .parse::<ContactId>()
            .map_err(|e| invalid_field(&format!("contact_ids[{i}]"), e.to_string()))?;
        ids.push(
            s.store
                .resolve_contact_id(org, id)
                .await
                .map_err(|_| invalid_field(&format!("contact_ids[{i}]"), "no such contact"))?,
        );
    }
    for (f, names) in [("add", &b.add), ("remove", &b.remove)] {
        for (i, n) in names.iter().enumerate() {
            crate::api::tags::check_tag_name(n)
                .map_err(|m| invalid_field(&format!("{f}[{i}]"), m))?;
        }
    }
    let now = s.now();
    let mut out = TagContactsResult {
        added: 0,
        removed: 0,
    };
    for n in &b.add {
        let tag = s.store.ensure_tag(org, n.trim(), None, now).await?;
        out.added += s.store.set_tag(org, tag.id, &ids, true, now).await?;
    }
    for n in &b.remove {
        if let Some(tag) = s.store.tag_by_name(org, n.trim()).await? {
            out.removed += s.store.set_tag(org, tag.id, &ids, false, now).await?;
        }
    }
    Ok(Json(out))
}
