-- The id of the HTTP request whose command wrote the event: the relay
-- passes it on as a Kafka header, so the projector's log lines for the
-- event carry the same id as nginx's and the write API's.
ALTER TABLE outbox ADD COLUMN request_id text;
