//! People who sign in to the console: users, their role grants per business unit, browser
//! sessions, failed sign-ins for throttling, the organisation's pool policy and where a contact
//! sits (business unit and owner).
//!
//! The store keeps secrets only as hashes: passwords arrive already hashed (argon2id, by the web
//! layer), session tokens are long random strings kept as SHA-256 like API keys. A session token
//! names its organisation (`hs_1_…`) so a lookup stays inside one organisation.

use hatchery_domain::access::Placement;
use hatchery_domain::ids::{BusinessUnitId, UserId};
use hatchery_domain::{ContactId, Grant, OrgId, PoolPolicy, Role};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::backend::{with_pool, with_tx};
use crate::error::{Result, StoreError};
use crate::{Millis, Store};

/// A console user. The email is stored lower-cased; the password hash never leaves the store
/// except through [`Store::user_credentials`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub name: String,
    /// Preferred console language (`zh-CN`, `en`), if chosen.
    pub locale: Option<String>,
    pub created_at: Millis,
    /// Set while the user is disabled: they cannot sign in and no session of theirs is honoured.
    pub disabled_at: Option<Millis>,
    /// The IANA time zone the console shows this user's times in, if chosen.
    pub time_zone: Option<String>,
}

/// A business unit (BU/BG) of the organisation: the unit contacts are placed in and roles are
/// granted for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct BusinessUnit {
    #[schema(value_type = String, example = "bu_2")]
    pub id: BusinessUnitId,
    pub name: String,
    pub created_at: Millis,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub org_id: OrgId,
    pub user_id: UserId,
    /// Every form of the session carries it; a POST without it is refused.
    pub csrf_token: String,
    pub expires_at: Millis,
}

/// A new user before it is stored.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub locale: Option<&'a str>,
}

fn sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn session_org(token: &str) -> Option<OrgId> {
    let rest = token.strip_prefix("hs_")?;
    let (org, _) = rest.split_once('_')?;
    org.parse::<i64>().ok().filter(|n| *n > 0).map(OrgId)
}

type UserRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
);
/// A user row followed by the password hash.
type CredentialRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    String,
);
const USER_COLUMNS: &str = "id, org_id, email, name, locale, created_at, disabled_at, time_zone";

fn user_from(r: UserRow) -> User {
    User {
        id: UserId(r.0),
        org_id: OrgId(r.1),
        email: r.2,
        name: r.3,
        locale: r.4,
        created_at: r.5,
        disabled_at: r.6,
        time_zone: r.7,
    }
}

impl Store {
    pub async fn count_users(&self, org: OrgId) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE org_id = $1",
        )
        .bind(org.0)
        .fetch_one(c)
        .await?))
    }

    /// Creates a user with the given grants. With `only_if_first`, fails with `Conflict` when the
    /// organisation already has a user — the first-run setup, safe against two browsers racing.
    pub async fn create_user(
        &self,
        org: OrgId,
        new: &NewUser<'_>,
        grants: &[Grant],
        only_if_first: bool,
        now: Millis,
    ) -> Result<User> {
        let email = new.email.trim().to_lowercase();
        let mut tx = self.begin().await?;
        let postgres = tx.is_postgres();
        let result: Result<i64> = with_tx!(&mut tx, c => {
            if only_if_first {
                // SQLite's transaction already holds the database's write lock; PostgreSQL
                // serialises setups on the organisation's row.
                if postgres {
                    sqlx::query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
                        .bind(org.0)
                        .execute(&mut *c)
                        .await?;
                }
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE org_id = $1")
                    .bind(org.0)
                    .fetch_one(&mut *c)
                    .await?;
                if n > 0 {
                    return Err(StoreError::Conflict("the organisation already has users".into()));
                }
            }
            let id: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
                "INSERT INTO users (org_id, email, name, password_hash, locale, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            )
            .bind(org.0)
            .bind(&email)
            .bind(new.name.trim())
            .bind(new.password_hash)
            .bind(new.locale)
            .bind(now)
            .fetch_one(&mut *c)
            .await;
            match id {
                Ok(id) => {
                    for g in grants {
                        sqlx::query(
                            "INSERT INTO role_grants (org_id, user_id, role, bu_id, created_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(org.0)
                        .bind(id)
                        .bind(g.role.as_str())
                        .bind(g.bu.map_or(0, |b| b.0))
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                    }
                    Ok(id)
                }
                Err(e) => {
                    let e = StoreError::from(e);
                    if e.is_unique_violation() {
                        Err(StoreError::Conflict("a user with this email already exists".into()))
                    } else {
                        Err(e)
                    }
                }
            }
        });
        let id = match result {
            Ok(id) => id,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        tx.commit().await?;
        self.get_user(org, UserId(id)).await
    }

    pub async fn get_user(&self, org: OrgId, id: UserId) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND id = $2");
        let row: Option<UserRow> = with_pool!(self, c => sqlx::query_as(&sql)
            .bind(org.0)
            .bind(id.0)
            .fetch_optional(c)
            .await?);
        row.map(user_from).ok_or(StoreError::NotFound("user"))
    }

    /// The user with this email and their password hash, for signing in.
    pub async fn user_credentials(
        &self,
        org: OrgId,
        email: &str,
    ) -> Result<Option<(User, String)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE org_id = $1 AND email = $2"
        );
        let row: Option<CredentialRow> = with_pool!(self, c => sqlx::query_as(&sql)
                .bind(org.0)
                .bind(email.trim().to_lowercase())
                .fetch_optional(c)
                .await?);
        Ok(row.map(|r| (user_from((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7)), r.8)))
    }

    pub async fn user_by_email(&self, org: OrgId, email: &str) -> Result<Option<User>> {
        Ok(self.user_credentials(org, email).await?.map(|(u, _)| u))
    }

    /// The user's password hash (to check the current password before a change).
    pub async fn password_hash(&self, org: OrgId, user: UserId) -> Result<String> {
        let h: Option<String> = with_pool!(self, c => sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(user.0)
        .fetch_optional(c)
        .await?);
        h.ok_or(StoreError::NotFound("user"))
    }

    pub async fn set_password_hash(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        now: Millis,
    ) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(hash)
        .bind(now)
        .bind(org.0)
        .bind(user.0)
        .execute(c)
        .await?
        .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    pub async fn set_user_locale(&self, org: OrgId, user: UserId, locale: &str) -> Result<()> {
        with_pool!(self, c => sqlx::query("UPDATE users SET locale = $1 WHERE org_id = $2 AND id = $3")
            .bind(locale)
            .bind(org.0)
            .bind(user.0)
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }

    pub async fn set_user_time_zone(&self, org: OrgId, user: UserId, tz: &str) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("UPDATE users SET time_zone = $1 WHERE org_id = $2 AND id = $3")
            .bind(tz)
            .bind(org.0)
            .bind(user.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Disables a user and ends all their sessions, in one transaction. The organisation's last
    /// enabled org-wide administrator cannot be disabled (`Conflict`), so the settings stay open to
    /// someone; PostgreSQL serialises this on the organisation's row so two administrators
    /// disabling each other cannot both succeed (SQLite's write lock does the same). Disabling a
    /// disabled user changes nothing.
    pub async fn disable_user(&self, org: OrgId, user: UserId, now: Millis) -> Result<u64> {
        let mut tx = self.begin().await?;
        let postgres = tx.is_postgres();
        let result: Result<u64> = with_tx!(&mut tx, c => {
            if postgres {
                sqlx::query("SELECT id FROM organisations WHERE id = $1 FOR UPDATE")
                    .bind(org.0)
                    .execute(&mut *c)
                    .await?;
            }
            let disabled: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT disabled_at FROM users WHERE org_id = $1 AND id = $2",
            )
            .bind(org.0)
            .bind(user.0)
            .fetch_optional(&mut *c)
            .await?;
            match disabled {
                None => Err(StoreError::NotFound("user")),
                Some(Some(_)) => Ok(0),
                Some(None) => {
                    let admins: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM role_grants g JOIN users u ON u.org_id = g.org_id AND u.id = g.user_id \
                         WHERE g.org_id = $1 AND g.role = 'admin' AND g.bu_id = 0 AND u.disabled_at IS NULL",
                    )
                    .bind(org.0)
                    .fetch_one(&mut *c)
                    .await?;
                    let is_admin: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM role_grants WHERE org_id = $1 AND user_id = $2 AND role = 'admin' AND bu_id = 0",
                    )
                    .bind(org.0)
                    .bind(user.0)
                    .fetch_one(&mut *c)
                    .await?;
                    if is_admin > 0 && admins <= 1 {
                        return Err(StoreError::Conflict(
                            "the organisation's last enabled administrator cannot be disabled".into(),
                        ));
                    }
                    sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $1 WHERE org_id = $2 AND id = $3")
                        .bind(now)
                        .bind(org.0)
                        .bind(user.0)
                        .execute(&mut *c)
                        .await?;
                    Ok(sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND user_id = $2")
                        .bind(org.0)
                        .bind(user.0)
                        .execute(&mut *c)
                        .await?
                        .rows_affected())
                }
            }
        });
        match result {
            Ok(ended) => {
                tx.commit().await?;
                Ok(ended)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Lets a disabled user sign in again (an enabled user stays as they are).
    pub async fn enable_user(&self, org: OrgId, user: UserId, now: Millis) -> Result<()> {
        self.get_user(org, user).await?;
        with_pool!(self, c => sqlx::query(
            "UPDATE users SET disabled_at = NULL, updated_at = $1 WHERE org_id = $2 AND id = $3 AND disabled_at IS NOT NULL",
        )
        .bind(now)
        .bind(org.0)
        .bind(user.0)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Sets a new password chosen by an administrator and ends every session of the user, in one
    /// transaction; returns how many sessions ended.
    pub async fn reset_password(
        &self,
        org: OrgId,
        user: UserId,
        hash: &str,
        now: Millis,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let result: Result<u64> = with_tx!(&mut tx, c => {
            let n = sqlx::query(
                "UPDATE users SET password_hash = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            )
            .bind(hash)
            .bind(now)
            .bind(org.0)
            .bind(user.0)
            .execute(&mut *c)
            .await?
            .rows_affected();
            if n == 0 {
                Err(StoreError::NotFound("user"))
            } else {
                Ok(sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND user_id = $2")
                    .bind(org.0)
                    .bind(user.0)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
            }
        });
        match result {
            Ok(ended) => {
                tx.commit().await?;
                Ok(ended)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Gives a user a role org-wide or in one business unit (nothing happens if they hold it).
    pub async fn grant_role(&self, org: OrgId, user: UserId, g: Grant, now: Millis) -> Result<()> {
        self.get_user(org, user).await?;
        if let Some(bu) = g.bu {
            self.get_business_unit(org, bu).await?;
        }
        with_pool!(self, c => sqlx::query(
            "INSERT INTO role_grants (org_id, user_id, role, bu_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (org_id, user_id, role, bu_id) DO NOTHING",
        )
        .bind(org.0)
        .bind(user.0)
        .bind(g.role.as_str())
        .bind(g.bu.map_or(0, |b| b.0))
        .bind(now)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Takes a role back. The organisation's last enabled org-wide administrator keeps theirs (`Conflict`),
    /// so no one can lock everyone out of the settings; a grant the user does not hold is
    /// `NotFound`. One statement, so two administrators revoking each other cannot both succeed.
    pub async fn revoke_grant(&self, org: OrgId, user: UserId, g: Grant) -> Result<()> {
        let bu = g.bu.map_or(0, |b| b.0);
        let n = with_pool!(self, c => sqlx::query(
            "DELETE FROM role_grants WHERE org_id = $1 AND user_id = $2 AND role = $3 AND bu_id = $4 \
             AND NOT ($3 = 'admin' AND $4 = 0 AND \
             (SELECT COUNT(*) FROM role_grants g JOIN users u ON u.org_id = g.org_id AND u.id = g.user_id \
              WHERE g.org_id = $1 AND g.role = 'admin' AND g.bu_id = 0 AND u.disabled_at IS NULL) <= 1)",
        )
        .bind(org.0)
        .bind(user.0)
        .bind(g.role.as_str())
        .bind(bu)
        .execute(c)
        .await?
        .rows_affected());
        if n > 0 {
            return Ok(());
        }
        if self.user_grants(org, user).await?.contains(&g) {
            Err(StoreError::Conflict(
                "the organisation's last administrator keeps the role".into(),
            ))
        } else {
            Err(StoreError::NotFound("role grant"))
        }
    }

    /// Every user of the organisation, by name.
    pub async fn list_users(&self, org: OrgId) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY name, id");
        let rows: Vec<UserRow> =
            with_pool!(self, c => sqlx::query_as(&sql).bind(org.0).fetch_all(c).await?);
        Ok(rows.into_iter().map(user_from).collect())
    }

    /// Every grant of the organisation with its user, for listing users with their roles at once.
    pub async fn org_grants(&self, org: OrgId) -> Result<Vec<(UserId, Grant)>> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT user_id, role, bu_id FROM role_grants WHERE org_id = $1 ORDER BY user_id, bu_id, role",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .filter_map(|(user, role, bu)| {
                Some((
                    UserId(user),
                    Grant {
                        role: Role::parse(&role)?,
                        bu: (bu != 0).then_some(BusinessUnitId(bu)),
                    },
                ))
            })
            .collect())
    }

    pub async fn user_grants(&self, org: OrgId, user: UserId) -> Result<Vec<Grant>> {
        let rows: Vec<(String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT role, bu_id FROM role_grants WHERE org_id = $1 AND user_id = $2 ORDER BY bu_id, role",
        )
        .bind(org.0)
        .bind(user.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .filter_map(|(role, bu)| {
                Some(Grant {
                    role: Role::parse(&role)?,
                    bu: (bu != 0).then_some(BusinessUnitId(bu)),
                })
            })
            .collect())
    }

    pub async fn create_business_unit(
        &self,
        org: OrgId,
        name: &str,
        now: Millis,
    ) -> Result<BusinessUnit> {
        let name = name.trim();
        let id: std::result::Result<i64, sqlx::Error> = with_pool!(self, c => sqlx::query_scalar(
            "INSERT INTO business_units (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(org.0)
        .bind(name)
        .bind(now)
        .fetch_one(c)
        .await);
        match id.map_err(StoreError::from) {
            Ok(id) => Ok(BusinessUnit {
                id: BusinessUnitId(id),
                name: name.to_owned(),
                created_at: now,
            }),
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict(
                "a business unit with this name already exists".into(),
            )),
            Err(e) => Err(e),
        }
    }

    pub async fn list_business_units(&self, org: OrgId) -> Result<Vec<BusinessUnit>> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT id, name, created_at FROM business_units WHERE org_id = $1 ORDER BY name",
        )
        .bind(org.0)
        .fetch_all(c)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| BusinessUnit {
                id: BusinessUnitId(id),
                name,
                created_at,
            })
            .collect())
    }

    pub async fn get_business_unit(&self, org: OrgId, id: BusinessUnitId) -> Result<BusinessUnit> {
        self.list_business_units(org)
            .await?
            .into_iter()
            .find(|b| b.id == id)
            .ok_or(StoreError::NotFound("business unit"))
    }

    pub async fn pool_policy(&self, org: OrgId) -> Result<PoolPolicy> {
        let p: Option<String> = with_pool!(self, c => sqlx::query_scalar(
            "SELECT pool_policy FROM organisations WHERE id = $1",
        )
        .bind(org.0)
        .fetch_optional(c)
        .await?);
        let p = p.ok_or(StoreError::NotFound("organisation"))?;
        // An unknown value (written by a newer version) falls back to the stricter policy.
        Ok(PoolPolicy::parse(&p).unwrap_or(PoolPolicy::BuIsolated))
    }

    pub async fn set_pool_policy(&self, org: OrgId, p: PoolPolicy) -> Result<()> {
        let n = with_pool!(self, c => sqlx::query("UPDATE organisations SET pool_policy = $1 WHERE id = $2")
            .bind(p.as_str())
            .bind(org.0)
            .execute(c)
            .await?
            .rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound("organisation"));
        }
        Ok(())
    }

    /// Places a contact in a business unit and gives it an owner (either may be cleared).
    pub async fn place_contact(
        &self,
        org: OrgId,
        contact: ContactId,
        at: Placement,
        now: Millis,
    ) -> Result<()> {
        // Ids from outside (the API) must not reach another organisation's units or users.
        if let Some(b) = at.bu {
            self.get_business_unit(org, b).await?;
        }
        if let Some(u) = at.owner {
            self.get_user(org, u).await?;
        }
        let id = self.resolve_contact_id(org, contact).await?;
        with_pool!(self, c => sqlx::query(
            "UPDATE contacts SET bu_id = $1, owner_user_id = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
        )
        .bind(at.bu.map(|b| b.0))
        .bind(at.owner.map(|u| u.0))
        .bind(now)
        .bind(org.0)
        .bind(id.0)
        .execute(c)
        .await?
        .rows_affected());
        Ok(())
    }

    /// Where a contact sits, following merges.
    pub async fn contact_placement(&self, org: OrgId, contact: ContactId) -> Result<Placement> {
        let id = self.resolve_contact_id(org, contact).await?;
        let row: Option<(Option<i64>, Option<i64>)> = with_pool!(self, c => sqlx::query_as(
            "SELECT bu_id, owner_user_id FROM contacts WHERE org_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(c)
        .await?);
        let (bu, owner) = row.ok_or(StoreError::NotFound("contact"))?;
        Ok(Placement {
            bu: bu.map(BusinessUnitId),
            owner: owner.map(UserId),
        })
    }

    /// Starts a session; returns the token for the cookie (shown once, stored hashed).
    pub async fn create_session(
        &self,
        org: OrgId,
        user: UserId,
        now: Millis,
        lifetime_ms: Millis,
    ) -> Result<(String, Session)> {
        // Expired sessions of the organisation go as new ones start, so the table stays small.
        with_pool!(self, c => sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND expires_at <= $2")
            .bind(org.0)
            .bind(now)
            .execute(c)
            .await?
            .rows_affected());
        let token = format!("hs_{}_{}", org.0, random(40));
        let session = Session {
            org_id: org,
            user_id: user,
            csrf_token: random(32),
            expires_at: now + lifetime_ms,
        };
        with_pool!(self, c => sqlx::query(
            "INSERT INTO sessions (org_id, token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.0)
        .bind(sha256(&token))
        .bind(user.0)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(c)
        .await?
        .rows_affected());
        Ok((token, session))
    }

    /// The live session a cookie token belongs to (of an enabled user).
    pub async fn session(&self, token: &str, now: Millis) -> Result<Option<Session>> {
        let Some(org) = session_org(token) else {
            return Ok(None);
        };
        let row: Option<(i64, String, i64)> = with_pool!(self, c => sqlx::query_as(
            "SELECT s.user_id, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id \
             WHERE s.org_id = $1 AND s.token_hash = $2 AND s.expires_at > $3 AND u.disabled_at IS NULL",
        )
        .bind(org.0)
        .bind(sha256(token))
        .bind(now)
        .fetch_optional(c)
        .await?);
        Ok(row.map(|(user, csrf_token, expires_at)| Session {
            org_id: org,
            user_id: UserId(user),
            csrf_token,
            expires_at,
        }))
    }

    pub async fn delete_session(&self, token: &str) -> Result<()> {
        let Some(org) = session_org(token) else {
            return Ok(());
        };
        with_pool!(self, c => sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND token_hash = $2")
            .bind(org.0)
            .bind(sha256(token))
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Ends every session of a user except the one presenting `keep` (after a password change),
    /// and any expired session of the organisation.
    pub async fn end_other_sessions(
        &self,
        org: OrgId,
        user: UserId,
        keep: &str,
        now: Millis,
    ) -> Result<u64> {
        Ok(with_pool!(self, c => sqlx::query(
            "DELETE FROM sessions WHERE org_id = $1 AND ((user_id = $2 AND token_hash <> $3) OR expires_at <= $4)",
        )
        .bind(org.0)
        .bind(user.0)
        .bind(sha256(keep))
        .bind(now)
        .execute(c)
        .await?
        .rows_affected()))
    }

    /// Records a failed sign-in for `key` (the caller hashes what it identifies, e.g. email and
    /// client address) and forgets failures older than `keep_ms`.
    pub async fn record_login_failure(
        &self,
        org: OrgId,
        key: &str,
        now: Millis,
        keep_ms: Millis,
    ) -> Result<()> {
        let key = sha256(key);
        with_pool!(self, c => {
            sqlx::query("DELETE FROM login_failures WHERE org_id = $1 AND failed_at < $2")
                .bind(org.0)
                .bind(now - keep_ms)
                .execute(c)
                .await?;
            sqlx::query("INSERT INTO login_failures (org_id, key_hash, failed_at) VALUES ($1, $2, $3)")
                .bind(org.0)
                .bind(&key)
                .bind(now)
                .execute(c)
                .await?;
        });
        Ok(())
    }

    /// Failed sign-ins for `key` at or after `since`.
    pub async fn login_failures_since(&self, org: OrgId, key: &str, since: Millis) -> Result<i64> {
        Ok(with_pool!(self, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_failures WHERE org_id = $1 AND key_hash = $2 AND failed_at >= $3",
        )
        .bind(org.0)
        .bind(sha256(key))
        .bind(since)
        .fetch_one(c)
        .await?))
    }

    pub async fn clear_login_failures(&self, org: OrgId, key: &str) -> Result<()> {
        with_pool!(self, c => sqlx::query("DELETE FROM login_failures WHERE org_id = $1 AND key_hash = $2")
            .bind(org.0)
            .bind(sha256(key))
            .execute(c)
            .await?
            .rows_affected());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_names_its_organisation() {
        assert_eq!(session_org("hs_7_abc"), Some(OrgId(7)));
        assert_eq!(session_org("hk_7_abc"), None);
        assert_eq!(session_org("hs_0_abc"), None);
        assert_eq!(session_org("hs_x"), None);
    }
}
