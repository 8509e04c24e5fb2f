-- The roles the corpus database refers to: created on the source cluster before corpus.sql runs, and
-- the roles a recovery procedure would create first (declared in restore.roles). Idempotent.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['corpus_owner', 'corpus_reader', 'corpus_writer', 'Corpus Auditor',
                                'corpus_grantor', 'rôle_données']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', name);
        END IF;
    END LOOP;
END $$;
