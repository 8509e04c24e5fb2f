-- Deterministic seed data for the opscheck reference app (no random(), no now()):
-- the same input always gives the same rows, so a restored copy can be compared
-- with the original row for row. Apply to a fresh database after schema.sql:
--   psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f db/seed.sql
--
-- Row counts: "User" 3000, "Account" 3000, "Session" 1500,
-- "VerificationToken" 100, "_prisma_migrations" 3 (all finished, none rolled back).

BEGIN;

INSERT INTO "User" ("id", "name", "email", "emailVerified", "image", "createdAt")
SELECT
    'user_' || lpad(g::text, 6, '0'),
    'Seed User ' || g,
    'user' || g || '@example.com',
    CASE WHEN g % 3 = 0 THEN NULL
         ELSE TIMESTAMPTZ '2024-01-01 00:00:00+00' + make_interval(mins => g) END,
    CASE WHEN g % 5 = 0 THEN 'https://images.example.com/avatars/' || g || '.png' END,
    TIMESTAMPTZ '2023-06-01 00:00:00+00' + make_interval(mins => g * 7)
FROM generate_series(1, 3000) AS g;

INSERT INTO "Account" ("id", "userId", "type", "provider", "providerAccountId",
                       "refresh_token", "access_token", "expires_at", "token_type",
                       "scope", "id_token", "session_state")
SELECT
    'acct_' || lpad(g::text, 6, '0'),
    'user_' || lpad(g::text, 6, '0'),
    'oauth',
    CASE WHEN g % 2 = 0 THEN 'github' ELSE 'google' END,
    (100000 + g)::text,
    'rt_' || md5('refresh-' || g),
    'at_' || md5('access-' || g),
    1735689600 + g * 60,
    'bearer',
    CASE WHEN g % 2 = 0 THEN 'read:user user:email' ELSE 'openid email profile' END,
    NULL,
    NULL
FROM generate_series(1, 3000) AS g;

INSERT INTO "Session" ("id", "sessionToken", "userId", "expires")
SELECT
    'sess_' || lpad(g::text, 6, '0'),
    md5('session-token-' || g),
    'user_' || lpad((g * 2)::text, 6, '0'),
    TIMESTAMPTZ '2030-01-01 00:00:00+00' + make_interval(hours => g)
FROM generate_series(1, 1500) AS g;

INSERT INTO "VerificationToken" ("identifier", "token", "expires")
SELECT
    'user' || g || '@example.com',
    md5('verification-' || g),
    TIMESTAMPTZ '2030-01-01 00:00:00+00' + make_interval(days => g)
FROM generate_series(1, 100) AS g;

INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name",
                                  "logs", "rolled_back_at", "started_at", "applied_steps_count")
VALUES
    ('0f6d3c52-8f8e-4d7a-9a31-6b1f2d0c0001',
     encode(sha256('20240112120000_init'::bytea), 'hex'),
     TIMESTAMPTZ '2024-01-12 12:00:01.250+00', '20240112120000_init',
     NULL, NULL, TIMESTAMPTZ '2024-01-12 12:00:00.000+00', 1),
    ('0f6d3c52-8f8e-4d7a-9a31-6b1f2d0c0002',
     encode(sha256('20240201090000_add_session_user_index'::bytea), 'hex'),
     TIMESTAMPTZ '2024-02-01 09:00:00.640+00', '20240201090000_add_session_user_index',
     NULL, NULL, TIMESTAMPTZ '2024-02-01 09:00:00.000+00', 1),
    ('0f6d3c52-8f8e-4d7a-9a31-6b1f2d0c0003',
     encode(sha256('20240305153000_add_user_created_at'::bytea), 'hex'),
     TIMESTAMPTZ '2024-03-05 15:30:00.910+00', '20240305153000_add_user_created_at',
     NULL, NULL, TIMESTAMPTZ '2024-03-05 15:30:00.000+00', 1);

COMMIT;
