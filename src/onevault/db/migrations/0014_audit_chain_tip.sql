-- 0014: the audit chain's trigger reads the chain's tip once per transaction, not once per row.
-- Every API request appends one audit row, so the trigger is on the ingestion path's database budget.
-- In 0007 each row took the tenant's advisory lock, read the chain's last row by index, and called
-- audit.row_content through the function's own search_path: about 45 µs a row, more than storing the
-- event itself (about 32 µs). Now the first row of a tenant in a transaction takes the lock and reads
-- the last row; each row then leaves (tenant, hash, seq) in a transaction-local setting for the next.
-- The lock is held to commit, so no other transaction can append to that chain meanwhile, and the
-- setting is rolled back with a savepoint or the transaction, like the rows it describes. About 22 µs.
--
-- The row's content is written out here as audit.row_content writes it (a call costs 5 µs a row);
-- audit.verify_chain recomputes every hash through audit.row_content, so any difference between the two
-- is reported as altered content (tests/security/test_audit.py). A forged setting can only produce rows
-- whose links verify_chain reports as broken. Every name is schema-qualified or in pg_catalog, which
-- is searched first, so the function needs no SET search_path (whose save and restore cost 5 µs a row).
CREATE OR REPLACE FUNCTION audit.chain_request_log()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_tip  text := pg_catalog.current_setting('onevault.audit_chain_tip', true);
    v_seq  bigint;
    v_prev bytea;
BEGIN
    IF v_tip <> '' AND pg_catalog.left(v_tip, 64) = pg_catalog.encode(NEW.tenant_hk, 'hex') THEN
        v_prev := pg_catalog.decode(pg_catalog.substr(v_tip, 66, 64), 'hex');
        v_seq := pg_catalog.substr(v_tip, 131)::bigint;
    ELSE
        PERFORM pg_catalog.pg_advisory_xact_lock(staging.tenant_lock_key(NEW.tenant_hk) # 7);
        SELECT l.seq, l.row_hash INTO v_seq, v_prev FROM audit.request_log l
         WHERE l.tenant_hk = NEW.tenant_hk ORDER BY l.seq DESC LIMIT 1;
    END IF;
    NEW.seq := coalesce(v_seq, 0) + 1;
    NEW.prev_hash := coalesce(v_prev, '\x'::bytea);
    NEW.row_hash := pg_catalog.sha256(NEW.prev_hash || pg_catalog.convert_to(pg_catalog.jsonb_build_array(
        pg_catalog.encode(NEW.tenant_hk, 'hex'), NEW.seq,
        pg_catalog.to_char(NEW.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        NEW.credential_id, NEW.method, NEW.endpoint, NEW.status, NEW.outcome, pg_catalog.host(NEW.client_ip))::text,
        'UTF8'));
    PERFORM pg_catalog.set_config('onevault.audit_chain_tip', pg_catalog.encode(NEW.tenant_hk, 'hex') || ':'
                                  || pg_catalog.encode(NEW.row_hash, 'hex') || ':' || NEW.seq, true);
    RETURN NEW;
END
$$;
