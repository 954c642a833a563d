-- name: append_request_log
-- One statement per tenant per flush; the chain trigger numbers and hashes the rows in this order. Times
-- come as epoch seconds and every array in binary: psycopg formats and quotes a text array element by
-- element, which cost 8 ms per 400 entries, every flush, in the API's event loop.
INSERT INTO audit.request_log (tenant_hk, occurred_at, credential_id, method, endpoint, status, outcome, client_ip)
SELECT util.current_tenant_hk(), to_timestamp(e.occurred_at), e.credential_id, e.method, e.endpoint, e.status, e.outcome,
       raw.truncate_ip(e.client_ip)
  FROM unnest(%(occurred_at)b::float8[], %(credential_id)b::text[], %(method)b::text[], %(endpoint)b::text[],
              %(status)b::smallint[], %(outcome)b::text[], %(client_ip)b::inet[])
       WITH ORDINALITY AS e(occurred_at, credential_id, method, endpoint, status, outcome, client_ip, n)
 ORDER BY e.n;

-- name: verify_audit_chain
SELECT encode(tenant_hk, 'hex'), coalesce(h.tenant_bk, CASE WHEN tenant_hk = util.no_tenant_hk()
                                                              THEN '(failed authentication)' END),
       rows_checked, first_bad_seq, problem
  FROM audit.verify_chain() v
  LEFT JOIN auth.tenant_h h USING (tenant_hk);
