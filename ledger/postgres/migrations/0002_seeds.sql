-- Copies of a campaign's message sent to seed addresses (ledger.SeedSend),
-- apart from the recipients.
CREATE TABLE seed_log (
	id bigserial PRIMARY KEY,
	campaign_id bigint NOT NULL,
	at bigint NOT NULL,
	phase text NOT NULL,
	address text NOT NULL,
	code integer NOT NULL,
	text text NOT NULL,
	message_id text NOT NULL
);
CREATE INDEX seed_log_campaign ON seed_log (campaign_id, at);
