-- 0010 down: the checks as 0002 wrote them.
ALTER TABLE raw.site_tracking_events
    DROP CONSTRAINT site_tracking_events_event_id_format,
    ADD CONSTRAINT site_tracking_events_event_id_format CHECK (event_id ~ '^evt_[A-Za-z0-9_.:-]{1,128}$'),
    DROP CONSTRAINT site_tracking_events_visitor_key_check,
    ADD CONSTRAINT site_tracking_events_visitor_key_check CHECK (visitor_key ~ '^visitor_[0-9a-f]{32}$');
