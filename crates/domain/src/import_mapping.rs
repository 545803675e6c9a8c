//! How the columns of an import file (a CRM or Excel export, headers often in Chinese) map onto a
//! contact. The mapping is guessed from the headers, shown to the user to correct, and validated
//! before any row is read.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::normalize::{fold_full_width, normalize_text, FieldError};
use crate::{IdentityKind, StandardField};

const INVALID_TARGET: &str = "invalid_column_target";
const MAX_CUSTOM_KEY: usize = 64;
const MAX_TAG_CHARS: usize = 64;

/// Where the values of one column go. In JSON it is one string: a standard field's name (`"email"`,
/// `"company_size"`), `"phone"`, `"identity:<kind>"` (`"identity:crm_id"`), `"custom:<key>"`,
/// `"tags"` or `"ignore"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnTarget {
    Field(StandardField),
    /// A column that may hold mobiles or landlines ("电话"): each cell is classified with
    /// [`crate::normalize::Phone::parse`] into the mobile or the landline field.
    Phone,
    Identity(IdentityKind),
    /// A custom field stored in the contact's traits; the key is 1–64 characters of `[a-z0-9_]` and
    /// never the name of a standard field, so the two can never shadow each other.
    Custom(String),
    /// Tags, several per cell, split by [`split_tags`].
    Tags,
    Ignore,
}

impl ColumnTarget {
    pub fn parse(s: &str) -> Result<ColumnTarget, FieldError> {
        let s = s.trim();
        match s {
            "phone" => return Ok(ColumnTarget::Phone),
            "tags" => return Ok(ColumnTarget::Tags),
            "ignore" => return Ok(ColumnTarget::Ignore),
            _ => {}
        }
        if let Some(field) = StandardField::parse(s) {
            return Ok(ColumnTarget::Field(field));
        }
        if let Some(kind) = s.strip_prefix("identity:") {
            let kind = IdentityKind::parse(kind).ok_or_else(|| {
                FieldError::new(
                    INVALID_TARGET,
                    format!("`{kind}` is not an identifier kind"),
                )
            })?;
            check_identity(kind)?;
            return Ok(ColumnTarget::Identity(kind));
        }
        if let Some(key) = s.strip_prefix("custom:") {
            check_custom_key(key)?;
            return Ok(ColumnTarget::Custom(key.to_owned()));
        }
        Err(FieldError::new(
            INVALID_TARGET,
            format!(
                "`{s}` is not a column target; use a field name, `phone`, `identity:<kind>`, \
                 `custom:<key>`, `tags` or `ignore`"
            ),
        ))
    }

    pub fn as_string(&self) -> String {
        match self {
            ColumnTarget::Field(f) => f.as_str().to_owned(),
            ColumnTarget::Phone => "phone".to_owned(),
            ColumnTarget::Identity(k) => format!("identity:{}", k.as_str()),
            ColumnTarget::Custom(key) => format!("custom:{key}"),
            ColumnTarget::Tags => "tags".to_owned(),
            ColumnTarget::Ignore => "ignore".to_owned(),
        }
    }

    /// Whether values of this column can match a row to an existing contact.
    pub fn identifies_contact(&self) -> bool {
        match self {
            ColumnTarget::Field(f) => matches!(f, StandardField::Email | StandardField::Mobile),
            ColumnTarget::Phone => true,
            ColumnTarget::Identity(k) => !k.is_anonymous(),
            ColumnTarget::Custom(_) | ColumnTarget::Tags | ColumnTarget::Ignore => false,
        }
    }

    /// Targets several columns may share: tags from two columns are merged, ignored columns ignored.
    fn may_repeat(&self) -> bool {
        matches!(self, ColumnTarget::Tags | ColumnTarget::Ignore)
    }
}

fn check_identity(kind: IdentityKind) -> Result<(), FieldError> {
    if kind.is_anonymous() {
        return Err(FieldError::new(
            INVALID_TARGET,
            format!(
                "`{}` identifiers come from browsers and forms and cannot be imported",
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

fn is_reserved_key(key: &str) -> bool {
    StandardField::parse(key).is_some() || matches!(key, "phone" | "tags")
}

fn check_custom_key(key: &str) -> Result<(), FieldError> {
    if key.is_empty() || key.len() > MAX_CUSTOM_KEY {
        return Err(FieldError::new(
            INVALID_TARGET,
            "a custom field key must have 1 to 64 characters",
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(FieldError::new(
            INVALID_TARGET,
            "a custom field key may only hold lower-case ASCII letters, digits and _",
        ));
    }
    if is_reserved_key(key) {
        return Err(FieldError::new(
            INVALID_TARGET,
            format!(
                "`{key}` is a standard field; map the column to `{key}` instead of a custom field"
            ),
        ));
    }
    Ok(())
}

impl fmt::Display for ColumnTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl std::str::FromStr for ColumnTarget {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        ColumnTarget::parse(s)
    }
}

impl Serialize for ColumnTarget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for ColumnTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        ColumnTarget::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ColumnTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let fields: Vec<&str> = StandardField::ALL.iter().map(|f| f.as_str()).collect();
        let pattern = format!(
            "^({}|phone|tags|ignore|identity:[a-z_]+|custom:[a-z0-9_]{{1,64}})$",
            fields.join("|")
        );
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Where a column's values go: a standard field name, `phone` (classified into mobile or \
                 landline), `identity:<kind>`, `custom:<key>`, `tags` or `ignore`.",
            ))
            .pattern(Some(pattern))
            .examples(["mobile", "phone", "identity:crm_id", "custom:budget", "tags", "ignore"])
            .into()
    }
}

impl utoipa::ToSchema for ColumnTarget {}

/// Guesses the target of one column from its header: synonyms in Chinese and English, ignoring case,
/// spaces, punctuation and remarks in brackets ("手机号码（必填）"). An unknown header becomes a
/// custom field keyed by an ASCII slug of the header, or `col_<column_number>` (1-based) when the
/// header has no ASCII letters or digits to slug.
pub fn guess_target(header: &str, column_number: usize) -> ColumnTarget {
    known_header(&header_key(header))
        .unwrap_or_else(|| ColumnTarget::Custom(custom_key(header, column_number)))
}

/// The header reduced to lower-case letters and digits, bracketed remarks dropped.
fn header_key(header: &str) -> String {
    let folded = fold_full_width(header);
    let mut key = String::with_capacity(folded.len());
    let mut depth = 0usize;
    for c in folded.chars() {
        match c {
            '(' | '[' | '【' => depth += 1,
            ')' | ']' | '】' => depth = depth.saturating_sub(1),
            _ if depth == 0 && c.is_alphanumeric() => key.extend(c.to_lowercase()),
            _ => {}
        }
    }
    if key.is_empty() {
        // A header that is only a bracketed remark: use what is inside.
        key = folded
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
    }
    key
}

fn known_header(key: &str) -> Option<ColumnTarget> {
    use ColumnTarget as T;
    use StandardField as F;
    let target = match key {
        "姓名" | "名字" | "联系人" | "客户姓名" | "联系人姓名" | "name" | "fullname"
        | "contact" | "contactname" => T::Field(F::Name),
        "手机" | "手机号" | "手机号码" | "移动电话" | "mobile" | "cell" | "cellphone"
        | "mobilephone" | "mobilenumber" => T::Field(F::Mobile),
        "电话" | "联系电话" | "电话号码" | "联系方式" | "phone" | "telephone" | "tel"
        | "phonenumber" => T::Phone,
        "座机" | "固话" | "固定电话" | "办公电话" | "landline" | "officephone" | "workphone" => {
            T::Field(F::Landline)
        }
        "邮箱" | "电子邮箱" | "邮件" | "邮箱地址" | "电子邮件" | "email" | "mail"
        | "emailaddress" => T::Field(F::Email),
        "公司" | "公司名称" | "单位" | "单位名称" | "企业" | "企业名称" | "company"
        | "companyname" | "organization" | "organisation" | "account" | "accountname" => {
            T::Field(F::Company)
        }
        "职位" | "职务" | "title" | "jobtitle" | "position" => T::Field(F::Title),
        "部门" | "department" | "dept" => T::Field(F::Department),
        "行业" | "所属行业" | "industry" => T::Field(F::Industry),
        "规模" | "公司规模" | "企业规模" | "员工人数" | "companysize" | "employees" => {
            T::Field(F::CompanySize)
        }
        "省" | "省份" | "所在省份" | "province" | "state" => T::Field(F::Province),
        "城市" | "市" | "所在城市" | "city" => T::Field(F::City),
        "来源" | "渠道" | "线索来源" | "source" | "leadsource" => T::Field(F::Source),
        "微信unionid" | "unionid" | "wechatunionid" => T::Identity(IdentityKind::WechatUnionid),
        "openid" | "微信openid" | "wechatopenid" => T::Identity(IdentityKind::WechatOpenid),
        "客户编号" | "客户id" | "crmid" | "recordid" | "id" => {
            T::Identity(IdentityKind::CrmId)
        }
        "标签" | "tags" | "tag" => T::Tags,
        _ => return None,
    };
    Some(target)
}

/// An ASCII slug of the header for a custom field key, `col_<n>` when nothing ASCII is left, and
/// `<slug>_<n>` when the slug is a standard field's name.
fn custom_key(header: &str, column_number: usize) -> String {
    let mut slug = String::new();
    for c in header.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    slug.truncate(MAX_CUSTOM_KEY - 12);
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("col_{column_number}")
    } else if is_reserved_key(slug) {
        format!("{slug}_{column_number}")
    } else {
        slug.to_owned()
    }
}

/// The targets of an import's columns, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportMapping {
    pub columns: Vec<ColumnTarget>,
}

impl ImportMapping {
    /// Guesses every column. A header that repeats a target already taken (a second "手机" column)
    /// becomes a custom field, so the guess never silently overwrites one column with another and is
    /// valid except, possibly, for lacking an identity column.
    pub fn guess(headers: &[String]) -> ImportMapping {
        let mut columns: Vec<ColumnTarget> = Vec::with_capacity(headers.len());
        for (index, header) in headers.iter().enumerate() {
            let number = index + 1;
            let mut target = guess_target(header, number);
            if !target.may_repeat() && columns.contains(&target) {
                let key = custom_key(header, number);
                target = ColumnTarget::Custom(key);
            }
            if let ColumnTarget::Custom(key) = &target {
                let mut key = key.clone();
                while columns
                    .iter()
                    .any(|c| matches!(c, ColumnTarget::Custom(k) if *k == key))
                {
                    key = format!("{key}_{number}");
                }
                target = ColumnTarget::Custom(key);
            }
            columns.push(target);
        }
        ImportMapping { columns }
    }

    /// Checks the mapping against a file with `header_count` columns: one target per column, no
    /// target (other than `tags` and `ignore`) used twice, and at least one column that can match a
    /// row to a contact. Column numbers in messages are 1-based, as a spreadsheet shows them.
    pub fn validate(&self, header_count: usize) -> Result<(), FieldError> {
        if self.columns.len() != header_count {
            return Err(FieldError::new(
                "column_count_mismatch",
                format!(
                    "the mapping has {} columns but the file has {header_count}",
                    self.columns.len()
                ),
            ));
        }
        for (index, target) in self.columns.iter().enumerate() {
            let number = index + 1;
            match target {
                ColumnTarget::Identity(kind) => check_identity(*kind)?,
                ColumnTarget::Custom(key) => check_custom_key(key)?,
                _ => {}
            }
            if target.may_repeat() {
                continue;
            }
            if let Some(first) = self.columns[..index]
                .iter()
                .position(|earlier| earlier == target)
            {
                return Err(FieldError::new(
                    "duplicate_column_target",
                    format!("columns {} and {number} both map to `{target}`", first + 1),
                ));
            }
        }
        if !self.columns.iter().any(ColumnTarget::identifies_contact) {
            return Err(FieldError::new(
                "no_identity_column",
                "no column maps to email, mobile, phone or an identifier such as a CRM ID, so rows \
                 could not be matched to contacts",
            ));
        }
        Ok(())
    }
}

/// Splits a tags cell on `,` `，` `;` `；` `|` `｜` and `、`, trims and collapses whitespace in each
/// tag, drops empty ones and repeats, and truncates each tag to 64 characters.
pub fn split_tags(cell: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for part in cell.split([',', '，', ';', '；', '|', '｜', '、']) {
        let Some(mut tag) = normalize_text(part) else {
            continue;
        };
        if let Some((cut, _)) = tag.char_indices().nth(MAX_TAG_CHARS) {
            tag.truncate(cut);
            tag.truncate(tag.trim_end().len());
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

#[cfg(test)]
mod tests;
