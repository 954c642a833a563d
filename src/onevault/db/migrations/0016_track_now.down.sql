-- 0016 down: POST /track's run goes back to its statements one by one.
DROP FUNCTION staging.track_events_now(bytea, text[], inet[], text[], text[], text, text[], text[], text[],
                                       text[], text[], text[], boolean[], text);
