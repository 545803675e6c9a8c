//! Identifiers a person can be known by, and the per-organisation rules that govern them.

use serde::{Deserialize, Serialize};

/// The type of an identifier. WeChat openIDs are per official account / mini program, so their value
/// carries the app id: `wx1234:oAbc…`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    UserId,
    CrmId,
    WechatUnionid,
    WechatOpenid,
    WecomExternalId,
    Email,
    Mobile,
    AnonymousId,
    Fingerprint,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 9] = [
        IdentityKind::UserId,
        IdentityKind::CrmId,
        IdentityKind::WechatUnionid,
        IdentityKind::WechatOpenid,
        IdentityKind::WecomExternalId,
        IdentityKind::Email,
        IdentityKind::Mobile,
        IdentityKind::AnonymousId,
        IdentityKind::Fingerprint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::UserId => "user_id",
            IdentityKind::CrmId => "crm_id",
            IdentityKind::WechatUnionid => "wechat_unionid",
            IdentityKind::WechatOpenid => "wechat_openid",
            IdentityKind::WecomExternalId => "wecom_external_id",
            IdentityKind::Email => "email",
            IdentityKind::Mobile => "mobile",
            IdentityKind::AnonymousId => "anonymous_id",
            IdentityKind::Fingerprint => "fingerprint",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Identifiers that say nothing about who the person is (a browser cookie, a form fingerprint).
    /// A contact holding only these is anonymous.
    pub fn is_anonymous(self) -> bool {
        matches!(self, IdentityKind::AnonymousId | IdentityKind::Fingerprint)
    }
}

/// One identifier value of one kind, already normalised (emails lower-cased, mobiles in E.164).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identifier {
    pub fn new(kind: IdentityKind, value: impl Into<String>) -> Self {
        Identifier {
            kind,
            value: value.into(),
        }
    }

    /// A WeChat openID, namespaced by the app (official account or mini program) that issued it.
    pub fn wechat_openid(app_id: &str, open_id: &str) -> Self {
        Identifier::new(IdentityKind::WechatOpenid, format!("{app_id}:{open_id}"))
    }

    /// The scope inside which `max_per_contact` counts: openIDs count per app, everything else per kind.
    pub fn limit_scope(&self) -> (IdentityKind, &str) {
        match self.kind {
            IdentityKind::WechatOpenid => (
                self.kind,
                self.value.split_once(':').map_or("", |(app, _)| app),
            ),
            _ => (self.kind, ""),
        }
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

/// How one identifier kind takes part in identity resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityRule {
    pub kind: IdentityKind,
    /// Higher wins. When linking an event's identifiers would break a limit, the lowest-priority
    /// identifier is dropped from the event first.
    pub priority: u32,
    /// How many values of this kind one contact may hold (openIDs: per app). `None` = unlimited.
    pub max_per_contact: Option<u32>,
    /// Whether an identifier of this kind may join two contacts that are both already known
    /// (hold at least one non-anonymous identifier). A shared browser must not merge two colleagues,
    /// so `anonymous_id` defaults to `false`.
    pub merges_known: bool,
}

/// Values that clients send when they have nothing: never treated as an identity.
pub fn is_blocked_value(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty()
        || v.chars()
            .all(|c| c == '0' || c == '-' || c == '+' || c == ' ')
    {
        return true;
    }
    const BLOCKED: [&str; 9] = [
        "null",
        "undefined",
        "none",
        "nil",
        "anonymous",
        "unknown",
        "n/a",
        "na",
        "[object object]",
    ];
    BLOCKED.iter().any(|b| v.eq_ignore_ascii_case(b))
}

/// The full rule set of one organisation; every kind has exactly one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityRules {
    pub rules: Vec<IdentityRule>,
    /// Extra values (beyond the built-in list) that are never an identity, e.g. a test mobile.
    #[serde(default)]
    pub blocked_values: Vec<String>,
}

impl Default for IdentityRules {
    fn default() -> Self {
        use IdentityKind as K;
        let rule = |kind, priority, max: Option<u32>, merges_known| IdentityRule {
            kind,
            priority,
            max_per_contact: max,
            merges_known,
        };
        IdentityRules {
            rules: vec![
                rule(K::UserId, 100, Some(1), true),
                rule(K::CrmId, 90, Some(1), true),
                rule(K::WechatUnionid, 80, Some(1), true),
                rule(K::WechatOpenid, 70, Some(1), true),
                rule(K::WecomExternalId, 60, Some(1), true),
                rule(K::Mobile, 50, Some(5), true),
                rule(K::Email, 40, Some(5), true),
                rule(K::Fingerprint, 20, None, false),
                rule(K::AnonymousId, 10, None, false),
            ],
            blocked_values: Vec::new(),
        }
    }
}

/// A rule set that cannot be used, with the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("rules.{index}: `{kind}` appears more than once")]
    Duplicate { index: usize, kind: &'static str },
    #[error("rules: no rule for `{0}`; every identifier kind needs one")]
    Missing(&'static str),
    #[error("rules.{index}.max_per_contact: must be at least 1 (use null for unlimited)")]
    ZeroLimit { index: usize },
    #[error("blocked_values: at most 1000 values")]
    TooManyBlocked,
}

impl IdentityRules {
    pub fn validate(&self) -> Result<(), RulesError> {
        for (index, r) in self.rules.iter().enumerate() {
            if self.rules[..index].iter().any(|o| o.kind == r.kind) {
                return Err(RulesError::Duplicate {
                    index,
                    kind: r.kind.as_str(),
                });
            }
            if r.max_per_contact == Some(0) {
                return Err(RulesError::ZeroLimit { index });
            }
        }
        if let Some(k) = IdentityKind::ALL
            .iter()
            .find(|k| !self.rules.iter().any(|r| r.kind == **k))
        {
            return Err(RulesError::Missing(k.as_str()));
        }
        if self.blocked_values.len() > 1000 {
            return Err(RulesError::TooManyBlocked);
        }
        Ok(())
    }

    pub fn rule(&self, kind: IdentityKind) -> &IdentityRule {
        self.rules
            .iter()
            .find(|r| r.kind == kind)
            .expect("validated rule sets hold a rule for every kind")
    }

    pub fn is_blocked(&self, value: &str) -> bool {
        is_blocked_value(value)
            || self
                .blocked_values
                .iter()
                .any(|b| b.eq_ignore_ascii_case(value.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_values_are_never_identities() {
        for v in [
            "",
            " ",
            "null",
            "NULL",
            "undefined",
            "0",
            "000000",
            "anonymous",
            "-",
            "+00 000",
        ] {
            assert!(is_blocked_value(v), "{v:?} should be blocked");
        }
        for v in ["ann@example.com", "+8613800138000", "0a1"] {
            assert!(!is_blocked_value(v), "{v:?} should pass");
        }
    }

    #[test]
    fn default_rules_are_valid_and_a_duplicate_is_named() {
        IdentityRules::default().validate().unwrap();
        let mut rules = IdentityRules::default();
        rules.rules.push(rules.rules[0].clone());
        assert_eq!(
            rules.validate(),
            Err(RulesError::Duplicate {
                index: 9,
                kind: "user_id"
            })
        );
    }

    #[test]
    fn openids_are_limited_per_app() {
        let a = Identifier::wechat_openid("wxA", "o1");
        let b = Identifier::wechat_openid("wxB", "o1");
        assert_ne!(a.limit_scope(), b.limit_scope());
        assert_eq!(
            Identifier::new(IdentityKind::Email, "x@y.cn").limit_scope(),
            (IdentityKind::Email, "")
        );
    }
}
