-- Azure API Management in front of `ml-connector serve`. Run as ACCOUNTADMIN.
-- Afterwards `describe integration {{integration}}` gives AZURE_CONSENT_URL
-- (open it once per tenant) and AZURE_MULTI_TENANT_APP_NAME (the app id the
-- APIM validate-jwt policy must require). `if not exists` keeps the consent.
create api integration if not exists {{integration}}
    api_provider = azure_api_management
    azure_tenant_id = '{{azure_tenant_id}}'
    azure_ad_application_id = '{{azure_app_id}}'
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
    comment = 'ml-connector: SYSPRO external functions through Azure API Management';

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
