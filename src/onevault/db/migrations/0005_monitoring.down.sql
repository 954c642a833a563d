DROP FUNCTION staging.get_pipeline_status();
DROP VIEW staging.pipeline_dashboard;
