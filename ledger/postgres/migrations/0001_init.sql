-- The ledger's tables, as SQLite's (ledger/sqlite*.go) with times in Unix
-- milliseconds, plus what several workers need: who holds each row
-- (owner, held, claimed), their leases, and their heartbeats.

CREATE TABLE campaigns (
	id bigint PRIMARY KEY,
	name text NOT NULL UNIQUE,
	list_path text NOT NULL,
	list_digest text NOT NULL,
	template_path text NOT NULL,
	template_digest text NOT NULL,
	settings text NOT NULL,
	imported boolean NOT NULL DEFAULT false,
	abandoned boolean NOT NULL DEFAULT false,
	created_at bigint NOT NULL
);

-- owner is the lease token of the worker that last reserved, claimed or
-- wrote the row (0: none ever did): the fencing token every outcome write
-- checks. held: a worker's Due reserved it; claimed: a worker's Apply
-- marked it in flight. Both end with the row's outcome.
CREATE TABLE recipients (
	campaign_id bigint NOT NULL,
	row integer NOT NULL,
	email text NOT NULL,
	byte_offset bigint NOT NULL,
	state text NOT NULL,
	attempts integer NOT NULL DEFAULT 0,
	next_attempt bigint NOT NULL DEFAULT 0,
	first_try bigint NOT NULL DEFAULT 0,
	code integer NOT NULL DEFAULT 0,
	enhanced text NOT NULL DEFAULT '',
	text text NOT NULL DEFAULT '',
	message_id text NOT NULL DEFAULT '',
	recovered integer NOT NULL DEFAULT 0,
	updated_at bigint NOT NULL DEFAULT 0,
	norm text NOT NULL DEFAULT '',
	utf8 boolean NOT NULL DEFAULT false,
	owner bigint NOT NULL DEFAULT 0,
	held boolean NOT NULL DEFAULT false,
	claimed boolean NOT NULL DEFAULT false,
	PRIMARY KEY (campaign_id, row)
) WITH (fillfactor = 90);

-- Rows not final yet, in row order: what Due reads.
CREATE INDEX recipients_waiting ON recipients (campaign_id, row)
	WHERE state IN ('new', 'pending', 'deferred');
-- Rows in flight, a few thousand at most: recovery and takeover.
CREATE INDEX recipients_claimed ON recipients (campaign_id, owner) WHERE claimed;
CREATE INDEX recipients_norm ON recipients (campaign_id, norm, row) WHERE norm <> '';

CREATE TABLE attempt_log (
	campaign_id bigint NOT NULL,
	row integer NOT NULL,
	n integer NOT NULL,
	at bigint NOT NULL,
	state text NOT NULL,
	code integer NOT NULL,
	enhanced text NOT NULL,
	text text NOT NULL,
	relay text NOT NULL DEFAULT '',
	PRIMARY KEY (campaign_id, row, n)
);

-- One suppression list per database, shared by every campaign.
CREATE TABLE suppressions (
	address text PRIMARY KEY,
	reason text NOT NULL,
	source text NOT NULL,
	created_at bigint NOT NULL
);

CREATE TABLE runs (
	campaign_id bigint NOT NULL,
	started bigint NOT NULL,
	ended bigint NOT NULL,
	exit_code integer NOT NULL
);
CREATE INDEX runs_campaign ON runs (campaign_id, started);

-- campaign_seq, suppress_gen (value); secret:NAME (bytes).
CREATE TABLE meta (
	key text PRIMARY KEY,
	value bigint NOT NULL DEFAULT 0,
	bytes bytea
);

CREATE TABLE feedback (
	key text NOT NULL UNIQUE,
	at bigint NOT NULL,
	kind text NOT NULL,
	source text NOT NULL,
	campaign_id bigint NOT NULL,
	row integer NOT NULL,
	address text NOT NULL,
	status text NOT NULL,
	diagnostic text NOT NULL,
	soft boolean NOT NULL DEFAULT false
);
CREATE INDEX feedback_address ON feedback (address, at);
CREATE INDEX feedback_campaign ON feedback (campaign_id);

CREATE TABLE relay_log (
	campaign_id bigint NOT NULL,
	relay text NOT NULL,
	minute bigint NOT NULL,
	sent integer NOT NULL DEFAULT 0,
	deferred integer NOT NULL DEFAULT 0,
	bounced integer NOT NULL DEFAULT 0,
	failed integer NOT NULL DEFAULT 0,
	throttles integer NOT NULL DEFAULT 0,
	first_at bigint NOT NULL,
	last_at bigint NOT NULL,
	PRIMARY KEY (campaign_id, relay, minute)
);

-- One lease per running Store: token is its fencing token. A lease whose
-- until has passed is never renewed: its worker is fenced for good.
CREATE TABLE leases (
	token bigserial PRIMARY KEY,
	worker text NOT NULL,
	until timestamptz NOT NULL
);

CREATE TABLE workers (
	campaign_id bigint NOT NULL,
	worker text NOT NULL,
	token bigint NOT NULL,
	host text NOT NULL,
	pid integer NOT NULL,
	heartbeat timestamptz NOT NULL,
	claimed integer NOT NULL DEFAULT 0,
	rate double precision NOT NULL DEFAULT 0,
	pace double precision NOT NULL DEFAULT 1,
	PRIMARY KEY (campaign_id, worker)
);

-- mailblast_check_outcomes fails the statement (and so its batch) when an
-- outcome write touched fewer rows than it was given: MBFEN when a missing
-- row belongs to another worker (this one was fenced off), MBILL when the
-- lifecycle does not allow the move (ledger.ErrIllegalTransition).
CREATE FUNCTION mailblast_check_outcomes(cid bigint, me bigint, want integer[], got integer[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	IF cardinality(want) = cardinality(got) THEN
		RETURN cardinality(got);
	END IF;
	FOR r IN SELECT w.row, x.state, x.owner FROM unnest(want) AS w(row)
		LEFT JOIN recipients AS x ON x.campaign_id = cid AND x.row = w.row
		WHERE w.row <> ALL (got) ORDER BY w.row LIMIT 1
	LOOP
		IF r.owner IS NOT NULL AND r.owner <> 0 AND r.owner <> me THEN
			RAISE EXCEPTION 'row % is held by another worker (lease token %)', r.row, r.owner USING ERRCODE = 'MBFEN';
		END IF;
		RAISE EXCEPTION 'outcome row %: the row is %', r.row, coalesce(r.state, 'missing') USING ERRCODE = 'MBILL';
	END LOOP;
	RETURN cardinality(got);
END $$;
