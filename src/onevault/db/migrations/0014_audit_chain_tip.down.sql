-- 0014 down: the chain trigger as 0007 wrote it (the lock and the last row read for every row).
CREATE OR REPLACE FUNCTION audit.chain_request_log()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_last audit.request_log;
BEGIN
    PERFORM pg_advisory_xact_lock(staging.tenant_lock_key(NEW.tenant_hk) # 7);
    SELECT * INTO v_last FROM audit.request_log l
     WHERE l.tenant_hk = NEW.tenant_hk ORDER BY l.seq DESC LIMIT 1;
    NEW.seq := coalesce(v_last.seq, 0) + 1;
    NEW.prev_hash := coalesce(v_last.row_hash, '\x'::bytea);
    NEW.row_hash := sha256(NEW.prev_hash || audit.row_content(NEW));
    RETURN NEW;
END
$$;
