-- Google Cloud API Gateway in front of `ml-connector serve`. Run as
-- ACCOUNTADMIN. Afterwards `describe integration {{integration}}` gives
-- API_GCP_SERVICE_ACCOUNT, the issuer the gateway config must trust.
create api integration if not exists {{integration}}
    api_provider = google_api_gateway
    google_audience = '{{gcp_audience}}'
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
    comment = 'ml-connector: SYSPRO external functions through Google API Gateway';

-- `if not exists` keeps an existing integration as it was: re-running the
-- setup with a new gateway URL must still move the allowed prefixes (ALTER
-- keeps the consent). https://docs.snowflake.com/en/sql-reference/sql/alter-api-integration
-- (inside EXECUTE IMMEDIATE only because sqlfluff's Snowflake dialect cannot
-- parse ALTER API INTEGRATION ... SET API_ALLOWED_PREFIXES; Snowflake runs
-- the same statement)
execute immediate $$
alter api integration {{integration}} set
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
$$;

grant usage on integration {{integration}} to role {{owner_role}};
