-- AWS API Gateway (regional or private REST API) in front of `ml-connector serve`.
-- Run as ACCOUNTADMIN. Afterwards `describe integration {{integration}}` gives
-- API_AWS_IAM_USER_ARN and API_AWS_EXTERNAL_ID for the IAM role's trust policy;
-- recreating the integration changes the external id, hence `if not exists`.
create api integration if not exists {{integration}}
    api_provider = aws_api_gateway
    api_aws_role_arn = '{{aws_role_arn}}'
    api_allowed_prefixes = ('{{gateway_url}}/')
    enabled = true
    comment = 'ml-connector: SYSPRO external functions through AWS API Gateway';

grant usage on integration {{integration}} to role {{owner_role}};
