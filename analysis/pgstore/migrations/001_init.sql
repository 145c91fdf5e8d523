-- The analysis store. Every table is keyed by the scope (tenant, project)
-- first: another scope's rows are never read or written. Objects are kept
-- as JSON documents of the library's types, with the columns the queries
-- need beside them.
-- {{.Trgm}} is the schema of the pg_trgm extension, installed beforehand.

CREATE TABLE {{.Schema}}.definitions (
	tenant           text        NOT NULL,
	project          text        NOT NULL,
	id               text COLLATE "C"        NOT NULL,
	key              text COLLATE "C"        NOT NULL,
	version          bigint      NOT NULL,
	name             text        NOT NULL,
	search           text        NOT NULL, -- name and key, case-folded, \x01 between them
	created_at       timestamptz NOT NULL,
	schedule_enabled boolean     NOT NULL DEFAULT false,
	deleted          boolean     NOT NULL DEFAULT false, -- a deleted definition's key stays taken
	doc              jsonb       NOT NULL,
	PRIMARY KEY (tenant, project, id),
	UNIQUE (tenant, project, key)
);
CREATE INDEX definitions_scheduled ON {{.Schema}}.definitions (tenant, project) WHERE schedule_enabled AND NOT deleted;

CREATE TABLE {{.Schema}}.conversations (
	tenant     text        NOT NULL,
	project    text        NOT NULL,
	id         text COLLATE "C"        NOT NULL,
	key        text COLLATE "C"        NOT NULL,
	created_at timestamptz NOT NULL,
	tags       text[]      NOT NULL DEFAULT '{}',
	search     text        NOT NULL, -- name, key and each turn's content, case-folded, \x01 between them
	doc        jsonb       NOT NULL,
	PRIMARY KEY (tenant, project, id),
	UNIQUE (tenant, project, key)
);
CREATE INDEX conversations_newest ON {{.Schema}}.conversations (tenant, project, created_at DESC, key COLLATE "C");
CREATE INDEX conversations_tags ON {{.Schema}}.conversations USING gin (tags);
CREATE INDEX conversations_search ON {{.Schema}}.conversations USING gin (search {{.Trgm}}.gin_trgm_ops);

-- The conversations each definition has analysed (strategy unanalyzed).
CREATE TABLE {{.Schema}}.analysed (
	tenant         text NOT NULL,
	project        text NOT NULL,
	definition_key text COLLATE "C" NOT NULL,
	key            text COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, project, definition_key, key)
);

CREATE TABLE {{.Schema}}.runs (
	tenant             text        NOT NULL,
	project            text        NOT NULL,
	id                 text COLLATE "C"        NOT NULL,
	definition_key     text COLLATE "C"        NOT NULL,
	definition_version bigint      NOT NULL,
	status             text        NOT NULL,
	total              integer     NOT NULL,
	chunks             integer     NOT NULL,
	created_at         timestamptz NOT NULL,
	started_at         timestamptz,
	finished_at        timestamptz,
	error              text        NOT NULL DEFAULT '',
	doc                jsonb       NOT NULL, -- selection and trigger
	counters           jsonb,                -- the sums of the items, frozen when the run ends
	PRIMARY KEY (tenant, project, id)
);
-- One run in progress per definition.
CREATE UNIQUE INDEX runs_one_active ON {{.Schema}}.runs (tenant, project, definition_key) WHERE status IN ('pending', 'running');
-- The claim's order: oldest run in progress first.
CREATE INDEX runs_active ON {{.Schema}}.runs (created_at, id) WHERE status IN ('pending', 'running');
CREATE INDEX runs_newest ON {{.Schema}}.runs (tenant, project, created_at DESC, id);

CREATE TABLE {{.Schema}}.run_keys (
	tenant  text    NOT NULL,
	project text    NOT NULL,
	run_id  text COLLATE "C"    NOT NULL,
	key     text    COLLATE "C" NOT NULL,
	chunk   integer NOT NULL,
	PRIMARY KEY (tenant, project, run_id, key)
);

-- Fencing tokens: each claim's is greater than any before it.
CREATE SEQUENCE {{.Schema}}.tokens;

-- A run's chunks, each with its lease and fencing token.
CREATE TABLE {{.Schema}}.chunks (
	tenant      text        NOT NULL,
	project     text        NOT NULL,
	run_id      text COLLATE "C"        NOT NULL,
	chunk       integer     NOT NULL,
	done        boolean     NOT NULL DEFAULT false,
	token       bigint      NOT NULL DEFAULT 0,
	owner       text        NOT NULL DEFAULT '',
	lease_until timestamptz,
	attempts    integer     NOT NULL DEFAULT 0,
	first_key   text COLLATE "C" NOT NULL DEFAULT '', -- the chunk's keys are the run's from first_key to last_key
	last_key    text COLLATE "C" NOT NULL DEFAULT '',
	PRIMARY KEY (tenant, project, run_id, chunk)
);
CREATE INDEX chunks_open ON {{.Schema}}.chunks (tenant, project, run_id, chunk) WHERE NOT done;

-- Items, in the order of the transaction that first saved them (xid, seq):
-- a reader sees only those below the oldest transaction still running, so
-- that paging never skips one committed later with a smaller number. Each
-- item carries what it adds to its run's counters, so that a run's counters
-- are the sums of its items' — kept in the item's own row, in its own
-- transaction, and never waiting for another item's save.
CREATE TABLE {{.Schema}}.items (
	tenant         text      NOT NULL,
	project        text      NOT NULL,
	run_id         text COLLATE "C"      NOT NULL,
	key            text COLLATE "C"      NOT NULL,
	xid            xid8      NOT NULL DEFAULT pg_current_xact_id(),
	seq            bigserial NOT NULL,
	doc            jsonb     NOT NULL,
	completed      bigint    NOT NULL,
	passed         bigint    NOT NULL,
	judged         bigint    NOT NULL,
	judge_sum      bigint    NOT NULL,
	judge_errors   bigint    NOT NULL,
	accuracy_count bigint    NOT NULL,
	accuracy_sum   bigint    NOT NULL,
	input_tokens   bigint    NOT NULL,
	output_tokens  bigint    NOT NULL,
	cached_tokens  bigint    NOT NULL,
	fields         jsonb     NOT NULL, -- key → {"compared": n, "matched": n}
	PRIMARY KEY (tenant, project, run_id, key)
);
CREATE INDEX items_order ON {{.Schema}}.items (tenant, project, run_id, xid, seq);

CREATE TABLE {{.Schema}}.slots (
	tenant         text        NOT NULL,
	project        text        NOT NULL,
	definition_key text COLLATE "C"        NOT NULL,
	slot           timestamptz NOT NULL,
	run_id         text COLLATE "C"        NOT NULL DEFAULT '',
	skipped        text        NOT NULL DEFAULT '',
	at             timestamptz NOT NULL,
	PRIMARY KEY (tenant, project, definition_key, slot)
);
