//! Hatchery's domain model: the pool's contacts and their identities, the rules that decide when two
//! profiles are one person, the tracking messages that arrive, the fields an import maps onto, who
//! may do what (roles, business units and the pool policy) and the segment filter language.
//!
//! Nothing here performs IO: storage lives in `hatchery-store`, HTTP in `hatchery-web`.

pub mod access;
pub mod fields;
pub mod identity;
pub mod ids;
pub mod import_mapping;
pub mod lifecycle;
pub mod message;
pub mod normalize;
pub mod resolution;
pub mod scoring;
pub mod segment;
pub mod tag_rules;
pub mod tiers;

pub use access::{Access, Grant, Permission, PoolPolicy, Role};
pub use fields::StandardField;
pub use identity::{Identifier, IdentityKind, IdentityRule, IdentityRules};
pub use ids::{ContactId, OrgId};
