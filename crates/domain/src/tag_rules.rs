//! Tags by rule: "every contact that meets these criteria carries this tag". A rule owns its tag:
//! the evaluator adds it to contacts that meet the criteria and takes it off those that no longer
//! do, as their data changes and time passes — so a rule's tag is always current, like a segment,
//! but usable wherever tags are (lists, exports, CRM sync).

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::segment::{ContactSnapshot, Filter, FilterError, Millis};

/// Limits of a rule set.
pub mod limits {
    pub const MAX_RULES: usize = 50;
    pub const MAX_TAG_CHARS: usize = 64;
}

#[derive(Debug, Clone, PartialEq)]
pub struct TagRule {
    pub tag: String,
    /// The tag's category (industry, role, need, value, stage …), set when the rule creates it.
    pub category: Option<String>,
    pub when: Filter,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagRules {
    pub rules: Vec<TagRule>,
}

fn err(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn text(
    v: Option<&Value>,
    path: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, FilterError> {
    match v {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= max => {
            Ok(Some(s.trim().to_owned()))
        }
        _ => Err(err(
            path,
            format!("must be a text of 1 to {max} characters"),
        )),
    }
}

impl TagRules {
    /// Reads `{"rules": [{"tag", "category"?, "when"}]}`; a tag may have one rule only.
    pub fn parse(v: &Value) -> Result<TagRules, FilterError> {
        let o = v.as_object().ok_or_else(|| err("", "must be an object"))?;
        if let Some(k) = o.keys().find(|k| *k != "rules") {
            return Err(err(k, "unknown key here; expected rules"));
        }
        let Some(Value::Array(items)) = o.get("rules") else {
            return Err(err("rules", "must be a list of rules"));
        };
        if items.len() > limits::MAX_RULES {
            return Err(err(
                "rules",
                format!("has more than {} rules", limits::MAX_RULES),
            ));
        }
        let mut rules = Vec::with_capacity(items.len());
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("rules[{i}]");
            let r = item
                .as_object()
                .ok_or_else(|| err(&p, "must be an object"))?;
            if let Some(k) = r
                .keys()
                .find(|k| !["tag", "category", "when"].contains(&k.as_str()))
            {
                return Err(err(
                    &format!("{p}.{}", k.chars().take(40).collect::<String>()),
                    "unknown key here; expected tag, category, when",
                ));
            }
            let tag = text(
                r.get("tag"),
                &format!("{p}.tag"),
                limits::MAX_TAG_CHARS,
                true,
            )?
            .expect("required");
            if !seen.insert(tag.clone()) {
                return Err(err(
                    &format!("{p}.tag"),
                    format!("`{tag}` has an earlier rule"),
                ));
            }
            let category = text(r.get("category"), &format!("{p}.category"), 64, false)?;
            let when = match r.get("when") {
                None | Some(Value::Null) => return Err(err(&format!("{p}.when"), "is required")),
                Some(f) => Filter::parse(f).map_err(|e| FilterError {
                    path: if e.path.is_empty() {
                        format!("{p}.when")
                    } else {
                        format!("{p}.when.{}", e.path)
                    },
                    message: e.message,
                })?,
            };
            if when.dependencies().tags.contains(&tag) {
                return Err(err(&format!("{p}.when"), "a rule cannot read its own tag"));
            }
            rules.push(TagRule {
                tag,
                category,
                when,
            });
        }
        Ok(TagRules { rules })
    }

    pub fn to_json(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("tag".into(), r.tag.clone().into());
                if let Some(c) = &r.category {
                    o.insert("category".into(), c.clone().into());
                }
                o.insert("when".into(), r.when.to_json());
                Value::Object(o)
            })
            .collect();
        json!({ "rules": rules })
    }

    pub fn filters(&self) -> impl Iterator<Item = &Filter> {
        self.rules.iter().map(|r| &r.when)
    }

    /// The tags to add to and take off `contact` at `now`, and its tags afterwards (in
    /// `contact.tags`, so what is evaluated next sees them). Rules are applied in order, so a
    /// rule may read the tag of an earlier one.
    pub fn apply(&self, contact: &mut ContactSnapshot, now: Millis) -> (Vec<String>, Vec<String>) {
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        for r in &self.rules {
            let want = r.when.matches(contact, now);
            let has = contact.tags.contains(&r.tag);
            if want && !has {
                contact.tags.insert(r.tag.clone());
                add.push(r.tag.clone());
            } else if !want && has {
                contact.tags.remove(&r.tag);
                remove.push(r.tag.clone());
            }
        }
        (add, remove)
    }

    pub fn next_change_at(&self, contact: &ContactSnapshot, now: Millis) -> Option<Millis> {
        self.filters()
            .filter_map(|f| f.next_change_at(contact, now))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_keep_their_tags_in_sync_and_refuse_bad_input() {
        let r = TagRules::parse(&json!({"rules": [
            {"tag": "KA", "category": "value", "when": {"field": "company_size", "op": "eq", "value": "5000+"}},
            {"tag": "KA 华东", "when": {"all": [{"tag": "KA"}, {"field": "province", "op": "eq", "value": "上海"}]}}
        ]}))
        .unwrap();
        assert_eq!(TagRules::parse(&r.to_json()).unwrap(), r);
        let mut c = ContactSnapshot::default();
        c.fields
            .insert(crate::StandardField::CompanySize, "5000+".into());
        c.fields
            .insert(crate::StandardField::Province, "上海".into());
        assert_eq!(
            r.apply(&mut c, 0),
            (vec!["KA".into(), "KA 华东".into()], vec![])
        );
        assert_eq!(r.apply(&mut c, 0), (vec![], vec![]));
        c.fields.remove(&crate::StandardField::CompanySize);
        assert_eq!(
            r.apply(&mut c, 0),
            (vec![], vec!["KA".into(), "KA 华东".into()])
        );
        for (v, path) in [
            (json!({"rules": [{"tag": "x"}]}), "rules[0].when"),
            (
                json!({"rules": [{"tag": "", "when": {"tag": "y"}}]}),
                "rules[0].tag",
            ),
            (
                json!({"rules": [{"tag": "x", "when": {"tag": "x"}}]}),
                "rules[0].when",
            ),
            (
                json!({"rules": [{"tag": "x", "when": {"tag": "y"}}, {"tag": "x", "when": {"tag": "z"}}]}),
                "rules[1].tag",
            ),
            (
                json!({"rules": [{"tag": "x", "when": {"tag": 1}}]}),
                "rules[0].when.tag",
            ),
        ] {
            assert_eq!(TagRules::parse(&v).unwrap_err().path, path, "{v}");
        }
    }
}
