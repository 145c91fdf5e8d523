-- Alert rules, their states, and the outbox of their notifications.

-- A rule: what the caller wrote (rule, enabled, updated_at) under a version
-- compared and swapped by each update, and the state its evaluations move
-- (state, state_since, last_value) with one compare-and-set each.
CREATE TABLE {{.Schema}}.alert_rules (
	tenant      text        NOT NULL,
	project     text        NOT NULL,
	id          text COLLATE "C"        NOT NULL,
	name        text COLLATE "C"        NOT NULL,
	version     bigint      NOT NULL,
	enabled     boolean     NOT NULL,
	rule        jsonb       NOT NULL, -- the analysis.Rule watched, its name too
	state       text        NOT NULL,
	state_since timestamptz,
	last_value  jsonb,                -- the analysis.MetricValue of the last change of state
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant, project, id),
	UNIQUE (tenant, project, name)
);
-- The timer's list: every scope's enabled rules.
CREATE INDEX alert_rules_enabled ON {{.Schema}}.alert_rules (tenant, project, name) WHERE enabled;

-- A notification of one change of a rule's state, queued with the change
-- and kept as the rule's delivery log; deleted with its rule. A claimant
-- holds it under a lease (owner, lease_until) with a fencing token from the
-- sequence the chunks' tokens come from.
CREATE TABLE {{.Schema}}.alert_notifications (
	tenant          text        NOT NULL,
	project         text        NOT NULL,
	id              text COLLATE "C"        NOT NULL,
	rule_id         text COLLATE "C"        NOT NULL,
	rule            jsonb       NOT NULL, -- the analysis.Rule as it was evaluated
	from_state      text        NOT NULL,
	to_state        text        NOT NULL,
	value           jsonb       NOT NULL, -- the analysis.MetricValue that made the change
	at              timestamptz NOT NULL,
	status          text        NOT NULL,
	attempts        integer     NOT NULL DEFAULT 0,
	last_error      text        NOT NULL DEFAULT '',
	next_attempt_at timestamptz,
	delivered_at    timestamptz,
	owner           text        NOT NULL DEFAULT '',
	lease_until     timestamptz,
	token           bigint      NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, project, id),
	FOREIGN KEY (tenant, project, rule_id) REFERENCES {{.Schema}}.alert_rules (tenant, project, id) ON DELETE CASCADE
);
-- The claim's order: the pending notification tried first the earliest,
-- then by the time of its change and its ID (of any scope).
CREATE INDEX alert_notifications_due ON {{.Schema}}.alert_notifications (next_attempt_at, at, id, tenant, project) WHERE status = 'pending';
-- A rule's delivery log, newest first; and its rule's delete.
CREATE INDEX alert_notifications_log ON {{.Schema}}.alert_notifications (tenant, project, rule_id, at DESC, id DESC);
