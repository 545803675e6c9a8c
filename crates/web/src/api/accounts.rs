use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use hatchery_domain::ids::AccountId;
use hatchery_store::accounts::Account;
use hatchery_store::contacts::{Contact, ContactFilter};
use hatchery_store::keys::Scope;
use serde::{Deserialize, Serialize};

use crate::api::{limit, Page};
use crate::auth::Caller;
use crate::error::{invalid_field, ApiResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", get(list_accounts))
        .route("/api/v1/accounts/{id}", get(get_account))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAccountsQuery {
    /// Matches the beginning of the company name.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(ListAccountsQuery), responses((status = 200, body = Page<Account>)))]
pub async fn list_accounts(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListAccountsQuery>,
) -> ApiResult<Json<Page<Account>>> {
    caller.require(Scope::ContactsRead)?;
    let before = match &q.cursor {
        Some(c) => Some(
            c.parse::<AccountId>()
                .map_err(|_| invalid_field("cursor", "is not a cursor returned by this API"))?,
        ),
        None => None,
    };
    let (data, more) = s
        .store
        .list_accounts(caller.org(), q.q.as_deref(), before, limit(q.limit)?)
        .await?;
    let next_cursor = if more {
        data.last().map(|a| a.id.to_string())
    } else {
        None
    };
    Ok(Json(Page { data, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: Account,
    /// The newest contacts of the account (first page; page on with `GET /api/v1/contacts?account=`).
    pub contacts_page: Page<Contact>,
}

#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_account(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountDetail>> {
    caller.require(Scope::ContactsRead)?;
    let id: AccountId = id
        .parse()
        .map_err(|e: hatchery_domain::ids::BadId| invalid_field("id", e.to_string()))?;
    let account = s.store.get_account(caller.org(), id).await?;
    let filter = ContactFilter {
        account_id: Some(id),
        limit: 50,
        ..ContactFilter::default()
    };
    let (data, more) = s.store.list_contacts(caller.org(), &filter).await?;
    let next_cursor = if more {
        data.last().map(|c| c.id.to_string())
    } else {
        None
    };
    Ok(Json(AccountDetail {
        account,
        contacts_page: Page { data, next_cursor },
    }))
}
