//! Password hashing (argon2id with the crate's default cost) and the password rule.
//!
//! Hashing is deliberately slow, so it runs on the blocking thread pool, never on the async
//! workers that serve other requests.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// Whether a new password is acceptable (length counted in characters, so 中文 passwords work).
pub fn acceptable(password: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&password.chars().count())
}

/// The argon2id PHC string of a password.
pub fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 accepts any password of at most 128 characters")
        .to_string()
}

/// Whether the password matches a stored PHC string (false for a malformed one).
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .expect("hashing does not panic")
}

/// Checks a password; with no stored hash (unknown user) it still spends the same time on a
/// dummy hash, so response times do not reveal which emails have accounts.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(h) => verify_blocking(&password, &h),
        None => {
            let _ = verify_blocking(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("not a password anyone has"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash_blocking("correct horse battery");
        let b = hash_blocking("correct horse battery");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify_blocking("correct horse battery", &a));
        assert!(!verify_blocking("correct horse batterz", &a));
        assert!(!verify_blocking("x", "not a hash"));
    }

    #[test]
    fn passwords_are_10_to_128_characters() {
        assert!(!acceptable("short"));
        assert!(acceptable("十个汉字的密码也可以的"));
        assert!(acceptable(&"x".repeat(128)));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
