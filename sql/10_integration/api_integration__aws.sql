-- AWS API Gateway (regional or private REST API, commercial or GovCloud) in
-- front of `ml-connector serve`. Run as ACCOUNTADMIN. Afterwards
-- `describe integration {{integration}}` gives API_AWS_IAM_USER_ARN and
-- API_AWS_EXTERNAL_ID for the IAM role's trust policy; recreating the
-- integration changes the external id, hence `if not exists`.
-- API_PROVIDER is `ml-connector sql --provider`: aws (aws_api_gateway),
-- aws-private (aws_private_api_gateway), aws-gov (aws_gov_api_gateway),
-- aws-gov-private (aws_gov_private_api_gateway); a private endpoint or
-- GovCloud gateway is refused under the plain value.
-- https://docs.snowflake.com/en/sql-reference/sql/create-api-integration
create api integration if not exists {{integration}}
    api_provider = {{api_provider}}
    api_aws_role_arn = '{{aws_role_arn}}'
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
    comment = 'ml-connector: SYSPRO external functions through AWS API Gateway';

-- `if not exists` keeps an existing integration as it was: re-running the
-- setup with a new gateway URL or role must still move them. ALTER keeps the
-- external id. https://docs.snowflake.com/en/sql-reference/sql/alter-api-integration
-- (inside EXECUTE IMMEDIATE only because sqlfluff's Snowflake dialect cannot
-- parse ALTER API INTEGRATION ... SET API_ALLOWED_PREFIXES; Snowflake runs
-- the same statement)
execute immediate $$
alter api integration {{integration}} set
    api_aws_role_arn = '{{aws_role_arn}}'
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
$$;

grant usage on integration {{integration}} to role {{owner_role}};
