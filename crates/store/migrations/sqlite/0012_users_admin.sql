-- Administering console users: each user's display time zone. Whether a user is disabled is
-- `users.disabled_at` (since 0003): set when an administrator disables them, cleared when they are
-- enabled again; a disabled user's sessions are deleted and no session of theirs is honoured.

-- An IANA time-zone name (`Asia/Shanghai`, `Europe/Berlin` …); NULL means the default,
-- Asia/Shanghai.
ALTER TABLE users ADD COLUMN time_zone TEXT;
