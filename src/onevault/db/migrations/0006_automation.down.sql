DROP FUNCTION staging.tenants_with_pending_work();
REVOKE ALL ON auth.tenant_h, raw.site_tracking_events, staging.site_events FROM onevault_queue;
REVOKE ALL ON SCHEMA auth, raw, staging FROM onevault_queue;
DROP FUNCTION staging.process_event_now(text);
DROP FUNCTION staging.trigger_pipeline_now();
DROP FUNCTION staging.auto_process_if_needed();
DROP FUNCTION staging.process_complete_pipeline(integer);
