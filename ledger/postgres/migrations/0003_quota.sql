-- A relay's quota is counted across campaigns by relay and minute
-- (ledger.Store.SentSince): relay_log's key starts with the campaign.
CREATE INDEX relay_log_quota ON relay_log (relay, minute) INCLUDE (sent);
