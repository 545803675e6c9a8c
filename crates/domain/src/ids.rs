//! Typed ids. Internally every id is an `i64`; in the API they carry a prefix (`ct_42`, `org_1`) so a
//! contact id can never be passed where an account id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Error for an id string that lacks its prefix or is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by digits)")]
pub struct BadId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! typed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                s.strip_prefix($prefix)
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                    .map($name)
                    .ok_or_else(|| BadId {
                        kind: $kind,
                        prefix: $prefix,
                        value: s.to_owned(),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(OrgId, "org_", "organisation");
typed_id!(ContactId, "ct_", "contact");
typed_id!(AccountId, "acc_", "account");
typed_id!(EventId, "ev_", "event");
typed_id!(ImportId, "imp_", "import");
typed_id!(SourceId, "src_", "source");
typed_id!(ApiKeyId, "key_", "API key");
typed_id!(MergeId, "mg_", "merge");
typed_id!(FieldId, "fld_", "custom field");
typed_id!(UserId, "usr_", "user");
typed_id!(BusinessUnitId, "bu_", "business unit");
typed_id!(SegmentId, "seg_", "segment");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_prefixed_form() {
        let id = ContactId(42);
        assert_eq!(id.to_string(), "ct_42");
        assert_eq!("ct_42".parse::<ContactId>().unwrap(), id);
    }

    #[test]
    fn an_id_of_another_kind_is_rejected() {
        let err = "acc_42".parse::<ContactId>().unwrap_err();
        assert!(err.to_string().contains("contact"), "{err}");
        assert!("ct_".parse::<ContactId>().is_err());
        assert!("ct_-3".parse::<ContactId>().is_err());
    }
}
