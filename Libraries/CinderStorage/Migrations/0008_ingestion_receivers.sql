-- ingestion receivers: the processes that accept spans, so that an organization's rate limit is shared among them
--
-- Each receiver (cinder-collector, cinder serve) reports here every few seconds; one that stopped
-- reporting is no longer counted. An organization's spans-per-second limit is divided by the number
-- of receivers reporting, so the installation as a whole holds it.
CREATE TABLE ingestion_receivers (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_ingestion_receivers_last_seen ON ingestion_receivers (last_seen);
