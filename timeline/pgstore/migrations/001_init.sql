-- Timeline analyses: each kept as the JSON of the library's Analysis, with
-- the columns the queries need. seq orders the analyses of a flow as they
-- were created: the flow's latest is the one with the highest.
CREATE TABLE {{.Schema}}.timeline_analyses (
	id            text COLLATE "C" PRIMARY KEY,
	customer_id   text        NOT NULL,
	activeflow_id text        NOT NULL,
	status        text        NOT NULL,
	tm_create     timestamptz NOT NULL,
	seq           bigserial   NOT NULL,
	doc           jsonb       NOT NULL
);
CREATE INDEX timeline_analyses_flow ON {{.Schema}}.timeline_analyses (customer_id, activeflow_id, seq DESC);
CREATE INDEX timeline_analyses_newest ON {{.Schema}}.timeline_analyses (customer_id, tm_create DESC, id DESC);
CREATE INDEX timeline_analyses_flow_newest ON {{.Schema}}.timeline_analyses (customer_id, activeflow_id, tm_create DESC, id DESC);
