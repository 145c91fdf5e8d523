-- A conversation's external ID: its ID in the system it came from, unique
-- in its scope when set, so that ingesting it again updates or skips the
-- stored conversation instead of storing a copy. NULL when it has none.

ALTER TABLE {{.Schema}}.conversations ADD COLUMN external_id text COLLATE "C";

-- Conversations stored before this migration keep their external ID in
-- their document only: the oldest of each scope's conversations with one
-- external ID takes it; the others (copies, ingested before it was unique)
-- lose it.
UPDATE {{.Schema}}.conversations c SET external_id = c.doc->>'externalId'
FROM (
	SELECT DISTINCT ON (tenant, project, doc->>'externalId') tenant, project, id
	FROM {{.Schema}}.conversations
	WHERE doc->>'externalId' <> ''
	ORDER BY tenant, project, doc->>'externalId', created_at, id
) oldest
WHERE c.tenant = oldest.tenant AND c.project = oldest.project AND c.id = oldest.id;
UPDATE {{.Schema}}.conversations SET doc = doc - 'externalId' WHERE external_id IS NULL AND doc ? 'externalId';

CREATE UNIQUE INDEX conversations_external_id ON {{.Schema}}.conversations (tenant, project, external_id)
	WHERE external_id IS NOT NULL;
