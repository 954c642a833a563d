-- 0010: the raw table's format checks without counted repetition. PostgreSQL's regular expressions
-- expand a bounded repetition such as {1,128} into that many states: matching one event id cost about
-- 35 µs, more than the rest of a raw row's insert. The same rules as a length test and an open class
-- cost about 1.5 µs. (staging.client_key had the same fix in 0008.)
ALTER TABLE raw.site_tracking_events
    DROP CONSTRAINT site_tracking_events_event_id_format,
    ADD CONSTRAINT site_tracking_events_event_id_format
        CHECK (length(event_id) <= 132 AND event_id ~ '^evt_[A-Za-z0-9_.:-]+$') NOT VALID,
    DROP CONSTRAINT site_tracking_events_visitor_key_check,
    ADD CONSTRAINT site_tracking_events_visitor_key_check
        CHECK (length(visitor_key) = 40 AND visitor_key ~ '^visitor_[0-9a-f]+$') NOT VALID;
-- Validated apart, so existing rows are checked without blocking writes for the whole scan.
ALTER TABLE raw.site_tracking_events VALIDATE CONSTRAINT site_tracking_events_event_id_format;
ALTER TABLE raw.site_tracking_events VALIDATE CONSTRAINT site_tracking_events_visitor_key_check;
