-- Revoked sessions (refresh-token families). Revocation is recorded here before the
-- family's tokens are marked, and a refresh checks here after writing its new token,
-- so a refresh racing a revocation cannot leave a live token behind. Access tokens
-- name their session and are refused once it is here.
CREATE TABLE revoked_sessions (
    family_id   TEXT NOT NULL PRIMARY KEY,
    revoked_at  BIGINT NOT NULL
);
